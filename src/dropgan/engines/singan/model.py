"""SinGAN's networks and the trained model.

Both networks of a scale are the authors' (tamarott/SinGAN, ``SinGAN/models.py``): five
3x3 convolutions without padding, the first four followed by BatchNorm and LeakyReLU(0.2);
the generator ends in tanh and adds its input image back, the discriminator ends in one
channel without activation. Every input is zero-padded by 5 px beforehand, so the output
has the size of the image. Widths are ``width * 2**(n // 4)`` at scale ``n``, at most
``max_width``; a layer of the body has ``max(width / 2**(i + 1), min_width)`` channels, which
with the defaults (32 and 32) is ``width`` everywhere, as theirs.

Values are in [-1, 1] inside the model, as the authors': the noise amplitudes and tanh are
on that scale. :class:`SinGANModel` turns them back into [0, 1] when it samples.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .params import SinGANParams
from .pyramid import Scales

__all__ = [
    "Discriminator",
    "Generator",
    "SinGANModel",
    "generator_step",
    "init_weights",
    "scale_width",
]


def scale_width(n: int, params: SinGANParams) -> tuple[int, int]:
    """``(width, min_width)`` of the networks of scale ``n`` (0 the coarsest).

    Examples
    --------
    >>> [scale_width(n, SinGANParams())[0] for n in (0, 3, 4, 8, 12)]
    [32, 32, 64, 128, 128]
    """
    k = 2 ** (n // 4)
    return min(params.width * k, params.max_width), min(params.min_width * k, params.max_width)


def _block(c_in: int, c_out: int, batch_norm: bool) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict({"conv": nn.Conv2d(c_in, c_out, 3)})
    if batch_norm:
        layers["norm"] = nn.BatchNorm2d(c_out)
    layers["act"] = nn.LeakyReLU(0.2)
    return nn.Sequential(layers)


def _body(width: int, min_width: int, layers: int, batch_norm: bool) -> tuple[nn.Sequential, int]:
    """The head and the middle blocks, and the channels they end with."""
    blocks = [_block(3, width, batch_norm)]
    c = width
    for i in range(layers - 2):
        half = int(width / 2 ** (i + 1))
        blocks.append(_block(max(2 * half, min_width), max(half, min_width), batch_norm))
        c = max(half, min_width)
    return nn.Sequential(*blocks), c


class Generator(nn.Module):
    """One scale's generator: ``body(z) + prev``, with ``z`` the noisy image and ``prev``
    the image from the scale below, both zero-padded by ``layers`` px.

    Examples
    --------
    >>> g = Generator(32, 32)
    >>> g(torch.zeros(1, 3, 30, 40), torch.zeros(1, 3, 30, 40)).shape
    torch.Size([1, 3, 20, 30])
    """

    def __init__(self, width: int, min_width: int, layers: int = 5, batch_norm: bool = True):
        super().__init__()
        self.body, c = _body(width, min_width, layers, batch_norm)
        self.tail = nn.Sequential(nn.Conv2d(c, 3, 3), nn.Tanh())

    def forward(self, z: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        x = self.tail(self.body(z))
        # the residual is smaller than its padded input: add the matching centre of prev
        m = (prev.shape[-2] - x.shape[-2]) // 2
        return x + prev[..., m : prev.shape[-2] - m, m : prev.shape[-1] - m]


class Discriminator(nn.Module):
    """One scale's critic: a map of scores, one per receptive field (11 x 11 px by default).

    Examples
    --------
    >>> Discriminator(32, 32)(torch.zeros(1, 3, 30, 40)).shape
    torch.Size([1, 1, 20, 30])
    """

    def __init__(self, width: int, min_width: int, layers: int = 5, batch_norm: bool = True):
        super().__init__()
        self.body, c = _body(width, min_width, layers, batch_norm)
        self.tail = nn.Conv2d(c, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(x))


def init_weights(module: nn.Module, generator: torch.Generator) -> None:
    """The authors' ``weights_init``, drawn from ``generator``: convolution weights
    N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0. Convolution biases keep
    PyTorch's default law, U(+-1/sqrt(fan_in)) (their init leaves them alone), drawn here
    from ``generator`` too so that one seed fixes every weight.

    Examples
    --------
    >>> g = Generator(32, 32)
    >>> init_weights(g, torch.Generator().manual_seed(0))
    >>> round(g.body[1].conv.weight.std().item(), 2), g.body[1].norm.bias.abs().max().item()
    (0.02, 0.0)
    """
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.normal_(0.0, 0.02, generator=generator)
                if m.bias is not None:
                    bound = 1 / math.sqrt(m.weight[0].numel())
                    m.bias.uniform_(-bound, bound, generator=generator)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.normal_(1.0, 0.02, generator=generator)
                m.bias.zero_()


def generator_step(
    g: Generator, z: torch.Tensor, prev: torch.Tensor, amp: float, pad: int
) -> torch.Tensor:
    """One scale: ``G(amp z + prev, prev)`` with both zero-padded by ``pad`` px (a
    one-channel ``z`` is broadcast to the three colours, as the authors' coarsest noise).

    Examples
    --------
    >>> generator_step(Generator(32, 32), torch.zeros(1, 1, 20, 30),
    ...                torch.zeros(1, 3, 20, 30), 1.0, 5).shape
    torch.Size([1, 3, 20, 30])
    """
    padded = F.pad(prev, (pad,) * 4)
    return g(F.pad(amp * z + prev, (pad,) * 4), padded)


@dataclass
class SinGANModel:
    """A SinGAN model, trained or partly trained: what :func:`~.files.save_model` writes.

    Attributes
    ----------
    params : SinGANParams
        The resolved training parameters.
    seed : int
        The training seed.
    scales : Scales
        Every scale's size, including those not trained yet.
    generators : list of Generator
        The trained scales' generators, coarsest first, in eval mode.
    z_opt : list of Tensor
        Each trained scale's reconstruction noise ``(1 or 3, h, w)``: fixed Gaussian noise
        at the coarsest scale (one channel), zeros above, as in the paper.
    noise_amp : list of float
        Each trained scale's noise amplitude (1 at the coarsest).
    discriminator : Discriminator or None
        The last trained scale's discriminator: the next scale starts from it.
    image : Tensor
        The training image ``(3, H, W)`` in [0, 1], at the finest scale's size.
    version : str
        The dropgan version that trained it.
    losses : list of dict
        Per scale trained in this session, the per-iteration losses (``"wasserstein"``:
        the critic's estimate ``D(real) - D(fake)``; ``"gp"``; ``"rec"``: the
        reconstruction MSE; ``"adv"``: the generator's adversarial loss). Not saved.

    Examples
    --------
    >>> from dropgan.engines.singan import train
    >>> m = train(torch.rand(3, 24, 32), iters=1, scales=2, min_size=12, width=8, min_width=8)
    >>> m.done, m.complete, m.size, m.noise_amp[0]
    (2, True, (24, 32), 1.0)
    """

    params: SinGANParams
    seed: int
    scales: Scales
    image: torch.Tensor
    version: str
    generators: list[Generator] = field(default_factory=list)
    z_opt: list[torch.Tensor] = field(default_factory=list)
    noise_amp: list[float] = field(default_factory=list)
    discriminator: Discriminator | None = None
    losses: list[dict[str, list[float]]] = field(default_factory=list, repr=False)

    @property
    def done(self) -> int:
        """Number of trained scales."""
        return len(self.generators)

    @property
    def complete(self) -> bool:
        """Whether every scale is trained."""
        return self.done == len(self.scales)

    @property
    def size(self) -> tuple[int, int]:
        """The finest scale's (h, w): the size of a sample at scale 1."""
        return self.scales.sizes[-1]

    @property
    def device(self) -> torch.device:
        return self.image.device

    def new_generator(self, n: int, device: torch.device | str | None = None) -> Generator:
        """A fresh (untrained) generator of scale ``n``'s shape, on ``device`` (default the
        model's)."""
        p = self.params
        g = Generator(*scale_width(n, p), p.layers, p.batch_norm)
        return g.to(self.device if device is None else device)

    def new_discriminator(self, n: int, device: torch.device | str | None = None) -> Discriminator:
        """A fresh (untrained) discriminator of scale ``n``'s shape."""
        p = self.params
        d = Discriminator(*scale_width(n, p), p.layers, p.batch_norm)
        return d.to(self.device if device is None else device)

    def copy(self) -> SinGANModel:
        """A deep copy of the weights (a checkpoint that later training does not touch)."""
        return self.to(self.device, copy=True)

    def to(self, device: torch.device | str, *, copy: bool = False) -> SinGANModel:
        """The model on ``device``: itself if it is there already, unless ``copy``.

        Examples
        --------
        >>> from dropgan.engines.singan.train import new_model
        >>> m = new_model(torch.rand(3, 24, 32), SinGANParams(min_size=12, scales=2), 0, "cpu")
        >>> m.to("cpu") is m, m.copy() is m
        (True, False)
        """
        device = torch.device(device)
        here = self.device
        same = device.type == here.type and device.index in (None, here.index)
        if same and not copy:
            return self
        out = SinGANModel(
            self.params, self.seed, self.scales, self.image.to(device, copy=True), self.version
        )
        out.generators = [
            _frozen_copy(g, self.new_generator(n, "cpu"), device)
            for n, g in enumerate(self.generators)
        ]
        out.z_opt = [z.to(device, copy=True) for z in self.z_opt]
        out.noise_amp = list(self.noise_amp)
        if self.discriminator is not None:
            blank = self.new_discriminator(self.done - 1, "cpu")
            out.discriminator = _frozen_copy(self.discriminator, blank, device)
        return out


def _frozen_copy(module: nn.Module, blank: nn.Module, device: torch.device) -> nn.Module:
    """``blank`` holding copies of ``module``'s weights and buffers, on ``device``, frozen."""
    blank.load_state_dict(module.state_dict())
    return blank.to(device).eval().requires_grad_(False)
