import math

import pytest
import torch

from dropgan.search import ExactSearch, PatchLayout, make_backend, nearest


def brute_force(q, k, alpha):
    """The normalised score from its definition, in float64, on the whole matrix."""
    d = ((q.double()[:, None, :] - k.double()[None, :, :]) ** 2).mean(-1)
    s = d if math.isinf(alpha) else d / (alpha + d.min(0).values)
    return s


@pytest.mark.parametrize("alpha", [math.inf, 1.0, 5e-3])
def test_tiled_search_equals_brute_force(alpha):
    g = torch.Generator().manual_seed(1)
    q, k = torch.rand(300, 27, generator=g), torch.rand(500, 27, generator=g)
    idx, score = nearest(q, k, alpha, memory_budget=1)
    s = brute_force(q, k, alpha)
    ref = s.argmin(1)
    # float32 and float64 may only disagree where two keys score within rounding of each other
    top2 = s.topk(2, dim=1, largest=False).values
    clear = (top2[:, 1] - top2[:, 0]) > 1e-4 * top2[:, 0].clamp(min=1e-3)
    assert clear.float().mean() > 0.9
    assert torch.equal(idx[clear], ref[clear])
    torch.testing.assert_close(
        score.double(), s.gather(1, idx[:, None])[:, 0], rtol=1e-4, atol=1e-6
    )


@pytest.mark.parametrize("alpha", [math.inf, 1.0, 5e-3])
def test_ties_are_broken_by_the_lowest_key_index_like_argmin(alpha):
    # dyadic values: every distance is exact in float32, so ties are real ties
    g = torch.Generator().manual_seed(2)
    k = torch.randint(0, 3, (200, 8), generator=g).float() / 4
    k = torch.cat([k, k])  # every key appears twice
    q = torch.randint(0, 3, (150, 8), generator=g).float() / 4
    idx, _ = nearest(q, k, alpha, memory_budget=1)
    ref = brute_force(q, k, alpha).argmin(1)  # first occurrence
    assert torch.equal(idx, ref)
    assert (idx < 200).all()


@pytest.mark.parametrize("alpha", [math.inf, 5e-3])
def test_result_does_not_depend_on_the_memory_budget(alpha):
    g = torch.Generator().manual_seed(3)
    # the tiny budget splits this into 64-row tiles and two key chunks, the last overlapping
    q, k = torch.rand(2, 700, 147, generator=g), torch.rand(5000, 147, generator=g)
    tiny = nearest(q, k, alpha, memory_budget=1)
    large = nearest(q, k, alpha, memory_budget=1 << 32)
    assert torch.equal(tiny[0], large[0])
    assert torch.equal(tiny[1], large[1])


def test_key_minima_come_from_each_sample_own_queries():
    g = torch.Generator().manual_seed(4)
    q, k = torch.rand(2, 60, 12, generator=g), torch.rand(80, 12, generator=g)
    batched, _ = nearest(q, k, 1e-3)
    for b in range(2):
        assert torch.equal(batched[b], nearest(q[b], k, 1e-3)[0])


def test_masked_keys_are_never_returned():
    g = torch.Generator().manual_seed(5)
    q = torch.rand(100, 12, generator=g)
    k = torch.cat([q[:50], torch.rand(50, 12, generator=g)])  # the best keys are masked out
    valid = torch.arange(100) >= 50
    for alpha in (math.inf, 1e-2):
        idx, _ = nearest(q, k, alpha, valid)
        assert valid[idx].all()
        assert torch.equal(idx, 50 + nearest(q, k[50:], alpha)[0])


def test_backend_interface():
    q = torch.rand(1, 16, 27)
    search = make_backend("exact")
    assert isinstance(search, ExactSearch)
    idx = search.search(q, q[0], math.inf, PatchLayout((4, 4), ((4, 4),)))
    assert torch.equal(idx, torch.arange(16)[None])
