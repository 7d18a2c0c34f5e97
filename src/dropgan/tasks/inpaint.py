"""Conditional inpainting: fill a hole with the image's own patches, steered by the colour it
is painted with (GPNN paper §4, "Conditional Inpainting")."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..image import ImageLike, read_image, read_mask
from ..patches import valid_patches
from ..pyramid import level_sizes, mask_pyramid
from .common import guided_synthesis, region_depth, resolve_device, search_backend, split_params

__all__ = ["DEFAULTS", "PAINTED_STD", "STEER_MODES", "inpaint", "inpaint_depth", "steer_hole"]

#: GPNN parameters of inpainting: plain MSE, since completeness is not wanted (paper and
#: authors' code: alpha = inf).
DEFAULTS: dict[str, object] = {"alpha": math.inf}

#: With ``steer="auto"``, a hole whose colour has at most this standard deviation (per
#: channel, on [0, 1] values) counts as painted by the user: about 5 grey levels of 255,
#: above the noise of a lossy save of a flat colour, far below the spread of any photograph.
PAINTED_STD = 0.02

STEER_MODES = ("auto", "painted", "mean")


def steer_hole(image: torch.Tensor, mask: torch.Tensor, steer: str, ring: int) -> torch.Tensor:
    """The image the hole is filled from: as painted, or with the hole set to the mean colour
    of the pixels at most ``ring`` pixels outside it (a neutral steer).

    ``steer="auto"`` keeps a near-uniform hole (see :data:`PAINTED_STD`) as painted and
    fills any other hole with the mean.

    Examples
    --------
    >>> x = torch.full((3, 9, 9), 0.25)
    >>> m = torch.zeros(9, 9, dtype=torch.bool); m[3:6, 3:6] = True
    >>> x[:, m] = torch.rand(3, 9)
    >>> steer_hole(x, m, "auto", 1)[:, 4, 4].tolist()
    [0.25, 0.25, 0.25]
    """
    if steer not in STEER_MODES:
        raise InputError(f"unknown steer {steer!r} (choose from {', '.join(STEER_MODES)})")
    painted = image[:, mask].std(dim=1, unbiased=False).max() <= PAINTED_STD
    if steer == "painted" or (steer == "auto" and painted):
        return image
    near = F.max_pool2d(mask[None, None].float(), 2 * ring + 1, 1, ring)[0, 0] > 0
    fill = image[:, near & ~mask].mean(dim=1)
    out = image.clone()
    out[:, mask] = fill[:, None]
    return out


def inpaint_depth(mask: torch.Tensor, ratio: float, patch_size: int) -> int:
    """Default depth: the hole's largest region shrinks to about one patch at the coarsest
    level (the paper's rule, see :func:`~dropgan.tasks.common.region_depth`), reduced while
    the mask would leave no patch to copy from at the coarsest level.

    Examples
    --------
    >>> m = torch.zeros(100, 100, dtype=torch.bool); m[40:60, 40:60] = True
    >>> inpaint_depth(m, 0.75, 7)
    4
    """
    depth = region_depth(mask, ratio, patch_size)
    size = tuple(mask.shape)
    while depth > 0:
        coarsest = mask_pyramid(mask, [level_sizes(size, ratio, depth)[-1]])[0]
        if valid_patches(coarsest, patch_size).any():
            break
        depth -= 1
    return depth


def inpaint(
    image: ImageLike,
    mask: ImageLike,
    *,
    steer: str = "auto",
    levels: int | None = None,
    nn: str | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    memory_budget: int | None = None,
    progress: bool = False,
    **params: object,
) -> torch.Tensor:
    """Fill the ``mask``ed hole of ``image`` with the image's own patches.

    The hole's colour steers the fill (blue toward sky, green toward grass): the initial
    guess is the image itself, hole included, downscaled by r^N. Patches that overlap the
    hole are never copied, at any pyramid level: the mask is resized to every level
    conservatively (:func:`~dropgan.pyramid.mask_pyramid`), so no pixel of the hole reaches
    the output.

    Parameters
    ----------
    image : path, PIL.Image, ndarray or Tensor
        The image, with the hole painted in the steering colour (or not painted at all).
    mask : path, PIL.Image, ndarray or Tensor
        The hole: non-black pixels; the same size as ``image``.
    steer : {"auto", "painted", "mean"}
        ``"painted"`` steers with the hole as it is; ``"mean"`` first fills it with the mean
        colour of a ring one patch wide around it (a neutral steer for a hole over an
        unpainted photo); ``"auto"`` (default) takes the hole as painted when it is
        near-uniform (:data:`PAINTED_STD`), else the mean.
    levels : int, optional
        Number of downscalings N; by default the hole's largest region is about one patch at
        the coarsest level (the paper's rule; :func:`inpaint_depth`).
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
        ``alpha`` inf (paper and authors' code); ``ratio`` 0.75, ``patch_size`` 7,
        ``iters`` 10, ``coarsest_iters`` 1, ``blend_sigma`` 7 as for generation (the
        authors' code).

    Returns
    -------
    Tensor, (3, H, W)
        Values in [0, 1], of the image's size.

    Examples
    --------
    >>> import dropgan
    >>> x = torch.rand(3, 24, 32)
    >>> m = torch.zeros(24, 32); m[8:12, 10:16] = 1
    >>> tuple(dropgan.inpaint(x, m, levels=1, iters=1, nn="exact").shape)
    (3, 24, 32)
    """
    gp = split_params(params, **DEFAULTS)
    dev = resolve_device(device)
    x = read_image(image).to(dev)
    hole = read_mask(mask).to(dev)
    if hole.shape != x.shape[-2:]:
        h, w = x.shape[-2:]
        raise InputError(
            f"mask is {hole.shape[1]}x{hole.shape[0]} px but the image {w}x{h} px; "
            "they must be the same size"
        )
    if not hole.any():
        raise InputError("the mask is empty: paint the hole white on black")
    if hole.all():
        raise InputError("the mask covers the whole image; nothing is left to copy from")
    p = gp.patch_size
    depth = inpaint_depth(hole.cpu(), gp.ratio, p) if levels is None else levels
    x = steer_hole(x, hole, steer, p)
    search = search_backend(nn, dev, seed, memory_budget)
    y = guided_synthesis([x], x[None], depth, gp, search, masks=[hole], progress=progress)
    return y[0].cpu()
