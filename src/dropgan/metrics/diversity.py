"""Diversity of the samples generated from one input.

Two measures: SinGAN's pixel diversity (how much pixels vary across samples, relative to how
much they vary within the input) and the mean LPIPS between samples (how different the
samples look). Both are 0 when every sample is the same image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from ..errors import InputError
from .lpips import pairwise_lpips

__all__ = ["mean_pairwise_lpips", "pixel_diversity"]


def _check_samples(samples: Sequence[torch.Tensor] | torch.Tensor) -> None:
    """At least two ``(3, H, W)`` samples, all of one size."""
    if len(samples) < 2:
        raise InputError(f"diversity needs at least two samples, got {len(samples)}")
    shapes = {tuple(s.shape) for s in samples}
    if len(shapes) != 1:
        raise InputError(f"diversity needs samples of one size, got {sorted(shapes)}")
    shape = shapes.pop()
    if len(shape) != 3 or shape[0] != 3:
        raise InputError(f"expected (3, H, W) samples, got shape {shape}")


def pixel_diversity(samples: Sequence[torch.Tensor] | torch.Tensor, source: torch.Tensor) -> float:
    """SinGAN's diversity: the standard deviation of each pixel value over the samples,
    averaged over pixels and channels, divided by the standard deviation of the source's
    pixel values.

    Both standard deviations are population ones (divided by n). The samples may differ in
    size from the source, not from each other.

    Parameters
    ----------
    samples : sequence of Tensor, or Tensor
        At least two ``(3, H, W)`` samples of one size (or one ``(n, 3, H, W)`` tensor),
        values in [0, 1].
    source : Tensor
        The ``(3, H, W)`` input they were generated from; not a flat image.

    Examples
    --------
    >>> src = torch.rand(3, 8, 8)
    >>> pixel_diversity([src, src], src)
    0.0
    >>> pixel_diversity([torch.zeros(3, 8, 8), torch.ones(3, 8, 8)], src) > 1
    True
    """
    spread = float(source.to(torch.float64).std(correction=0))
    if spread == 0:
        raise InputError("pixel diversity is undefined for a flat source image")
    _check_samples(samples)
    batch = samples if isinstance(samples, torch.Tensor) else torch.stack(list(samples))
    return float(batch.to(torch.float64).std(dim=0, correction=0).mean()) / spread


def mean_pairwise_lpips(
    samples: Sequence[torch.Tensor] | torch.Tensor, cache_dir: str | os.PathLike | None = None
) -> float:
    """Mean LPIPS (AlexNet) over all pairs of samples.

    Parameters
    ----------
    samples : sequence of Tensor, or Tensor
        At least two ``(3, H, W)`` samples of one size, values in [0, 1], at least 31 pixels on
        each side.
    cache_dir : path, optional
        Where :func:`~dropgan.metrics.setup_metrics` put the weights.

    Examples
    --------
    >>> mean_pairwise_lpips([torch.rand(3, 64, 64) for _ in range(3)]) > 0  # doctest: +SKIP
    True
    """
    _check_samples(samples)
    n = len(samples)
    d = pairwise_lpips(samples, cache_dir)
    return float(d.sum()) / (n * (n - 1))
