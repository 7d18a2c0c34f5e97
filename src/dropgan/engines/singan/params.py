"""SinGAN's parameters: one dataclass, two schedules.

``schedule="paper"`` is the authors' training (tamarott/SinGAN, ``config.py`` and
``SinGAN/training.py``); ``schedule="fast"`` keeps SinGAN's networks and losses and takes the
measures with which ConSinGAN (Hinz et al., WACV 2021; tohinz/ConSinGAN) trains faster: 6
scales packed densely at low resolutions, the 3 finest generators trained concurrently with
the learning rate divided by 10 per older scale, and no BatchNorm. A field left ``None`` takes
its schedule's value; any field given explicitly wins over the schedule.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ...errors import InputError
from ...params import (
    MAX_ITERS,
    check_count,
    field_help,
    finite_positive,
    is_real,
    schedule_help,
)

__all__ = ["MAX_SCALES", "SCHEDULES", "SR_DEFAULTS", "SinGANParams"]

#: The schedules and the values they give to the fields left ``None``.
SCHEDULES: dict[str, dict[str, Any]] = {
    "paper": {
        "iters": 2000,
        "scales": None,  # the authors' rule (:func:`~.pyramid.scale_count`)
        "spacing": "geometric",
        "concurrent": 1,
        "batch_norm": True,
    },
    "fast": {
        "iters": 2000,
        "scales": 6,
        "spacing": "dense",
        "concurrent": 3,
        "batch_norm": False,
    },
}

#: Most scales a model may have: far above the ~10 of a 250 px image.
MAX_SCALES = 40

#: Super-resolution's training, as the authors' ``SR.py`` (tamarott/SinGAN): scales one
#: SR step apart, ``1 / 2^(1/3)`` (their ``calc_init_scale``; re-fitted by the pyramid rule
#: as every factor), the coarsest smaller side 18 px (``adjust_scales2image_SR``), the
#: reconstruction weight 100 (``post_config`` in ``SinGAN/functions.py`` sets ``alpha =
#: 100`` in SR mode) and the finest generator for the injection (``start_scale`` -1). Their
#: pyramid is geometric, so spacing is too under the ``fast`` schedule.
SR_DEFAULTS: dict[str, Any] = {
    "scale_factor": 2 ** (-1 / 3),
    "min_size": 18,
    "rec_weight": 100.0,
    "spacing": "geometric",
    "start_scale": -1,
}


@dataclass(frozen=True)
class SinGANParams:
    """SinGAN's training (and sampling) parameters, with the paper's defaults.

    Fields left ``None`` take the value of ``schedule`` (:data:`SCHEDULES`);
    :meth:`resolved` fills them in. Scale indices count from the coarsest scale, 0, as the
    authors' code does.

    Examples
    --------
    >>> p = SinGANParams(schedule="fast", iters=500).resolved()
    >>> p.iters, p.scales, p.concurrent, p.batch_norm
    (500, 6, 3, False)
    >>> SinGANParams().resolved().iters
    2000
    """

    schedule: str = field(
        default="paper",
        metadata=field_help(
            "paper: the authors' training; fast: ConSinGAN's measures (6 dense scales, the "
            "3 finest trained together, no BatchNorm)"
        ),
    )
    iters: int | None = field(
        default=None, metadata=schedule_help("training iterations per scale (paper: 2000)")
    )
    scales: int | None = field(
        default=None,
        metadata=schedule_help(
            "number of scales; by default the authors' rule, coarsest smaller side about "
            "min_size (10 for 250x188; fast: 6)"
        ),
    )
    max_size: int = field(
        default=250, metadata=field_help("longer side of the training image at most, px")
    )
    min_size: int = field(default=25, metadata=field_help("smaller side of the coarsest scale, px"))
    scale_factor: float = field(
        default=0.75,
        metadata=field_help(
            "pyramid factor that the scale-count rule starts from; it is then re-fitted so "
            "that the coarsest smaller side is min_size"
        ),
    )
    spacing: str | None = field(
        default=None,
        metadata=schedule_help(
            "geometric: one factor between scales (paper); dense: ConSinGAN's, more scales "
            "at low resolution (fast)"
        ),
    )
    concurrent: int | None = field(
        default=None,
        metadata=schedule_help("generators trained at once, the finest ones (paper: 1; fast: 3)"),
    )
    lr_scale: float = field(
        default=0.1,
        metadata=field_help("learning-rate factor per older scale among those trained at once"),
    )
    batch_norm: bool | None = field(
        default=None,
        metadata=schedule_help(
            "BatchNorm in the generators and discriminators (paper: on; fast: off)"
        ),
    )
    lr_g: float = field(default=5e-4, metadata=field_help("generator Adam learning rate"))
    lr_d: float = field(default=5e-4, metadata=field_help("discriminator Adam learning rate"))
    beta1: float = field(default=0.5, metadata=field_help("Adam's beta1; beta2 is 0.999"))
    lr_decay_at: float = field(
        default=0.8,
        metadata=field_help(
            "share of a scale's iterations after which the learning rates are multiplied by gamma"
        ),
    )
    gamma: float = field(default=0.1, metadata=field_help("learning-rate decay factor"))
    d_steps: int = field(default=3, metadata=field_help("discriminator steps per iteration"))
    g_steps: int = field(default=3, metadata=field_help("generator steps per iteration"))
    gp_weight: float = field(
        default=0.1, metadata=field_help("WGAN-GP gradient penalty weight lambda")
    )
    rec_weight: float = field(default=10.0, metadata=field_help("reconstruction loss weight alpha"))
    noise_weight: float = field(
        default=0.1,
        metadata=field_help(
            "noise amplitude of a scale as a multiple of the RMSE of the reconstruction "
            "coming from the scales below"
        ),
    )
    width: int = field(
        default=32,
        metadata=field_help("convolution channels at scales 0-3, doubled every 4 scales"),
    )
    min_width: int = field(
        default=32,
        metadata=field_help("fewest channels of a layer at scales 0-3, doubled likewise"),
    )
    max_width: int = field(default=128, metadata=field_help("most convolution channels"))
    layers: int = field(
        default=5, metadata=field_help("3x3 convolutions per generator and discriminator")
    )
    start_scale: int = field(
        default=0,
        metadata=field_help(
            "sampling: scales below this one replay the reconstruction (or are replaced by "
            "the injected image), the others draw noise; 0 the coarsest, -1 the finest"
        ),
    )

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise InputError(
                f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"
            )
        _check(self.resolved())

    def resolved(self) -> SinGANParams:
        """A copy with every ``None`` field set to its schedule's value (``scales`` may stay
        ``None``: the authors' rule, which depends on the image)."""
        preset = SCHEDULES[self.schedule]
        fills = {k: v for k, v in preset.items() if v is not None and getattr(self, k) is None}
        return dataclasses.replace(self, **fills) if fills else self

    @property
    def patch_size(self) -> int:
        """The receptive field of one scale's networks, in pixels (11 for 5 layers of 3x3):
        what a task's size checks take as SinGAN's patch."""
        return 2 * self.layers + 1

    @property
    def ratio(self) -> float:
        """The pyramid factor that the scale-count rule starts from (``scale_factor``)."""
        return self.scale_factor

    @property
    def pad(self) -> int:
        """Zero padding of every generator and discriminator input, px (5 for 5 layers)."""
        return self.layers


def _check(p: SinGANParams) -> None:
    """Raise :class:`InputError` for the first invalid field of resolved parameters."""
    check_count("iters", p.iters, 1, MAX_ITERS)
    if p.scales is not None:
        check_count("scales", p.scales, 2, MAX_SCALES)
    check_count("max_size", p.max_size, 2)
    check_count("min_size", p.min_size, 1)
    if p.min_size < 2 * p.layers + 1:
        raise InputError(
            f"min_size ({p.min_size}) must be at least the networks' receptive field "
            f"({2 * p.layers + 1} px for {p.layers} layers)"
        )
    if p.min_size >= p.max_size:
        raise InputError(f"min_size ({p.min_size}) must be smaller than max_size ({p.max_size})")
    if not (is_real(p.scale_factor) and 0 < p.scale_factor < 1):
        raise InputError(f"scale_factor must be between 0 and 1, got {p.scale_factor!r}")
    if p.spacing not in ("geometric", "dense"):
        raise InputError(f"spacing must be geometric or dense, got {p.spacing!r}")
    check_count("concurrent", p.concurrent, 1, MAX_SCALES)
    if not (is_real(p.lr_scale) and 0 < p.lr_scale <= 1):
        raise InputError(f"lr_scale must be in (0, 1], got {p.lr_scale!r}")
    if not isinstance(p.batch_norm, bool):
        raise InputError(f"batch_norm must be True or False, got {p.batch_norm!r}")
    finite_positive("lr_g", p.lr_g)
    finite_positive("lr_d", p.lr_d)
    if not (is_real(p.beta1) and 0 <= p.beta1 < 1):
        raise InputError(f"beta1 must be in [0, 1), got {p.beta1!r}")
    if not (is_real(p.lr_decay_at) and 0 <= p.lr_decay_at <= 1):
        raise InputError(f"lr_decay_at must be in [0, 1], got {p.lr_decay_at!r}")
    if not (is_real(p.gamma) and 0 < p.gamma <= 1):
        raise InputError(f"gamma must be in (0, 1], got {p.gamma!r}")
    check_count("d_steps", p.d_steps, 1, 100)
    check_count("g_steps", p.g_steps, 1, 100)
    for name in ("gp_weight", "rec_weight"):
        value = getattr(p, name)
        if not (is_real(value) and 0 <= value < float("inf")):
            raise InputError(f"{name} must be a finite number >= 0, got {value!r}")
    finite_positive("noise_weight", p.noise_weight)
    check_count("width", p.width, 1, 4096)
    check_count("min_width", p.min_width, 1, 4096)
    check_count("max_width", p.max_width, 1, 4096)
    if p.max_width < p.width:
        raise InputError(f"max_width ({p.max_width}) must be at least width ({p.width})")
    check_count("layers", p.layers, 3, 32)
    check_count("start_scale", p.start_scale, -MAX_SCALES, MAX_SCALES)
