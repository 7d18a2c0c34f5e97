"""Job manifests: one JSON object a line, each a call of the public API whose images are written
to files.

The format is the JSON Schema ``job.schema.json`` shipped beside this module (read it with
:func:`job_schema`); :func:`parse_job` checks a job against it and then against the task, the
engine and the files, so that every mistake a manifest can hold is found before any work, as
one line naming the job and what is wrong with it.

Example manifest (``docs/batch.md`` has more)::

    {"task": "generate", "inputs": {"image": "a.png"}, "n": 4, "out": "out"}
    {"task": "retarget", "inputs": {"image": "a.png"}, "params": {"scale": [1, 2]}, "out": "out"}
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import os
import re
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from .._version import __version__
from ..engines import get_engine
from ..engines.base import engines_for
from ..errors import InputError

__all__ = [
    "INPUT_ROLES",
    "SAMPLED_TASKS",
    "Job",
    "ManifestError",
    "check_schema",
    "file_digest",
    "job_schema",
    "parse_job",
    "parse_jobs",
    "read_manifest",
    "task_function",
]

#: The input roles of every task, in the order the task function takes them.
INPUT_ROLES: dict[str, tuple[str, ...]] = {
    "generate": ("image",),
    "retarget": ("image",),
    "analogy": ("source", "structure"),
    "inpaint": ("image", "mask"),
    "collage": ("images",),
    "edit": ("original", "edited"),
}
#: Tasks that make any number of samples (``n``, ``start``); the others make one image.
SAMPLED_TASKS = frozenset({"generate", "edit"})
# Arguments of the task functions that a job sets by its own fields, not through params.
_SET_BY_JOB = {"n", "seed", "start", "engine", "progress"}
_NAME_FIELDS = {"stem", "stems", "task", "sample", "id", "line"}


@dataclass(frozen=True)
class ManifestError:
    """A job that cannot run: where it is, what it was, and why (one line)."""

    line: int
    id: str | None
    job: object
    reason: str

    def record(self) -> dict[str, object]:
        """The failures-file line of this job."""
        return {"line": self.line, "id": self.id, "job": self.job, "reason": self.reason}


@dataclass(frozen=True)
class Job:
    """One checked job: inputs and output folder as absolute paths, parameters as given.

    Attributes
    ----------
    line : int
        Its line in the manifest (1-based), or its position in a list of jobs.
    id : str
        Its ``id``, else ``"line N"``.
    task, engine : str
    inputs : dict
        Role to absolute path (a list of paths for a collage's ``images``).
    params : dict
        Keyword arguments of the task function and the engine, as given.
    seed, n, start : int
    out : Path
    name : str
        The file name template.
    resources : dict
        Ray's ``num_cpus`` and ``num_gpus`` for this job, where given.
    source : dict
        The job as written in the manifest.
    """

    line: int
    id: str
    task: str
    engine: str
    inputs: dict[str, Any]
    params: dict[str, Any]
    seed: int
    n: int
    start: int
    out: Path
    name: str
    resources: dict[str, float] = field(default_factory=dict)
    source: Mapping[str, Any] = field(default_factory=dict)

    @property
    def samples(self) -> range:
        """The sample indices this job makes."""
        return range(self.start, self.start + self.n)

    def input_paths(self) -> list[Path]:
        """Every input file, in the task function's order."""
        paths: list[Path] = []
        for role in INPUT_ROLES[self.task]:
            value = self.inputs[role]
            paths += [Path(p) for p in value] if isinstance(value, list) else [Path(value)]
        return paths

    def output(self, sample: int) -> Path:
        """The file of sample ``sample``."""
        stems = [p.stem for p in self.input_paths()]
        fields = {
            "stem": stems[0],
            "stems": "_".join(stems),
            "task": self.task,
            "sample": sample,
            "id": self.id,
            "line": self.line,
        }
        return self.out / self.name.format(**fields)

    def outputs(self) -> dict[int, Path]:
        """Sample index to file, for every sample of the job."""
        return {i: self.output(i) for i in self.samples}

    def fingerprint(self, digests: Mapping[Path, str]) -> dict[str, Any]:
        """What makes the job's images what they are, as stored with each of them: the
        task, the engine, its parameters as given, the seed, the inputs' sha256 (from
        ``digests``, path to hex digest) and dropgan's version. A file whose stored
        fingerprint equals the job's (and whose sample index is right) is the job's output."""
        return {
            "task": self.task,
            "engine": self.engine,
            "params": _normalised(self.params),
            "seed": self.seed,
            "inputs": [digests[p] for p in self.input_paths()],
            "dropgan": __version__,
        }

    def payload(self) -> dict[str, Any]:
        """The job as plain JSON values, for a worker process or a Ray task."""
        data = dataclasses.asdict(self)
        data["out"] = str(self.out)
        data["source"] = dict(self.source)
        return data

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Job:
        """The job that :meth:`payload` wrote."""
        return cls(**{**data, "out": Path(data["out"])})


def _normalised(value: object) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, keys sorted)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


@functools.cache
def job_schema() -> dict[str, Any]:
    """The JSON Schema of a job (``job.schema.json``, shipped with the package).

    Examples
    --------
    >>> sorted(job_schema()["required"])
    ['inputs', 'out', 'task']
    """
    text = resources.files(__package__).joinpath("job.schema.json").read_text("utf-8")
    return json.loads(text)


# --- a validator for the part of JSON Schema that job.schema.json uses ------------------------

_TYPES: dict[str, Callable[[object], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_IGNORED = {"$schema", "$id", "$defs", "title", "description", "examples"}


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, got {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _errors(value: object, schema: Mapping[str, Any], where: str, root: Mapping) -> Iterator[str]:
    """The ways ``value`` breaks ``schema``, each as ``"where: what"``; the keywords are
    those of ``job.schema.json`` (others raise, so the schema cannot outgrow the validator).
    """
    here = where or "job"
    unknown = set(schema) - _IGNORED - _KEYWORDS
    if unknown:
        raise ValueError(f"schema keywords not supported here: {', '.join(sorted(unknown))}")
    if "$ref" in schema:
        yield from _errors(value, _resolve(schema["$ref"], root), where, root)
    if "type" in schema and not _TYPES[schema["type"]](value):
        yield f"{here}: must be {'an' if schema['type'][0] in 'aeiou' else 'a'} {schema['type']}"
        return
    if "const" in schema and value != schema["const"]:
        yield f"{here}: must be {json.dumps(schema['const'])}"
    if "enum" in schema and value not in schema["enum"]:
        yield f"{here}: must be one of {', '.join(map(str, schema['enum']))}, not {value!r}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            yield f"{here}: must not be empty"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield f"{here}: must match {schema['pattern']}, not {value!r}"
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            yield f"{here}: must be at least {schema['minimum']}, not {value}"
        if "maximum" in schema and value > schema["maximum"]:
            yield f"{here}: must be at most {schema['maximum']}, not {value}"
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            yield f"{here}: must be above {schema['exclusiveMinimum']}, not {value}"
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            yield f"{here}: must hold at least {schema['minItems']} items"
        for i, item in enumerate(value):
            yield from _errors(item, schema.get("items", {}), f"{here}[{i}]", root)
    if isinstance(value, dict):
        if len(value) < schema.get("minProperties", 0):
            yield f"{here}: must not be empty"
        for key in schema.get("required", ()):
            if key not in value:
                yield f"{here}: {key!r} is missing"
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                yield from _errors(item, props[key], f"{where}.{key}" if where else key, root)
            elif schema.get("additionalProperties", True) is False:
                allowed = ", ".join(props)
                yield f"{here}: unknown field {key!r} (fields: {allowed})"
    for part in schema.get("allOf", ()):
        yield from _errors(value, part, where, root)
    if "if" in schema and not any(_errors(value, schema["if"], where, root)):
        yield from _errors(value, schema.get("then", {}), where, root)


_KEYWORDS = {
    "$ref", "type", "const", "enum", "minLength", "pattern", "minimum", "maximum",
    "exclusiveMinimum", "minItems", "items", "minProperties", "required", "properties",
    "additionalProperties", "allOf", "if", "then",
}  # fmt: skip


def check_schema(job: object, schema: Mapping[str, Any] | None = None) -> list[str]:
    """The ways ``job`` breaks the job schema (empty when it is a valid job).

    Examples
    --------
    >>> check_schema({"task": "generate", "inputs": {"image": "a.png"}, "out": "o"})
    []
    >>> for e in check_schema({"task": "paint", "inputs": {"image": "a.png"}, "n": 0}):
    ...     print(e)
    job: 'out' is missing
    task: must be one of generate, retarget, analogy, inpaint, collage, edit, not 'paint'
    n: must be at least 1, not 0
    """
    schema = job_schema() if schema is None else schema
    return list(_errors(job, schema, "", schema))


# --- the checks beyond the schema -------------------------------------------------------------


def task_function(task: str) -> Callable[..., Any]:
    """The public API function of ``task`` (``dropgan.generate``, ...)."""
    import dropgan

    return getattr(dropgan, task)


@functools.cache
def _task_options(task: str) -> frozenset[str]:
    """The keyword arguments of the task function that ``params`` may set."""
    roles = set(INPUT_ROLES[task])
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(
        name
        for name, p in inspect.signature(task_function(task)).parameters.items()
        if p.kind in kinds and name not in roles | _SET_BY_JOB
    )


def _check_params(task: str, engine: str, params: Mapping[str, Any]) -> None:
    """Unknown parameters and bad engine parameter values, as the engine reports them."""
    eng = get_engine(engine)  # an unknown engine, with the list of known ones
    engine_fields = {f.name for f in dataclasses.fields(eng.params_type)}
    options = _task_options(task)
    unknown = sorted(set(params) - options - engine_fields)
    if unknown:
        raise InputError(
            f"unknown parameter(s) {', '.join(unknown)} for {task} with the {engine} engine "
            f"(task options: {', '.join(sorted(options))}; engine parameters: "
            f"{', '.join(sorted(engine_fields))})"
        )
    eng.params(task, {k: v for k, v in params.items() if k in engine_fields})


def _check_name(template: str) -> None:
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as e:
        raise InputError(f"name {template!r} is not a valid template: {e}") from None
    bad = sorted(names - _NAME_FIELDS)
    if bad:
        raise InputError(
            f"name {template!r} has unknown field(s) {', '.join(bad)} "
            f"(fields: {', '.join(sorted(_NAME_FIELDS))})"
        )
    parts = PurePosixPath(template).parts
    if template.startswith(("/", "\\")) or ".." in parts:
        raise InputError(f"name {template!r} must stay inside the output folder")


def _default_name(task: str) -> str:
    return "{stem}_{sample}.png" if task in SAMPLED_TASKS else "{stems}_{task}.png"


def _absolute(path: str, base: Path) -> Path:
    p = Path(os.path.expanduser(path))
    return Path(os.path.abspath(p if p.is_absolute() else base / p))


def _parse(data: object, line: int, base: Path, check_files: bool) -> Job:
    problems = check_schema(data)
    if problems:
        raise InputError(problems[0])
    assert isinstance(data, dict)
    task = data["task"]
    engine = data.get("engine", engines_for(task)[0])
    params = dict(data.get("params", {}))
    _check_params(task, engine, params)
    name = data.get("name", _default_name(task))
    _check_name(name)
    n = data.get("n", 1)
    if task in SAMPLED_TASKS and n > 1 and "{sample}" not in name:
        raise InputError(f"name {name!r} needs {{sample}}: the job makes {n} images")
    inputs = {
        role: [str(_absolute(p, base)) for p in v]
        if isinstance(v, list)
        else str(_absolute(v, base))
        for role, v in data["inputs"].items()
    }
    job = Job(
        line=line,
        id=data.get("id", f"line {line}"),
        task=task,
        engine=engine,
        inputs=inputs,
        params=params,
        seed=data.get("seed", 0),
        n=n,
        start=data.get("start", 0),
        out=_absolute(data["out"], base),
        name=name,
        resources=dict(data.get("resources", {})),
        source=data,
    )
    if check_files:
        for role, path in zip(_roles(job), job.input_paths(), strict=True):
            if not path.is_file():
                raise InputError(f"input {role}: no such file {path}")
    return job


def _roles(job: Job) -> list[str]:
    roles = []
    for role in INPUT_ROLES[job.task]:
        value = job.inputs[role]
        roles += [f"{role}[{i}]" for i in range(len(value))] if isinstance(value, list) else [role]
    return roles


def parse_job(
    data: object,
    line: int,
    base: str | os.PathLike | None = None,
    *,
    check_files: bool = True,
) -> Job:
    """A :class:`Job` from one manifest entry, checked: the schema, the task's inputs, the
    engine and every parameter name (and the engine's parameter values), the output name
    template, and (with ``check_files``) that the input files exist. Relative paths are
    relative to ``base`` (default: the working directory).

    Raises
    ------
    InputError
        With one line saying what is wrong.

    Examples
    --------
    >>> job = parse_job({"task": "generate", "inputs": {"image": "/d/a.png"}, "n": 2,
    ...                  "out": "/o", "params": {"iters": 1}}, 1, check_files=False)
    >>> [str(p) for p in job.outputs().values()]
    ['/o/a_0.png', '/o/a_1.png']
    """
    return _parse(data, line, Path.cwd() if base is None else Path(base), check_files)


def parse_jobs(
    entries: Sequence[tuple[int, object]], base: str | os.PathLike | None = None
) -> tuple[list[Job], list[ManifestError]]:
    """Jobs from ``(line, entry)`` pairs (an entry is a JSON value, or a
    :class:`ManifestError` already), and every entry that cannot run as a
    :class:`ManifestError`, including the later of two jobs that would write the same file.
    """
    jobs, errors = [], []
    writers: dict[Path, Job] = {}
    for line, data in entries:
        if isinstance(data, ManifestError):
            errors.append(data)
            continue
        given_id = data.get("id") if isinstance(data, dict) else None
        try:
            job = parse_job(data, line, base)
            clash = [(p, writers[p]) for p in job.outputs().values() if p in writers]
            if clash:
                path, other = clash[0]
                raise InputError(f"writes {path}, as job {other.id!r} does")
        except InputError as e:
            errors.append(ManifestError(line, given_id, data, str(e)))
            continue
        writers.update({p: job for p in job.outputs().values()})
        jobs.append(job)
    return jobs, errors


def read_manifest(path: str | os.PathLike) -> tuple[list[Job], list[ManifestError]]:
    """The jobs of a manifest file (JSON Lines; blank lines and lines starting with ``#``
    are skipped, but counted in line numbers), and the lines that cannot run, each with its
    reason. Relative paths in it are relative to its folder.

    Raises
    ------
    InputError
        When the file cannot be read.
    """
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the manifest {path}: {getattr(e, 'strerror', e)}") from None
    entries: list[tuple[int, object]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            entries.append((number, json.loads(stripped)))
        except ValueError as e:
            entries.append((number, ManifestError(number, None, raw, f"not valid JSON: {e}")))
    return parse_jobs(entries, path.parent.resolve())


def file_digest(path: Path) -> str:
    """The sha256 of a file's bytes, as the API's metadata records its inputs."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
