"""Patch statistics of an output against its source: coherence and completeness.

Coherence is the mean, over output patches, of the mean squared error to the nearest source
patch (no new artefacts); completeness is the same with the roles swapped (nothing lost).
Both are 0 for an output identical to its source and grow as the two patch sets part.
"""

from __future__ import annotations

import torch

from ..patches import extract_patches
from ..search.exact import nearest

__all__ = ["coherence", "completeness", "nn_distances"]


def nn_distances(
    queries_image: torch.Tensor,
    keys_image: torch.Tensor,
    patch_size: int = 7,
    max_queries: int | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Mean squared error from every ``p x p`` patch of ``queries_image`` to its nearest patch
    of ``keys_image`` (both ``(3, H, W)``), by exact search.

    ``max_queries`` evaluates a fixed random subset of the query patches instead of all of
    them, for large images; ``seed`` picks the subset.

    Examples
    --------
    >>> x = torch.rand(3, 12, 12)
    >>> float(nn_distances(x, x).max()) < 1e-6
    True
    """
    q = extract_patches(queries_image[None], patch_size)[0]
    k = extract_patches(keys_image[None], patch_size)[0]
    if max_queries is not None and q.shape[0] > max_queries:
        g = torch.Generator().manual_seed(seed)
        q = q[torch.randperm(q.shape[0], generator=g)[:max_queries].to(q.device)]
    return nearest(q, k)[1]


def coherence(
    output: torch.Tensor, source: torch.Tensor, patch_size: int = 7, max_queries: int | None = None
) -> float:
    """Mean over the output's patches of the MSE to their nearest source patch.

    Examples
    --------
    >>> x = torch.rand(3, 10, 10)
    >>> round(coherence(x, x), 6)
    0.0
    """
    return float(nn_distances(output, source, patch_size, max_queries).mean())


def completeness(
    output: torch.Tensor, source: torch.Tensor, patch_size: int = 7, max_queries: int | None = None
) -> float:
    """Mean over the source's patches of the MSE to their nearest output patch.

    Examples
    --------
    >>> x = torch.rand(3, 10, 10)
    >>> round(completeness(x, x), 6)
    0.0
    """
    return float(nn_distances(source, output, patch_size, max_queries).mean())
