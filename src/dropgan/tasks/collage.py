"""Collage: several images merged seamlessly into one that keeps the patches of all of them
(GPNN paper §4, "Image Collage")."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import InputError
from ..image import ImageLike, read_image
from ..pyramid import resize
from . import retarget
from .common import guided_synthesis, resolve_device, retarget_depth, search_backend, split_params
from .generation import output_size

__all__ = ["MAX_HEIGHT_RATIO", "collage", "concatenate"]

#: Inputs whose heights differ by more than this factor are refused: squeezed to a common
#: height, the taller one's elements would shrink too much for its patches to fit back.
MAX_HEIGHT_RATIO = 2.0


def concatenate(images: Sequence[torch.Tensor]) -> torch.Tensor:
    """The naive collage: the images side by side, each resized to the smallest height
    (keeping its aspect ratio), so that nothing is upsampled.

    Examples
    --------
    >>> concatenate([torch.rand(3, 20, 30), torch.rand(3, 40, 40)]).shape
    torch.Size([3, 20, 50])
    """
    h = min(x.shape[-2] for x in images)
    return torch.cat(
        [resize(x, (h, max(1, round(x.shape[-1] * h / x.shape[-2])))) for x in images], -1
    )


def collage(
    images: Sequence[ImageLike],
    size: Sequence[int] | None = None,
    *,
    levels: int | None = None,
    nn: str | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    memory_budget: int | None = None,
    progress: bool = False,
    **params: object,
) -> torch.Tensor:
    """Merge ``images`` into one image that holds the patches of every one of them.

    Keys and values come from all the inputs (each at its own size); the initial guess is
    their naive side-by-side concatenation (:func:`concatenate`), resized to ``size`` if
    given, downscaled by r^N. As the paper does, the rest is retargeting's design, with its
    small alpha so that nothing of any input is lost.

    Parameters
    ----------
    images : sequence of path, PIL.Image, ndarray or Tensor
        Two or more images whose heights differ at most by :data:`MAX_HEIGHT_RATIO`.
    size : (height, width), optional
        Output size; by default the concatenation's.
    levels : int, optional
        Number of downscalings N; by default retargeting's rule for the smallest input and
        the output (:func:`~dropgan.tasks.common.retarget_depth`).
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
        GPNN parameters (:class:`~dropgan.engines.gpnn.GPNNParams`); defaults as for
        retargeting (:data:`dropgan.tasks.retarget.DEFAULTS`): ``alpha`` 5e-3,
        ``ratio`` 0.8, ``coarsest_iters`` 10.

    Returns
    -------
    Tensor, (3, H, W)
        Values in [0, 1].

    Examples
    --------
    >>> import dropgan
    >>> a, b = torch.rand(3, 20, 24), torch.rand(3, 20, 16)
    >>> tuple(dropgan.collage([a, b], levels=1, iters=1, nn="exact").shape)
    (3, 20, 40)
    """
    gp = split_params(params, **retarget.DEFAULTS)
    dev = resolve_device(device)
    if not isinstance(images, Sequence) or isinstance(images, str) or len(images) < 2:
        raise InputError("a collage needs a list of at least two images")
    xs = [read_image(im, f"image {i + 1}").to(dev) for i, im in enumerate(images)]
    heights = [x.shape[-2] for x in xs]
    if max(heights) > MAX_HEIGHT_RATIO * min(heights):
        raise InputError(
            f"image heights range from {min(heights)} to {max(heights)} px; a collage needs "
            f"heights within a factor {MAX_HEIGHT_RATIO:g} of each other (resize them first)"
        )
    naive = concatenate(xs)
    out = output_size(tuple(naive.shape[-2:]), size)
    if levels is None:
        levels = retarget_depth([x.shape[-2:] for x in xs], out, gp.ratio, gp.patch_size)
    search = search_backend(nn, dev, seed, memory_budget)
    y = guided_synthesis(xs, resize(naive, out)[None], levels, gp, search, progress=progress)
    return y[0].cpu()
