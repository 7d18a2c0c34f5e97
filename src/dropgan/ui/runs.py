"""What the page asks for, as the public API and the command line say it.

A :class:`RunRequest` holds one run: the task, its input files by role, the task's options,
the engine and the parameters the user changed. :func:`call` makes the run through the public
API (``dropgan.generate(...)`` and the other tasks), :func:`write_outputs` writes every
image with the metadata the command line writes, and :func:`command_line` is the
``dropgan ...`` command that makes the same images in a terminal. Nothing here imports
Gradio.
"""

from __future__ import annotations

import inspect
import math
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dropgan

from ..errors import InputError
from ..progress import ProgressEvent
from ..result import Result
from .fields import default_engine

__all__ = [
    "TASKS",
    "RunRequest",
    "api_default",
    "call",
    "command_line",
    "output_names",
    "parse_scale",
    "parse_size",
    "summary",
    "write_outputs",
]

#: The tasks of the page, in its order.
TASKS = (
    "generate",
    "retarget",
    "analogy",
    "inpaint",
    "collage",
    "edit",
    "superres",
    "denoise",
    "paint2image",
    "harmonize",
)

#: Each task's options, with the command line's flag.
_FLAGS: dict[str, dict[str, str]] = {
    "generate": {
        "n": "-n",
        "start": "--start",
        "size": "--size",
        "scale": "--scale",
        "sigma": "--sigma",
    },
    "retarget": {"size": "--size", "scale": "--scale", "max_step": "--max-step"},
    "analogy": {"refine": "--no-refine"},
    "inpaint": {"steer": "--steer"},
    "collage": {"size": "--size"},
    "edit": {"n": "-n", "start": "--start", "sigma": "--sigma"},
    "superres": {"factor": "--factor", "back_projection": "--back-projection"},
    "denoise": {"sigma": "--sigma"},
    "paint2image": {"refine": "--no-refine", "quantize": "--quantize"},
    "harmonize": {},
}
#: Options of every task.
_RUN_FLAGS = {"seed": "--seed", "levels": "--levels", "device": "--device"}


def api_default(task: str, option: str) -> object:
    """The default of a task's option, read from the API function's signature (the page
    shows it; the command line leaves it out).

    Examples
    --------
    >>> api_default("generate", "sigma"), api_default("edit", "sigma")
    (0.75, 0.0)
    """
    return inspect.signature(getattr(dropgan, task)).parameters[option].default


def _options(task: str) -> dict[str, str]:
    return {**_FLAGS[task], **_RUN_FLAGS}


@dataclass(frozen=True)
class RunRequest:
    """One run asked for by the page.

    Attributes
    ----------
    task : str
        One of :data:`TASKS`.
    inputs : dict
        Input files by the API's argument name: ``image`` (generate, retarget, inpaint,
        superres, denoise), ``mask`` (inpaint, harmonize), ``source`` and ``structure``
        (analogy), ``images`` (collage, a list), ``original`` and ``edited`` (edit),
        ``source`` and ``paint`` (paint2image), ``background`` and ``naive`` (harmonize).
    options : dict
        The task's keyword options (``n``, ``seed``, ``size`` as (h, w), ``scale``,
        ``sigma``, ``max_step``, ``refine``, ``steer``, ``factor``, ``back_projection``,
        ``quantize``, ``levels``, ``device``); absent or None ones take the API's default.
        Paint-to-image's ``refine`` is None (the engine's default) or False, as the command
        line says it (``--no-refine``).
    engine : str
        A registered engine that does the task; by default the task's first.
    params : dict
        The engine parameters that differ from the task's defaults
        (:func:`~dropgan.ui.fields.parse_params`).
    """

    task: str
    inputs: dict[str, object]
    options: dict[str, object] = field(default_factory=dict)
    engine: str = ""
    params: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise InputError(f"unknown task {self.task!r}")
        if not self.engine:
            object.__setattr__(self, "engine", default_engine(self.task))
        unknown = sorted(set(self.options) - set(_options(self.task)))
        if unknown:
            raise InputError(f"{self.task} has no option(s) {', '.join(unknown)}")
        if self.task == "paint2image" and self.options.get("refine") is True:
            # the command line has --no-refine only: True would differ for SinGAN
            raise InputError("paint2image's refine is None (the engine's default) or False")

    def given(self) -> dict[str, object]:
        """The options that are set (not None)."""
        return {k: v for k, v in self.options.items() if v is not None}


def _inputs(req: RunRequest) -> list[object]:
    """The task's positional arguments."""
    i = req.inputs
    need = {
        "generate": ["image"],
        "retarget": ["image"],
        "analogy": ["source", "structure"],
        "inpaint": ["image", "mask"],
        "collage": ["images"],
        "edit": ["original", "edited"],
        "superres": ["image"],
        "denoise": ["image"],
        "paint2image": ["source", "paint"],
        "harmonize": ["background", "naive", "mask"],
    }[req.task]
    missing = [name for name in need if not i.get(name)]
    if missing:
        raise InputError(f"give the {' and the '.join(missing)} first")
    return [i[name] for name in need]


def call(req: RunRequest, progress: Callable[[ProgressEvent], object] | bool = False) -> Result:
    """Run ``req`` through the public API; ``progress`` as the API takes it."""
    task = getattr(dropgan, req.task)
    return task(*_inputs(req), engine=req.engine, progress=progress, **req.given(), **req.params)


def _stem(path: object) -> str:
    return Path(str(path)).stem


def output_names(req: RunRequest, count: int) -> list[str]:
    """The file names of the run's ``count`` images: the command line's names."""
    i, o = req.inputs, req.given()
    if req.task == "generate":
        start = o.get("start", 0)
        return [f"{_stem(i['image'])}_{k}.png" for k in range(start, start + count)]
    if req.task == "edit":
        start = o.get("start", 0)
        return [f"{_stem(i['edited'])}_edit_{k}.png" for k in range(start, start + count)]
    if req.task == "retarget":
        if "size" in o:
            what = f"{o['size'][1]}x{o['size'][0]}"
        else:
            sy, sx = _pair(o["scale"])
            what = f"scale{sx:g}x{sy:g}"
        return [f"{_stem(i['image'])}_{what}.png"]
    if req.task == "analogy":
        return [f"{_stem(i['source'])}_{_stem(i['structure'])}_analogy.png"]
    if req.task == "inpaint":
        return [f"{_stem(i['image'])}_inpaint.png"]
    if req.task == "superres":
        factor = float(o.get("factor", api_default("superres", "factor")))
        return [f"{_stem(i['image'])}_x{factor:g}.png"]
    if req.task == "denoise":
        return [f"{_stem(i['image'])}_denoised.png"]
    if req.task == "paint2image":
        return [f"{_stem(i['source'])}_{_stem(i['paint'])}_paint.png"]
    if req.task == "harmonize":
        return [f"{_stem(i['naive'])}_harmonized.png"]
    return [f"{_stem(i['images'][0])}_collage.png"]


def write_outputs(req: RunRequest, result: Result, folder: Path) -> list[Path]:
    """Write every image of ``result`` into ``folder`` as PNG with its metadata (as the
    command line does: :func:`dropgan.write_image` with the image's index)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = output_names(req, len(result))
    return [
        dropgan.write_image(result, folder / name, index=k, force=True)
        for k, name in enumerate(names)
    ]


# --- sizes as the command line writes them -----------------------------------------------------


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"WxH"`` as (height, width); empty for None.

    Examples
    --------
    >>> parse_size("400x180")
    (180, 400)
    """
    if text is None or not str(text).strip():
        return None
    try:
        w, h = (int(v) for v in str(text).lower().replace(" ", "").split("x"))
    except ValueError:
        raise InputError(
            f"size must be WIDTHxHEIGHT in pixels, e.g. 400x300, got {text!r}"
        ) from None
    if w < 1 or h < 1:
        raise InputError(f"size must be positive, got {text!r}")
    return h, w


def parse_scale(text: str | None) -> float | tuple[float, float] | None:
    """``"F"`` or ``"SXxSY"`` as F or (sy, sx); empty for None.

    Examples
    --------
    >>> parse_scale("1.5x1"), parse_scale("2")
    ((1.0, 1.5), 2.0)
    """
    if text is None or not str(text).strip():
        return None
    try:
        parts = [float(v) for v in str(text).lower().replace(" ", "").split("x")]
    except ValueError:
        raise InputError(f"scale must be a factor or SXxSY, e.g. 1.5x1, got {text!r}") from None
    if len(parts) not in (1, 2) or not all(v > 0 and math.isfinite(v) for v in parts):
        raise InputError(f"scale must be positive factor(s), got {text!r}")
    return parts[0] if len(parts) == 1 else (parts[1], parts[0])


def _pair(scale: float | Sequence[float]) -> tuple[float, float]:
    return (scale, scale) if isinstance(scale, (int, float)) else (scale[0], scale[1])


def _number(value: object) -> str:
    if isinstance(value, float):
        return "inf" if value == math.inf else repr(value)
    return str(value)


def _option_args(name: str, flag: str, value: object) -> list[str]:
    if name == "size":
        return [flag, f"{value[1]}x{value[0]}"]
    if name == "scale":
        sy, sx = _pair(value)
        return [flag, f"{_number(sx)}x{_number(sy)}"]
    if name == "refine":
        return [] if value or value is None else [flag]
    if name == "quantize":
        return [flag] if value else []
    return [flag, _number(value)]


def command_line(req: RunRequest, names: dict[str, str] | None = None) -> str:
    """The ``dropgan`` command that makes the same images as ``req``, its options left out
    where they are the defaults.

    ``names`` maps an input path to the name to write in its place (default: the file's
    name, as the user knows it); the command runs in a folder that holds the inputs.

    Examples
    --------
    >>> req = RunRequest("generate", {"image": "/tmp/x/1.jpg"}, {"n": 4, "seed": 3},
    ...                  params={"iters": 2})
    >>> command_line(req)
    'dropgan generate 1.jpg -n 4 --seed 3 --iters 2'
    """
    names = names or {}

    def name(path: object) -> str:
        return names.get(str(path), Path(str(path)).name)

    i = req.inputs
    args = ["dropgan", req.task]
    if req.task in ("generate", "retarget", "superres", "denoise"):
        args.append(name(i["image"]))
    elif req.task == "analogy":
        args += ["--source", name(i["source"]), "--structure", name(i["structure"])]
    elif req.task == "inpaint":
        args += [name(i["image"]), "--mask", name(i["mask"])]
    elif req.task == "collage":
        args += [name(p) for p in i["images"]]
    elif req.task == "paint2image":
        args += ["--source", name(i["source"]), "--paint", name(i["paint"])]
    elif req.task == "harmonize":
        args += ["--source", name(i["background"]), "--naive", name(i["naive"])]
        args += ["--mask", name(i["mask"])]
    else:
        args += [name(i["original"]), name(i["edited"])]
    options = req.given()
    for key, flag in _options(req.task).items():
        if key in options and (options[key] != api_default(req.task, key) or key == "seed"):
            args += _option_args(key, flag, options[key])
    if req.engine != default_engine(req.task):
        args += ["--engine", req.engine]
    for key, value in req.params.items():
        args += [f"--{key.replace('_', '-')}", _number(value)]
    return shlex.join(args)


def summary(result: Result) -> str:
    """The run's parameters as a Markdown list: task, engine, seed, pyramid depth, the
    task's options and every resolved engine parameter (what the images' metadata holds).

    Examples
    --------
    >>> r = Result((), {"task": "generate", "engine": "gpnn", "params": {"iters": 2},
    ...                 "levels": 3, "seed": 0, "options": {"sigma": 0.75}})
    >>> print(summary(r))
    - **generate** with **gpnn**, seed 0, 3 pyramid levels below the image
    - options: sigma = 0.75
    - engine parameters: iters = 2
    """
    m = result.metadata
    joined = lambda d: ", ".join(f"{k} = {_text(v)}" for k, v in d.items())  # noqa: E731
    lines = [
        f"- **{m.get('task')}** with **{m.get('engine')}**, seed {m.get('seed')}, "
        f"{m.get('levels')} pyramid levels below the image"
    ]
    if m.get("options"):
        lines.append(f"- options: {joined(m['options'])}")
    if m.get("params"):
        lines.append(f"- engine parameters: {joined(m['params'])}")
    return "\n".join(lines)


def _text(value: object) -> str:
    if isinstance(value, float):
        return "inf" if value == math.inf else f"{value:g}"
    return str(value)
