"""SinGAN animation: frames whose noise maps take a smooth random walk around the
reconstruction's (SinGAN paper §4, "Single Image Animation").

This is the authors' ``generate_gif`` (tamarott/SinGAN, ``SinGAN/manipulate.py``). At every
scale ``n`` the noise follows its own walk with momentum, pulled towards the
reconstruction noise ``z_opt``::

    z_t = alpha z_opt + (1 - alpha) (z_{t-1} + beta (z_{t-1} - z_{t-2}) + (1 - beta) e_t)

with ``e_t`` fresh Gaussian noise (one channel broadcast to three at the coarsest scale, as
their ``z_rand.expand``), started at ``z_{-1} = 0.95 z_opt + 0.05 e`` and ``z_{-2} = z_opt``.
Scales below ``start_scale`` replay ``z_opt`` (their walk still runs there, unused); frame
``t`` of a scale is the generator applied to frame ``t`` of the scale below, upscaled, plus
the scaled noise, all at the training size. Their defaults: ``alpha`` 0.1, ``beta`` 0.9,
``start_scale`` 2, 100 frames (a fixed ``range(0, 100)``) at 10 fps; their ``animation.py``
writes one GIF for each ``start_scale`` in 0..2 and ``beta`` in 0.80, 0.85, 0.90, 0.95 (its
``--alpha_animation`` option is parsed but never passed, so alpha is always 0.1).

Where this differs: their ``animation.py`` trains with ``min_size = 20`` and mode
``animation_train``, in which ``train_single_scale`` (``SinGAN/training.py``) draws the noise
over the generators' 5 px padding too instead of zero-padding it; our training zero-pads the
noise in every mode (:func:`~.model.generator_step`), so the walk here covers the image's
pixels only. Frames are computed one at a time through every scale (theirs: every frame
of a scale, then the next scale), which draws the same laws in another order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from ...errors import InputError
from ...progress import Progress
from .model import SinGANModel, generator_step
from .pyramid import upscale
from .sample import check_trained

__all__ = ["animate_frames", "noise_walk"]


def noise_walk(
    center: torch.Tensor,
    draw: Callable[[], torch.Tensor],
    alpha: float = 0.1,
    beta: float = 0.9,
) -> Iterator[torch.Tensor]:
    """The authors' random walk around ``center`` (see the module notes): an endless
    sequence of noise maps, each ``draw()`` a fresh standard Gaussian map of ``center``'s
    shape (or one broadcast to it).

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> walk = noise_walk(torch.zeros(1, 4, 4), lambda: torch.randn(1, 4, 4, generator=g))
    >>> z = [next(walk) for _ in range(3)]
    >>> len(z), tuple(z[0].shape)
    (3, (1, 4, 4))
    """
    z1 = 0.95 * center + 0.05 * draw()
    z2 = center
    while True:
        step = beta * (z1 - z2) + (1 - beta) * draw()
        z = alpha * center + (1 - alpha) * (z1 + step)
        z2, z1 = z1, z
        yield z


def animate_frames(
    model: SinGANModel,
    frames: int,
    *,
    alpha: float = 0.1,
    beta: float = 0.9,
    start_scale: int = 2,
    generator: torch.Generator | None = None,
    progress: Progress | None = None,
) -> list[torch.Tensor]:
    """``frames`` images ``(3, H, W)`` in [0, 1], on the CPU, at the training size.

    Frame ``t`` depends on the model, ``generator``'s seed and ``t`` alone (not on
    ``frames``): the first ten frames of a 100-frame run are a 10-frame run.

    Parameters
    ----------
    model : SinGANModel
        A trained model (every scale).
    frames : int
        Number of frames.
    alpha, beta : float
        The walk's pull towards the reconstruction noise and its momentum.
    start_scale : int
        Scales below it replay the reconstruction; from 0 to the number of scales less one.
    generator : torch.Generator, optional
        A CPU generator for the noise.
    progress : Progress, optional
        Told after every scale of every frame (and may cancel there).

    Examples
    --------
    >>> from dropgan.engines.singan.train import train_model
    >>> from dropgan.engines.singan.params import SinGANParams
    >>> m = train_model(torch.rand(3, 24, 32), SinGANParams(iters=1, min_size=12, scales=2))
    >>> [tuple(f.shape) for f in animate_frames(m, 2, start_scale=1)]
    [(3, 24, 32), (3, 24, 32)]
    """
    count = check_trained(model, start_scale, "animating")
    if not 0 <= start_scale < count:
        raise InputError(
            f"start scale must be from 0 to {count - 1} for a model of {count} scales "
            f"(from {count} on every frame is the reconstruction), got {start_scale}"
        )
    dev, pad, scales = model.device, model.params.pad, model.scales
    progress = progress or Progress()
    progress.begin(frames * count)

    def walk(n: int) -> Iterator[torch.Tensor]:
        center = model.z_opt[n].to("cpu")
        shape = (1 if n == 0 else 3, *scales.sizes[n])  # one channel at the coarsest
        return noise_walk(center, lambda: torch.randn(shape, generator=generator), alpha, beta)

    walks = [walk(n) for n in range(count)]
    out = []
    with torch.no_grad():
        for t in range(frames):
            x: torch.Tensor | None = None
            for n, g in enumerate(model.generators):
                z = next(walks[n])  # drawn at every scale, as theirs, even where unused
                if n < start_scale:
                    z = model.z_opt[n]
                here = scales.sizes[n]
                if x is None:
                    prev = torch.zeros((1, 3, *here), device=dev)
                else:
                    prev = upscale(x, scales.factor(n), here)
                x = generator_step(g, z[None].to(dev), prev, model.noise_amp[n], pad)
                progress.advance(1.0, f"frame {t + 1}/{frames}, scale {n + 1}/{count}")
            assert x is not None
            out.append(((x[0] + 1) / 2).clamp(0.0, 1.0).cpu())
    return out
