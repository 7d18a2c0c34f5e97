"""NIQE, the "completely blind" natural image quality evaluator (Mittal et al., 2013).

NIQE needs no reference image: it fits a multivariate Gaussian to natural-scene statistics of
an image's 96x96 blocks and measures how far it lies from the Gaussian fitted once to a
corpus of pristine photographs. Lower is better (sharp natural photos score about 3-5).

This follows the authors' MATLAB release step by step, with their pristine model (as shipped
by ``iqa-torch``): the image is taken to 8-bit gray as MATLAB's ``rgb2gray`` does and cropped
to whole blocks; at each of two scales (the second one MATLAB's antialiased bicubic
``imresize(im, 0.5)``) the mean-subtracted contrast-normalised (MSCN) coefficients are
computed with the 7x7 Gaussian window; every block (96x96, then 48x48) gives 18 features from
asymmetric generalised Gaussian fits to the coefficients and to the products of neighbouring
coefficients in four directions; NIQE is the Mahalanobis-like distance between the pristine
mean and the blocks' mean under the pseudo-inverse of the two covariances' average.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from ..errors import InputError
from .assets import load_asset

__all__ = ["niqe", "niqe_features"]

BLOCK = 96
# MATLAB rgb2gray: the luma row of the inverse of the NTSC YIQ matrix.
_GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])
# Neighbour directions of the paired products, as (row, column) circular shifts.
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))

# The shape parameters the AGGD fit searches, and the ratio E[|x|]² / E[x²] of each.
_ALPHAS = np.arange(0.2, 10.0 + 5e-4, 0.001)
_RATIOS = np.array(
    [math.gamma(2 / a) ** 2 / (math.gamma(1 / a) * math.gamma(3 / a)) for a in _ALPHAS]
)


def _to_gray(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """8-bit gray values (as float64) of a ``(3, H, W)`` image in [0, 1], rounded the way
    MATLAB rounds an 8-bit image and then its ``rgb2gray``."""
    a = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if a.ndim != 3 or a.shape[0] != 3:
        raise InputError(f"NIQE: expected a (3, H, W) image, got shape {a.shape}")
    rgb = np.round(np.clip(a.astype(np.float64), 0.0, 1.0) * 255.0)
    return np.round(np.tensordot(_GRAY, rgb, axes=1))


def _filter(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Correlation with ``window``, edges replicated (MATLAB ``imfilter(.., 'replicate')``)."""
    r = window.shape[0] // 2
    padded = np.pad(image, r, mode="edge")
    h, w = image.shape
    out = np.zeros_like(image)
    for i in range(window.shape[0]):
        for j in range(window.shape[1]):
            out += window[i, j] * padded[i : i + h, j : j + w]
    return out


def _mscn(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients; the +1 keeps flat areas finite."""
    mu = _filter(image, window)
    sigma = np.sqrt(np.abs(_filter(image * image, window) - mu * mu))
    return (image - mu) / (sigma + 1.0)


def _cubic(x: np.ndarray) -> np.ndarray:
    """MATLAB's bicubic kernel (a = -0.5)."""
    a = np.abs(x)
    near = (1.5 * a**3 - 2.5 * a**2 + 1.0) * (a <= 1)
    far = (-0.5 * a**3 + 2.5 * a**2 - 4.0 * a + 2.0) * ((a > 1) & (a <= 2))
    return near + far


def _half_matrix(n: int) -> np.ndarray:
    """The ``(ceil(n/2), n)`` matrix of MATLAB's antialiased bicubic ``imresize`` by 1/2 along
    one axis, with its symmetric edge handling folded into the weights."""
    scale, width = 0.5, 4.0 / 0.5  # antialiasing widens the kernel by 1/scale
    out = math.ceil(n * scale)
    centre = np.arange(1, out + 1) / scale + 0.5 * (1 - 1 / scale)  # 1-based input coordinates
    taps = np.floor(centre - width / 2)[:, None] + np.arange(math.ceil(width) + 2)
    w = scale * _cubic(scale * (centre[:, None] - taps))
    w /= w.sum(axis=1, keepdims=True)
    # Indices beyond the edge mirror back into the image, the edge pixel repeated.
    mirror = np.concatenate([np.arange(n), np.arange(n)[::-1]])
    idx = mirror[(taps.astype(int) - 1) % (2 * n)]
    m = np.zeros((out, n))
    np.add.at(m, (np.repeat(np.arange(out), taps.shape[1]), idx.ravel()), w.ravel())
    return m


def _aggd_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Asymmetric generalised Gaussian fit of each row of ``x`` by moment matching: returns
    the shape ``alpha`` and the left and right scales.

    A row without negative or positive values has an undefined fit: it gives NaN scales and,
    like MATLAB's ``min`` over a NaN vector, the first shape on the grid.
    """
    neg, pos, sq = x < 0, x > 0, x * x
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.sqrt((sq * neg).sum(1) / neg.sum(1))
        right = np.sqrt((sq * pos).sum(1) / pos.sum(1))
        g = left / right
        r = np.abs(x).mean(1) ** 2 / sq.mean(1)
        r_norm = r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    # The ratio grows with alpha, so the nearest grid ratio is next to the insertion point.
    hi = np.searchsorted(_RATIOS, r_norm).clip(1, len(_RATIOS) - 1)
    nearest = np.where(np.abs(_RATIOS[hi - 1] - r_norm) <= np.abs(_RATIOS[hi] - r_norm), hi - 1, hi)
    alpha = _ALPHAS[np.where(np.isnan(r_norm), 0, nearest)]
    gamma1 = np.array([math.gamma(1 / a) for a in alpha])
    gamma3 = np.array([math.gamma(3 / a) for a in alpha])
    k = np.sqrt(gamma1 / gamma3)
    return alpha, left * k, right * k


def _block_features(mscn: np.ndarray, size: int) -> np.ndarray:
    """The 18 features of each ``size x size`` block of an MSCN map: ``(n_blocks, 18)``."""
    h, w = mscn.shape
    blocks = mscn.reshape(h // size, size, w // size, size).transpose(0, 2, 1, 3)
    blocks = blocks.reshape(-1, size, size)
    alpha, left, right = _aggd_fit(blocks.reshape(len(blocks), -1))
    feats = [alpha, (left + right) / 2]
    for shift in _SHIFTS:
        pairs = blocks * np.roll(blocks, shift, axis=(1, 2))  # circular within each block
        alpha, left, right = _aggd_fit(pairs.reshape(len(blocks), -1))
        gamma2 = np.array([math.gamma(2 / a) / math.gamma(1 / a) for a in alpha])
        feats += [alpha, (right - left) * gamma2, left, right]
    return np.stack(feats, axis=1)


def niqe_features(gray: np.ndarray, window: np.ndarray) -> np.ndarray:
    """NIQE's 36 features (18 per scale) of every 96x96 block of an 8-bit gray image.

    Parameters
    ----------
    gray : ndarray
        ``(H, W)``, values in [0, 255]; cropped to whole blocks.
    window : ndarray
        The 7x7 Gaussian window of the MSCN coefficients.

    Returns
    -------
    ndarray
        ``(n_blocks, 36)``; rows of blocks without texture hold NaN.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> window = np.full((7, 7), 1 / 49)
    >>> niqe_features(rng.uniform(0, 255, (100, 200)), window).shape
    (2, 36)
    """
    h, w = (s // BLOCK * BLOCK for s in gray.shape)
    image = np.asarray(gray, dtype=np.float64)[:h, :w]
    fine = _block_features(_mscn(image, window), BLOCK)
    half = _half_matrix(h) @ image @ _half_matrix(w).T
    coarse = _block_features(_mscn(half, window), BLOCK // 2)
    return np.concatenate([fine, coarse], axis=1)


def niqe(image: torch.Tensor | np.ndarray, cache_dir: str | os.PathLike | None = None) -> float:
    """NIQE of an image (lower is better), with the original pristine model.

    Parameters
    ----------
    image : Tensor or ndarray
        ``(3, H, W)``, values in [0, 1]; at least two 96x96 blocks (e.g. 96x192).
    cache_dir : path, optional
        Where :func:`~dropgan.metrics.setup_metrics` put the pristine model.

    Returns
    -------
    float
        The quality score; NaN when fewer than two blocks have texture (a flat image).

    Raises
    ------
    InputError
        When the image has fewer than two 96x96 blocks, or the model has not been set up.

    Examples
    --------
    >>> niqe(torch.rand(3, 96, 96))
    Traceback (most recent call last):
    ...
    dropgan.errors.InputError: NIQE needs at least two 96x96 blocks (e.g. 96x192 pixels), got 96x96
    """
    gray = _to_gray(image)
    h, w = gray.shape
    if (h // BLOCK) * (w // BLOCK) < 2:
        raise InputError(
            f"NIQE needs at least two {BLOCK}x{BLOCK} blocks (e.g. {BLOCK}x{2 * BLOCK} pixels), "
            f"got {h}x{w}"
        )
    model = load_asset("niqe_pristine", cache_dir)
    feats = niqe_features(gray, model["gaussian_window"])
    # As MATLAB's nanmean and nancov: means per feature over the blocks where it is defined,
    # the covariance over the blocks where all features are.
    complete = feats[~np.isnan(feats).any(axis=1)]
    if len(complete) < 2:
        return math.nan
    diff = model["mu_pris_param"].ravel() - np.nanmean(feats, axis=0)
    cov = (model["cov_pris_param"] + np.cov(complete, rowvar=False)) / 2
    return float(np.sqrt(diff @ np.linalg.pinv(cov) @ diff))
