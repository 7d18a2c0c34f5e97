"""What every task needs around an engine: the device, the engine and its parameters for
the task, the source pyramids with their depth checked, per-sample seeds and noise, progress,
and the result with its metadata.

A task reads its inputs, chooses the output size and the initial guess, and hands
:class:`Problem` objects to the engine through a :class:`Plan`; nothing here or in a task
depends on which engine runs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .._version import __version__
from ..engines import ENGINES, Engine, Problem, Run, Source, TrainableEngine, get_engine
from ..engines.base import engines_for
from ..errors import InputError
from ..image import ImageLike
from ..params import check_count, check_seed, is_real, sample_seed
from ..progress import Progress
from ..pyramid import (
    depth_for_coarsest,
    depth_for_region,
    mask_pyramid,
    pyramid,
    resize,
)
from ..result import Result

__all__ = [
    "Plan",
    "check_levels",
    "make_result",
    "check_sigma",
    "add_model_option",
    "at_size",
    "input_record",
    "make_plan",
    "model_plan",
    "prepare_model",
    "region_depth",
    "region_extent",
    "resolve_device",
    "retarget_depth",
    "run_samples",
    "size_text",
    "task_plan",
]

#: The deepest pyramid any task builds: far beyond every rule (9 levels at 250 px, 30 at
#: 20000 px with r = 0.75), low enough that a ratio near 1 fails at once instead of
#: building thousands of levels.
MAX_LEVELS = 60


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The device to compute on: CUDA when available unless ``device`` says otherwise.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r} (use cpu or cuda)") from None
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device {dev.type} is not supported (use cpu or cuda)")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda was asked for but no CUDA GPU is available")
    return dev


def check_sigma(sigma: object) -> float:
    """The noise level, checked: a finite real >= 0."""
    if not is_real(sigma) or not 0 <= sigma < float("inf"):
        raise InputError(f"sigma must be a finite number >= 0, got {sigma!r}")
    return float(sigma)


def check_levels(
    size: Sequence[int], sizes: Sequence[tuple[int, int]], patch_size: int, what: str
) -> list[tuple[int, int]]:
    """``sizes``, the pyramid level sizes of an image of ``size``, checked to hold patches at
    the coarsest level."""
    h, w = sizes[-1]
    if min(h, w) < patch_size:
        raise InputError(
            f"{what} of {size[1]}x{size[0]} px is too small for {patch_size}x{patch_size} "
            f"patches at {len(sizes) - 1} pyramid levels (coarsest {w}x{h} px)"
        )
    return list(sizes)


def size_text(size: Sequence[int]) -> str:
    """(height, width) as the command line writes sizes, ``"WxH"``.

    Examples
    --------
    >>> size_text((180, 400))
    '400x180'
    """
    return f"{int(size[1])}x{int(size[0])}"


def input_record(image: ImageLike, tensor: torch.Tensor, role: str) -> dict[str, str]:
    """What an output's metadata says of one input (``image`` as given, ``tensor`` as
    read): its role, its file name if it is a file, and the sha256 of the file's bytes (or
    of the image's float32 values)."""
    if isinstance(image, (str, os.PathLike)):
        digest = hashlib.sha256(Path(image).read_bytes()).hexdigest()
        return {"role": role, "file": Path(image).name, "sha256": digest}
    values = tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
    return {"role": role, "sha256": hashlib.sha256(values).hexdigest()}


@dataclass(frozen=True)
class Plan:
    """One task's engine, its parameters and the device: makes problems and runs them.

    Attributes
    ----------
    task : str
    engine : Engine
    params : dataclass
        The engine's parameters for this task (``engine.params_type``).
    device : torch.device
    levels : int or None
        The user's pyramid depth, or None for the task's rule.
    """

    task: str
    engine: Engine
    params: Any
    device: torch.device
    levels: int | None = None

    @property
    def patch_size(self) -> int:
        return self.params.patch_size

    def depth(
        self,
        source_sizes: Sequence[Sequence[int]],
        out_size: Sequence[int],
        rule: Callable[[float, int], int],
    ) -> int:
        """The user's depth, else the engine's for this task's ``rule`` (a function of the
        pyramid ratio and the patch size)."""
        if self.levels is not None:
            return self.levels
        depth = self.engine.depth(self.params, source_sizes, out_size, rule)
        if depth > MAX_LEVELS:
            raise InputError(
                f"the pyramid would have {depth} levels (at most {MAX_LEVELS}): use a smaller ratio"
            )
        return depth

    def level_sizes(self, size: Sequence[int], depth: int, what: str) -> list[tuple[int, int]]:
        """The pyramid level sizes of an image of ``size``, checked to hold patches."""
        sizes = self.engine.level_sizes(self.params, size, depth)
        return check_levels(size, sizes, self.patch_size, what)

    def problem(
        self,
        sources: Sequence[torch.Tensor],
        out_size: Sequence[int],
        depth: int,
        *,
        masks: Sequence[torch.Tensor | None] | None = None,
        initial: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
    ) -> Problem:
        """The pyramids of ``sources`` (with their masks' pyramids) and the output's level
        sizes, each checked to hold patches at the coarsest level."""
        out_sizes = self.level_sizes(out_size, depth, "output")
        masks = masks or [None] * len(sources)
        pyramids = []
        for i, (x, mask) in enumerate(zip(sources, masks, strict=True)):
            what = "source image" if len(sources) == 1 else f"source image {i + 1}"
            size = tuple(x.shape[-2:])
            if min(size) < 2 * self.patch_size:
                raise InputError(
                    f"{what} of {size[1]}x{size[0]} px is too small: its sides must be at least "
                    f"twice the patch size ({2 * self.patch_size} px)"
                )
            sizes = self.level_sizes(size, depth, what)
            levels = pyramid(x, sizes)
            pyramids.append(Source(levels, None if mask is None else mask_pyramid(mask, sizes)))
        return Problem(tuple(pyramids), tuple(out_sizes), initial, noise)

    def noise(self, size: Sequence[int], sigma: float, seed: int) -> torch.Tensor | None:
        """Gaussian noise of standard deviation ``sigma`` per pixel and channel, ``(3, h,
        w)``, drawn on the CPU from ``seed`` (the same on every device); None for 0."""
        if sigma == 0:
            return None
        gen = torch.Generator().manual_seed(seed)
        return sigma * torch.randn((3, int(size[0]), int(size[1])), generator=gen)

    @property
    def learns(self) -> bool:
        """Whether the engine trains a model first (:class:`~dropgan.engines.TrainableEngine`)."""
        return isinstance(self.engine, TrainableEngine)

    def fit(self, problem: Problem, seed: int, progress: Progress) -> Any:
        """The engine's model of the problem's first source (engines that learn)."""
        run = Run(self.device, seed, progress)
        return self.engine.fit(problem.sources[0], self.params, run)

    def run(
        self, problem: Problem, seed: int, progress: Progress, model: Any = None
    ) -> torch.Tensor:
        """One image for ``problem``, on the plan's device; from ``model`` when given."""
        run = Run(self.device, seed, progress)
        if model is not None:
            return self.engine.sample(model, problem, run)
        return self.engine.synthesize(problem, self.params, run)


def make_plan(
    task: str,
    engine: str | Engine,
    options: Mapping[str, object],
    device: str | torch.device | None,
    levels: object = None,
) -> Plan:
    """The :class:`Plan` of ``task``: the engine by name, its parameters from ``options`` over
    the task's defaults, the device, and the user's depth if any."""
    eng = get_engine(engine) if isinstance(engine, str) else engine
    params = eng.params(task, options)
    if levels is not None:
        levels = check_count("levels", levels, 0, MAX_LEVELS)
    return Plan(task, eng, params, resolve_device(device), levels)


def model_plan(
    task: str,
    engine: str,
    model: object,
    options: Mapping[str, object],
    device: str | torch.device | None,
    levels: object = None,
) -> tuple[Plan, Any, dict[str, str]]:
    """The :class:`Plan` that samples ``model``, a model trained before (or the folder it
    was saved to), for ``task``; the model, configured; and what the output's metadata
    says of it.

    The engine is ``engine`` if it learns, else the first registered engine that learns
    and does ``task``. ``options`` may only change how the model samples (the engine's
    ``sampling_params``, e.g. SinGAN's ``start_scale``), over the task's defaults for
    those; the plan's parameters are then the model's.

    Examples
    --------
    >>> import torch
    >>> from dropgan.engines.singan import train
    >>> m = train(torch.rand(3, 24, 32), iters=1, scales=2, min_size=12)
    >>> plan, m, record = model_plan("harmonize", "gpnn", m, {}, "cpu")
    >>> plan.engine.name, plan.params.start_scale, record
    ('singan', 3, {'role': 'model'})
    """
    if not isinstance(get_engine(engine), TrainableEngine):
        # a model is a learning engine's: the first one registered unless named
        learning = [e for e in engines_for(task) if isinstance(ENGINES[e], TrainableEngine)]
        if not learning:
            raise InputError(f"no registered engine uses trained models for {task}")
        engine = learning[0]
    plan = make_plan(task, engine, {}, device, levels)
    record = {"role": "model"}
    if isinstance(model, (str, os.PathLike)):
        record["file"] = os.path.basename(os.path.normpath(model))
        model = plan.engine.load(model, plan.device)
    sampling = getattr(plan.engine, "sampling_params", frozenset())
    defaults = {k: v for k, v in plan.engine.task_defaults.get(task, {}).items() if k in sampling}
    given = {k: v for k, v in options.items() if v is not None}
    model = plan.engine.configure(model, {**defaults, **given})
    return replace(plan, params=model.params), model, record


def task_plan(
    task: str,
    engine: str,
    options: Mapping[str, object],
    device: str | torch.device | None,
    levels: object = None,
    model: object = None,
) -> tuple[Plan, Any, list[dict[str, str]]]:
    """The plan of an application that may use a model trained before: without ``model``,
    :func:`make_plan` (the model is trained on the source later, by
    :func:`prepare_model`, if the engine learns); with it, :func:`model_plan`. Returns
    the plan, the model (or None) and what the output's metadata lists of it among the
    inputs (nothing, or the model's record).

    Examples
    --------
    >>> plan, model, model_inputs = task_plan("edit", "gpnn", {}, "cpu")
    >>> plan.engine.name, model, model_inputs
    ('gpnn', None, [])
    """
    if model is None:
        return make_plan(task, engine, options, device, levels), None, []
    plan, model, record = model_plan(task, engine, model, options, device, levels)
    return plan, model, [record]


def add_model_option(parser: argparse.ArgumentParser, source: str) -> None:
    """``--model DIR`` on an application's command: a model of its ``source`` image trained
    by ``dropgan train``, used instead of training."""
    parser.add_argument(
        "--model",
        metavar="DIR",
        help=f"a model of {source} trained by 'dropgan train' (folder), sampled instead of "
        "training one (engines that learn; default: train with the fast schedule)",
    )


def prepare_model(
    plan: Plan, problem: Problem, seed: int, progress: Progress, model: Any = None
) -> Any:
    """The model that answers ``problem``: ``model`` (trained before; checked to be of an
    image of the first source's shape), else the plan's engine's model of the first source
    if it learns (trained on 90% of ``progress``), else None (engines that do not learn).

    Examples
    --------
    >>> plan = make_plan("edit", "gpnn", {}, "cpu")
    >>> prepare_model(plan, None, 0, Progress()) is None
    True
    """
    if model is not None:
        sh, sw = problem.sources[0].levels[0].shape[-2:]
        mh, mw = plan.engine.model_size(model)
        # a model of this image has its shape, shrunk by one factor (to its maximum size)
        if abs(mh - sh * mw / sw) > 1 and abs(mw - sw * mh / sh) > 1:
            raise InputError(
                f"the model was trained on a {mw}x{mh} px image, which does not have the "
                f"shape of this {sw}x{sh} px source image: train it on this image"
            )
        return model
    if plan.learns:
        return plan.fit(problem, seed, progress.part(0.9, "training"))
    return None


def at_size(image: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``image`` resized to ``size`` (h, w) if it has another: a learning engine answers at
    its model's resolution, which is smaller than an input above its maximum size.

    Examples
    --------
    >>> at_size(torch.rand(3, 10, 20), (20, 40)).shape
    torch.Size([3, 20, 40])
    """
    if tuple(image.shape[-2:]) == tuple(int(v) for v in size):
        return image
    return resize(image, tuple(int(v) for v in size)).clamp(0.0, 1.0)


def run_samples(
    n: object,
    seed: object,
    start: object,
    progress: Progress,
    one: Callable[[int, Progress], torch.Tensor],
) -> tuple[list[torch.Tensor], list[dict[str, int]]]:
    """Make samples ``start .. start + n - 1``, each by ``one(sample_seed, progress)``: the
    images and each one's metadata (index and seed). Sample ``i`` depends on ``seed`` and
    ``i`` only (:func:`~dropgan.params.sample_seed`), not on ``n``."""
    n = check_count("number of samples", n)
    seed = check_seed(seed)
    start = check_count("start", start, 0)
    images, own = [], []
    for i, part in zip(range(start, start + n), progress.parts(n, "sample"), strict=True):
        s = sample_seed(seed, i)
        images.append(one(s, part).cpu())
        own.append({"sample": i, "sample_seed": s})
    return images, own


def make_result(
    plan: Plan,
    images: Sequence[torch.Tensor],
    per_image: Sequence[Mapping[str, object]],
    progress: Progress,
    *,
    seed: int,
    depth: int,
    inputs: Sequence[dict[str, str]],
    options: Mapping[str, object],
) -> Result:
    """The task's :class:`~dropgan.result.Result`: everything needed to make its images
    again (task, engine, every resolved parameter, depth, seed, inputs, versions)."""
    progress.finish()
    params = asdict(plan.engine.resolve(plan.params, plan.device))
    metadata = {
        "task": plan.task,
        "engine": plan.engine.name,
        "params": params,
        "levels": depth,
        "options": dict(options),
        "seed": int(seed),
        "inputs": list(inputs),
        "device": plan.device.type,
        "dropgan": __version__,
        "torch": torch.__version__,
    }
    return Result(tuple(images), metadata, tuple(dict(o) for o in per_image))


def retarget_depth(
    source_sizes: Sequence[Sequence[int]], out_size: Sequence[int], ratio: float, patch_size: int
) -> int:
    """Pyramid depth for retargeting and collage.

    The paper's rule (§4): the smaller side of the (smallest) source at the coarsest level is
    about four patches; capped by the generation rule for the output (its smaller side at
    least about two patches there), so that a much smaller target still holds patches.

    Examples
    --------
    >>> retarget_depth([(168, 250)], (168, 400), 0.8, 7)
    9
    """
    short = min(min(s) for s in source_sizes)
    by_source = depth_for_coarsest((short, short), ratio, 4 * patch_size)
    return min(by_source, depth_for_coarsest(out_size, ratio, 2 * patch_size))


def _run_maxima(labels: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """Every pixel of a horizontal run of ``inside`` pixels gets the run's largest label."""
    starts = inside.clone()
    starts[:, 1:] &= ~inside[:, :-1]
    # runs numbered from 1 in row-major order; 0 outside (a run never wraps to the next
    # row, since every row's first inside pixel starts a run)
    run = (torch.cumsum(starts.flatten(), 0) * inside.flatten()).long()
    best = torch.zeros(int(run.max()) + 1, dtype=labels.dtype)
    best = best.scatter_reduce(0, run, labels.flatten(), "amax")
    return (best[run] * inside.flatten()).view_as(labels)


def region_extent(mask: torch.Tensor, patch_size: int) -> tuple[int, int]:
    """(height, width) of the bounding box of the largest connected part of a non-empty
    boolean ``(H, W)`` mask, the size of the largest part measured by its longer side.

    Parts less than a patch apart count as one, so an edit whose changed pixels are broken
    up by unchanged ones is one region, while separate edits far apart do not add up to one
    huge region.

    Examples
    --------
    >>> m = torch.zeros(40, 40, dtype=torch.bool)
    >>> m[2:6, 2:12] = True; m[30:33, 30:33] = True
    >>> region_extent(m, 7)
    (4, 10)
    """
    # only the mask's bounding box matters: crop to it to label fewer pixels
    ys, xs = mask.nonzero(as_tuple=True)
    mask = mask[int(ys.min()) : int(ys.max()) + 1, int(xs.min()) : int(xs.max()) + 1]
    h, w = mask.shape
    reach = patch_size // 2
    joined = F.max_pool2d(mask[None, None].float(), 2 * reach + 1, 1, reach)[0, 0] > 0
    # label every pixel of a part with the largest pixel index in it, spreading maxima along
    # rows and columns in turn: a few rounds for any part short of a maze
    labels = torch.arange(1, h * w + 1).reshape(h, w) * joined
    while True:
        spread = _run_maxima(_run_maxima(labels, joined).T, joined.T).T
        if torch.equal(spread, labels):
            break
        labels = spread
    ys, xs = mask.nonzero(as_tuple=True)
    part = torch.unique(labels[ys, xs], return_inverse=True)[1]
    parts = int(part.max()) + 1

    def span(coord: torch.Tensor) -> torch.Tensor:
        start = torch.zeros(parts, dtype=coord.dtype)
        hi = start.scatter_reduce(0, part, coord, "amax", include_self=False)
        lo = start.scatter_reduce(0, part, coord, "amin", include_self=False)
        return hi - lo + 1

    heights, widths = span(ys), span(xs)
    largest = int(torch.maximum(heights, widths).argmax())
    return int(heights[largest]), int(widths[largest])


def region_depth(mask: torch.Tensor, ratio: float, patch_size: int, patches: float = 1.0) -> int:
    """Pyramid depth for inpainting and editing: the largest region of ``mask`` (see
    :func:`region_extent`) shrinks to about ``patches`` patches at the coarsest level (the
    paper's rule, §4, is one), capped by the generation rule for the image (its smaller side
    at least about two patches there).

    Examples
    --------
    >>> m = torch.zeros(180, 250, dtype=torch.bool); m[50:78, 90:118] = True
    >>> region_depth(m, 0.75, 7)
    5
    >>> region_depth(m, 0.75, 7, patches=2.0)
    2
    """
    extent = [side / patches for side in region_extent(mask, patch_size)]
    by_region = depth_for_region(extent, ratio, patch_size)
    return min(by_region, depth_for_coarsest(tuple(mask.shape), ratio, 2 * patch_size))
