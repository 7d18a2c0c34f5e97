"""The engine interface: how tasks ask for images, whatever makes them.

A task (random generation, retargeting, ...) builds the source pyramids, the output size at
every level and, where it has one, an initial guess; that is a :class:`Problem`. An engine
turns a problem into an image: GPNN by patch nearest neighbours, GPDM by patch-distribution
matching, a trained SinGAN by its generators. Tasks never know which engine runs; engines
never know which task called them.

To add an engine, subclass :class:`Engine` (or :class:`TrainableEngine` for one that learns a
model first), give it a frozen parameter dataclass whose fields carry a ``help`` text in
their metadata, and :func:`register` it: every task that it lists in ``tasks`` can use it,
through the API (``engine="name"``) and the command line (``--engine name``).
"""

from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ..errors import InputError
from ..progress import Progress
from ..pyramid import level_sizes

__all__ = [
    "ENGINES",
    "Engine",
    "Problem",
    "Run",
    "Source",
    "TrainableEngine",
    "engines_for",
    "get_engine",
    "register",
]


@dataclass(frozen=True)
class Source:
    """One source image as a pyramid (finest first), with an optional mask pyramid whose
    True pixels may not be copied from."""

    levels: Sequence[torch.Tensor]
    masks: Sequence[torch.Tensor] | None = None


@dataclass(frozen=True)
class Problem:
    """What a task asks of an engine: one output image.

    Attributes
    ----------
    sources : tuple of Source
        The images whose patches the output has, each a pyramid of ``len(out_sizes)``
        levels, finest first.
    out_sizes : tuple of (h, w)
        The output's size at every level, finest first.
    initial : Tensor (3, h, w), optional
        The initial guess, any size (it is resized to the coarsest output level). None for
        random generation: the engine starts from its own prior (GPNN: the first source's
        coarsest level; GPDM: mid-grey).
    noise : Tensor (3, h, w), optional
        Added to the start at the coarsest output level: the same diversity knob for every
        engine (Gaussian, per pixel and channel, drawn by the task from the sample's seed).
    """

    sources: tuple[Source, ...]
    out_sizes: tuple[tuple[int, int], ...]
    initial: torch.Tensor | None = None
    noise: torch.Tensor | None = None

    @property
    def depth(self) -> int:
        """Number of downscalings N."""
        return len(self.out_sizes) - 1


@dataclass(frozen=True)
class Run:
    """How to compute one sample: device, seed and where to report progress."""

    device: torch.device
    seed: int
    progress: Progress = dataclasses.field(default_factory=Progress)

    def generator(self) -> torch.Generator:
        """A CPU generator seeded with this sample's seed (same draws on every device)."""
        return torch.Generator().manual_seed(self.seed)


def _describe(params_type: type) -> str:
    return ", ".join(f.name for f in dataclasses.fields(params_type))


class Engine(ABC):
    """An engine: a name, a frozen parameter dataclass, the tasks it serves, and
    :meth:`synthesize`.

    Class attributes
    ----------------
    name : str
        What users type (``engine="gpnn"``, ``--engine gpnn``).
    summary : str
        One line for help texts.
    params_type : type
        Frozen dataclass of the engine's parameters, with the paper's defaults; each field's
        metadata has a ``help`` string. Fields ``patch_size`` and ``ratio`` (pyramid factor)
        are what tasks' depth rules use.
    tasks : frozenset of str
        The tasks this engine can serve.
    task_defaults : mapping
        Per task, the parameters whose default differs from ``params_type``'s (the paper's
        recipe for that task).
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    params_type: ClassVar[type]
    tasks: ClassVar[frozenset[str]]
    task_defaults: ClassVar[Mapping[str, Mapping[str, object]]] = {}

    def params(self, task: str, options: Mapping[str, object]) -> Any:
        """The parameters for ``task``: ``options`` over the task's defaults over the
        engine's. An option this engine does not take is an error; an option given as
        None keeps the default."""
        if task not in self.tasks:
            raise InputError(
                f"the {self.name} engine does not do {task} "
                f"(engines that do: {', '.join(engines_for(task)) or 'none'})"
            )
        names = {f.name for f in dataclasses.fields(self.params_type)}
        unknown = sorted(k for k, v in options.items() if k not in names and v is not None)
        if unknown:
            raise InputError(
                f"parameter(s) {', '.join(unknown)} do not apply to the {self.name} engine "
                f"(it takes {_describe(self.params_type)})"
            )
        given = {k: v for k, v in options.items() if v is not None}
        return self.params_type(**{**self.task_defaults.get(task, {}), **given})

    def depth(
        self,
        params: Any,
        source_sizes: Sequence[Sequence[int]],
        out_size: Sequence[int],
        task_rule: Callable[[float, int], int],
    ) -> int:
        """Number of downscalings N when the user gave none: by default the task's rule
        (a function of the pyramid ratio and the patch size)."""
        return task_rule(params.ratio, params.patch_size)

    def level_sizes(self, params: Any, size: Sequence[int], depth: int) -> list[tuple[int, int]]:
        """Sizes of the ``depth + 1`` pyramid levels of an image, finest first."""
        return level_sizes(size, params.ratio, depth)

    def resolve(self, params: Any, device: torch.device) -> Any:
        """The parameters as they will run on ``device`` (defaults that depend on it filled
        in): what an output's metadata records. By default ``params`` unchanged."""
        return params

    @abstractmethod
    def synthesize(self, problem: Problem, params: Any, run: Run) -> torch.Tensor:
        """One output image ``(3, H, W)`` in [0, 1] for ``problem``; reports to
        ``run.progress`` after every unit of work (so that it can be cancelled)."""


class TrainableEngine(Engine):
    """An engine that learns a model of the source first (SinGAN, PetsGAN).

    :meth:`synthesize` fits a model on the first source and samples it; tasks that make
    several samples fit once (:meth:`fit`) and sample each (:meth:`sample`), and a model
    trained before (:meth:`load`) serves them without training.
    """

    @abstractmethod
    def fit(
        self,
        source: Source,
        params: Any,
        run: Run,
        *,
        checkpoint: Callable[[Any], object] | None = None,
        resume: Any = None,
    ) -> Any:
        """Learn a model of ``source``; ``checkpoint`` gets the partial model after each
        stage, and training from a ``resume``d partial model ends as an uninterrupted run."""

    @abstractmethod
    def sample(self, model: Any, problem: Problem, run: Run) -> torch.Tensor:
        """One image ``(3, H, W)`` from a trained ``model``; a problem without sources asks
        for ``out_sizes[0]`` itself."""

    @abstractmethod
    def save(self, model: Any, folder: str | os.PathLike) -> None:
        """Write ``model`` to ``folder`` (weights and a JSON config; no pickle)."""

    @abstractmethod
    def load(self, folder: str | os.PathLike, device: torch.device) -> Any:
        """A model written by :meth:`save`, running no code from its files."""

    @abstractmethod
    def model_size(self, model: Any) -> tuple[int, int]:
        """The (height, width) of the image ``model`` was trained on."""

    def configure(self, model: Any, options: Mapping[str, object]) -> Any:
        """``model`` with sampling ``options`` applied; by default it takes none."""
        if any(v is not None for v in options.values()):
            raise InputError(
                f"parameter(s) {', '.join(sorted(options))} are fixed by the trained model"
            )
        return model

    def synthesize(self, problem: Problem, params: Any, run: Run) -> torch.Tensor:
        fit, sample = run.progress.part(0.9, "training"), run.progress.part(0.1, "sampling")
        model = self.fit(problem.sources[0], params, dataclasses.replace(run, progress=fit))
        return self.sample(model, problem, dataclasses.replace(run, progress=sample))


#: The registered engines by name, in registration order (the first is the default).
ENGINES: dict[str, Engine] = {}


def register(engine: Engine) -> Engine:
    """Make ``engine`` available to every task it lists, by its name; returns it."""
    for field in dataclasses.fields(engine.params_type):
        if "help" not in field.metadata:
            raise TypeError(f"{engine.name}: parameter {field.name} has no help text")
    ENGINES[engine.name] = engine
    return engine


def get_engine(name: str) -> Engine:
    """The registered engine called ``name``.

    Examples
    --------
    >>> get_engine("gpnn").name
    'gpnn'
    """
    if name not in ENGINES:
        raise InputError(f"unknown engine {name!r} (choose from {', '.join(ENGINES)})")
    return ENGINES[name]


def engines_for(task: str) -> list[str]:
    """Names of the engines that serve ``task``."""
    return [name for name, e in ENGINES.items() if task in e.tasks]
