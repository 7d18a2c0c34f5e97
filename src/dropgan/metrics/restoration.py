"""Full-reference measures of restoration (super-resolution, denoising): PSNR and SSIM.

The super-resolution protocol of the literature (SRCNN, SelfExSR, VDSR and after): both
images converted to the luma Y of YCbCr (ITU-R BT.601, MATLAB's ``rgb2ycbcr``: Y in
[16, 235] on a 255 scale), ``factor`` pixels cropped from every border, then PSNR with a peak
of 255 and SSIM as Wang et al. (2004): an 11 x 11 Gaussian window of standard deviation 1.5,
K1 = 0.01, K2 = 0.03, statistics over the window positions that fit inside the image (their
MATLAB ``ssim_index.m``, ``filter2(..., 'valid')``).

With ``channel="rgb"`` both measures work on the three colour channels in [0, 1] instead
(peak 1; SSIM averaged over the channels), the usual choice for colour denoising.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import InputError

__all__ = ["CHANNELS", "psnr", "rgb_to_y", "ssim", "ssim_window"]

#: What the measures compare: the luma Y of YCbCr (the SR protocol) or the RGB channels.
CHANNELS = ("y", "rgb")

#: BT.601 luma of [0, 1] RGB on a 255 scale, as MATLAB's ``rgb2ycbcr``: 16 + this . RGB.
_Y_WEIGHTS = (65.481, 128.553, 24.966)


def rgb_to_y(image: torch.Tensor) -> torch.Tensor:
    """The BT.601 luma of a ``(3, H, W)`` RGB image in [0, 1], as ``(H, W)`` values in
    [16, 235] (MATLAB's ``rgb2ycbcr``, not rounded).

    Examples
    --------
    >>> rgb_to_y(torch.ones(3, 1, 1)).item()
    235.0
    >>> rgb_to_y(torch.zeros(3, 1, 1)).item()
    16.0
    """
    w = torch.tensor(_Y_WEIGHTS, dtype=torch.float64, device=image.device)
    return 16.0 + torch.einsum("c,chw->hw", w, image.to(torch.float64))


def _planes(a: torch.Tensor, b: torch.Tensor, border: int, channel: str) -> tuple:
    """Both images as float64 ``(C, H, W)`` planes with ``border`` pixels cropped, and the
    peak value."""
    if channel not in CHANNELS:
        raise InputError(f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")
    if a.shape != b.shape or a.ndim != 3 or a.shape[0] != 3:
        raise InputError(
            f"expected two (3, H, W) images of one size, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if isinstance(border, bool) or not isinstance(border, int) or border < 0:
        raise InputError(f"border must be an integer >= 0, got {border!r}")
    h, w = a.shape[-2:]
    if min(h, w) <= 2 * border:
        raise InputError(f"a {w}x{h} px image has nothing left after cropping {border} px")
    if channel == "y":
        a, b, peak = rgb_to_y(a)[None], rgb_to_y(b.to(a.device))[None], 255.0
    else:
        a, b, peak = a.to(torch.float64), b.to(a.device, torch.float64), 1.0
    crop = (slice(None), slice(border, h - border), slice(border, w - border))
    return a[crop], b[crop], peak


def psnr(a: torch.Tensor, b: torch.Tensor, border: int = 0, channel: str = "y") -> float:
    """Peak signal-to-noise ratio of ``a`` against ``b`` (both ``(3, H, W)`` in [0, 1]), in
    dB: ``10 log10(peak^2 / MSE)``, ``inf`` for identical images.

    Parameters
    ----------
    a, b : Tensor
        The images (which one is the reference does not matter).
    border : int
        Pixels cropped from every side first (the SR protocol crops the scale factor).
    channel : {"y", "rgb"}
        Compare the BT.601 luma (peak 255) or the RGB values (peak 1).

    Examples
    --------
    >>> x = torch.full((3, 8, 8), 0.5)
    >>> round(psnr(x, x + 0.1, channel="rgb"), 3)
    20.0
    """
    a, b, peak = _planes(a, b, border, channel)
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(peak**2 / mse)


def ssim_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Wang et al.'s SSIM window: a normalised ``size x size`` Gaussian, float64.

    Examples
    --------
    >>> w = ssim_window()
    >>> tuple(w.shape), round(float(w.sum()), 12)
    ((11, 11), 1.0)
    """
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    w = torch.outer(g, g)
    return w / w.sum()


def ssim(a: torch.Tensor, b: torch.Tensor, border: int = 0, channel: str = "y") -> float:
    """Structural similarity of ``a`` and ``b`` (both ``(3, H, W)`` in [0, 1]), as Wang et
    al. (2004): local means, variances and covariance under an 11 x 11 Gaussian window
    (sigma 1.5) at every position where it fits, ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``
    with L the peak (255 on Y, 1 on RGB), averaged over positions (and channels).

    Parameters
    ----------
    a, b : Tensor
        The images; at least 11 x 11 px after cropping.
    border : int
        Pixels cropped from every side first.
    channel : {"y", "rgb"}
        Compare the BT.601 luma or the RGB values (mean of the three channels' SSIM).

    Examples
    --------
    >>> x = torch.rand(3, 16, 16)
    >>> round(ssim(x, x), 6)
    1.0
    >>> ssim(x, 1 - x) < 0
    True
    """
    a, b, peak = _planes(a, b, border, channel)
    window = ssim_window().to(a.device)
    if min(a.shape[-2:]) < window.shape[0]:
        raise InputError(f"SSIM needs at least {window.shape[0]} px per side after cropping")
    k = window[None, None]
    a, b = a[:, None], b[:, None]  # channels as a batch of one-channel images

    def mean(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, k)

    mu_a, mu_b = mean(a), mean(b)
    # population (window-weighted) statistics, as Wang et al.: E[xy] - E[x]E[y]
    var_a = mean(a * a) - mu_a**2
    var_b = mean(b * b) - mu_b**2
    cov = mean(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return float(index.mean())
