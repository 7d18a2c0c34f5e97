"""Retargeting: resize an image to any size and aspect ratio while keeping the size and shape
of its small elements (GPNN paper §4, "Retargeting")."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..errors import InputError
from ..image import ImageLike, read_image
from ..params import is_real
from ..progress import ProgressLike, as_progress
from ..pyramid import resize
from ..result import Result
from .common import input_record, make_plan, make_result, retarget_depth, run_samples, size_text
from .generation import output_size

__all__ = ["MAX_STEPS", "retarget", "retarget_steps"]

#: Most gradual steps of one retargeting: a 20x change of an axis at the default 1.3 per
#: step takes 12; more means a ``max_step`` so close to 1 that the run would never end.
MAX_STEPS = 50


def retarget_steps(
    source: Sequence[int], target: Sequence[int], max_step: float
) -> list[tuple[int, int]]:
    """Intermediate sizes of a gradual resize, ending with ``target``.

    The fewest steps that change neither axis by more than a factor ``max_step`` per step;
    the sizes are evenly spaced on a log scale, as in Bidirectional Similarity's gradual
    retargeting.

    Examples
    --------
    >>> retarget_steps((100, 100), (100, 200), 1.3)
    [(100, 126), (100, 159), (100, 200)]
    >>> retarget_steps((100, 100), (90, 110), 1.3)
    [(90, 110)]
    """
    if not (is_real(max_step) and 1 < max_step < math.inf):
        raise InputError(f"the largest change per step must be above 1, got {max_step!r}")
    logs = [math.log(t / s) for s, t in zip(source, target, strict=True)]
    steps = max(1, max(math.ceil(abs(v) / math.log(max_step) - 1e-9) for v in logs))
    if steps > MAX_STEPS:
        raise InputError(
            f"a largest change of {max_step:g} per step needs {steps} steps for this target "
            f"(at most {MAX_STEPS}): allow a larger change per step"
        )
    return [
        tuple(round(s * math.exp(v * k / steps)) for s, v in zip(source, logs, strict=True))
        for k in range(1, steps + 1)
    ]


def retarget(
    image: ImageLike,
    size: Sequence[int] | None = None,
    *,
    scale: float | Sequence[float] | None = None,
    max_step: float = 1.3,
    engine: str = "gpnn",
    levels: int | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: ProgressLike = False,
    **params: object,
) -> Result:
    """Resize ``image`` to another size or aspect ratio, keeping its patch distribution.

    The initial guess is the image naively resized to the target and downscaled by r^N; the
    engine then rebuilds it from the source's patches (GPNN with a small alpha, so that
    every part of the source appears). A large change is made gradually, with every engine:
    each step changes no axis by more than ``max_step``, and each step's output, naively
    resized, is the next step's initial guess; the source is always the original image.

    Parameters
    ----------
    image : path, PIL.Image, ndarray or Tensor
        The source image.
    size : (height, width), optional
        Target size.
    scale : float or (sy, sx), optional
        Target size as a multiple of the source's, instead of ``size``.
    max_step : float
        Largest change of either axis in one step (our choice: 1.3). Default 1.3.
    engine : str
        A registered engine that retargets (``"gpnn"``, ``"gpdm"``); ``**params`` are its
        parameters.
    levels : int, optional
        Number of downscalings N; by default the source's smaller side is about four patches
        at the coarsest level (the paper's rule), and the target's at least about two.
    device : str, optional
        ``"cpu"``, ``"cuda"``; CUDA when available by default.
    seed : int
        Seed of any randomised search.
    progress : bool or callable
        A bar on stderr, or a callable receiving :class:`~dropgan.progress.ProgressEvent`.
    **params
        The engine's parameters. GPNN's defaults for this task
        (:attr:`dropgan.engines.GPNN.task_defaults`): ``alpha`` 5e-3 (paper), ``ratio`` 0.8
        and ``coarsest_iters`` 10 (authors' code); ``patch_size`` 7, ``iters`` 10,
        ``blend_sigma`` 7 as for generation.

    Returns
    -------
    Result
        One image ``(3, H, W)`` in [0, 1] of the target size, and its metadata.

    Examples
    --------
    >>> import dropgan
    >>> x = torch.rand(3, 24, 32)
    >>> tuple(dropgan.retarget(x, (24, 40), levels=1, iters=1, nn="exact").image.shape)
    (3, 24, 40)
    """
    root = as_progress(progress)
    if size is None and scale is None:
        raise InputError("give a target size or a scale")
    plan = make_plan("retarget", engine, params, device, levels)
    x = read_image(image)
    src_size = tuple(x.shape[-2:])
    target = output_size(src_size, size, scale)
    steps = retarget_steps(src_size, target, max_step)
    depth = plan.depth([src_size], target, lambda r, p: retarget_depth([src_size], target, r, p))
    # fail before any work: intermediate sizes lie between the source's and the target's
    plan.level_sizes(src_size, depth, "image")
    plan.level_sizes(target, depth, "target")
    source = x.to(plan.device)

    def one(seed: int, progress) -> torch.Tensor:
        y = source
        for step, part in zip(steps, progress.parts(len(steps), "step"), strict=True):
            problem = plan.problem([source], step, depth, initial=resize(y, step))
            y = plan.run(problem, seed, part)
        return y

    images, own = run_samples(1, seed, 0, root, one)
    return make_result(
        plan,
        images,
        own,
        root,
        seed=seed,
        depth=depth,
        inputs=[input_record(image, x, "image")],
        options={"size": size_text(target), "max_step": max_step},
    )
