"""Antialiased resizing, image pyramids and the rules that choose their depth."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .errors import InputError

__all__ = [
    "authors_level_sizes",
    "authors_pyramid",
    "depth_for_coarsest",
    "depth_for_generation",
    "depth_for_region",
    "level_sizes",
    "mask_pyramid",
    "pyramid",
    "resize",
    "resize_right",
]


def resize(image: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize ``(C, H, W)`` or ``(B, C, H, W)`` images with antialiased bicubic interpolation.

    Values are not clipped: bicubic overshoot and added noise survive the resize.

    Examples
    --------
    >>> resize(torch.rand(3, 40, 60), (30, 45)).shape
    torch.Size([3, 30, 45])
    """
    h, w = int(size[0]), int(size[1])
    if tuple(image.shape[-2:]) == (h, w):
        return image
    batched = image if image.ndim == 4 else image[None]
    out = F.interpolate(batched, size=(h, w), mode="bicubic", antialias=True, align_corners=False)
    return out if image.ndim == 4 else out[0]


def level_sizes(size: Sequence[int], ratio: float, levels: int) -> list[tuple[int, int]]:
    """Sizes of pyramid levels 0..levels: level n is ``ceil(H * ratio**n) x ceil(W * ratio**n)``.

    This is the GPNN authors' sizing rule. Level 0 is the full size.

    Examples
    --------
    >>> level_sizes((180, 250), 0.75, 2)
    [(180, 250), (135, 188), (102, 141)]
    """
    h, w = size
    # round() first so that 180 * 0.75**2 = 101.25 is not pushed up by float error
    return [
        (math.ceil(round(h * ratio**n, 6)), math.ceil(round(w * ratio**n, 6)))
        for n in range(levels + 1)
    ]


def authors_level_sizes(size: Sequence[int], ratio: float, levels: int) -> list[tuple[int, int]]:
    """Sizes of pyramid levels 0..levels exactly as the GPNN authors' ``make_pyramid``
    (``gpnn.py`` of WeizmannVision/DropTheGAN): ``ceil(H * ratio**n)``, in floating point.

    For r = 3/4 this equals :func:`level_sizes` (powers of 3/4 are exact in binary); for
    other ratios floating-point error can push a product just above an integer up by one,
    as it does in their code.

    Examples
    --------
    >>> authors_level_sizes((188, 250), 0.75, 9)[-1]
    (15, 19)
    """
    h, w = size
    return [(math.ceil(h * ratio**n), math.ceil(w * ratio**n)) for n in range(levels + 1)]


def _cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic kernel with a = -0.5, as ResizeRight's ``_cubic``."""
    ax = x.abs()
    near = (1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1)
    far = (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


def _right_weights(n_in: int, n_out: int, scale: float) -> torch.Tensor:
    """The ``(n_out, n_in)`` matrix of ResizeRight along one axis (in float64)."""
    antialias = scale < 1.0
    width = 6.0 / scale if antialias else 6.0  # their default: cubic, width 6 (zero tail)
    out = torch.arange(1, n_out + 1, dtype=torch.float64)
    # the nominal scale maps coordinates; the centres of input and output coincide
    match = (out - (n_out - n_in * scale) / 2) / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(match - width / 2)
    taps = left[:, None] + torch.arange(math.ceil(width) + 2, dtype=torch.float64) - 1
    dist = match[:, None] - taps - 1
    weights = scale * _cubic(scale * dist) if antialias else _cubic(dist)
    total = weights.sum(1, keepdim=True)
    weights = weights / torch.where(total == 0, torch.ones_like(total), total)
    # borders mirror the image, edge pixel included (their "mirror" trick)
    mirror = torch.cat([torch.arange(n_in), torch.arange(n_in - 1, -1, -1)])
    index = mirror[taps.long().remainder(2 * n_in)]
    return torch.zeros(n_out, n_in, dtype=torch.float64).scatter_add_(1, index, weights)


def resize_right(image: torch.Tensor, size: Sequence[int], scale: float) -> torch.Tensor:
    """Resize ``(C, H, W)`` or ``(B, C, H, W)`` images as the GPNN authors do, with
    ResizeRight (Shocher; ``resize_right.py`` of WeizmannVision/DropTheGAN, called with a
    scale factor and an output shape).

    The kernel is the same antialiased cubic (a = -0.5) as :func:`resize`'s; what differs is
    that the *nominal* ``scale`` (e.g. 0.75), not the ratio of the sizes, maps output to
    input coordinates, centred, so a level of ``ceil(H r)`` pixels is the image scaled by
    exactly ``r`` and cropped or padded symmetrically; and that the borders mirror the
    image instead of renormalising a cut kernel. Both axes use ``scale``.

    Examples
    --------
    >>> x = torch.rand(3, 40, 60)
    >>> resize_right(x, (30, 45), 0.75).shape
    torch.Size([3, 30, 45])
    >>> y = resize_right(torch.ones(3, 15, 19), (20, 26), 4 / 3)  # constants stay constant
    >>> bool(torch.allclose(y, torch.ones_like(y)))
    True
    """
    h, w = int(size[0]), int(size[1])
    rows = _right_weights(image.shape[-2], h, scale).to(image)
    cols = _right_weights(image.shape[-1], w, scale).to(image)
    return torch.einsum("oh,...hw,pw->...op", rows, image, cols)


def authors_pyramid(
    image: torch.Tensor, sizes: Sequence[Sequence[int]], ratio: float
) -> list[torch.Tensor]:
    """The GPNN authors' pyramid (``make_pyramid`` in their ``gpnn.py``): each level resized
    from the level above with :func:`resize_right` by ``ratio``, so the blur of the
    antialiasing filters accumulates down the pyramid (:func:`pyramid` resizes every level
    from the full image).

    Examples
    --------
    >>> [tuple(x.shape) for x in authors_pyramid(torch.rand(3, 8, 8), [(8, 8), (6, 6)], 0.75)]
    [(3, 8, 8), (3, 6, 6)]
    """
    levels = [image]
    for size in sizes[1:]:
        levels.append(resize_right(levels[-1], size, ratio))
    return levels


def depth_for_coarsest(size: Sequence[int], ratio: float, coarsest: float) -> int:
    """Number of downscalings N so that the smaller side at level N is at most ``coarsest``.

    GPNN's generation rule: the coarsest level's height is about two patches, so one patch
    spans about half of the image. For a 180 px high image, r = 3/4 and ``coarsest`` = 14
    (p = 7), this gives the authors' 9 levels.

    Examples
    --------
    >>> depth_for_coarsest((180, 250), 0.75, 14)
    9
    """
    short = min(size)
    if short <= coarsest:
        return 0
    return math.ceil(math.log(short / coarsest) / math.log(1.0 / ratio) - 1e-9)


def depth_for_generation(size: Sequence[int], ratio: float, patch_size: int) -> int:
    """Pyramid depth for random generation: downscale until the shorter side is at most
    2 patches or the longer side at most 2.75 patches, whichever comes first.

    The shorter-side rule is the paper's (one patch spans about half the image height). The
    longer-side rule reproduces the authors' fixed 9 levels on 250 px wide images (longer
    side 250 * 0.75**9 = 18.8 px), which the shorter side alone exceeds on squarer images:
    a 220 x 220 image would get 10 levels and a 13 x 13 coarsest level, from which GPNN
    mostly reproduces its input pixel for pixel.

    Examples
    --------
    >>> depth_for_generation((167, 250), 0.75, 7), depth_for_generation((220, 220), 0.75, 7)
    (9, 9)
    """
    by_short = depth_for_coarsest(size, ratio, 2 * patch_size)
    return min(by_short, depth_for_coarsest((max(size),), ratio, 2.75 * patch_size))


def depth_for_region(region: Sequence[int], ratio: float, patch_size: int) -> int:
    """Number of downscalings N so that a region of ``region`` = (h, w) pixels shrinks to
    about one patch: GPNN's rule for inpainting and editing.

    Examples
    --------
    >>> depth_for_region((28, 28), 0.75, 7)
    5
    """
    extent = max(region)
    if extent <= patch_size:
        return 0
    return round(math.log(extent / patch_size) / math.log(1.0 / ratio))


def pyramid(image: torch.Tensor, sizes: Sequence[Sequence[int]]) -> list[torch.Tensor]:
    """Resize ``image`` to each of ``sizes`` (finest first).

    Every level is resized from the full image, not from the level above, so resampling
    errors do not accumulate down the pyramid.

    Examples
    --------
    >>> [tuple(x.shape) for x in pyramid(torch.rand(3, 8, 8), [(8, 8), (6, 6)])]
    [(3, 8, 8), (3, 6, 6)]
    """
    return [resize(image, s) for s in sizes]


def mask_pyramid(mask: torch.Tensor, sizes: Sequence[Sequence[int]]) -> list[torch.Tensor]:
    """Resize a boolean ``(H, W)`` mask to each of ``sizes`` (finest first), conservatively.

    A pixel of a coarser level is masked if :func:`resize` mixes any masked pixel into it: its
    own footprint (area interpolation > 0) widened by 2 pixels, the reach of the antialiased
    bicubic kernel, which spans 2 output pixels either side of a pixel's centre. An image and
    the same image repainted inside the mask then have equal pyramids outside the mask
    pyramid. A level of the mask's own size is the mask itself.

    Examples
    --------
    >>> m = torch.zeros(16, 16, dtype=torch.bool); m[0, 0] = True
    >>> [int(level.sum()) for level in mask_pyramid(m, [(16, 16), (8, 8)])]
    [1, 9]
    """
    area = mask[None, None].float()
    out = []
    for size in sizes:
        h, w = int(size[0]), int(size[1])
        if (h, w) == tuple(mask.shape):
            out.append(mask.clone())
            continue
        footprint = F.interpolate(area, size=(h, w), mode="area")
        reach = F.max_pool2d(footprint, 5, stride=1, padding=2)
        out.append(reach[0, 0] > 0)
    return out


def check_fits(size: Sequence[int], patch_size: int, what: str = "image") -> None:
    """Raise :class:`InputError` unless an image of ``size`` holds at least one patch."""
    if min(size) < patch_size:
        raise InputError(
            f"{what} of {size[1]}x{size[0]} px is too small for {patch_size}x{patch_size} patches"
        )
