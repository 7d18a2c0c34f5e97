"""SinGAN's scales: how many, their sizes, and the upscaling between them.

The sizes follow the authors' ``adjust_scales2image`` and ``creat_reals_pyramid``
(tamarott/SinGAN, ``SinGAN/functions.py``), float for float:

* the image is resized by ``s = min(max_size / longer side, 1)`` to ``ceil(h s) x ceil(w s)``;
* ``num_scales = ceil(log_{0.75}(min_size / smaller side)) + 1`` on the image as given, minus
  ``ceil(log_{0.75}(s))`` scales for the resizing: ``scales = stop_scale + 1``;
* the factor is re-fitted on the resized image: ``r = (min_size / smaller side)^(1 /
  stop_scale)``, and scale ``n`` (0 the coarsest) is ``ceil(h r^(stop_scale - n))`` by
  ``ceil(w r^(stop_scale - n))``: the ceiling of ``imresize``.

The ``dense`` spacing is ConSinGAN's ``create_reals_pyramid`` (tohinz/ConSinGAN,
``ConSinGAN/functions.py``): scale ``n < stop_scale`` has the exponent ``(stop_scale - 1) /
ln(stop_scale) * ln(stop_scale - n) + 1`` instead of ``stop_scale - n``, which packs the
scales at low resolution.

Between scales an image is upscaled by the factor between them to the ceiling size and
cropped at the top left to the next scale's size, as the authors' ``draw_concat`` and
``SinGAN_generate`` do. Their resize is MATLAB's antialiased bicubic through ``uint8``; ours
is :func:`dropgan.pyramid.resize` in float (antialiased bicubic, no quantisation), applied as
two small matrices so that its gradient is deterministic on a GPU too, and clamped to
[-1, 1] as their ``uint8`` round trip clamps.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ...errors import InputError
from ...pyramid import resize
from .params import SinGANParams

__all__ = ["Scales", "fit_size", "plan_scales", "resize_exact", "scale_count", "upscale"]


@dataclass(frozen=True)
class Scales:
    """The scales of one model, coarsest first.

    Attributes
    ----------
    sizes : tuple of (h, w)
        Size of every scale, coarsest first; the last is the training image's.
    exponents : tuple of float
        Scale ``n`` is the training image resized by ``ratio ** exponents[n]``.
    ratio : float
        The re-fitted factor ``r``.

    Examples
    --------
    >>> s = Scales(((25, 34), (33, 45)), (1.0, 0.0), 0.75)
    >>> len(s), s.factor(1) == 1 / 0.75
    (2, True)
    """

    sizes: tuple[tuple[int, int], ...]
    exponents: tuple[float, ...]
    ratio: float

    def __len__(self) -> int:
        return len(self.sizes)

    def factor(self, n: int) -> float:
        """Upscaling factor from scale ``n - 1`` to scale ``n`` (``1 / r`` when geometric)."""
        return 1.0 / math.pow(self.ratio, self.exponents[n - 1] - self.exponents[n])


def fit_size(size: Sequence[int], max_size: int) -> tuple[int, int]:
    """The training image's size: ``size`` shrunk so that its longer side is at most
    ``max_size``, with the ceiling of the authors' ``imresize``.

    Examples
    --------
    >>> fit_size((375, 500), 250), fit_size((100, 80), 250)
    ((188, 250), (100, 80))
    """
    h, w = int(size[0]), int(size[1])
    s = min(max_size / max(h, w), 1)
    if s == 1:
        return h, w
    return math.ceil(h * s), math.ceil(w * s)


def scale_count(size: Sequence[int], params: SinGANParams) -> int:
    """Number of scales for an image of ``size`` (as given, before :func:`fit_size`): the
    ``scales`` parameter, else the authors' rule (their ``stop_scale + 1``).

    Examples
    --------
    >>> scale_count((188, 250), SinGANParams()), scale_count((750, 1000), SinGANParams())
    (10, 9)
    """
    p = params.resolved()
    if p.scales is not None:
        return p.scales
    h, w = int(size[0]), int(size[1])
    sf = p.scale_factor
    num_scales = math.ceil(math.log(p.min_size / min(h, w), sf)) + 1
    scale2stop = math.ceil(math.log(min(p.max_size, max(h, w)) / max(h, w), sf))
    return num_scales - scale2stop + 1


def plan_scales(size: Sequence[int], params: SinGANParams) -> Scales:
    """The scales of a model trained on an image of ``size`` (as given).

    Examples
    --------
    >>> s = plan_scales((188, 250), SinGANParams())
    >>> len(s), s.sizes[0], s.sizes[-1], round(s.ratio, 4)
    (10, (26, 34), (188, 250), 0.7992)
    >>> plan_scales((188, 250), SinGANParams(schedule="fast")).sizes
    ((25, 34), (32, 42), (42, 56), (63, 84), (126, 167), (188, 250))

    The coarsest scale of the first is 26 px high, not 25: ``188 r^9`` is a hair above 25
    in floating point, and the authors' ceiling rounds it up as this one does.
    """
    p = params.resolved()
    h, w = fit_size(size, p.max_size)
    count = scale_count(size, p)
    if min(h, w) <= p.min_size:
        raise InputError(
            f"image of {size[1]}x{size[0]} px is too small for SinGAN: the smaller side of "
            f"its {w}x{h} px training size must exceed min_size ({p.min_size} px)"
        )
    if count < 2:
        raise InputError(
            f"image of {size[1]}x{size[0]} px gives {count} scales; SinGAN needs at least 2 "
            "(lower min_size or give scales)"
        )
    stop = count - 1
    ratio = math.pow(p.min_size / min(h, w), 1 / stop)
    if p.spacing == "dense" and stop > 1:
        exps = [(stop - 1) / math.log(stop) * math.log(stop - n) + 1 for n in range(stop)]
    else:
        exps = [float(stop - n) for n in range(stop)]
    exps.append(0.0)
    sizes = [(h, w)] * len(exps)
    for n, e in enumerate(exps[:-1]):
        s = math.pow(ratio, e)
        sizes[n] = (math.ceil(h * s), math.ceil(w * s))
    return Scales(tuple(sizes), tuple(exps), ratio)


@functools.lru_cache(maxsize=512)
def _matrix(n_in: int, n_out: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The ``(n_out, n_in)`` matrix of :func:`dropgan.pyramid.resize` along one axis: the
    resize is linear and separable, so resizing the identity gives it. Cached per device,
    so that a GPU does not wait for a copy at every upscaling."""
    return resize(torch.eye(n_in)[None], (n_out, n_in))[0].to(device, dtype)


def resize_exact(image: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """:func:`dropgan.pyramid.resize` of ``(B, C, h, w)`` images as two matrix products:
    the same values, and a backward pass without the atomic adds that make the bicubic
    gradient non-deterministic on CUDA.

    Examples
    --------
    >>> x = torch.rand(1, 3, 20, 30)
    >>> torch.allclose(resize_exact(x, (27, 40)), resize(x, (27, 40)), atol=1e-6)
    True
    """
    h, w = int(size[0]), int(size[1])
    if tuple(image.shape[-2:]) == (h, w):
        return image
    rows = _matrix(image.shape[-2], h, image.device, image.dtype)
    cols = _matrix(image.shape[-1], w, image.device, image.dtype)
    return rows @ image @ cols.T


def upscale(image: torch.Tensor, factor: float, size: Sequence[int]) -> torch.Tensor:
    """Upscale ``(B, C, h, w)`` images by ``factor`` to ``ceil(h factor) x ceil(w factor)``,
    crop at the top left to ``size`` and clamp to [-1, 1], as the authors' ``imresize``
    then ``[:, :, :h, :w]``. Where the upscaled image is smaller than ``size`` (a sample of
    another size, rounded), it is resized to ``size`` instead.

    Examples
    --------
    >>> upscale(torch.zeros(1, 3, 25, 34), 1 / 0.75, (33, 45)).shape
    torch.Size([1, 3, 33, 45])
    """
    h, w = int(size[0]), int(size[1])
    big = (math.ceil(image.shape[-2] * factor), math.ceil(image.shape[-1] * factor))
    if big[0] >= h and big[1] >= w:
        out = resize_exact(image, big)[..., :h, :w]
    else:
        out = resize_exact(image, (h, w))
    return out.clamp(-1.0, 1.0)
