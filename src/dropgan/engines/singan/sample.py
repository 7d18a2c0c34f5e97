"""Random samples from a trained SinGAN model, at any size, from any start scale.

This is the authors' ``SinGAN_generate`` (tamarott/SinGAN, ``SinGAN/manipulate.py``): for
an output ``scale_v`` times as high and ``scale_h`` times as wide as the training image, the
noise of scale ``n`` is ``round(h_n scale_v) x round(w_n scale_h)``, one channel broadcast to
three at the coarsest scale, and each scale's output is upscaled by the pyramid factor and
cropped to the next scale's size. Scales below ``start_scale`` replay the reconstruction
(``z_opt``) instead of drawing noise.

Their function breaks in two configurations that this one handles:

* ``start_scale > 0`` at another size: their reconstruction noise has the training size
  and cannot be added to the resized image. Here the scales below ``start_scale`` run at the
  training size (they replay the reconstruction, which is the training image's layout)
  and the image entering ``start_scale`` is resized to the output's size at that scale.
* sizes whose rounding leaves the upscaled image smaller than the next noise map: it is
  resized to the noise's size instead of cropped.

``start_scale`` may also equal the number of scales: the reconstruction, resized to the
output size. Sampling reads nothing but the model (no training image).

**Injection** (SinGAN's applications, §4 of the paper): with ``inject``, an image takes the
place of everything below ``start_scale``, as ``in_s`` in their ``SinGAN_generate`` called
with ``n=start_scale`` (``paint2image.py``, ``harmonization.py``, ``editing.py``, ``SR.py``):
the scales below it are not run, the image (mapped to [-1, 1]) is the ``prev`` of
``start_scale``, and that scale and every finer one draw noise. How the image reaches the
start scale's size follows their scripts:

* an image at least as large as the start scale (a painting, a naive composite, an edit:
  full resolution) is resized to the size of the scale below and upscaled from there as
  the scales are (their ``in_s``: ``imresize`` by ``scale_factor^(N-n+1)``, crop, then
  ``imresize`` by ``1/scale_factor``), so that it is as blurry as what the generator was
  trained to refine;
* a smaller one (super-resolution: the current image, one step below the output) is
  resized straight to the start scale's size, as their ``SR.py`` upscales the image by one
  step (``in_s = imresize(real, 1/scale_factor)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ...errors import InputError
from ...progress import Progress
from .model import SinGANModel, generator_step
from .pyramid import resize_exact, upscale

__all__ = ["check_trained", "output_sizes", "sample_image"]


def output_sizes(model: SinGANModel, size: Sequence[int]) -> list[tuple[int, int]]:
    """Every scale's size, coarsest first, for an output of ``size`` = (h, w): the model's
    scale sizes times ``h / H`` and ``w / W``, rounded (at least 1 px).

    Examples
    --------
    >>> from dropgan.engines.singan.train import new_model
    >>> from dropgan.engines.singan.params import SinGANParams
    >>> m = new_model(torch.rand(3, 24, 32), SinGANParams(min_size=12, scales=3), 0, "cpu")
    >>> m.scales.sizes, output_sizes(m, (24, 48))
    (((13, 17), (17, 23), (24, 32)), [(13, 26), (17, 34), (24, 48)])
    """
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise InputError(f"output size must be positive, got {w}x{h}")
    sv, sh = h / model.size[0], w / model.size[1]
    out = [(max(1, round(a * sv)), max(1, round(b * sh))) for a, b in model.scales.sizes]
    out[-1] = (h, w)
    return out


def check_trained(model: SinGANModel, start_scale: object, purpose: str) -> int:
    """The model's number of scales, once every scale is known to be trained and
    ``start_scale`` to be an integer; ``purpose`` names what the model is for in the error.

    Examples
    --------
    >>> from dropgan.engines.singan.train import new_model
    >>> from dropgan.engines.singan.params import SinGANParams
    >>> m = new_model(torch.rand(3, 24, 32), SinGANParams(min_size=12, scales=3), 0, "cpu")
    >>> from dropgan.errors import InputError
    >>> try:
    ...     check_trained(m, 0, "sampling")
    ... except InputError as e:
    ...     print(e)
    the model has 0 of its 3 scales trained: resume its training before sampling
    """
    if not model.complete:
        raise InputError(
            f"the model has {model.done} of its {len(model.scales)} scales trained: "
            f"resume its training before {purpose}"
        )
    if isinstance(start_scale, bool) or not isinstance(start_scale, int):
        raise InputError(f"start scale must be an integer, got {start_scale!r}")
    return len(model.scales)


def sample_image(
    model: SinGANModel,
    size: Sequence[int] | None = None,
    *,
    start_scale: int = 0,
    generator: torch.Generator | None = None,
    progress: Progress | None = None,
    inject: torch.Tensor | None = None,
) -> torch.Tensor:
    """One random sample ``(3, H, W)`` in [0, 1]; with ``inject``, an image refined from
    ``start_scale`` on (see the module notes).

    Parameters
    ----------
    model : SinGANModel
        A trained model (every scale).
    size : (h, w), optional
        The output's size; default the training image's (:attr:`SinGANModel.size`).
    start_scale : int
        Scales below it (0 the coarsest) replay the reconstruction; 0 to ``len(scales)``,
        or counted from the finest when negative (-1 the finest).
    generator : torch.Generator, optional
        A CPU generator for the noise (the same pixels on every device for one seed).
    progress : Progress, optional
        Told after every scale (and may cancel there).
    inject : Tensor (3, h, w), optional
        An image in [0, 1], any size, that replaces the scales below ``start_scale``, which
        must then be from 1 to ``len(scales) - 1`` (as the authors': "the coarsest
        injection scale equals 1").

    Examples
    --------
    >>> from dropgan.engines.singan.train import train_model
    >>> from dropgan.engines.singan.params import SinGANParams
    >>> m = train_model(torch.rand(3, 24, 32), SinGANParams(iters=1, min_size=12, scales=2))
    >>> sample_image(m, (20, 50), start_scale=1).shape
    torch.Size([3, 20, 50])
    >>> sample_image(m, (24, 32), start_scale=1, inject=torch.rand(3, 30, 40)).shape
    torch.Size([3, 24, 32])
    """
    count = check_trained(model, start_scale, "sampling")
    given = start_scale
    if -count <= start_scale < 0:  # counted from the finest, as Python indexes
        start_scale += count
    if inject is not None and not 1 <= start_scale < count:
        raise InputError(
            f"the injection scale (start scale) must be from 1 to {count - 1} (or -1 to "
            f"{1 - count} from the finest) for this model of {count} scales, got {given}"
        )
    if not 0 <= start_scale <= count:
        raise InputError(f"start scale must be from 0 to {count}, got {given}")
    sizes = output_sizes(model, model.size if size is None else size)
    progress = progress or Progress()
    progress.begin(count)
    dev, pad, scales = model.device, model.params.pad, model.scales
    x: torch.Tensor | None = None
    with torch.no_grad():
        for n, g in enumerate(model.generators):
            if inject is not None and n < start_scale:  # replaced by the injected image
                progress.advance(1.0, f"scale {n + 1}/{count}")
                continue
            if n < start_scale:  # the reconstruction, at the training size
                z = model.z_opt[n][None]
                here = scales.sizes[n]
            else:
                here = sizes[n]
                shape = (1, 1 if n == 0 else 3, *here)
                z = torch.randn(shape, generator=generator).to(dev)
            if inject is not None and n == start_scale:
                prev = _injected(inject.to(dev), scales.factor(n), sizes[n - 1], here)
            elif x is None:
                prev = torch.zeros((1, 3, *here), device=dev)
            elif n <= start_scale:
                prev = upscale(x, scales.factor(n), scales.sizes[n])
                if n == start_scale:  # from the reconstruction's size to the output's
                    prev = resize_exact(prev, here).clamp(-1.0, 1.0)
            else:
                prev = upscale(x, scales.factor(n), here)
            x = generator_step(g, z, prev, model.noise_amp[n], pad)
            progress.advance(1.0, f"scale {n + 1}/{count}")
        assert x is not None
        if tuple(x.shape[-2:]) != sizes[-1]:  # start_scale == count: the reconstruction
            x = resize_exact(x, sizes[-1])
    return ((x[0] + 1) / 2).clamp(0.0, 1.0)


def _injected(
    image: torch.Tensor, factor: float, below: Sequence[int], here: Sequence[int]
) -> torch.Tensor:
    """The ``prev`` of the injection scale from an image in [0, 1] (module notes): one at
    least as large as ``here`` goes through the size of the scale ``below``, one smaller is
    resized straight to ``here``."""
    x = (image[None] * 2 - 1).clamp(-1.0, 1.0)
    h, w = int(here[0]), int(here[1])
    if x.shape[-2] >= h and x.shape[-1] >= w:
        return upscale(resize_exact(x, below).clamp(-1.0, 1.0), factor, here)
    return resize_exact(x, here).clamp(-1.0, 1.0)
