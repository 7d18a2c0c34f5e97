"""Exact nearest-neighbour search by tiled matrix products, on CPU or CUDA.

The n x m distance matrix is never held whole: queries are processed in tiles of rows and
keys in chunks of fixed width, small enough to stay in the processor's cache (a tile is
scored in several elementwise passes after its product; tiles sized to fill a 1 GiB budget
went to memory on each pass and made the search 3x slower at 24,000 queries), and smaller
still under a tight memory budget. Tiles are never narrower than 64
rows or columns and the last tile overlaps its predecessor instead of being short, because
BLAS computes tiny products with other kernels and other rounding; with this, every distance
is bitwise the same whatever the budget, and so is the answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from .base import NearestNeighbourSearch, PatchLayout, normalised_score

__all__ = ["ExactSearch", "nearest"]

KEY_CHUNK = 4096
MIN_TILE = 64
MAX_TILE = 512  # rows: a 512 x 4096 float32 tile is 8 MiB
DEFAULT_BUDGET = 1 << 30
_BYTES_PER_ENTRY = 12  # a float32 distance tile plus the temporaries of scoring it


def _tiles(total: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``size`` covering ``range(total)``; the last overlaps rather than
    being short."""
    if total <= size:
        yield slice(0, total)
        return
    for start in range(0, total, size):
        start = min(start, total - size)
        yield slice(start, start + size)


def _rows_for_budget(budget: int) -> int:
    rows = min(MAX_TILE, budget // (KEY_CHUNK * _BYTES_PER_ENTRY))
    return max(MIN_TILE, rows // MIN_TILE * MIN_TILE)


def _mse(q: torch.Tensor, qq: torch.Tensor, k: torch.Tensor, kk: torch.Tensor) -> torch.Tensor:
    """Mean squared errors between rows of q and rows of k, from precomputed squared norms."""
    d = torch.addmm(kk[None, :], q, k.T, beta=1.0, alpha=-2.0)
    return d.add_(qq[:, None]).clamp_(min=0.0).mul_(1.0 / q.shape[1])


def _key_minima(q: torch.Tensor, k: torch.Tensor, rows: int) -> torch.Tensor:
    """min over queries of D[:, j] for every key j (the first pass for finite alpha)."""
    qq, kk = (q * q).sum(1), (k * k).sum(1)
    out = torch.full((k.shape[0],), math.inf, dtype=q.dtype, device=q.device)
    for rs in _tiles(q.shape[0], rows):
        for ks in _tiles(k.shape[0], KEY_CHUNK):
            out[ks] = torch.minimum(out[ks], _mse(q[rs], qq[rs], k[ks], kk[ks]).amin(0))
    return out


def _nearest_one(
    q: torch.Tensor, k: torch.Tensor, alpha: float, rows: int
) -> tuple[torch.Tensor, torch.Tensor]:
    minima = None if math.isinf(alpha) else _key_minima(q, k, rows)
    qq, kk = (q * q).sum(1), (k * k).sum(1)
    best = torch.full((q.shape[0],), math.inf, dtype=q.dtype, device=q.device)
    arg = torch.zeros(q.shape[0], dtype=torch.int64, device=q.device)
    for rs in _tiles(q.shape[0], rows):
        b, a = best[rs], arg[rs]
        for ks in _tiles(k.shape[0], KEY_CHUNK):
            s = normalised_score(
                _mse(q[rs], qq[rs], k[ks], kk[ks]), None if minima is None else minima[ks], alpha
            )
            # The minimum alone is 20x cheaper than with its index, and after the first chunks
            # few rows improve: only those are searched for the index.
            v = s.amin(1)
            better = (v < b).nonzero().flatten()  # strict: ties keep the lower key index
            b[better] = v[better]
            a[better] = s[better].argmin(1) + ks.start
    return arg, best


def nearest(
    queries: torch.Tensor,
    keys: torch.Tensor,
    alpha: float = math.inf,
    valid_keys: torch.Tensor | None = None,
    memory_budget: int = DEFAULT_BUDGET,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact best key for every query under GPNN's normalised score.

    Parameters
    ----------
    queries : Tensor, (n, d) or (B, n, d)
        Query patches; with a batch, each sample's key minima come from its own queries.
    keys : Tensor, (m, d)
    alpha : float
        ``math.inf`` for plain mean squared error.
    valid_keys : Tensor, (m,) bool, optional
        Keys that may be chosen.
    memory_budget : int
        Bytes for the distance tiles; the result does not depend on it.

    Returns
    -------
    indices : Tensor, (n,) or (B, n) int64
        Index of the best key (the lowest index among equal scores).
    scores : Tensor, same shape, float
        The best score; the mean squared error when ``alpha`` is infinite.

    Examples
    --------
    >>> k = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    >>> nearest(torch.tensor([[0.9, 0.8], [0.1, 0.0]]), k)[0]
    tensor([1, 0])
    """
    batched = queries.ndim == 3
    qs = queries if batched else queries[None]
    key_ids = None
    if valid_keys is not None:
        key_ids = valid_keys.nonzero().flatten()
        keys = keys[key_ids]
    if keys.shape[0] == 0:
        raise ValueError("no valid key patches to search")
    rows = _rows_for_budget(memory_budget)
    results = [_nearest_one(q, keys, alpha, rows) for q in qs]
    idx = torch.stack([r[0] for r in results])
    score = torch.stack([r[1] for r in results])
    if key_ids is not None:
        idx = key_ids[idx]
    return (idx, score) if batched else (idx[0], score[0])


class ExactSearch(NearestNeighbourSearch):
    """Exact search by tiled matrix products (see :func:`nearest`).

    Parameters
    ----------
    memory_budget : int
        Bytes for the distance tiles (default 1 GiB).
    """

    name = "exact"

    def __init__(self, memory_budget: int = DEFAULT_BUDGET) -> None:
        self.memory_budget = memory_budget

    def search(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        alpha: float,
        layout: PatchLayout,
        valid_keys: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return nearest(queries, keys, alpha, valid_keys, self.memory_budget)[0]
