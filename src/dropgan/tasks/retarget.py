"""Retargeting: resize an image to any size and aspect ratio while keeping the size and shape
of its small elements (GPNN paper §4, "Retargeting")."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..errors import InputError
from ..image import ImageLike, read_image
from ..pyramid import resize
from .common import (
    check_engine,
    check_levels,
    gpdm_options,
    guided_synthesis,
    resolve_device,
    retarget_depth,
    search_backend,
    split_params,
)
from .generation import output_size

__all__ = ["DEFAULTS", "retarget", "retarget_steps"]

#: GPNN parameters of retargeting (and of collage, which the paper builds the same way): a
#: small alpha so that nothing of the source is lost (paper: 5e-3; the authors' code 1e-3 to
#: 5e-3), r = 0.8 and 10 steps at the coarsest level (the authors' code).
DEFAULTS: dict[str, object] = {"alpha": 5e-3, "ratio": 0.8, "coarsest_iters": 10}


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
    if not max_step > 1:
        raise InputError(f"the largest change per step must be above 1, got {max_step}")
    logs = [math.log(t / s) for s, t in zip(source, target, strict=True)]
    steps = max(1, max(math.ceil(abs(v) / math.log(max_step) - 1e-9) for v in logs))
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
    nn: str | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    memory_budget: int | None = None,
    progress: bool = False,
    **params: object,
) -> torch.Tensor:
    """Resize ``image`` to another size or aspect ratio, keeping its patch distribution.

    The initial guess is the image naively resized to the target and downscaled by r^N; GPNN
    then rebuilds it from the source's patches, with a small alpha so that every part of the
    source appears. A large change is made gradually: each step changes no axis by more than
    ``max_step``, and each step's output, naively resized, is the next step's initial guess;
    keys and values always come from the original image.

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
    engine : {"gpnn", "gpdm"}
        ``"gpdm"`` retargets by patch-distribution matching from the naively resized image
        (:func:`~dropgan.engines.gpdm.gpdm`; ``**params`` are then its parameters).
    levels : int, optional
        Number of downscalings N; by default the source's smaller side is about four patches
        at the coarsest level (the paper's rule), and the target's at least about two.
    nn : str, optional
        Search backend: ``"exact"``, or the default for the device.
    device : str, optional
        ``"cpu"``, ``"cuda"``; CUDA when available by default.
    seed : int
        Seed of any randomised search.
    memory_budget : int, optional
        Bytes for the exact search's distance tiles (default 1 GiB).
    progress : bool
        Show a progress bar on stderr.
    **params
        GPNN parameters (:class:`~dropgan.engines.gpnn.GPNNParams`). Defaults for this task
        (:data:`DEFAULTS`): ``alpha`` 5e-3 (paper), ``ratio`` 0.8 and ``coarsest_iters`` 10
        (authors' code); ``patch_size`` 7, ``iters`` 10, ``blend_sigma`` 7 as for generation.

    Returns
    -------
    Tensor, (3, H, W)
        Values in [0, 1], of the target size.

    Examples
    --------
    >>> import dropgan
    >>> x = torch.rand(3, 24, 32)
    >>> tuple(dropgan.retarget(x, (24, 40), levels=1, iters=1, nn="exact").shape)
    (3, 24, 40)
    """
    check_engine(engine)
    if size is None and scale is None:
        raise InputError("give a target size or a scale")
    if engine == "gpdm":
        from ..engines.gpdm import gpdm

        options = gpdm_options(params, nn, levels)
        x = read_image(image).to(resolve_device(device))
        target = output_size(tuple(x.shape[-2:]), size, scale)
        gen = torch.Generator().manual_seed(seed)
        return gpdm(x, target, init=resize(x, target), generator=gen, progress=progress, **options)[
            0
        ].cpu()
    gp = split_params(params, **DEFAULTS)
    dev = resolve_device(device)
    x = read_image(image).to(dev)
    src_size = tuple(x.shape[-2:])
    target = output_size(src_size, size, scale)
    p, r = gp.patch_size, gp.ratio
    depth = retarget_depth([src_size], target, r, p) if levels is None else levels
    # fail before any work: intermediate sizes lie between the source's and the target's
    check_levels(src_size, r, depth, p, "image")
    check_levels(target, r, depth, p, "target")
    y = x[None]
    for step in retarget_steps(src_size, target, max_step):
        search = search_backend(nn, dev, seed, memory_budget)
        y = guided_synthesis([x], resize(y, step), depth, gp, search, progress=progress)
    return y[0].cpu()
