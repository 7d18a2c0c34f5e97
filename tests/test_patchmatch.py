"""PatchMatch backend: correctness against the exact search, never speed."""

from __future__ import annotations

import gc
import math
import weakref

import pytest
import torch
import torch.nn.functional as F

from dropgan.patches import extract_patches, grid_shape
from dropgan.pyramid import resize
from dropgan.search import ExactSearch, PatchLayout, make_backend, nearest
from dropgan.search import patchmatch as patchmatch_module
from dropgan.search.exact import _key_minima
from dropgan.search.patchmatch import (
    PatchMatchSearch,
    estimate_key_minima,
    patchmatch,
    random_field,
    resample_field,
)

P = 5  # small patches keep the exact references cheap


def _noise(h: int, w: int, seed: int) -> torch.Tensor:
    """An image whose patches are all different."""
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed))


def _smooth(h: int, w: int, seed: int) -> torch.Tensor:
    """An image with the local correlation of natural ones, so that patches have near
    neighbours and the search has real choices to make."""
    x = torch.rand(1, 3, h // 4 + 2, w // 4 + 2, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)[0]


def _patches(x: torch.Tensor) -> torch.Tensor:
    return extract_patches(x[None], P)[0]


def _grid(x: torch.Tensor) -> tuple[int, int]:
    return grid_shape(tuple(x.shape[-2:]), P)


def _energy(q, k, idx, alpha=math.inf, minima=None) -> float:
    d = ((q - k[idx]) ** 2).mean(-1)
    return float((d if math.isinf(alpha) else d / (alpha + minima[idx])).sum())


def test_finds_every_patch_of_its_own_image():
    x = _noise(30, 40, 0)
    p = _patches(x)
    layout = PatchLayout(_grid(x), (_grid(x),))
    g = torch.Generator().manual_seed(0)
    idx, score = patchmatch(p, p, math.inf, layout, iters=16, generator=g)
    assert torch.equal(idx, torch.arange(p.shape[0]))
    assert float(score.max()) == 0.0


@pytest.mark.parametrize("alpha", [math.inf, 0.01])
def test_more_iterations_never_increase_the_energy(alpha):
    q, k = _patches(_smooth(40, 48, 1)), _patches(_smooth(36, 44, 2))
    layout = PatchLayout(_grid(_smooth(40, 48, 1)), (_grid(_smooth(36, 44, 2)),))
    minima = None if math.isinf(alpha) else _key_minima(q, k, 64)
    init = random_field(q.shape[0], k.shape[0], generator=torch.Generator().manual_seed(3))
    energies = []
    for iters in range(5):
        g = torch.Generator().manual_seed(4)
        idx, score = patchmatch(
            q, k, alpha, layout, init, iters=iters, key_minima=minima, generator=g
        )
        assert _energy(q, k, idx, alpha, minima) == pytest.approx(float(score.sum()), rel=1e-5)
        energies.append(float(score.sum()))
    assert all(b <= a for a, b in zip(energies, energies[1:], strict=False))
    assert energies[-1] < 0.5 * energies[0]  # and they do improve


@pytest.mark.parametrize("alpha", [math.inf, 0.01])
@pytest.mark.parametrize("masked", [False, True])
def test_exact_start_returns_the_exact_answer(alpha, masked):
    q, k = _patches(_smooth(32, 40, 5)), _patches(_smooth(30, 36, 6))
    layout = PatchLayout(_grid(_smooth(32, 40, 5)), (_grid(_smooth(30, 36, 6)),))
    valid = None
    if masked:
        valid = torch.rand(k.shape[0], generator=torch.Generator().manual_seed(7)) > 0.3
    best, _ = nearest(q, k, alpha, valid)
    minima = None if math.isinf(alpha) else _key_minima(q, k, 64)
    g = torch.Generator().manual_seed(8)
    idx, _ = patchmatch(
        q, k, alpha, layout, best, iters=3, valid_keys=valid, key_minima=minima, generator=g
    )
    assert torch.equal(idx, best)


def test_never_returns_a_masked_key():
    xq, xk = _smooth(40, 44, 9), _smooth(40, 44, 10)
    q, k = _patches(xq), _patches(xk)
    layout = PatchLayout(_grid(xq), (_grid(xk),))
    valid = torch.rand(k.shape[0], generator=torch.Generator().manual_seed(11)) > 0.5
    valid.view(_grid(xk))[5:20, 10:30] = False  # and a large hole
    for alpha in (math.inf, 0.01):
        g = torch.Generator().manual_seed(12)
        idx, _ = patchmatch(q, k, alpha, layout, iters=4, valid_keys=valid, generator=g)
        assert bool(valid[idx].all())
    search = PatchMatchSearch(exact_below=0, seed=13)
    for _ in range(2):  # a cold call, then a warm one
        assert bool(valid[search.search(q[None], k, math.inf, layout, valid)].all())


def test_mask_changing_between_calls():
    search = PatchMatchSearch(exact_below=0, seed=39)
    # a grown grid whose mask covers what the first grid's mask left: every carried match
    # is invalid and must be replaced
    for size, seed, top in (((30, 34), 40, True), ((40, 46), 41, False)):
        x = _smooth(*size, seed)
        p = _patches(x)
        h, w = _grid(x)
        valid = torch.ones(h, w, dtype=torch.bool)
        valid[: h // 2 + 1] = not top
        valid[h // 2 - 1 :] = top
        valid = valid.flatten()
        for alpha in (math.inf, 0.01):
            idx = search.search(p[None], p, alpha, PatchLayout((h, w), ((h, w),)), valid)
            assert bool(valid[idx].all())


def test_a_single_valid_key_is_always_chosen():
    x = _smooth(20, 24, 14)
    p = _patches(x)
    valid = torch.zeros(p.shape[0], dtype=torch.bool)
    valid[37] = True
    layout = PatchLayout(_grid(x), (_grid(x),))
    idx, _ = patchmatch(p, p, math.inf, layout, iters=2, valid_keys=valid)
    assert bool((idx == 37).all())


def test_two_key_grids():
    a, b = _noise(24, 40, 15), _noise(30, 22, 16)
    k = torch.cat([_patches(a), _patches(b)])
    layout_a = PatchLayout(_grid(a), (_grid(a), _grid(b)))
    layout_b = PatchLayout(_grid(b), (_grid(a), _grid(b)))
    g = torch.Generator().manual_seed(17)
    na = _patches(a).shape[0]
    idx_a, _ = patchmatch(_patches(a), k, math.inf, layout_a, iters=16, generator=g)
    idx_b, _ = patchmatch(_patches(b), k, math.inf, layout_b, iters=16, generator=g)
    assert torch.equal(idx_a, torch.arange(na))
    assert torch.equal(idx_b, na + torch.arange(k.shape[0] - na))


def test_deterministic_for_a_seed():
    xq, xk = _smooth(36, 40, 18), _smooth(36, 40, 19)
    q, k = _patches(xq), _patches(xk)
    layout = PatchLayout(_grid(xq), (_grid(xk),))
    runs = []
    for seed in (20, 20, 21):
        g = torch.Generator().manual_seed(seed)
        runs.append(patchmatch(q, k, 0.01, layout, iters=1, generator=g)[0])
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_finite_alpha_close_to_exact():
    xq, xk = _smooth(40, 48, 22), _smooth(40, 48, 23)
    q, k = _patches(xq), _patches(xk)
    layout = PatchLayout(_grid(xq), (_grid(xk),))
    alpha = 0.005
    minima = _key_minima(q, k, 64)
    best, _ = nearest(q, k, alpha)
    g = torch.Generator().manual_seed(24)
    idx, _ = patchmatch(q, k, alpha, layout, iters=16, generator=g)  # estimated minima
    exact_energy = _energy(q, k, best, alpha, minima)
    assert _energy(q, k, idx, alpha, minima) < 1.08 * exact_energy
    assert float((idx == best).float().mean()) > 0.5
    # for scale: the random start is far off
    start = random_field(q.shape[0], k.shape[0], generator=torch.Generator().manual_seed(24))
    assert _energy(q, k, start, alpha, minima) > 2 * exact_energy


def test_estimated_minima_are_close_upper_bounds():
    xq, xk = _smooth(36, 40, 25), _smooth(36, 40, 26)
    q, k = _patches(xq), _patches(xk)
    layout = PatchLayout(_grid(xq), (_grid(xk),))
    exact = _key_minima(q, k, 64)
    field = random_field(q.shape[0], k.shape[0], generator=torch.Generator().manual_seed(27))
    g = torch.Generator().manual_seed(28)
    est, reverse = estimate_key_minima(q, k, layout, field, iters=16, generator=g)
    assert bool((est >= exact - 1e-6).all())
    assert float(est.sum()) < 1.03 * float(exact.sum())
    assert reverse.shape == (k.shape[0],) and bool((reverse < q.shape[0]).all())


def test_resample_field_keeps_offsets():
    # on a 10 x 12 grid, every query matches the key 2 rows down and 3 columns right
    y, x = torch.meshgrid(torch.arange(10), torch.arange(12), indexing="ij")
    field = ((y + 2).clamp(max=9) * 12 + (x + 3).clamp(max=11)).flatten()
    new = resample_field(field, [(10, 12)], [(20, 24)], [(10, 12)], [(20, 24)], patch_size=1)
    ny, nx = new // 24, new % 24
    gy, gx = torch.meshgrid(torch.arange(20), torch.arange(24), indexing="ij")
    inner = (gy < 14) & (gx < 16)  # away from the clamped border
    assert torch.equal(ny.view(20, 24)[inner] - gy[inner], torch.full_like(gy[inner], 4))
    assert torch.equal(nx.view(20, 24)[inner] - gx[inner], torch.full_like(gx[inner], 6))


def test_warm_start_on_a_grown_grid():
    big = _noise(48, 64, 29)
    small = resize(big, (36, 48))
    search = PatchMatchSearch(iters=1, cold_iters=16, exact_below=0, seed=30)
    for x in (small, big):
        p = _patches(x)
        layout = PatchLayout(_grid(x), (_grid(x),))
        idx = search.search(p[None], p, math.inf, layout)
        assert float((idx[0] == torch.arange(p.shape[0])).float().mean()) > 0.99
        # from here on only a carried-over field can do it in the one iteration allowed
        search.cold_iters = 0


def test_backend_batch_and_registry():
    xq, xk = _smooth(30, 36, 31), _smooth(30, 36, 32)
    q = torch.stack([_patches(xq), _patches(xk)])
    k = _patches(xk)
    layout = PatchLayout(_grid(xq), (_grid(xk),))
    search = make_backend("patchmatch", seed=33, exact_below=0, cold_iters=16)
    idx = search.search(q, k, math.inf, layout)
    assert idx.shape == (2, k.shape[0]) and idx.dtype == torch.int64
    assert torch.equal(idx[1], torch.arange(k.shape[0]))  # the second sample is the keys
    best, _ = nearest(q[0], k)
    assert _energy(q[0], k, idx[0]) < 1.05 * _energy(q[0], k, best)


def test_small_problems_are_solved_exactly():
    xq, xk = _smooth(20, 24, 34), _smooth(20, 24, 35)
    q, k = _patches(xq), _patches(xk)
    layout = PatchLayout(_grid(xq), (_grid(xk),))
    idx = PatchMatchSearch().search(q[None], k, 0.01, layout)
    assert torch.equal(idx[0], nearest(q, k, 0.01)[0])


def test_prepared_keys_follow_the_keys_tensor():
    a, b = _noise(24, 28, 36), _noise(24, 28, 37)
    layout = PatchLayout(_grid(b), (_grid(a),))
    keys, queries = _patches(a).contiguous(), _patches(b)[None]
    search = PatchMatchSearch(iters=16, exact_below=0, seed=38)
    search.search(queries, keys, math.inf, layout)
    keys.copy_(queries[0])  # changed in place: the keys are now the queries themselves
    idx = search.search(queries, keys, math.inf, layout)
    assert float((idx[0] == torch.arange(keys.shape[0])).float().mean()) > 0.9
    # and the backend does not keep the keys alive once the caller drops them
    ref = weakref.ref(keys)
    del keys
    gc.collect()
    assert ref() is None


def test_cost_is_the_exact_searchs_when_solved_exactly_and_else_linear_in_queries():
    pm, ex = PatchMatchSearch(), ExactSearch()
    small = PatchLayout((20, 20), ((20, 20),))
    assert pm.cost(small, 1) == ex.cost(small, 1)
    big, bigger = PatchLayout((200, 200), ((200, 200),)), PatchLayout((400, 400), ((400, 400),))
    assert pm.cost(bigger, 1) == 4 * pm.cost(big, 1) == 2 * pm.cost(big, 2)
    assert ex.cost(bigger, 1) == 16 * ex.cost(big, 1)


def test_a_repeated_search_settles_every_query(monkeypatch):
    # the same queries against the same keys, on the same grids: the last answer stands
    xq, xk = _smooth(30, 36, 41), _smooth(30, 36, 42)
    q, k = _patches(xq)[None], _patches(xk)
    layout = PatchLayout(_grid(xq), (_grid(xk),))
    search = PatchMatchSearch(exact_below=0, seed=43)
    first = search.search(q, k, math.inf, layout)
    examined = []
    original = patchmatch_module._improve

    def counting(queries, keys, denom, field, score, rows, *rest):
        examined.append(rows.numel())
        return original(queries, keys, denom, field, score, rows, *rest)

    monkeypatch.setattr(patchmatch_module, "_improve", counting)
    again = search.search(q.clone(), k, math.inf, layout)
    assert torch.equal(again, first) and sum(examined) == 0
    # a fresh backend from the same warm field does search them (the skip is what saves)
    fresh = PatchMatchSearch(exact_below=0, seed=43)
    fresh._layout, fresh._field = layout, first
    fresh.search(q, k, math.inf, layout)
    assert sum(examined) > 0


def test_changed_queries_are_searched_and_settled_ones_keep_their_match():
    xq, xk = _noise(30, 36, 44), _noise(30, 36, 45)
    q, k = _patches(xq), _patches(xk)
    layout = PatchLayout(_grid(xq), (_grid(xk),))
    search = PatchMatchSearch(exact_below=0, seed=46, iters=8)
    first = search.search(q[None], k, math.inf, layout)[0]
    changed = torch.arange(q.shape[0]) < q.shape[0] // 2  # the top half of the grid
    q2 = torch.where(changed[:, None], k, q)  # those queries are now key patches themselves
    second = search.search(q2[None], k, math.inf, layout)[0]
    assert torch.equal(second[~changed], first[~changed])
    found = second[changed] == torch.arange(q.shape[0])[changed]
    assert float(found.float().mean()) > 0.9


@pytest.mark.parametrize("alpha", [math.inf, 0.01])
def test_queries_read_from_the_images_give_the_same_matches(alpha):
    from dropgan.patches import PatchTable

    xq, xk = [_smooth(34, 40, 38), _smooth(34, 40, 39)], _smooth(30, 36, 40)
    k = _patches(xk).contiguous()
    layout = PatchLayout(_grid(xq[0]), (_grid(xk),))
    found = []
    for queries in (torch.stack([_patches(x) for x in xq]), [PatchTable.of([x], P) for x in xq]):
        search = make_backend("patchmatch", seed=41, exact_below=0)
        # two calls: the second starts warm and recognises settled queries
        found.append([search.search(queries, k, alpha, layout) for _ in range(2)])
    for a, b in zip(*found, strict=True):
        assert torch.equal(a, b)
