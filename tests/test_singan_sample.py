"""SinGAN sampling: any size, every start scale, seeds; and the engine interface."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from dropgan.engines import base
from dropgan.engines.base import Problem, Run, Source
from dropgan.engines.singan import SinGAN, SinGANModel, SinGANParams, sample, train
from dropgan.engines.singan.model import generator_step
from dropgan.engines.singan.pyramid import plan_scales, upscale
from dropgan.errors import InputError
from dropgan.progress import Progress
from dropgan.pyramid import pyramid

TINY = {"min_size": 12, "width": 8, "min_width": 8, "max_width": 16}


@pytest.fixture(scope="module")
def model() -> SinGANModel:
    x = torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(0))
    return train(x, iters=2, scales=3, seed=0, device="cpu", **TINY)


def reconstruction(model: SinGANModel) -> torch.Tensor:
    """The coarse-to-fine pass with z_opt at every scale, restated from the model's parts."""
    x = None
    for n, g in enumerate(model.generators):
        size = model.scales.sizes[n]
        prev = torch.zeros(1, 3, *size) if x is None else upscale(x, model.scales.factor(n), size)
        x = generator_step(g, model.z_opt[n][None], prev, model.noise_amp[n], model.params.pad)
    return ((x[0] + 1) / 2).clamp(0, 1)


@pytest.mark.parametrize("start", [0, 1, 2, 3])
@pytest.mark.parametrize("size", [(24, 32), (20, 50), (40, 20), (7, 9), (31, 45)])
def test_any_size_from_every_start_scale(model: SinGANModel, start: int, size) -> None:
    (y,) = sample(model, size=size, start_scale=start, seed=3)
    assert y.shape == (3, *size)
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


def test_start_scale_at_the_top_is_the_reconstruction(model: SinGANModel) -> None:
    a, b = sample(model, n=2, start_scale=len(model.scales))
    assert torch.equal(a, b)
    with torch.no_grad():
        assert torch.allclose(a, reconstruction(model), atol=1e-6)


def test_scales_below_the_start_replay_the_reconstruction(model: SinGANModel) -> None:
    quiet = dataclasses.replace(model, noise_amp=[*model.noise_amp[:-1], 0.0])
    # with no noise at the finest scale, starting there leaves nothing random
    a, b = sample(quiet, n=2, size=(20, 50), start_scale=2)
    assert torch.equal(a, b)
    # starting one scale lower draws noise at scale 1
    c, d = sample(quiet, n=2, size=(20, 50), start_scale=1)
    assert not torch.equal(c, d)


def test_seeds_fix_samples_whatever_their_number(model: SinGANModel) -> None:
    few, many = sample(model, n=3, seed=4), sample(model, n=5, seed=4)
    for a, b in zip(few, many[:3], strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(many[0], many[1])
    assert not torch.equal(sample(model, seed=5)[0], few[0])


def test_scale_is_a_size_relative_to_the_model(model: SinGANModel) -> None:
    by_scale = sample(model, scale=(1.0, 1.5), seed=1)[0]
    by_size = sample(model, size=(24, 48), seed=1)[0]
    assert torch.equal(by_scale, by_size)


@pytest.mark.parametrize(
    "bad",
    [
        {"start_scale": 4},
        {"start_scale": -1},
        {"size": (0, 5)},
        {"size": (10, 10), "scale": 2.0},
        {"scale": -1.0},
        {"n": 0},
        {"seed": -3},
    ],
)
def test_bad_sampling_arguments_are_one_input_error(model: SinGANModel, bad: dict) -> None:
    with pytest.raises(InputError) as e:
        sample(model, **bad)
    assert "\n" not in str(e.value)


# -- the engine interface -------------------------------------------------------------------


def test_the_engine_registers_and_takes_its_parameters(monkeypatch) -> None:
    monkeypatch.setattr(base, "ENGINES", {})
    engine = base.register(SinGAN())
    assert base.get_engine("singan") is engine
    assert engine.tasks == frozenset(
        {"generate", "paint2image", "harmonize", "edit", "superres", "denoise", "animate"}
    )
    params = engine.params("generate", {"schedule": "fast", "iters": 2, "sigma": None})
    assert params.resolved().scales == 6
    with pytest.raises(InputError):
        engine.params("generate", {"alpha": 0.1})
    with pytest.raises(InputError):
        engine.params("retarget", {})


def test_depth_and_level_sizes_are_singans_pyramid() -> None:
    engine, params = SinGAN(), SinGANParams()
    depth = engine.depth(params, [(188, 250)], (188, 250), lambda r, p: 3)
    assert depth == 9
    sizes = engine.level_sizes(params, (188, 250), depth)
    assert sizes == list(reversed(plan_scales((188, 250), params).sizes))
    # a larger image keeps its size at level 0 (fit shrinks it), then the model's scales
    big = engine.level_sizes(params, (750, 1000), engine.depth(params, [(750, 1000)], (), None))
    assert big == [(750, 1000), *reversed(plan_scales((750, 1000), params).sizes[:-1])]
    # an output too small to train on still gets depth + 1 levels, all of its size
    assert engine.level_sizes(params, (20, 30), depth) == [(20, 30)] * (depth + 1)


def test_synthesize_fits_then_samples_like_a_task_would() -> None:
    engine = SinGAN()
    params = SinGANParams(iters=2, **TINY)
    x = torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(1))
    depth = engine.depth(params, [(24, 32)], (24, 48), lambda r, p: 3)
    source = Source(pyramid(x, engine.level_sizes(params, (24, 32), depth)))
    problem = Problem((source,), tuple(engine.level_sizes(params, (24, 48), depth)))
    events = []
    run = Run(torch.device("cpu"), 7, Progress(events.append))
    y = engine.synthesize(problem, params, run)
    assert y.shape == (3, 24, 48) and y.min() >= 0 and y.max() <= 1
    assert events[-1].stage.startswith("sampling") and events[0].stage.startswith("training")
    model = engine.fit(source, params, Run(torch.device("cpu"), 7))
    assert len(model.scales) == depth + 1 and model.complete
    again = engine.sample(model, problem, Run(torch.device("cpu"), 7))
    assert torch.equal(again, y)  # the same seed trains the same model and draws the same noise


def test_a_source_larger_than_max_size_samples_at_the_model_size() -> None:
    engine = SinGAN()
    params = SinGANParams(iters=1, max_size=32, **TINY)
    x = torch.rand(3, 48, 64, generator=torch.Generator().manual_seed(1))
    depth = engine.depth(params, [(48, 64)], (48, 128), lambda r, p: 3)
    source = Source(pyramid(x, engine.level_sizes(params, (48, 64), depth)))
    assert source.levels[0].shape == (3, 48, 64)
    model = engine.fit(source, params, Run(torch.device("cpu"), 0))
    assert model.size == (24, 32)
    wide = Problem((source,), tuple(engine.level_sizes(params, (48, 128), depth)))
    assert engine.sample(model, wide, Run(torch.device("cpu"), 0)).shape == (3, 24, 64)
    alone = Problem((), ((20, 50),))  # no source: the size as is
    assert engine.sample(model, alone, Run(torch.device("cpu"), 0)).shape == (3, 20, 50)
