"""Approximate nearest-neighbour search by PatchMatch (Barnes et al. 2009), vectorised in torch.

A *field* gives every query patch the index of a key patch. From an initial field (random,
or the previous search's field), every iteration improves it in two rounds:

1. *propagation*: every query tries the matches of its four grid neighbours, shifted by one
   patch (the key beside the neighbour's key, on the side where the query is beside the
   neighbour). All queries move at once, so a good match spreads one position per iteration
   in every direction;
2. *random search*: every query tries keys drawn uniformly in windows of half-width
   ``radius``, ``radius / 2``, ... down to 1 key position around its current match, in the
   match's own key grid; the widest window, by default, is the whole set of valid keys.

A query keeps a candidate only if its score is strictly lower, so the energy (the sum of the
scores of the chosen matches) never increases, and an exact field is returned unchanged.
Candidates come only from valid keys, and never cross the border of a key grid.

Cheap candidates. Gathering a candidate's 147 values dominates the cost. Every candidate is
first ranked by a lower bound of its distance: the squared distance between the patches
projected onto the ``rank`` leading principal directions of the keys (an orthonormal
projection never lengthens a vector, so the bound never exceeds the true distance). Only each
query's best-ranked candidate is evaluated exactly, and only when its bound beats the query's
current score. With ``rank = 16`` a candidate costs about a tenth of an exact evaluation.

Key-side minima. For a finite ``alpha`` the score ``D[i, j] / (alpha + min_l D[l, j])``
needs, for every key, its distance to the nearest query of the same sample. These minima are
estimated by a *reverse* field, searched by the same PatchMatch with the roles swapped (the
keys are the queries, plain MSE), and tightened by the distances of the initial forward field
(key ``j`` matched by query ``i`` has a minimum of at most ``D[i, j]``). Both are upper bounds
of the true minima, so an estimate can only overstate how poorly a key is covered, which
favours it slightly. The minima stay fixed during the forward search, so its energy is well
defined.

Warm starts. :class:`PatchMatchSearch` keeps the forward and reverse fields between calls: the
same grids reuse them, grown grids (the next pyramid level) upscale them, positions and match
offsets scaled by the grids' ratio (:func:`resample_field`). Small problems are solved exactly.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence

import torch

from .base import NearestNeighbourSearch, PatchLayout
from .exact import nearest

__all__ = [
    "PatchMatchSearch",
    "estimate_key_minima",
    "patchmatch",
    "principal_basis",
    "random_field",
    "resample_field",
]

Shapes = Sequence[tuple[int, int]]

# neighbour directions (dy, dx): right, left, down, up
STATS = []
_DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))
# rows of the key sample that fixes the principal directions: plenty for a 147 x 147 covariance
_BASIS_ROWS = 16384


class _Grids:
    """Row-major grids laid end to end: where every element sits, and its neighbours."""

    def __init__(self, shapes: Shapes, device: torch.device) -> None:
        self.shapes = tuple((int(h), int(w)) for h, w in shapes)
        sizes = torch.tensor([h * w for h, w in self.shapes], device=device)
        self._heights = torch.tensor([h for h, _ in self.shapes], device=device)
        self._widths = torch.tensor([w for _, w in self.shapes], device=device)
        self._starts = torch.cumsum(sizes, 0) - sizes
        self.grid = torch.repeat_interleave(torch.arange(len(self.shapes), device=device), sizes)
        local = torch.arange(self.grid.numel(), device=device) - self._starts[self.grid]
        width = self._widths[self.grid]
        self.y, self.x = local // width, local % width
        # neighbours[k][i]: the element one step from i in direction k, or -1 past the border
        self.neighbours = [
            self.index(self.grid, self.y + dy, self.x + dx) for dy, dx in _DIRECTIONS
        ]

    def __len__(self) -> int:
        return self.grid.numel()

    def index(self, grid: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Element at (y, x) of each ``grid``, or -1 where that is outside the grid."""
        h, w = self._heights[grid], self._widths[grid]
        inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        return torch.where(inside, self._starts[grid] + y * w + x, -1)

    def clamped_index(self, grid: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Element at (y, x) of each ``grid``, coordinates clamped into the grid."""
        h, w = self._heights[grid], self._widths[grid]
        y = torch.minimum(y.clamp(min=0), h - 1)
        x = torch.minimum(x.clamp(min=0), w - 1)
        return self._starts[grid] + y * w + x


class _Side:
    """One side of a search: the patches, their projection, their grids and which are valid."""

    def __init__(
        self,
        patches: torch.Tensor,
        basis: torch.Tensor,
        grids: _Grids,
        valid: torch.Tensor | None = None,
    ) -> None:
        if len(grids) != patches.shape[0]:
            raise ValueError(f"grids {grids.shapes} do not hold {patches.shape[0]} patches")
        self.patches = patches
        self.basis = basis
        self.projected = _embed(patches, basis)
        self.grids = grids
        self.valid = valid
        if valid is not None and not valid.any():
            raise ValueError("no valid key patches to search")
        # shifted[k][j]: the valid element one step from j in direction k, or -1
        self.shifted = grids.neighbours
        if valid is not None:
            self.shifted = [torch.where(valid[nb.clamp(min=0)], nb, -1) for nb in self.shifted]


def principal_basis(keys: torch.Tensor, rank: int) -> torch.Tensor:
    """Orthonormal ``(d, r)`` basis of the ``rank`` leading principal directions of ``keys``.

    Projecting two patches onto it never lengthens their difference, so projected distances
    are lower bounds of the true ones. With ``rank >= d`` it is the identity.

    Examples
    --------
    >>> k = torch.rand(500, 12)
    >>> b = principal_basis(k, 4)
    >>> b.shape, torch.allclose(b.T @ b, torch.eye(4), atol=1e-5)
    (torch.Size([12, 4]), True)
    """
    d = keys.shape[1]
    if rank >= d:
        return torch.eye(d, dtype=keys.dtype, device=keys.device)
    # an evenly strided sample, so the basis is deterministic and cheap
    sample = keys[:: max(1, keys.shape[0] // _BASIS_ROWS)].double()
    sample = sample - sample.mean(0)
    _, vectors = torch.linalg.eigh(sample.T @ sample)
    return vectors[:, -rank:].flip(1).to(keys.dtype).contiguous()


def _embed(patches: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Coordinates on ``basis`` plus the length of the rest: distances between embeddings never
    exceed the true ones, since |q - k|^2 = |P(q - k)|^2 + |R(q - k)|^2 >= |Pq - Pk|^2 +
    (|Rq| - |Rk|)^2 for the projection P and its orthogonal complement R."""
    proj = patches @ basis
    rest = (torch.linalg.vecdot(patches, patches) - torch.linalg.vecdot(proj, proj)).clamp(min=0)
    return torch.cat([proj, rest.sqrt()[:, None]], 1)


def _pair_mse(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Mean squared error between corresponding rows."""
    diff = q - k
    return torch.linalg.vecdot(diff, diff) / q.shape[1]


def _scores(
    q: torch.Tensor, k: torch.Tensor, field: torch.Tensor, denom: torch.Tensor | None, chunk: int
) -> torch.Tensor:
    """Score of every query's match in ``field``, in chunks of queries."""
    out = torch.empty(field.shape, dtype=q.dtype, device=q.device)
    for s in range(0, field.numel(), chunk):
        j = field[s : s + chunk]
        out[s : s + chunk] = _pair_mse(q[s : s + chunk], k.index_select(0, j))
    return out if denom is None else out / denom[field]


def _improve(
    queries: _Side,
    keys: _Side,
    denom: torch.Tensor | None,
    field: torch.Tensor,
    score: torch.Tensor,
    candidates: torch.Tensor,
    chunk: int,
) -> None:
    """Give every query its best candidate (``(n, c)`` key indices, -1 for none) if that
    scores strictly lower than its current match; updates ``field`` and ``score`` in place."""
    n, c = candidates.shape
    d = queries.patches.shape[1]
    for s in range(0, n, chunk):
        cand = candidates[s : s + chunk]
        rows = cand.shape[0]
        usable = (cand >= 0) & (cand != field[s : s + chunk, None])
        cand = cand.clamp(min=0)
        diff = keys.projected.index_select(0, cand.flatten()).view(rows, c, -1)
        diff = diff - queries.projected[s : s + chunk, None]
        bound = torch.linalg.vecdot(diff, diff) / d
        if denom is not None:
            bound = bound / denom[cand]
        bound.masked_fill_(~usable, math.inf)
        low, arg = bound.min(1)
        current = score[s : s + chunk]
        # the slack covers rounding in the bound: it must never hide a better candidate
        todo = (low < current * (1 + 1e-4)).nonzero().flatten()
        if todo.numel() == 0:
            continue
        j = cand[todo, arg[todo]]
        exact = _pair_mse(queries.patches[todo + s], keys.patches.index_select(0, j))
        if denom is not None:
            exact = exact / denom[j]
        better = exact < current[todo]
        STATS.append((c, rows, todo.numel(), int(better.sum())))
        todo, j = todo[better] + s, j[better]
        field[todo] = j
        score[todo] = exact[better]


def random_field(
    n: int,
    m: int,
    valid_keys: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``n`` key indices drawn uniformly among the ``m`` keys (only valid ones, if given).

    Examples
    --------
    >>> f = random_field(5, 3, torch.tensor([False, True, True]), torch.Generator().manual_seed(0))
    >>> bool((f >= 1).all())
    True
    """
    if valid_keys is None:
        return torch.randint(0, m, (n,), generator=generator, device=device)
    ids = valid_keys.nonzero().flatten()
    return ids[torch.randint(0, ids.numel(), (n,), generator=generator, device=ids.device)]


def _propagation_candidates(queries: _Side, keys: _Side, field: torch.Tensor) -> torch.Tensor:
    cands = []
    for k in range(len(_DIRECTIONS)):
        # the neighbour on the opposite side (direction k ^ 1) lends its match, shifted by k
        src = queries.grids.neighbours[k ^ 1]
        shifted = keys.shifted[k][field[src.clamp(min=0)]]
        cands.append(torch.where(src >= 0, shifted, -1))
    return torch.stack(cands, 1)


def _random_candidates(
    keys: _Side, field: torch.Tensor, radii: Sequence[int], generator: torch.Generator | None
) -> torch.Tensor:
    n, g, device = field.numel(), keys.grids, field.device
    grid, y, x = g.grid[field], g.y[field], g.x[field]
    cands = []
    for r in radii:
        if r == 0:  # anywhere among the valid keys, in any grid
            cands.append(random_field(n, len(g), keys.valid, generator, device))
            continue
        dy = torch.randint(-r, r + 1, (n,), generator=generator, device=device)
        dx = torch.randint(-r, r + 1, (n,), generator=generator, device=device)
        j = g.clamped_index(grid, y + dy, x + dx)
        cands.append(j if keys.valid is None else torch.where(keys.valid[j], j, -1))
    return torch.stack(cands, 1)


def _radii(shapes: Shapes, radius: int | None, samples: int | None) -> list[int]:
    """Half-widths of the random-search windows, widest first; 0 stands for all valid keys."""
    if radius is None:
        radii, r = [0], max(max(s) for s in shapes) // 2
    else:
        radii, r = [], radius
    while r >= 1:
        radii.append(r)
        r //= 2
    return radii if samples is None else radii[:samples]


def _search(
    queries: _Side,
    keys: _Side,
    denom: torch.Tensor | None,
    init: torch.Tensor,
    iters: int,
    radii: Sequence[int],
    generator: torch.Generator | None,
    chunk: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PatchMatch iterations from ``init``; returns the field and its scores."""
    field = init.clone()
    score = _scores(queries.patches, keys.patches, field, denom, chunk)
    for _ in range(iters):
        cands = _propagation_candidates(queries, keys, field)
        _improve(queries, keys, denom, field, score, cands, chunk)
        if radii:
            cands = _random_candidates(keys, field, radii, generator)
            _improve(queries, keys, denom, field, score, cands, chunk)
    return field, score


def _minima(
    queries: _Side,
    keys: _Side,
    field: torch.Tensor,
    reverse_init: torch.Tensor,
    iters: int,
    radii: Sequence[int],
    generator: torch.Generator | None,
    chunk: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Upper bounds of the key-side minima from a reverse search and the forward ``field``."""
    reverse, minima = _search(keys, queries, None, reverse_init, iters, radii, generator, chunk)
    forward = _scores(queries.patches, keys.patches, field, None, chunk)
    return minima.scatter_reduce_(0, field, forward, "amin"), reverse


def resample_field(
    field: torch.Tensor,
    old_queries: Shapes,
    new_queries: Shapes,
    old_keys: Shapes,
    new_keys: Shapes,
) -> torch.Tensor:
    """Carry a field over to resized grids (the next pyramid level), for a warm start.

    Every new query takes the match of the old query at its scaled position, moved to the
    scaled position in the new key grid plus the query's rounding offset, so coherent regions
    stay coherent. Grids are scaled corner to corner; matches are clamped into their grid.

    Parameters
    ----------
    field : Tensor, (..., n_old) int64
        Key index of every query of the old grids.
    old_queries, new_queries : sequence of (h, w)
        The query grids before and after, in the same order and number.
    old_keys, new_keys : sequence of (h, w)
        The key grids before and after, in the same order and number.

    Returns
    -------
    Tensor, (..., n_new) int64

    Examples
    --------
    >>> f = torch.arange(9)  # the identity on a 3 x 3 grid
    >>> resample_field(f, [(3, 3)], [(5, 5)], [(3, 3)], [(5, 5)]).view(5, 5)[2]
    tensor([10, 11, 12, 13, 14])
    """
    if len(old_queries) != len(new_queries) or len(old_keys) != len(new_keys):
        raise ValueError("resampling a field needs the same number of grids before and after")
    device = field.device
    oq, nq = _Grids(old_queries, device), _Grids(new_queries, device)
    ok, nk = _Grids(old_keys, device), _Grids(new_keys, device)

    def ratio(new: Shapes, old: Shapes, axis: int) -> torch.Tensor:
        r = [(n[axis] - 1) / max(o[axis] - 1, 1) for n, o in zip(new, old, strict=True)]
        return torch.tensor(r, dtype=torch.float64, device=device)

    g = nq.grid
    ry, rx = ratio(new_queries, old_queries, 0)[g], ratio(new_queries, old_queries, 1)[g]
    oy = (nq.y / ry.clamp(min=1e-9)).round().long()
    ox = (nq.x / rx.clamp(min=1e-9)).round().long()
    src = oq.clamped_index(g, oy, ox)
    match = field[..., src]
    kg = ok.grid[match]
    ky = ok.y[match] * ratio(new_keys, old_keys, 0)[kg] + (nq.y - oy * ry)
    kx = ok.x[match] * ratio(new_keys, old_keys, 1)[kg] + (nq.x - ox * rx)
    return nk.clamped_index(kg, ky.round().long(), kx.round().long())


def _check_layout(queries: torch.Tensor, keys: torch.Tensor, layout: PatchLayout) -> None:
    h, w = layout.query_shape
    if queries.shape[-2] != h * w:
        raise ValueError(f"query grid {h}x{w} does not hold {queries.shape[-2]} patches")
    if keys.shape[0] != sum(a * b for a, b in layout.key_shapes):
        raise ValueError(f"key grids {layout.key_shapes} do not hold {keys.shape[0]} patches")


def patchmatch(
    queries: torch.Tensor,
    keys: torch.Tensor,
    alpha: float,
    layout: PatchLayout,
    init: torch.Tensor | None = None,
    *,
    iters: int = 4,
    radius: int | None = None,
    samples: int | None = None,
    rank: int = 16,
    valid_keys: torch.Tensor | None = None,
    key_minima: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    chunk: int = 4096,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Approximate best key for every query under GPNN's normalised score, by PatchMatch.

    Parameters
    ----------
    queries : Tensor, (n, d) or (B, n, d)
        Query patches, the row-major grid ``layout.query_shape`` of each sample.
    keys : Tensor, (m, d)
        Key patches, the row-major grids ``layout.key_shapes`` laid end to end.
    alpha : float
        ``math.inf`` for plain mean squared error.
    layout : PatchLayout
    init : Tensor, (n,) or (B, n) int64, optional
        The starting field; drawn uniformly among the valid keys if not given. Entries that
        point at invalid keys are not allowed.
    iters : int
        Iterations of propagation and random search.
    radius : int, optional
        Half-width, in key positions, of the widest random-search window after the first;
        by default the first window is all the valid keys and the next half the longest side
        of the key grids.
    samples : int, optional
        Random-search windows per iteration (the widest first); by default all, down to 1.
    rank : int
        Principal directions of the keys used to rank candidates (see the module notes).
    valid_keys : Tensor, (m,) bool, optional
        Keys that may be chosen.
    key_minima : Tensor, (m,) or (B, m), optional
        ``min_l D[l, j]`` for finite alpha; estimated by a reverse search if not given.
    generator : torch.Generator, optional
        Source of the random draws, for reproducible results.
    chunk : int
        Queries processed together; bounds the temporary memory.

    Returns
    -------
    indices : Tensor, (n,) or (B, n) int64
    scores : Tensor, same shape, float
        The score of each chosen key under the minima used.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.rand(1, 3, 12, 14, generator=g)
    >>> p = torch.nn.functional.unfold(x, 3)[0].T  # 10 x 12 grid of 27-value patches
    >>> lay = PatchLayout((10, 12), ((10, 12),))
    >>> idx, _ = patchmatch(p, p, math.inf, lay, iters=8, generator=g)
    >>> bool((idx == torch.arange(120)).all())  # every patch finds itself
    True
    """
    batched = queries.ndim == 3
    qs = queries if batched else queries[None]
    _check_layout(qs, keys, layout)
    basis = principal_basis(keys, rank)
    key_side = _Side(keys, basis, _Grids(layout.key_shapes, keys.device), valid_keys)
    query_grids = _Grids([layout.query_shape], keys.device)
    radii = _radii(layout.key_shapes, radius, samples)
    out = []
    for b, q in enumerate(qs):
        q_side = _Side(q, basis, query_grids)
        if init is None:
            start = random_field(q.shape[0], keys.shape[0], valid_keys, generator, q.device)
        else:
            start = (init if batched else init[None])[b]
        denom = None
        if not math.isinf(alpha):
            if key_minima is None:
                rev = random_field(keys.shape[0], q.shape[0], None, generator, q.device)
                minima = _minima(q_side, key_side, start, rev, iters, radii, generator, chunk)[0]
            else:
                minima = key_minima if key_minima.ndim == 1 else key_minima[b]
            denom = alpha + minima
        out.append(_search(q_side, key_side, denom, start, iters, radii, generator, chunk))
    idx, score = torch.stack([o[0] for o in out]), torch.stack([o[1] for o in out])
    return (idx, score) if batched else (idx[0], score[0])


def estimate_key_minima(
    queries: torch.Tensor,
    keys: torch.Tensor,
    layout: PatchLayout,
    field: torch.Tensor,
    reverse_init: torch.Tensor | None = None,
    *,
    iters: int = 4,
    radius: int | None = None,
    samples: int | None = None,
    rank: int = 16,
    generator: torch.Generator | None = None,
    chunk: int = 4096,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Upper bounds of ``min_l D[l, j]`` for every key ``j``, by a reverse PatchMatch (keys as
    queries) tightened by the distances of the forward ``field``.

    Parameters
    ----------
    queries : Tensor, (n, d)
        The query patches of one sample.
    keys : Tensor, (m, d)
    layout : PatchLayout
    field : Tensor, (n,) int64
        A forward field (a key for every query).
    reverse_init : Tensor, (m,) int64, optional
        Starting reverse field (a query for every key); random if not given.
    iters, radius, samples, rank, generator, chunk
        As for :func:`patchmatch`, for the reverse search.

    Returns
    -------
    minima : Tensor, (m,)
    reverse : Tensor, (m,) int64
        The reverse field, a warm start for the next estimate.

    Examples
    --------
    >>> q = torch.rand(5, 3); k = torch.cat([q, q + 1])
    >>> lay = PatchLayout((1, 5), ((2, 5),))
    >>> m, _ = estimate_key_minima(q, k, lay, torch.arange(5), generator=torch.Generator())
    >>> bool((m[:5] == 0).all()), bool((m[5:] > 0).all())
    (True, True)
    """
    _check_layout(queries[None], keys, layout)
    basis = principal_basis(keys, rank)
    key_side = _Side(keys, basis, _Grids(layout.key_shapes, keys.device))
    q_side = _Side(queries, basis, _Grids([layout.query_shape], keys.device))
    if reverse_init is None:
        reverse_init = random_field(keys.shape[0], queries.shape[0], None, generator, keys.device)
    radii = _radii([layout.query_shape], radius, samples)
    return _minima(q_side, key_side, field, reverse_init, iters, radii, generator, chunk)


class PatchMatchSearch(NearestNeighbourSearch):
    """Approximate search by PatchMatch, warm-started from the previous call (see the module
    notes and :func:`patchmatch`).

    One instance serves one synthesis run: it keeps the last field (and, for finite alpha,
    the reverse field) and starts the next call from it, reused on the same grids and
    upscaled on grown ones. Key-side preparation is cached while the same ``keys`` tensor
    comes back, and shared by the samples of a batch.

    Parameters
    ----------
    iters : int
        Iterations per call from a warm start.
    cold_iters : int
        Iterations per call from a random start.
    radius, samples, rank, chunk
        As for :func:`patchmatch`.
    exact_below : int
        Problems of at most this many query-key pairs per sample are solved exactly: below
        it the exact search is about as fast, and it gives warm starts a perfect field.
    seed : int
        Seed of the random draws; the same seed and inputs give the same results.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> k = torch.nn.functional.unfold(torch.rand(1, 3, 20, 20, generator=g), 5)[0].T
    >>> s = PatchMatchSearch(exact_below=0)
    >>> idx = s.search(k[None], k, math.inf, PatchLayout((16, 16), ((16, 16),)))
    >>> bool((idx[0] == torch.arange(256)).all())
    True
    """

    name = "patchmatch"

    def __init__(
        self,
        iters: int = 2,
        cold_iters: int = 8,
        radius: int | None = None,
        samples: int | None = None,
        rank: int = 16,
        exact_below: int = 1 << 22,
        seed: int = 0,
        chunk: int = 4096,
    ) -> None:
        if iters < 0 or cold_iters < 0:
            raise ValueError("iterations must be non-negative")
        self.iters, self.cold_iters = iters, cold_iters
        self.radius, self.samples, self.rank = radius, samples, rank
        self.exact_below, self.seed, self.chunk = exact_below, seed, chunk
        self._generator: torch.Generator | None = None
        self._layout: PatchLayout | None = None
        self._field: torch.Tensor | None = None
        self._reverse: torch.Tensor | None = None
        self._keys: tuple | None = None  # (weak reference, version, key shapes, valid, side)

    def _key_side(
        self, keys: torch.Tensor, layout: PatchLayout, valid: torch.Tensor | None
    ) -> _Side:
        if self._keys is not None:
            ref, version, shapes, old_valid, side = self._keys
            same_valid = (valid is None and old_valid is None) or (
                valid is not None and old_valid is not None and torch.equal(valid, old_valid)
            )
            same_keys = ref() is keys and version == keys._version
            if same_keys and same_valid and shapes == layout.key_shapes:
                return side
        basis = principal_basis(keys, self.rank)
        side = _Side(keys, basis, _Grids(layout.key_shapes, keys.device), valid)
        # a weak reference: the cache must not keep a finished level's keys alive
        self._keys = (weakref.ref(keys), keys._version, layout.key_shapes, valid, side)
        return side

    def _carry(
        self, field: torch.Tensor | None, old: Shapes, new: Shapes, old_k: Shapes, new_k: Shapes
    ) -> torch.Tensor | None:
        """The stored field on the new grids, or None if it cannot be carried over."""
        if field is None or len(old) != len(new) or len(old_k) != len(new_k):
            return None
        if tuple(old) == tuple(new) and tuple(old_k) == tuple(new_k):
            return field
        return resample_field(field, old, new, old_k, new_k)

    def search(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        alpha: float,
        layout: PatchLayout,
        valid_keys: torch.Tensor | None = None,
    ) -> torch.Tensor:
        _check_layout(queries, keys, layout)
        batch, n, _ = queries.shape
        m = keys.shape[0]
        if self._generator is None or self._generator.device != queries.device:
            self._generator = torch.Generator(queries.device).manual_seed(self.seed)
        old = self._layout
        warm = reverse = None
        if old is not None and self._field is not None and self._field.shape[0] == batch:
            q_old, q_new = [old.query_shape], [layout.query_shape]
            warm = self._carry(self._field, q_old, q_new, old.key_shapes, layout.key_shapes)
            reverse = self._carry(self._reverse, old.key_shapes, layout.key_shapes, q_old, q_new)
        self._layout = layout
        if n * m <= self.exact_below:
            self._field = nearest(queries, keys, alpha, valid_keys)[0]
            self._reverse = None
            return self._field

        key_side = self._key_side(keys, layout, valid_keys)
        query_grids = _Grids([layout.query_shape], queries.device)
        radii = _radii(layout.key_shapes, self.radius, self.samples)
        gen, chunk = self._generator, self.chunk
        q_radii = _radii([layout.query_shape], self.radius, self.samples)
        gen, chunk, device = self._generator, self.chunk, queries.device
        fields, reverses = [], []
        for b in range(batch):
            q_side = _Side(queries[b], key_side.basis, query_grids)
            if warm is None:
                start, iters = random_field(n, m, valid_keys, gen, device), self.cold_iters
            else:
                start, iters = warm[b], self.iters
                if valid_keys is not None:  # the mask may differ from the last call's
                    bad = ~valid_keys[start]
                    if bad.any():
                        start = torch.where(bad, random_field(n, m, valid_keys, gen, device), start)
            denom = None
            if not math.isinf(alpha):
                if reverse is None:
                    rev, rev_iters = random_field(m, n, None, gen, device), self.cold_iters
                else:
                    rev, rev_iters = reverse[b], self.iters
                minima, rev = _minima(q_side, key_side, start, rev, rev_iters, q_radii, gen, chunk)
                reverses.append(rev)
                denom = alpha + minima
            fields.append(_search(q_side, key_side, denom, start, iters, radii, gen, chunk)[0])
        self._field = torch.stack(fields)
        self._reverse = torch.stack(reverses) if reverses else None
        return self._field
