"""Structural analogy and sketch-to-image: the appearance of one image in the layout of
another (GPNN paper §4, "Image-to-image and Structural Analogies")."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..image import ImageLike, read_image
from ..pyramid import depth_for_coarsest
from .common import guided_synthesis, resolve_device, search_backend, split_params

__all__ = ["COARSEST_PATCHES", "DEFAULTS", "analogy", "analogy_depth"]

#: GPNN parameters of structural analogy: a small alpha so that the output shows as much of
#: the source as possible (paper and authors' code: 5e-3).
DEFAULTS: dict[str, object] = {"alpha": 5e-3}

#: Smaller side of the coarsest level, in patches, of the default depth: the layout of B must
#: still be drawn with many patches there. Eight patches (56 px) give the authors' 5 levels
#: for their 196 to 220 px pairs.
COARSEST_PATCHES = 8


def analogy_depth(sizes: Sequence[Sequence[int]], ratio: float, patch_size: int) -> int:
    """Default depth: the smaller side of the smaller image is about
    :data:`COARSEST_PATCHES` patches at the coarsest level (at most that many).

    The paper changes the depth "according to the change in object sizes"; its authors' code
    uses 5 levels, which this rule reproduces for their image sizes. A fixed depth would
    shrink a small B to a few patches, and the output would then copy A's layout instead of
    following B's.

    Examples
    --------
    >>> analogy_depth([(220, 220), (220, 220)], 0.75, 7)
    5
    """
    short = min(min(s) for s in sizes)
    return depth_for_coarsest((short, short), ratio, COARSEST_PATCHES * patch_size)


def analogy(
    source: ImageLike,
    structure: ImageLike,
    *,
    refine: bool = True,
    levels: int | None = None,
    nn: str | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    memory_budget: int | None = None,
    progress: bool = False,
    **params: object,
) -> torch.Tensor:
    """An image with the patches of ``source`` (A) laid out like ``structure`` (B).

    The initial guess is B downscaled by r^N, which sets where things are; GPNN fills it
    with A's patches. With ``refine``, the output, downscaled by r^N, is fed back as the
    initial guess of a second pass (the paper's refinement). A sketch as B gives
    sketch-to-image.

    Parameters
    ----------
    source : path, PIL.Image, ndarray or Tensor
        Image A, whose patches (appearance) the output has.
    structure : path, PIL.Image, ndarray or Tensor
        Image B, whose layout the output follows; the output has its size.
    refine : bool
        Run the refinement pass. Default True.
    levels : int, optional
        Number of downscalings N; by default the smaller side of the smaller image is about
        eight patches at the coarsest level (:func:`analogy_depth`; the authors' 5 levels for
        220 px images).
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
        GPNN parameters (:class:`~dropgan.engines.gpnn.GPNNParams`). Defaults for this task:
        ``alpha`` 5e-3 (paper and authors' code); ``ratio`` 0.75, ``patch_size`` 7,
        ``iters`` 10, ``coarsest_iters`` 1, ``blend_sigma`` 7 as for generation (the
        authors' code).

    Returns
    -------
    Tensor, (3, H, W)
        Values in [0, 1], of B's size.

    Examples
    --------
    >>> import dropgan
    >>> a, b = torch.rand(3, 24, 32), torch.rand(3, 20, 28)
    >>> tuple(dropgan.analogy(a, b, levels=1, iters=1, nn="exact").shape)
    (3, 20, 28)
    """
    gp = split_params(params, **DEFAULTS)
    dev = resolve_device(device)
    a = read_image(source, "source").to(dev)
    b = read_image(structure, "structure").to(dev)
    if levels is None:
        levels = analogy_depth([a.shape[-2:], b.shape[-2:]], gp.ratio, gp.patch_size)
    y = b[None]
    for _ in range(2 if refine else 1):
        search = search_backend(nn, dev, seed, memory_budget)
        y = guided_synthesis([a], y, levels, gp, search, progress=progress)
    return y[0].cpu()
