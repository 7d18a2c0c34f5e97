"""Approximate nearest-neighbour search by PatchMatch (Barnes et al. 2009), vectorised in torch.

A *field* gives every query patch the index of a key patch. From an initial field (random,
or the previous search's field), every iteration improves it in two rounds:

1. *propagation*: every query tries the matches of its four grid neighbours, each moved by
   one position towards it (the key beside the neighbour's key). All queries move at once,
   so a good match spreads one position per iteration in every direction. From a random
   start the first steps are long (jump flooding: neighbours 2^k positions away, halving
   every iteration), so that a few lucky matches cover the grid in a few iterations;
2. *random search*: every query tries ``samples`` keys drawn among all the valid keys (the
   exploration that finds the far matches) and one key in each window of half-width
   ``radius``, ``radius / 2``, ... 1 around its current match, in the match's own key grid
   (the refinement that fixes matches off by a few positions).

A query keeps a candidate only if its score is strictly lower, so the energy (the sum of the
scores of the chosen matches) never increases and an exact field is returned unchanged.
Candidates come only from valid keys and never cross the border of a key grid, so several
key grids (a collage) and masks need nothing else. With ``alpha = inf``, queries whose
distance is already below ``tol`` are left alone: in a converged PNN step half of the
queries are exact copies, and skipping them halves the work.

Cheap candidates. Every candidate is first ranked by a lower bound of its distance, from a
17-value embedding of each patch: its coordinates on the ``rank = 16`` leading principal
directions of the keys, plus the length of the rest (an orthonormal projection never
lengthens a vector, and |q - k|^2 >= |Pq - Pk|^2 + (|Rq| - |Rk|)^2 for the projection P and
its complement R). Only each query's best-ranked candidate is evaluated exactly, and only if
its bound beats the query's current score. Measured on one core at 780 000 patches, a bound
costs about 30 ns; an exact distance from rows gathered from the contiguous ``(m, d)`` key
matrix 270-390 ns (coherent-random candidates), from the transposed view that unfold gives
up to 1.9 us for the gather alone (hence a contiguous copy of keys that are not), and from
the key image, by 49 shifted pixel gathers per patch, 670-1450 ns.

Key-side minima. For a finite ``alpha`` the score ``D[i, j] / (alpha + min_l D[l, j])``
needs, for every key, its distance to the nearest query of the same sample. They are
estimated by a *reverse* field, searched by the same PatchMatch with the roles swapped (the
keys are the queries, plain MSE) and warm-started like the forward one, then tightened by
the distances of the initial forward field (key ``j`` matched by query ``i`` has a minimum of
at most ``D[i, j]``). Both are upper bounds of the true minima. The minima stay fixed during
the forward search, so its energy is well defined. Measured on a GPNN retargeting (alpha =
5e-3, SIGD16 #1 at 125 px, 1.5x wider), exact minima instead of the estimate changed
nothing beyond noise: energy 1.030 vs 1.027 times the exact search's (under exact minima),
coherence +7 % vs +4 %, completeness +10 % vs +14 % against the exact backend.

Warm starts. :class:`PatchMatchSearch` keeps the forward and reverse fields between calls:
the same grids reuse them; grown grids (the next pyramid level) get them resampled as the
images are (:func:`resample_field`), which puts about 90 % of the queries exactly on their
exact match (45 % when the grids are scaled corner to corner, ignoring the patch size).
Problems below ``exact_below`` query-key pairs are solved exactly.

Settled queries. With ``alpha = inf``, a query that the last call already searched against
the same keys on the same grids (recognised by its embedding, bitwise) keeps its match and
is not searched again: in the later PNN steps of a level most of the output no longer
changes, and searching such a query again changed its match for 0.1 % of them (measured on
SIGD16 #3, both key schemes). This matters most for GPNN's blurred keys
(``keys="blurred"``), whose queries, sharp after the first step, never come within ``tol``
of a blurry key: on the 16 SIGD16 images a sample took 3.43 s of one core without it and
2.72 s with it (sharp keys: 2.82 and 2.59 s; ``benchmarks/bench_keys.py --speed``, on the
shared, busy development machine), for 0.3 % more matching energy (1.032 against 1.028
times the exact search's, blurred keys, SIGD16 #3 and #10).

Measured on one core of the 2-core development machine, in a GPNN generation of SIGD16 #1
(244 x 161 = 39 284 query and key patches at the finest level): a PNN step there takes
51 ms (144 ms for the first step of a level) against 10.9 s for the exact search, and the
distances of the chosen matches sum to 1.001 times the exact ones (256 queries per step
searched both ways). A harder case is a step whose queries the warm start has never seen
(replaying the exact search's trajectory): 1.22 times the exact energy in 62 ms. On that
step faiss 1.15 (one core) reaches 1.018 times with an IVF index (256 lists, 4 probes) in
0.65 s plus 0.43 s to build the index for every key tensor, and 1.42 times with HNSW (M 16,
ef 64) in 1.26 s plus 1.5 s: ten to twenty times slower per step, without the normalised
score or masks, for an energy gain that the warm-started search does not need.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..patches import PatchTable
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
    """One side of a search: the patches, their projection, their grids and which are valid.

    The patches of a side whose rows are gathered at random (keys) are made contiguous: in a
    transposed view, as unfold gives, a row touches d cache lines and a random gather is
    about ten times slower. The other side's rows may stay where they are: a view, or a
    :class:`~dropgan.patches.PatchTable` that reads them from the images (about 0.75 us per
    random row against 2.8 us from unfold's view, and no ``(n, d)`` matrix in memory).
    """

    def __init__(
        self,
        patches: torch.Tensor | PatchTable,
        basis: torch.Tensor,
        grids: _Grids,
        valid: torch.Tensor | None = None,
        gathered: bool = True,
    ) -> None:
        if len(grids) != patches.shape[0]:
            raise ValueError(f"grids {grids.shapes} do not hold {patches.shape[0]} patches")
        if gathered:
            patches = patches.matrix() if isinstance(patches, PatchTable) else patches.contiguous()
        self.patches = patches
        self.basis = basis
        self.projected = _embed(patches, basis)
        self.grids = grids
        self.valid = valid
        self.valid_ids = None if valid is None else valid.nonzero().flatten()
        if self.valid_ids is not None and self.valid_ids.numel() == 0:
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


def _embed(
    patches: torch.Tensor | PatchTable, basis: torch.Tensor, chunk: int = 16384
) -> torch.Tensor:
    """Coordinates on ``basis`` plus the length of the rest: distances between embeddings never
    exceed the true ones, since |q - k|^2 = |P(q - k)|^2 + |R(q - k)|^2 >= |Pq - Pk|^2 +
    (|Rq| - |Rk|)^2 for the projection P and its orthogonal complement R. Computed ``chunk``
    rows at a time, so that the temporaries stay small beside the patches."""
    out = basis.new_empty((patches.shape[0], basis.shape[1] + 1))
    for s in range(0, out.shape[0], chunk):
        rows = patches[s : s + chunk]
        proj = rows @ basis
        rest = torch.linalg.vecdot(rows, rows) - torch.linalg.vecdot(proj, proj)
        out[s : s + chunk, :-1] = proj
        out[s : s + chunk, -1] = rest.clamp_(min=0).sqrt_()
    return out


def _pair_mse(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Mean squared error between corresponding rows."""
    diff = q - k
    return torch.linalg.vecdot(diff, diff) / q.shape[1]


def _scores(
    q: torch.Tensor | PatchTable,
    k: torch.Tensor,
    field: torch.Tensor,
    denom: torch.Tensor | None,
    chunk: int,
    rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """Score of the match in ``field`` of every query (of the queries ``rows``, ``field``
    being theirs), in chunks of queries."""
    out = k.new_empty(field.shape)
    for s in range(0, field.numel(), chunk):
        j = field[s : s + chunk]
        here = q[s : s + chunk] if rows is None else q.index_select(0, rows[s : s + chunk])
        out[s : s + chunk] = _pair_mse(here, k.index_select(0, j))
    return out if denom is None else out / denom[field]


def _improve(
    queries: _Side,
    keys: _Side,
    denom: torch.Tensor | None,
    field: torch.Tensor,
    score: torch.Tensor,
    rows: torch.Tensor,
    candidates: torch.Tensor,
    chunk: int,
) -> None:
    """Give each query of ``rows`` its best candidate (a row of ``candidates``: key indices,
    -1 for none) if that scores strictly lower than its current match; updates ``field`` and
    ``score`` in place."""
    c = candidates.shape[1]
    d = queries.patches.shape[1]
    for s in range(0, rows.numel(), chunk):
        r, cand = rows[s : s + chunk], candidates[s : s + chunk]
        usable = (cand >= 0) & (cand != field[r, None])
        cand = cand.clamp(min=0)
        diff = keys.projected.index_select(0, cand.flatten()).view(r.numel(), c, -1)
        diff.sub_(queries.projected.index_select(0, r)[:, None])
        bound = diff.square_().sum(2).div_(d)
        if denom is not None:
            bound = bound / denom[cand]
        bound.masked_fill_(~usable, math.inf)
        low, arg = bound.min(1)
        current = score[r]
        # the slack covers rounding in the bound: it must never hide a better candidate
        todo = (low < current * (1 + 1e-4)).nonzero().flatten()
        if todo.numel() == 0:
            continue
        j, at = cand[todo, arg[todo]], r[todo]
        exact = _pair_mse(queries.patches.index_select(0, at), keys.patches.index_select(0, j))
        if denom is not None:
            exact = exact / denom[j]
        better = exact < current[todo]
        field[at[better]] = j[better]
        score[at[better]] = exact[better]


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


def _propagation_candidates(
    queries: _Side, keys: _Side, field: torch.Tensor, rows: torch.Tensor, step: int
) -> torch.Tensor:
    qg, kg = queries.grids, keys.grids
    cands = []
    for k, (dy, dx) in enumerate(_DIRECTIONS):
        # the query ``step`` positions back along direction k lends its match, moved forward
        if step == 1:  # the common case, from tables
            src = qg.neighbours[k ^ 1][rows]
            moved = keys.shifted[k][field[src.clamp(min=0)]]
        else:
            src = qg.index(qg.grid[rows], qg.y[rows] - step * dy, qg.x[rows] - step * dx)
            j = field[src.clamp(min=0)]
            moved = kg.index(kg.grid[j], kg.y[j] + step * dy, kg.x[j] + step * dx)
            if keys.valid is not None:
                moved = torch.where(keys.valid[moved.clamp(min=0)], moved, -1)
        cands.append(torch.where(src >= 0, moved, -1))
    return torch.stack(cands, 1)


def _random_candidates(
    keys: _Side, matches: torch.Tensor, radii: Sequence[int], generator: torch.Generator | None
) -> torch.Tensor:
    n, g, device = matches.numel(), keys.grids, matches.device
    grid, y, x = g.grid[matches], g.y[matches], g.x[matches]
    cands = []
    for r in radii:
        if r == 0:  # anywhere among the valid keys, in any grid
            ids = keys.valid_ids
            if ids is None:
                cands.append(torch.randint(0, len(g), (n,), generator=generator, device=device))
            else:
                draw = torch.randint(0, ids.numel(), (n,), generator=generator, device=device)
                cands.append(ids[draw])
            continue
        dy = torch.randint(-r, r + 1, (n,), generator=generator, device=device)
        dx = torch.randint(-r, r + 1, (n,), generator=generator, device=device)
        j = g.clamped_index(grid, y + dy, x + dx)
        cands.append(j if keys.valid is None else torch.where(keys.valid[j], j, -1))
    return torch.stack(cands, 1)


@dataclass(frozen=True)
class _Plan:
    """What one search does: ``iters`` iterations whose propagation steps start at ``jump``
    and halve down to 1, each with random-search windows of half-widths ``radii`` (0: all
    valid keys), for the queries whose score is above ``tol``."""

    iters: int
    radii: tuple[int, ...]
    jump: int = 1
    tol: float = 0.0


def _plan(
    iters: int, key_shapes: Shapes, radius: int | None, samples: int, cold: bool, tol: float
) -> _Plan:
    side = max(max(s) for s in key_shapes)
    radii, r = [0] * samples, side // 2 if radius is None else min(radius, side)
    while r >= 1:
        radii.append(r)
        r //= 2
    # from a random start, long propagation steps first (jump flooding) spread every lucky
    # match across the grid in a few halvings; half of the iterations still end at step 1
    jump = max(1, min(1 << (side // 2).bit_length() - 1, 1 << iters // 2)) if cold else 1
    return _Plan(iters, tuple(radii), jump, tol)


def _search(
    queries: _Side,
    keys: _Side,
    denom: torch.Tensor | None,
    init: torch.Tensor,
    plan: _Plan,
    generator: torch.Generator | None,
    chunk: int,
    settled: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PatchMatch iterations from ``init``; returns the field and its scores. ``settled``
    (a boolean mask, and the scores of ``init``'s matches, valid where the mask is true)
    marks queries that keep their match from ``init``."""
    field = init.clone()
    rows = torch.arange(field.numel(), device=field.device)
    if settled is None:
        score = _scores(queries.patches, keys.patches, field, denom, chunk)
    else:
        rows = (~settled[0]).nonzero().flatten()
        score = settled[1].clone()
        score[rows] = _scores(queries.patches, keys.patches, field[rows], denom, chunk, rows)
        settled = settled[0]
    for i in range(plan.iters):
        if plan.tol > 0:  # a query this close cannot gain more than tol
            todo = score > plan.tol
            rows = (todo if settled is None else todo & ~settled).nonzero().flatten()
        cands = _propagation_candidates(queries, keys, field, rows, max(1, plan.jump >> i))
        _improve(queries, keys, denom, field, score, rows, cands, chunk)
        if plan.radii:
            cands = _random_candidates(keys, field[rows], plan.radii, generator)
            _improve(queries, keys, denom, field, score, rows, cands, chunk)
    return field, score


def _minima(
    queries: _Side,
    keys: _Side,
    field: torch.Tensor,
    reverse_init: torch.Tensor,
    plan: _Plan,
    generator: torch.Generator | None,
    chunk: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Upper bounds of the key-side minima, from a reverse search (keys as queries, planned
    over the query grid) and the forward ``field``; and the reverse field."""
    reverse, minima = _search(keys, queries, None, reverse_init, plan, generator, chunk)
    forward = _scores(queries.patches, keys.patches, field, None, chunk)
    return minima.scatter_reduce_(0, field, forward, "amin"), reverse


def resample_field(
    field: torch.Tensor,
    old_queries: Shapes,
    new_queries: Shapes,
    old_keys: Shapes,
    new_keys: Shapes,
    patch_size: int = 1,
) -> torch.Tensor:
    """Carry a field over to the grids of resized images (the next pyramid level), for a
    warm start.

    Every new query takes the match of the old query nearest to it, moved to the matching
    place in the new key grid plus the query's own rounding offset, so coherent regions stay
    coherent. Positions map as the images are resized (pixel centres scale by the ratio of
    the image sizes, which for a patch grid of side ``h`` is ``h + patch_size - 1``); matches
    are clamped into their key grid.

    Parameters
    ----------
    field : Tensor, (..., n_old) int64
        Key index of every query of the old grids.
    old_queries, new_queries : sequence of (h, w)
        The query grids before and after, in the same order and number.
    old_keys, new_keys : sequence of (h, w)
        The key grids before and after, in the same order and number.
    patch_size : int
        Side of the patches, to recover the image sizes from the grids.

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
    centre = (patch_size - 1) / 2 + 0.5  # grid position to pixel-centre coordinate, plus 1/2

    def scale(new: Shapes, old: Shapes, axis: int) -> torch.Tensor:
        s = [
            (b[axis] + patch_size - 1) / (a[axis] + patch_size - 1)
            for b, a in zip(new, old, strict=True)
        ]
        return torch.tensor(s, dtype=torch.float64, device=device)

    def forward(pos: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return (pos + centre) * s - centre

    g = nq.grid
    sy, sx = scale(new_queries, old_queries, 0)[g], scale(new_queries, old_queries, 1)[g]
    oy = ((nq.y + centre) / sy - centre).round().long()
    ox = ((nq.x + centre) / sx - centre).round().long()
    src = oq.clamped_index(g, oy, ox)
    oy, ox = oq.y[src], oq.x[src]  # clamped
    match = field[..., src]
    kg = ok.grid[match]
    ky = forward(ok.y[match], scale(new_keys, old_keys, 0)[kg]) + (nq.y - forward(oy, sy))
    kx = forward(ok.x[match], scale(new_keys, old_keys, 1)[kg]) + (nq.x - forward(ox, sx))
    return nk.clamped_index(kg, ky.round().long(), kx.round().long())


def _check_layout(n: int, keys: torch.Tensor, layout: PatchLayout) -> None:
    """That the layout holds ``n`` queries per sample and the keys."""
    h, w = layout.query_shape
    if n != h * w:
        raise ValueError(f"query grid {h}x{w} does not hold {n} patches")
    if keys.shape[0] != sum(a * b for a, b in layout.key_shapes):
        raise ValueError(f"key grids {layout.key_shapes} do not hold {keys.shape[0]} patches")


def patchmatch(
    queries: torch.Tensor,
    keys: torch.Tensor,
    alpha: float,
    layout: PatchLayout,
    init: torch.Tensor | None = None,
    *,
    iters: int = 8,
    radius: int | None = 8,
    samples: int = 1,
    jump: int | None = None,
    rank: int = 16,
    tol: float = 1e-6,
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
        The starting field, valid keys only; drawn uniformly among the valid keys if not
        given.
    iters : int
        Iterations of propagation and random search. Default 8.
    radius : int, optional
        Half-width, in key positions, of the widest local random-search window; the next
        ones halve down to 1. ``None``: half the longest side of the key grids. Default 8.
    samples : int
        Keys drawn among all the valid keys, per query and iteration. Default 1.
    jump : int, optional
        First propagation step, halved every iteration down to 1. By default long from a
        random start (jump flooding), 1 from a given ``init``.
    rank : int
        Principal directions of the keys used to rank candidates (see the module notes).
    tol : float
        With ``alpha = inf``, queries whose distance is at most ``tol`` are left as they are:
        they could gain no more than that. The default, 1e-6, is a sixth of the squared step
        of 8-bit values; half of the queries of a converged PNN step are that close.
    valid_keys : Tensor, (m,) bool, optional
        Keys that may be chosen.
    key_minima : Tensor, (m,) or (B, m), optional
        ``min_l D[l, j]`` for finite alpha; estimated with :func:`estimate_key_minima` from
        a random reverse field if not given.
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
    >>> idx, _ = patchmatch(p, p, math.inf, PatchLayout((10, 12), ((10, 12),)), generator=g)
    >>> bool((idx == torch.arange(120)).all())  # every patch finds itself
    True
    """
    batched = queries.ndim == 3
    qs = queries if batched else queries[None]
    _check_layout(qs.shape[-2], keys, layout)
    m, device = keys.shape[0], keys.device
    basis = principal_basis(keys, rank)
    key_side = _Side(keys, basis, _Grids(layout.key_shapes, device), valid_keys)
    query_grids = _Grids([layout.query_shape], device)
    forward_tol = tol if math.isinf(alpha) else 0.0
    plan = _plan(iters, layout.key_shapes, radius, samples, init is None, forward_tol)
    if jump is not None:
        plan = _Plan(plan.iters, plan.radii, jump, plan.tol)
    reverse_plan = _plan(iters, [layout.query_shape], radius, samples, True, tol)
    out = []
    for b, q in enumerate(qs):
        q_side = _Side(q, basis, query_grids, gathered=not math.isinf(alpha))
        if init is None:
            start = random_field(q.shape[0], m, valid_keys, generator, device)
        else:
            start = (init if batched else init[None])[b]
        denom = None
        if not math.isinf(alpha):
            if key_minima is None:
                rev = random_field(m, q.shape[0], None, generator, device)
                minima = _minima(q_side, key_side, start, rev, reverse_plan, generator, chunk)[0]
            else:
                minima = key_minima if key_minima.ndim == 1 else key_minima[b]
            denom = alpha + minima
        out.append(_search(q_side, key_side, denom, start, plan, generator, chunk))
    idx, score = torch.stack([o[0] for o in out]), torch.stack([o[1] for o in out])
    return (idx, score) if batched else (idx[0], score[0])


def estimate_key_minima(
    queries: torch.Tensor,
    keys: torch.Tensor,
    layout: PatchLayout,
    field: torch.Tensor,
    reverse_init: torch.Tensor | None = None,
    *,
    iters: int = 8,
    radius: int | None = 8,
    samples: int = 1,
    rank: int = 16,
    tol: float = 1e-6,
    generator: torch.Generator | None = None,
    chunk: int = 4096,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Upper bounds of ``min_l D[l, j]`` for every key ``j``: the distance to the query found
    by a reverse PatchMatch (the keys as queries), or to a query that ``field`` matches with
    ``j``, whichever is smaller.

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
    iters, radius, samples, rank, tol, generator, chunk
        As for :func:`patchmatch`, for the reverse search (its windows are in the query
        grid).

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
    _check_layout(queries.shape[0], keys, layout)
    basis = principal_basis(keys, rank)
    key_side = _Side(keys, basis, _Grids(layout.key_shapes, keys.device))
    q_side = _Side(queries, basis, _Grids([layout.query_shape], keys.device))
    cold = reverse_init is None
    if cold:
        reverse_init = random_field(keys.shape[0], queries.shape[0], None, generator, keys.device)
    plan = _plan(iters, [layout.query_shape], radius, samples, cold, tol)
    return _minima(q_side, key_side, field, reverse_init, plan, generator, chunk)


class PatchMatchSearch(NearestNeighbourSearch):
    """Approximate search by PatchMatch, warm-started from the previous call (see the module
    notes and :func:`patchmatch`).

    One instance serves one synthesis run: it keeps the last field (and, for finite alpha,
    the reverse field) and starts the next call from it, reused on the same grids and
    upscaled on grown ones (:func:`resample_field`). Key-side preparation is cached while
    the same ``keys`` tensor comes back, and shared by the samples of a batch.

    Parameters
    ----------
    iters : int
        Iterations per call from a warm start. Default 2.
    cold_iters : int
        Iterations per call from a random start (no field to carry over). Default 8.
    radius, samples, rank, tol, chunk
        As for :func:`patchmatch`.
    exact_below : int
        Problems of at most this many query-key pairs per sample are solved exactly, which
        also gives the next call a perfect field to start from. Default 2**19, about where
        the exact search becomes dearer than a warm PatchMatch call (measured on one core:
        17 ms against 4 ms at 1550 x 1550 patches, 3.4 ms against 2.6 ms at 714 x 714).
    seed : int
        Seed of the random draws; the same seed and inputs give the same results.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> k = torch.nn.functional.unfold(torch.rand(1, 3, 20, 20, generator=g), 5)[0].T
    >>> s = PatchMatchSearch(exact_below=0)
    >>> idx = s.search(k[None], k, math.inf, PatchLayout((16, 16), ((16, 16),)))
    >>> bool((idx[0] == torch.arange(256)).all())  # every patch finds itself
    True
    """

    name = "patchmatch"
    reads_rows = True

    def __init__(
        self,
        iters: int = 2,
        cold_iters: int = 8,
        radius: int | None = 8,
        samples: int = 1,
        rank: int = 16,
        tol: float = 1e-6,
        exact_below: int = 1 << 19,
        seed: int = 0,
        chunk: int = 4096,
    ) -> None:
        if iters < 0 or cold_iters < 0:
            raise ValueError("iterations must be non-negative")
        self.iters, self.cold_iters = iters, cold_iters
        self.radius, self.samples, self.rank, self.tol = radius, samples, rank, tol
        self.exact_below, self.seed, self.chunk = exact_below, seed, chunk
        self._generator: torch.Generator | None = None
        self._layout: PatchLayout | None = None
        self._field: torch.Tensor | None = None
        self._reverse: torch.Tensor | None = None
        self._query_grids: _Grids | None = None
        # (weak reference to the keys, their version, key shapes, valid mask, prepared side)
        self._keys: tuple | None = None
        # (key side, each sample's query embeddings and scores) of the last call, alpha = inf
        self._seen: tuple | None = None

    def _key_side(
        self, keys: torch.Tensor, layout: PatchLayout, valid: torch.Tensor | None
    ) -> _Side:
        """The prepared keys: cached while the same tensor, unchanged, comes back. The cache
        holds a weak reference to the keys and, between calls, not the keys themselves (only
        a contiguous copy, if one had to be made), so that it keeps no finished level alive.
        """
        if self._keys is not None:
            ref, version, shapes, old_valid, side = self._keys
            same_valid = (valid is None and old_valid is None) or (
                valid is not None and old_valid is not None and torch.equal(valid, old_valid)
            )
            same_keys = ref() is keys and version == keys._version
            if same_keys and same_valid and shapes == layout.key_shapes:
                if side.patches is None:
                    side.patches = keys
                return side
        self._keys = None  # let the previous side go before building the next
        grids = _Grids(layout.key_shapes, keys.device)
        side = _Side(keys, principal_basis(keys, self.rank), grids, valid)
        self._keys = (weakref.ref(keys), keys._version, layout.key_shapes, valid, side)
        return side

    def _plan(self, key_shapes: Shapes, cold: bool, tol: float) -> _Plan:
        iters = self.cold_iters if cold else self.iters
        return _plan(iters, key_shapes, self.radius, self.samples, cold, tol)

    def _carried(self, layout: PatchLayout, batch: int, dim: int) -> tuple:
        """The last call's forward and reverse fields on this call's grids (None where there
        is nothing to carry over)."""
        old = self._layout
        if old is None or self._field is None or self._field.shape[0] != batch:
            return None, None
        if len(old.key_shapes) != len(layout.key_shapes):
            return None, None
        if old == layout:
            return self._field, self._reverse
        # RGB patches have d = 3 p^2 values; other patches are resampled as if p = 1
        p = math.isqrt(dim // 3)
        p = p if 3 * p * p == dim else 1
        q_old, q_new = [old.query_shape], [layout.query_shape]
        k_old, k_new = old.key_shapes, layout.key_shapes
        field = resample_field(self._field, q_old, q_new, k_old, k_new, p)
        reverse = None
        if self._reverse is not None:
            reverse = resample_field(self._reverse, k_old, k_new, q_old, q_new, p)
        return field, reverse

    def cost(self, layout: PatchLayout, batch: int) -> float:
        """Rough time of one search in microseconds on one core (see the base class): the
        exact search's below ``exact_below``, else about 2.5 us per query (measured on warm
        calls from 700 to 190 000 queries), whatever the number of keys."""
        if layout.query_count * layout.key_count <= self.exact_below:
            return super().cost(layout, batch)
        return 2.5 * batch * layout.query_count

    def search(
        self,
        queries: torch.Tensor | Sequence[PatchTable],
        keys: torch.Tensor,
        alpha: float,
        layout: PatchLayout,
        valid_keys: torch.Tensor | None = None,
    ) -> torch.Tensor:
        samples = list(queries)
        batch, (n, dim) = len(samples), samples[0].shape
        _check_layout(n, keys, layout)
        m, device = keys.shape[0], keys.device
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device).manual_seed(self.seed)
        gen, chunk = self._generator, self.chunk
        warm, reverse = self._carried(layout, batch, dim)
        same_layout = self._layout == layout
        self._layout = layout
        if n * m <= self.exact_below:
            rows = torch.stack([q.matrix() if isinstance(q, PatchTable) else q for q in samples])
            self._field, self._reverse = nearest(rows, keys, alpha, valid_keys)[0], None
            self._seen = None
            return self._field

        key_side = self._key_side(keys, layout, valid_keys)
        # the last call searched these keys on these grids: its queries are recognisable
        seen = self._seen if same_layout and math.isinf(alpha) else None
        if seen is not None and seen[0] is not key_side:
            seen = None
        if self._query_grids is None or self._query_grids.shapes != (layout.query_shape,):
            self._query_grids = _Grids([layout.query_shape], device)
        forward_tol = self.tol if math.isinf(alpha) else 0.0
        fields, reverses, embedded, scores = [], [], [], []
        for b in range(batch):
            # the queries are gathered only as the keys of the reverse search
            gathered = not math.isinf(alpha)
            q_side = _Side(samples[b], key_side.basis, self._query_grids, gathered=gathered)
            embedded.append(q_side.projected)
            settled = None
            if seen is not None and warm is not None:
                # a query whose embedding is bitwise the last call's is (but for a collision
                # of 17 floats) the same patch, already searched against the same keys: a
                # second search almost never improves it (measured: 0.1 % of them)
                settled = ((q_side.projected == seen[1][b]).all(1), seen[2][b])
            if warm is None:
                start = random_field(n, m, valid_keys, gen, device)
            else:
                start = warm[b]
                if valid_keys is not None:  # the mask may differ from the last call's
                    invalid = ~valid_keys[start]
                    if invalid.any():
                        fresh = random_field(n, m, valid_keys, gen, device)
                        start = torch.where(invalid, fresh, start)
            denom = None
            if not math.isinf(alpha):
                rev = random_field(m, n, None, gen, device) if reverse is None else reverse[b]
                plan = self._plan([layout.query_shape], reverse is None, self.tol)
                minima, rev = _minima(q_side, key_side, start, rev, plan, gen, chunk)
                reverses.append(rev)
                denom = alpha + minima
            plan = self._plan(layout.key_shapes, warm is None, forward_tol)
            found = _search(q_side, key_side, denom, start, plan, gen, chunk, settled)
            fields.append(found[0])
            scores.append(found[1])
        if key_side.patches is keys:
            key_side.patches = None  # see _key_side
        self._seen = (key_side, embedded, scores) if math.isinf(alpha) else None
        self._field = torch.stack(fields)
        self._reverse = torch.stack(reverses) if reverses else None
        return self._field
