"""GPDM engine: the sliced Wasserstein loss, the per-level optimisation and the multi-scale loop."""

from __future__ import annotations

import pytest
import torch

from dropgan.engines.gpdm import (
    SCHEDULES,
    GPDMParams,
    argsort_last,
    gpdm,
    level_steps,
    match_level,
    patch_swd,
    plateaued,
    project_patches,
    random_projections,
    resample_sorted,
    sort_last,
)
from dropgan.errors import InputError
from dropgan.image import read_image
from dropgan.metrics.patch_stats import coherence, completeness
from dropgan.pyramid import depth_for_coarsest, level_sizes, resize


@pytest.fixture(scope="module")
def photo(fixtures_dir) -> torch.Tensor:
    """A real photograph (SIGD16 #3) at 64 x 48."""
    path = fixtures_dir / "sigd16" / "3.jpg"
    return resize(read_image(path), (48, 64)).clamp(0, 1)


@pytest.fixture(autouse=True)
def one_thread():
    """These images are tiny: a second thread only adds synchronisation, and on a busy
    machine waiting for it dominates the run time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _structured(h: int = 32, w: int = 40) -> torch.Tensor:
    """A small image with structure at several scales: stripes, a blob and some noise."""
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    r = 0.5 + 0.4 * torch.sin(xx / 2.0)
    g = 0.5 + 0.4 * torch.cos(yy / 3.0)
    b = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2 < (h / 4) ** 2).float() * 0.8 + 0.1
    noise = 0.05 * torch.rand(3, h, w, generator=_gen(7))
    return (torch.stack([r, g, b]) + noise).clamp(0, 1)


def _sorted_swd(
    output: torch.Tensor, source: torch.Tensor, w: torch.Tensor, power: int
) -> torch.Tensor:
    """The textbook formula with a differentiable sort, for equal patch counts."""
    a = torch.sort(project_patches(output, w), dim=-1).values
    b = torch.sort(project_patches(source[None], w), dim=-1).values
    return (a - b).abs().pow(power).mean(dim=(1, 2))


@pytest.mark.parametrize("threads", [1, 3])  # one sort, and rows split over threads
def test_sorts_match_torch_sort_with_negatives_and_ties(threads, monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    x = torch.randn(3, 5, 257, generator=_gen(0))
    x[0, 0, :40] = -0.0
    x[0, 0, 40:80] = 0.0
    x[1, 2, ::3] = -1.5
    index = argsort_last(x)
    expected = torch.sort(x, dim=-1, stable=True)
    assert torch.equal(sort_last(x), expected.values)
    assert torch.equal(torch.gather(x, -1, index), expected.values)
    # ties keep index order, except that -0.0 sorts before 0.0
    assert torch.equal(index[1:], expected.indices[1:])


def test_resample_sorted_is_the_interpolated_quantile_function():
    v = torch.linspace(0, 1, 11)
    up = resample_sorted(v, 101)
    assert up.shape == (101,)
    assert torch.all(up[1:] >= up[:-1])
    assert float(up[0]) == 0.0 and float(up[-1]) == 1.0
    # a linear quantile function is sampled exactly at the quantile midpoints
    expected = (10 * torch.arange(10) + 4.5) / 99
    assert torch.allclose(resample_sorted(torch.linspace(0, 1, 100), 10), expected, atol=1e-6)


@pytest.mark.parametrize("power", [1, 2])
def test_patch_swd_value_and_gradient_equal_the_sorted_formula(power):
    src = _structured()
    out = torch.rand(2, 3, 32, 40, generator=_gen(1), requires_grad=True)
    w = random_projections(16, 7, generator=_gen(2))
    ours = patch_swd(out, src, w, power=power)
    ref = _sorted_swd(out, src, w, power)
    assert torch.allclose(ours, ref, rtol=1e-5, atol=1e-7)
    (g1,) = torch.autograd.grad(ours.sum(), out)
    (g2,) = torch.autograd.grad(ref.sum(), out)
    assert torch.allclose(g1, g2, rtol=1e-4, atol=1e-9)
    assert float(g1.abs().sum()) > 0


def test_patch_swd_is_per_sample_within_a_batch():
    src = _structured()
    batch = torch.rand(3, 3, 32, 40, generator=_gen(3))
    w = random_projections(8, 7, generator=_gen(4))
    together = patch_swd(batch, src, w)
    alone = torch.cat([patch_swd(b[None], src, w) for b in batch])
    assert torch.allclose(together, alone, atol=1e-6)


@pytest.mark.parametrize("power", [1, 2])
def test_patch_swd_is_zero_for_the_image_itself_and_grows_with_noise(power):
    src = _structured()
    w = random_projections(32, 7, generator=_gen(5))
    noise = torch.randn(3, 32, 40, generator=_gen(6))
    noisy = [src + s * noise for s in (0.0, 0.02, 0.1, 0.3)]
    d = [float(patch_swd(x[None], src, w, power=power)) for x in noisy]
    assert d[0] < 1e-8 < d[1] < d[2] < d[3]


def test_patch_swd_compares_different_patch_counts():
    src = _structured()
    w = random_projections(32, 7, generator=_gen(8))
    tiled = torch.cat([src, src], dim=2)  # the same patches twice, plus the seam
    other = torch.rand(1, 3, 32, 80, generator=_gen(9))
    assert float(patch_swd(tiled[None], src, w)) < 0.2 * float(patch_swd(other, src, w))
    # and the other way round: a smaller output against a larger source
    half = src[:, :, :20]
    assert float(patch_swd(half[None], tiled, w)) < 0.5 * float(
        patch_swd(other[..., :20], tiled, w)
    )


def test_level_loss_decreases_steadily():
    src = _structured()
    start = resize(src, (32, 40))[None] * 0 + 0.5
    start = start + 0.3 * torch.randn(1, 1, 32, 40, generator=_gen(10))
    out, losses = match_level(
        start, src, steps=120, lr=0.02, projections=32, tol=0, generator=_gen(11)
    )
    assert len(losses) == 120
    means = torch.tensor(losses).reshape(-1, 20).mean(1)
    assert float(means[-1]) < 0.4 * float(means[0])
    # the smoothed curve never goes up by more than noise
    assert torch.all(means[1:] <= means[:-1] * 1.02), means
    assert float(patch_swd(out, src, 64, generator=_gen(12))) < float(
        patch_swd(start, src, 64, generator=_gen(12))
    )


def test_level_stops_early_on_a_plateau():
    src = _structured()
    # starting from the source itself, there is nothing to gain: stop after two windows
    _, losses = match_level(
        src[None], src, steps=200, lr=0.005, projections=16, window=10, tol=0.05, generator=_gen(13)
    )
    assert len(losses) == 20
    assert plateaued(losses, 10, 0.05)


def test_level_steps_spread_the_work_of_the_finest_level():
    sizes = [(180, 250), (153, 213), (130, 181), (46, 64), (20, 28)]
    plan = level_steps(sizes, 300, 50)
    assert plan[0] == 50 and plan[-1] == 300
    assert plan == sorted(plan)  # coarser levels may run longer
    for (h, w), k in zip(sizes, plan, strict=True):
        assert h * w * k <= 180 * 250 * 50  # never more work than the finest level's budget
    assert level_steps(sizes, 300, 0) == [300] * 5  # the authors' schedule


def _steps_taken(**params) -> list[int]:
    """The steps GPDM takes at each level of the structured image, coarsest first."""
    taken: list[int] = []
    gpdm(
        _structured(),
        coarsest=14,
        generator=_gen(20),
        on_level=lambda _, losses: taken.append(len(losses)),
        **params,
    )
    return taken


def test_levels_follow_the_step_plan():
    taken = _steps_taken(steps=40, finest_steps=10, tol=0, projections=4)
    sizes = level_sizes((32, 40), 0.85, depth_for_coarsest((32, 40), 0.85, 14))
    assert taken == level_steps(sizes, 40, 10)[::-1]  # coarsest first
    assert taken[0] == 40 and taken[-1] == 10


@pytest.mark.parametrize(
    "out_size",
    [(32, 40), (48, 64), (32, 24)],  # same, larger (texture synthesis), another aspect ratio
)
def test_output_has_the_requested_size(out_size):
    src = _structured()
    out = gpdm(src, out_size, n=2, coarsest=14, steps=5, projections=8, generator=_gen(14))
    assert out.shape == (2, 3, *out_size)
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_retarget_keeps_the_layout_of_its_initial_guess(photo):
    init = resize(photo, (48, 40))
    out = gpdm(photo, (48, 40), init=init, generator=_gen(15))[0]
    assert out.shape == (3, 48, 40)

    def coarse_gap(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((resize(a, (8, 6)) - resize(b, (8, 6))).abs().mean())

    # the objects stay where the initial guess put them: not mirrored, not shuffled
    assert coarse_gap(out, init) < 0.5 * coarse_gap(out, init.flip(-1))
    assert coherence(out, photo) < 0.25 * coherence(torch.rand_like(out), photo)


def test_deterministic_for_a_seed_and_different_for_another():
    src = _structured()
    kw = dict(coarsest=14, steps=15, projections=8)
    a = gpdm(src, n=2, generator=_gen(16), **kw)
    b = gpdm(src, n=2, generator=_gen(16), **kw)
    c = gpdm(src, n=2, generator=_gen(17), **kw)
    assert torch.equal(a, b)
    assert float((a - c).abs().mean()) > 0.01
    assert float((a[0] - a[1]).abs().mean()) > 0.01  # the samples of a batch differ too


def test_bad_inputs_raise_input_error():
    src = _structured()
    with pytest.raises(InputError):
        gpdm(src[:2])
    with pytest.raises(InputError):
        gpdm(src, (5, 40))
    with pytest.raises(InputError):
        gpdm(src, n=2, init=torch.rand(3, 3, 32, 40))
    with pytest.raises(InputError):
        gpdm(src, n=0)


def test_schedules_fill_the_fields_left_unset():
    assert {k: getattr(GPDMParams(), k) for k in SCHEDULES["authors"]} == SCHEDULES["authors"]
    fast = GPDMParams(schedule="fast")
    assert {k: getattr(fast, k) for k in SCHEDULES["fast"]} == SCHEDULES["fast"]
    assert SCHEDULES["authors"]["projections"] == 64 and SCHEDULES["authors"]["tol"] == 0
    mixed = GPDMParams(schedule="fast", projections=64, power=1)  # given fields win
    assert (mixed.projections, mixed.power, mixed.tol) == (64, 1, SCHEDULES["fast"]["tol"])
    with pytest.raises(InputError, match="schedule must be one of authors, fast"):
        GPDMParams(schedule="paper")


@pytest.mark.parametrize("schedule", ["authors", "fast"])
def test_the_authors_schedule_runs_every_level_to_the_end(schedule):
    steps = _steps_taken(steps=60, schedule=schedule)
    assert len(steps) > 2
    if schedule == "authors":
        assert steps == [60] * len(steps)
    else:  # a plateau or the work budget ends the fine levels early
        assert steps[-1] < 60 and sum(steps) < 60 * len(steps)


@pytest.mark.parametrize("schedule", ["authors", "fast"])
def test_sample_of_a_real_photo_is_coherent_with_it(photo, schedule):
    out = gpdm(photo, generator=_gen(18), schedule=schedule)[0]
    noise = torch.rand(3, 48, 64, generator=_gen(19))
    assert coherence(out, photo) < 0.25 * coherence(noise, photo)
    assert completeness(out, photo) < 0.25 * completeness(noise, photo)
    assert float((out - photo).abs().mean()) > 0.02  # not a copy
