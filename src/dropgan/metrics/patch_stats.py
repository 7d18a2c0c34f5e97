"""Patch statistics of an output against its source: coherence and completeness.

Coherence is the mean, over output patches, of the mean squared error to the nearest source
patch (no new artefacts); completeness is the same with the roles swapped (nothing lost).
Both are 0 for an output identical to its source and grow as the two patch sets part.

Two ways to find the nearest patches:

- ``search="exact"``: exhaustive search over a fixed random subset of ``max_queries`` query
  patches (all of them with ``max_queries=None``). About 6 s per direction for 10 000 queries
  against the 39 000 patches of a 250 x 167 image on one core.
- ``search="patchmatch"``: PatchMatch (:func:`dropgan.search.patchmatch.patchmatch`, 16
  iterations from a random field) over *every* query patch, whose distances can only be
  too large, corrected by an exact search of :data:`CHECK_QUERIES` random query patches: the
  mean is ``mean(d_pm) - mean_S(d_pm - d_exact)`` over the checked subset ``S``, a difference
  estimator that is unbiased whatever PatchMatch misses and has a small spread because
  PatchMatch finds the exact match of most patches. About 1 s per direction.

Measured on SIGD16 #1, #5 and #9 (250 px) with one GPNN sample each, against exhaustive
search over all patches, on one core (``benchmarks/bench_batch.py`` repeats it): PatchMatch
alone is 4 % (coherence) and 7-11 % (completeness) too high; corrected, 95 % of the estimates
(over 400 draws of the checked patches) are within 4-7 % (coherence, whose mean is dominated
by a few seam patches) and 3-4 % (completeness) of the exact value, as close as the exact
search of 10 000 sampled patches (4-9 % and 3-4 %) at a third of its processor time
(``dropgan eval`` of one pair with every metric: 2.2 s against 7.8 s).
"""

from __future__ import annotations

import math

import torch

from ..errors import InputError
from ..patches import extract_patches
from ..search.base import PatchLayout
from ..search.exact import nearest
from ..search.patchmatch import patchmatch

__all__ = [
    "CHECK_QUERIES",
    "PATCHMATCH_ITERS",
    "SEARCHES",
    "coherence",
    "completeness",
    "mean_nn_distance",
    "nn_distances",
]

SEARCHES = ("exact", "patchmatch")
#: PatchMatch iterations from a random field: at 8 a few seam patches of a GPNN sample keep
#: matches 2-12 times too far (jump flooding starts at a step of 16 positions and has not
#: reached them); from 12 on the bias is below 6 % (measured, see the module notes).
PATCHMATCH_ITERS = 16
#: Query patches searched exactly to correct the PatchMatch mean (about 0.5 s against a
#: 250 px image on one core).
CHECK_QUERIES = 500
# Below this many query-key pairs exact search is about as fast as PatchMatch: no estimate.
_EXACT_BELOW = 1 << 22


def _check(search: str) -> None:
    if search not in SEARCHES:
        raise InputError(f"unknown search {search!r} (choose from {', '.join(SEARCHES)})")


def _patches(image: torch.Tensor, patch_size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """The patches of a ``(3, H, W)`` image as ``(n, d)`` rows, and their grid."""
    h, w = image.shape[-2] - patch_size + 1, image.shape[-1] - patch_size + 1
    return extract_patches(image[None], patch_size)[0].contiguous(), (h, w)


def _subset(n: int, count: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)[:count]


def _uses_patchmatch(search: str, queries: int, keys: int) -> bool:
    """Whether PatchMatch runs: asked for, and the problem is large enough to need it."""
    return search == "patchmatch" and queries * keys > _EXACT_BELOW and queries > CHECK_QUERIES


def _distances(
    q: torch.Tensor,
    k: torch.Tensor,
    layout: PatchLayout,
    search: str,
    max_queries: int | None,
    seed: int,
) -> torch.Tensor:
    if _uses_patchmatch(search, q.shape[0], k.shape[0]):
        g = torch.Generator(q.device).manual_seed(seed)
        return patchmatch(q, k, math.inf, layout, iters=PATCHMATCH_ITERS, generator=g)[1]
    if search == "exact" and max_queries is not None and q.shape[0] > max_queries:
        q = q[_subset(q.shape[0], max_queries, seed).to(q.device)]
    return nearest(q, k)[1]


def nn_distances(
    queries_image: torch.Tensor,
    keys_image: torch.Tensor,
    patch_size: int = 7,
    max_queries: int | None = None,
    seed: int = 0,
    search: str = "exact",
) -> torch.Tensor:
    """Mean squared error from every ``p x p`` patch of ``queries_image`` to its nearest patch
    of ``keys_image`` (both ``(3, H, W)``).

    With ``search="exact"``, ``max_queries`` evaluates a fixed random subset of the query
    patches instead of all of them, for large images; ``seed`` picks the subset. With
    ``search="patchmatch"`` every query patch gets the distance of the match PatchMatch
    found (never below the exact one; see the module notes), and ``max_queries`` is not used;
    small problems are searched exactly.

    Examples
    --------
    >>> x = torch.rand(3, 12, 12)
    >>> float(nn_distances(x, x).max()) < 1e-6
    True
    """
    _check(search)
    q, q_grid = _patches(queries_image, patch_size)
    k, k_grid = _patches(keys_image, patch_size)
    return _distances(q, k, PatchLayout(q_grid, (k_grid,)), search, max_queries, seed)


def mean_nn_distance(
    queries_image: torch.Tensor,
    keys_image: torch.Tensor,
    patch_size: int = 7,
    *,
    search: str = "exact",
    max_queries: int | None = None,
    seed: int = 0,
) -> tuple[float, torch.Tensor]:
    """The mean of :func:`nn_distances`, and the distances themselves.

    With ``search="patchmatch"`` the mean is the corrected estimate of the module notes: the
    PatchMatch mean less its error measured on :data:`CHECK_QUERIES` patches searched
    exactly (never below 0); the distances returned are PatchMatch's.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.rand(3, 64, 64, generator=g)
    >>> y = torch.cat([x[:, :, 32:], x[:, :, :32]], 2)  # the halves swapped
    >>> exact, _ = mean_nn_distance(y, x)
    >>> approx, d = mean_nn_distance(y, x, search="patchmatch")
    >>> abs(approx - exact) < 0.1 * exact, d.shape
    (True, torch.Size([3364]))
    """
    _check(search)
    q, q_grid = _patches(queries_image, patch_size)
    k, k_grid = _patches(keys_image, patch_size)
    d = _distances(q, k, PatchLayout(q_grid, (k_grid,)), search, max_queries, seed)
    if not _uses_patchmatch(search, q.shape[0], k.shape[0]):
        return float(d.mean()), d
    rows = _subset(q.shape[0], CHECK_QUERIES, seed + 1).to(q.device)
    error = float((d[rows] - nearest(q[rows], k)[1]).mean())
    return max(float(d.mean()) - error, 0.0), d


def coherence(
    output: torch.Tensor,
    source: torch.Tensor,
    patch_size: int = 7,
    max_queries: int | None = None,
    search: str = "exact",
) -> float:
    """Mean over the output's patches of the MSE to their nearest source patch.

    ``search`` and ``max_queries`` as for :func:`mean_nn_distance`.

    Examples
    --------
    >>> x = torch.rand(3, 10, 10)
    >>> round(coherence(x, x), 6), round(coherence(x, x, search="patchmatch"), 6)
    (0.0, 0.0)
    """
    return mean_nn_distance(output, source, patch_size, search=search, max_queries=max_queries)[0]


def completeness(
    output: torch.Tensor,
    source: torch.Tensor,
    patch_size: int = 7,
    max_queries: int | None = None,
    search: str = "exact",
) -> float:
    """Mean over the source's patches of the MSE to their nearest output patch.

    ``search`` and ``max_queries`` as for :func:`mean_nn_distance`.

    Examples
    --------
    >>> x = torch.rand(3, 10, 10)
    >>> round(completeness(x, x), 6)
    0.0
    """
    return mean_nn_distance(source, output, patch_size, search=search, max_queries=max_queries)[0]
