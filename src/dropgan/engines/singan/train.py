"""SinGAN's training, scale by scale, coarsest first.

Each scale follows the authors' ``train_single_scale`` (tamarott/SinGAN,
``SinGAN/training.py``): per iteration, one noise map for the scale; then ``d_steps``
critic steps, each on a fresh random image from the scales below (WGAN loss plus a gradient
penalty with one mixing weight per image); then ``g_steps`` generator steps, each the
adversarial loss plus ``rec_weight`` times the MSE of the reconstruction. Adam with betas
``(beta1, 0.999)``, the learning rates multiplied by ``gamma`` after ``lr_decay_at`` of the
iterations. A scale starts from the previous scale's networks when their widths agree; the
noise amplitude of a scale is ``noise_weight`` times the RMSE between its real image and the
reconstruction coming from below (1 at the coarsest scale).

Where we differ from the authors' code, and why:

* **The generator steps recompute the fake.** Their G steps score a ``fake`` made before
  the critic steps, then step G three times through that stale graph: on PyTorch >= 1.5
  that is the "modified by an inplace operation" error their users hit. Each of our G steps
  makes the fake again from the same noise and the same image from below, with the current
  weights. That forward pass does not update BatchNorm's running statistics (their code
  runs it once, in the critic step, and so do we), so the statistics that sampling uses
  average the same forward passes as theirs.
* **z_opt is fixed at the coarsest scale**, as the paper says. Their ``train_single_scale``
  draws a new ``z_opt`` every iteration while ``Gs == []`` (``z_opt =
  functions.generate_noise([1, opt.nzx, opt.nzy])`` inside the epoch loop), so their
  reconstruction target is a moving one and the saved ``z_opt`` is the last draw. Above
  the coarsest scale z_opt is zeros, as theirs.
* **Seeds.** One ``seed`` fixes everything: each scale seeds torch, numpy and Python's
  ``random`` and draws its weights and noise from a generator seeded by ``(seed, scale)``,
  so a run resumed at a scale draws what an uninterrupted run draws there.
* The ``fast`` schedule trains the ``concurrent`` finest generators together, through the
  images they pass up, the older ones with the learning rate times ``lr_scale`` per scale
  (ConSinGAN's ``train_depth`` and ``lr_scale``); the critic sees only the newest scale.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..._version import __version__
from ...errors import InputError
from ...progress import Progress
from ...pyramid import resize
from .model import (
    Discriminator,
    Generator,
    SinGANModel,
    generator_step,
    init_weights,
    scale_width,
)
from .params import SinGANParams
from .pyramid import fit_size, plan_scales, upscale

__all__ = ["ScaleTrainer", "gradient_penalty", "scale_cost", "scale_seed", "train_model"]

Checkpoint = Callable[[SinGANModel], object]


def scale_seed(seed: int, n: int) -> int:
    """The seed of scale ``n`` of a run seeded ``seed`` (63 bits, independent per scale).

    Examples
    --------
    >>> scale_seed(0, 1) == scale_seed(0, 1) != scale_seed(0, 2)
    True
    """
    ss = np.random.SeedSequence(entropy=[int(seed), 0x5163A2], spawn_key=(n,))
    a, b = ss.generate_state(2, np.uint32)
    return (int(a) << 31 | int(b) >> 1) & (2**63 - 1)


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """WGAN-GP's penalty as the authors' ``calc_gradient_penalty``: one mixing weight per
    image, and the gradient's norm taken over the colour channels at every pixel (their
    ``gradients.norm(2, dim=1)``), then ``(norm - 1)^2`` averaged over pixels. Not yet
    multiplied by the weight lambda.

    Examples
    --------
    >>> d = Discriminator(8, 8)
    >>> x = torch.rand(1, 3, 16, 16)
    >>> gradient_penalty(d, x, x, torch.Generator().manual_seed(0)).item() >= 0
    True
    """
    a = torch.rand((real.shape[0], 1, 1, 1), generator=generator, device=generator.device)
    mixed = (a.to(real) * real + (1 - a.to(real)) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()


def _units(model: SinGANModel, n: int) -> float:
    """Cost of one network pass at scale ``n``, in padded pixels times width squared."""
    h, w = model.scales.sizes[n]
    pad = model.params.pad
    return (h + 2 * pad) * (w + 2 * pad) * scale_width(n, model.params)[0] ** 2


def scale_cost(model: SinGANModel, n: int) -> float:
    """Estimated cost of one iteration at scale ``n`` (any unit proportional to time): a
    critic step is about ten passes of the scale's networks plus one pass of every scale
    below; a generator step about nine, plus forward and backward passes of the other
    generators trained with it. The progress bar's ETA rests on it.

    Examples
    --------
    >>> m = new_model(torch.rand(3, 48, 64), SinGANParams(min_size=12, scales=3), 0, "cpu")
    >>> scale_cost(m, 0) < scale_cost(m, 1) < scale_cost(m, 2)
    True
    """
    p = model.params
    below = sum(_units(model, k) for k in range(n))
    joint = sum(_units(model, k) for k in range(max(0, n - p.concurrent + 1), n))
    here = _units(model, n)
    return p.d_steps * (10 * here + below) + p.g_steps * (9 * here + 3 * joint)


@contextlib.contextmanager
def _running_stats_frozen(modules: Sequence[nn.Module]) -> Iterator[None]:
    """BatchNorm normalises with the batch's statistics but leaves its running ones alone
    (momentum 0) inside the block."""
    norms = [m for g in modules for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, saved, strict=True):
            m.momentum = momentum


@contextlib.contextmanager
def _deterministic(device: torch.device) -> Iterator[None]:
    """cuDNN's deterministic algorithms during training on a GPU (same seed, same model)."""
    if device.type != "cuda":
        yield
        return
    cudnn = torch.backends.cudnn
    saved = cudnn.deterministic, cudnn.benchmark
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = saved


class ScaleTrainer:
    """The training of one scale ``n`` of ``model``, an iteration at a time.

    ``model`` must have scales ``0 .. n - 1`` trained; :meth:`finish` adds scale ``n``.
    ``reals`` are the training image at every scale, ``(1, 3, h, w)`` in [-1, 1]
    (:func:`real_pyramid`). The benchmark times its :meth:`step`.

    Examples
    --------
    >>> m = new_model(torch.rand(3, 24, 32), SinGANParams(min_size=12, scales=2), 0, "cpu")
    >>> t = ScaleTrainer(m, real_pyramid(m), 0)
    >>> t.step(0); t.finish(); m.done
    1
    """

    def __init__(self, model: SinGANModel, reals: Sequence[torch.Tensor], n: int) -> None:
        if model.done != n:
            raise ValueError(f"model has {model.done} scales trained, not {n}")
        p = self.params = model.params
        self.model, self.reals, self.n = model, reals, n
        self.device = dev = model.device
        seed = scale_seed(model.seed, n)
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        self.rng = torch.Generator(device=dev).manual_seed(seed)
        init = torch.Generator().manual_seed(seed)  # weights are drawn on the CPU

        width = scale_width(n, p)
        self.g = Generator(*width, p.layers, p.batch_norm)
        self.d = Discriminator(*width, p.layers, p.batch_norm)
        init_weights(self.g, init)
        init_weights(self.d, init)
        if n > 0 and width == scale_width(n - 1, p):
            self.g.load_state_dict(model.generators[n - 1].state_dict())
            assert model.discriminator is not None
            self.d.load_state_dict(model.discriminator.state_dict())
        self.g.to(dev).train()
        self.d.to(dev).train()

        # generators below first_trained are frozen; those from it up train with this one
        self.first_trained = max(0, n - p.concurrent + 1)
        self.older = model.generators[self.first_trained : n]
        for k, g in enumerate(model.generators):
            trained = k >= self.first_trained
            g.train(trained).requires_grad_(trained)
        groups = [{"params": self.g.parameters(), "lr": p.lr_g}]
        for age, g in enumerate(reversed(self.older), 1):
            groups.append({"params": g.parameters(), "lr": p.lr_g * p.lr_scale**age})
        self.opt_g = torch.optim.Adam(groups, lr=p.lr_g, betas=(p.beta1, 0.999), foreach=True)
        self.opt_d = torch.optim.Adam(
            self.d.parameters(), lr=p.lr_d, betas=(p.beta1, 0.999), foreach=True
        )
        self.decay_at = round(p.lr_decay_at * p.iters)

        # z_opt drawn once (the paper), before any other draw of this scale
        h, w = model.scales.sizes[n]
        if n == 0:
            self.z_opt = torch.randn((1, 1, h, w), generator=self.rng, device=dev)
        else:
            self.z_opt = torch.zeros((1, 3, h, w), device=dev)
        z_opts = [z[None] for z in model.z_opt] + [self.z_opt]
        self.rec_noises = z_opts
        with torch.no_grad():
            self.rec_base = self._chain(None, 0, self.first_trained, z_opts)
            # the reconstruction entering this scale: fixed unless older scales train too
            self.rec_prev = self._prev(self._chain(self.rec_base, self.first_trained, n, z_opts))
            if n == 0:
                self.amp = 1.0
            else:
                rmse = torch.sqrt(F.mse_loss(reals[n], self.rec_prev))
                self.amp = float(p.noise_weight * rmse.item())
        self.losses: dict[str, list[torch.Tensor]] = {
            "wasserstein": [],
            "gp": [],
            "adv": [],
            "rec": [],
        }

    # -- the pyramid below ------------------------------------------------------------------

    def _noise(self, k: int) -> torch.Tensor:
        h, w = self.model.scales.sizes[k]
        # one noise channel at the coarsest scale, broadcast to three (the authors')
        return torch.randn((1, 1 if k == 0 else 3, h, w), generator=self.rng, device=self.device)

    def _generator(self, k: int) -> Generator:
        return self.g if k == self.n else self.model.generators[k]

    def _amp(self, k: int) -> float:
        return self.amp if k == self.n else self.model.noise_amp[k]

    def _prev(self, below: torch.Tensor | None, k: int | None = None) -> torch.Tensor:
        """The image entering scale ``k`` (default: this one) from ``below``, the output
        of scale ``k - 1``: zeros at the coarsest scale, else upscaled."""
        k = self.n if k is None else k
        if k == 0 or below is None:
            h, w = self.model.scales.sizes[k]
            return torch.zeros((1, 3, h, w), device=self.device)
        return upscale(below, self.model.scales.factor(k), self.model.scales.sizes[k])

    def _chain(
        self, below: torch.Tensor | None, a: int, b: int, noises: Sequence[torch.Tensor]
    ) -> torch.Tensor | None:
        """Run scales ``a .. b - 1`` from ``below`` (the output of scale ``a - 1``, or None
        at the coarsest) with ``noises[k]``: the output of scale ``b - 1``."""
        x = below
        for k in range(a, b):
            x = generator_step(
                self._generator(k), noises[k], self._prev(x, k), self._amp(k), self.params.pad
            )
        return x

    # -- one iteration ---------------------------------------------------------------------

    def step(self, it: int) -> None:
        """Iteration ``it`` (0-based) of this scale."""
        p, n, real = self.params, self.n, self.reals[self.n]
        if it == self.decay_at:
            for opt in (self.opt_g, self.opt_d):
                for group in opt.param_groups:
                    group["lr"] *= p.gamma
        noise = self._noise(n)
        t0 = self.first_trained
        for _ in range(p.d_steps):
            with torch.no_grad():
                # a fresh random image from below for every critic step, as theirs
                noises = [self._noise(k) for k in range(n)]
                base = self._chain(None, 0, t0, noises)
                prev = self._prev(self._chain(base, t0, n, noises))
                fake = generator_step(self.g, noise, prev, self.amp, p.pad)
            self.opt_d.zero_grad(set_to_none=True)
            score_real = self.d(real).mean()
            score_fake = self.d(fake).mean()
            gp = gradient_penalty(self.d, real, fake, self.rng)
            (score_fake - score_real + p.gp_weight * gp).backward()
            self.opt_d.step()
        self.losses["wasserstein"].append((score_real - score_fake).detach())
        self.losses["gp"].append(gp.detach())

        self.d.requires_grad_(False)  # no critic weight gradients in generator steps
        try:
            for _ in range(p.g_steps):
                self.opt_g.zero_grad(set_to_none=True)
                with _running_stats_frozen([self.g, *self.older]):
                    if t0 < n:  # through the older generators trained with this one
                        prev = self._prev(self._chain(base, t0, n, noises))
                    fake = generator_step(self.g, noise, prev, self.amp, p.pad)
                adv = -self.d(fake).mean()
                rec_prev = self.rec_prev
                if t0 < n:
                    rec_prev = self._prev(self._chain(self.rec_base, t0, n, self.rec_noises))
                rec = generator_step(self.g, self.z_opt, rec_prev, self.amp, p.pad)
                rec_loss = F.mse_loss(rec, real)
                (adv + p.rec_weight * rec_loss).backward()
                self.opt_g.step()
        finally:
            self.d.requires_grad_(True)
        self.losses["adv"].append(adv.detach())
        self.losses["rec"].append(rec_loss.detach())

    def finish(self) -> None:
        """Freeze the scale and add it to the model."""
        m = self.model
        for g in [*m.generators, self.g]:
            g.eval().requires_grad_(False)
        self.d.eval().requires_grad_(False)
        m.generators.append(self.g)
        m.z_opt.append(self.z_opt[0])
        m.noise_amp.append(self.amp)
        m.discriminator = self.d
        m.losses.append({k: torch.stack(v).tolist() if v else [] for k, v in self.losses.items()})


def real_pyramid(model: SinGANModel) -> list[torch.Tensor]:
    """The training image at every scale, ``(1, 3, h, w)`` in [-1, 1], coarsest first: each
    resized from the training image, as the authors' ``creat_reals_pyramid``.

    Examples
    --------
    >>> m = new_model(torch.rand(3, 24, 32), SinGANParams(min_size=12, scales=2), 0, "cpu")
    >>> [tuple(x.shape) for x in real_pyramid(m)]
    [(1, 3, 12, 16), (1, 3, 24, 32)]
    """
    x = model.image[None]
    return [resize(x, s).clamp(0.0, 1.0) * 2 - 1 for s in model.scales.sizes]


def new_model(
    image: torch.Tensor, params: SinGANParams, seed: int, device: torch.device
) -> SinGANModel:
    """An untrained model of ``image`` ``(3, H, W)`` in [0, 1]: its scales planned and the
    image resized to the training size.

    Examples
    --------
    >>> m = new_model(torch.rand(3, 300, 400), SinGANParams(), 0, "cpu")
    >>> m.size, len(m.scales), m.done
    ((188, 250), 9, 0)
    """
    p = params.resolved()
    size = tuple(image.shape[-2:])
    scales = plan_scales(size, p)
    fitted = resize(image.to(device, torch.float32), fit_size(size, p.max_size)).clamp(0, 1)
    return SinGANModel(p, int(seed), scales, fitted, __version__)


def _check_resume(model: SinGANModel, params: SinGANParams | None, seed: int | None) -> None:
    if params is not None:
        mine = _training_fields(model.params)
        theirs = _training_fields(params.resolved())
        diff = sorted(k for k in mine if mine[k] != theirs[k] and k != "scales")
        if diff or (theirs["scales"] is not None and theirs["scales"] != len(model.scales)):
            diff = diff or ["scales"]
            raise InputError(
                f"cannot resume with other parameters than the model's ({', '.join(diff)} differ)"
            )
    if seed is not None and seed != model.seed:
        raise InputError(f"cannot resume with seed {seed}: the model was trained with {model.seed}")


def _training_fields(p: SinGANParams) -> dict[str, object]:
    out = asdict(p)
    out.pop("start_scale")  # a sampling option
    return out


def train_model(
    image: torch.Tensor | None,
    params: SinGANParams | None = None,
    *,
    seed: int | None = None,
    device: torch.device | None = None,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
    resume: SinGANModel | None = None,
) -> SinGANModel:
    """Train a SinGAN model (or finish a partly trained one).

    Parameters
    ----------
    image : Tensor or None
        ``(3, H, W)`` in [0, 1]; None to resume from ``resume``'s own image.
    params : SinGANParams, optional
        Default ``SinGANParams()`` (the paper); when resuming, the model's, which these
        must equal if given.
    seed : int, optional
        Default 0 (when resuming: the model's, which this must equal if given).
    device : torch.device, optional
        Default the image's (or the resumed model's).
    progress : Progress, optional
        Told the total work first, then every iteration; an exception it raises stops the
        training at once and propagates.
    checkpoint : callable, optional
        Called with a copy of the model after every scale.
    resume : SinGANModel, optional
        A partly trained model to continue: the result equals an uninterrupted run's.

    Returns
    -------
    SinGANModel
        Trained on every scale, in eval mode.

    Examples
    --------
    >>> m = train_model(torch.rand(3, 24, 32), SinGANParams(iters=2, min_size=12, scales=2))
    >>> m.done, m.size
    (2, (24, 32))
    """
    progress = progress or Progress()
    if resume is not None:
        _check_resume(resume, params, seed)
        model = resume.to(device or resume.device, copy=True)
        if image is not None:
            again = new_model(image, model.params, model.seed, model.device).image
            same = again.shape == model.image.shape and torch.allclose(
                again, model.image, atol=1e-5
            )
            if not same:
                raise InputError("the image is not the one the resumed model was trained on")
    else:
        if image is None:
            raise InputError("give an image to train on (or a model to resume)")
        p = params or SinGANParams()
        model = new_model(image, p, 0 if seed is None else seed, device or image.device)
    reals = real_pyramid(model)
    todo = range(model.done, len(model.scales))
    costs = {n: scale_cost(model, n) for n in todo}
    progress.begin(sum(costs[n] * model.params.iters for n in todo))
    with _deterministic(model.device):
        for n in todo:
            trainer = ScaleTrainer(model, reals, n)
            stage = f"scale {n + 1}/{len(model.scales)}"
            for it in range(model.params.iters):
                trainer.step(it)
                progress.advance(costs[n], stage)
            trainer.finish()
            if checkpoint is not None:
                checkpoint(model.copy())
    return model
