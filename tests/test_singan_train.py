"""SinGAN training: parameters, pyramid, losses, seeds, progress, checkpoints and resume.

Every training here is tiny (24 x 32 px, 2 or 3 scales, a few iterations, 8 channels):
seconds on one CPU core.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from dropgan.engines.singan import SinGANModel, SinGANParams, load_model, save_model, train
from dropgan.engines.singan.pyramid import fit_size, plan_scales, scale_count, upscale
from dropgan.errors import InputError
from dropgan.pyramid import resize

TINY = {"min_size": 12, "width": 8, "min_width": 8, "max_width": 16}


def stripes(h: int = 24, w: int = 32) -> torch.Tensor:
    """A smooth, structured test image in [0, 1]."""
    y = torch.arange(h, dtype=torch.float32)[:, None]
    x = torch.arange(w, dtype=torch.float32)[None]
    r = 0.5 + 0.4 * torch.sin(0.8 * x + 0.3 * y)
    g = (0.5 + 0.4 * torch.cos(0.5 * y)).expand(h, w)
    b = 0.5 + 0.3 * torch.sin(0.4 * (x + y))
    return torch.stack([r, g, b]).clamp(0, 1)


def tensors(model: SinGANModel) -> dict[str, torch.Tensor]:
    """Every number a model holds, by name."""
    out = {"image": model.image, "noise_amp": torch.tensor(model.noise_amp, dtype=torch.float64)}
    for n, (g, z) in enumerate(zip(model.generators, model.z_opt, strict=True)):
        out[f"z_opt.{n}"] = z
        out.update({f"G.{n}.{k}": v for k, v in g.state_dict().items()})
    if model.discriminator is not None:
        out.update({f"D.{k}": v for k, v in model.discriminator.state_dict().items()})
    return out


def assert_same(a: SinGANModel, b: SinGANModel) -> None:
    ta, tb = tensors(a), tensors(b)
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k


# -- parameters ------------------------------------------------------------------------------


def test_schedules_fill_only_what_is_left_unset() -> None:
    paper, fast = SinGANParams().resolved(), SinGANParams(schedule="fast").resolved()
    assert (paper.iters, paper.scales, paper.concurrent, paper.batch_norm) == (2000, None, 1, True)
    assert (paper.lr_g, paper.lr_d, paper.beta1, paper.gp_weight, paper.rec_weight) == (
        5e-4,
        5e-4,
        0.5,
        0.1,
        10.0,
    )
    assert (fast.scales, fast.spacing, fast.concurrent, fast.batch_norm) == (6, "dense", 3, False)
    mixed = SinGANParams(schedule="fast", concurrent=2, batch_norm=True, iters=7).resolved()
    assert (mixed.concurrent, mixed.batch_norm, mixed.iters, mixed.scales) == (2, True, 7, 6)


def test_every_parameter_has_a_one_line_help() -> None:
    for f in dataclasses.fields(SinGANParams):
        text = f.metadata.get("help", "")
        assert text and "\n" not in text, f.name


@pytest.mark.parametrize(
    "bad",
    [
        {"schedule": "slow"},
        {"iters": 0},
        {"iters": 2.5},
        {"scales": 1},
        {"min_size": 5},  # smaller than the 11 px receptive field
        {"max_size": 20, "min_size": 25},
        {"scale_factor": 1.5},
        {"spacing": "linear"},
        {"concurrent": 0},
        {"batch_norm": "yes"},
        {"lr_g": -1.0},
        {"lr_d": float("nan")},
        {"beta1": 1.0},
        {"gamma": 0.0},
        {"d_steps": 0},
        {"rec_weight": -1.0},
        {"max_width": 16, "width": 32},
        {"layers": 2},
    ],
)
def test_bad_parameters_are_one_input_error(bad: dict) -> None:
    with pytest.raises(InputError) as e:
        SinGANParams(**bad)
    assert "\n" not in str(e.value)


def test_train_refuses_unknown_options_and_tiny_images() -> None:
    with pytest.raises(InputError, match="unknown SinGAN parameter"):
        train(stripes(), iters=1, colour=3)
    with pytest.raises(InputError, match="too small"):
        train(stripes(12, 40), iters=1, **TINY)


# -- pyramid ---------------------------------------------------------------------------------


def authors_sizes(h: int, w: int, min_size=25, max_size=250, sf=0.75) -> list[tuple[int, int]]:
    """adjust_scales2image + creat_reals_pyramid, restated with numpy's ceil as imresize."""
    num_scales = math.ceil(math.log(math.pow(min_size / min(h, w), 1), sf)) + 1
    scale2stop = math.ceil(math.log(min(max_size, max(h, w)) / max(h, w), sf))
    stop_scale = num_scales - scale2stop
    scale1 = min(max_size / max(h, w), 1)
    real = np.uint(np.ceil(np.array([h, w]) * scale1)) if scale1 != 1 else np.array([h, w])
    factor = math.pow(min_size / min(real), 1 / stop_scale)
    out = []
    for i in range(stop_scale + 1):
        s = math.pow(factor, stop_scale - i)
        out.append(tuple(int(v) for v in (np.ceil(real * s) if s != 1 else real)))
    return out


@pytest.mark.parametrize("size", [(188, 250), (250, 188), (750, 1000), (333, 500), (120, 90)])
def test_scale_sizes_are_the_authors(size: tuple[int, int]) -> None:
    assert list(plan_scales(size, SinGANParams()).sizes) == authors_sizes(*size)


def test_a_250x188_image_has_ten_scales_and_a_refitted_factor() -> None:
    s = plan_scales((188, 250), SinGANParams())
    assert len(s) == scale_count((188, 250), SinGANParams()) == 10
    assert s.ratio == pytest.approx((25 / 188) ** (1 / 9))
    assert fit_size((750, 1000), 250) == (188, 250)


def test_fast_spacing_is_consinGANs_dense_low_resolutions() -> None:
    s = plan_scales((188, 250), SinGANParams(schedule="fast"))
    stop = 5
    want = [(stop - 1) / math.log(stop) * math.log(stop - n) + 1 for n in range(stop)] + [0]
    assert s.exponents == pytest.approx(want)
    heights = [h for h, _ in s.sizes]
    assert heights[0] == 25 and heights[-1] == 188
    # dense at low resolution: the gaps between exponents grow from the coarsest scale up
    # to the second finest; the finest is one plain factor above it
    gaps = -np.diff(s.exponents)
    assert np.all(np.diff(gaps[:-1]) > 0) and gaps[-1] == 1.0


def test_upscale_is_resize_to_the_ceiling_then_a_top_left_crop() -> None:
    x = torch.rand(1, 3, 25, 34) * 2 - 1
    want = resize(x, (math.ceil(25 / 0.8), math.ceil(34 / 0.8)))[..., :31, :42].clamp(-1, 1)
    assert torch.allclose(upscale(x, 1 / 0.8, (31, 42)), want, atol=1e-6)


# -- training --------------------------------------------------------------------------------


def test_critic_loss_and_reconstruction_error_fall() -> None:
    model = train(stripes(), iters=30, scales=2, seed=0, device="cpu", **TINY)
    for n, log in enumerate(model.losses):
        critic = -np.array(log["wasserstein"]) + 0.1 * np.array(log["gp"])
        rec = np.array(log["rec"])
        assert critic[-6:].mean() < critic[:6].mean() - 0.15, n
        assert rec[-6:].mean() < 0.5 * rec[:6].mean(), n
    assert model.noise_amp[0] == 1.0
    assert 0 < model.noise_amp[1] < 0.1  # 0.1 x an RMSE below 1 on [-1, 1] values


def test_same_seed_same_model_other_seed_other_model() -> None:
    a = train(stripes(), iters=3, scales=2, seed=5, device="cpu", **TINY)
    b = train(stripes(), iters=3, scales=2, seed=5, device="cpu", **TINY)
    c = train(stripes(), iters=3, scales=2, seed=6, device="cpu", **TINY)
    assert_same(a, b)
    assert not torch.equal(a.z_opt[0], c.z_opt[0])
    assert not torch.equal(a.generators[1].tail[0].weight, c.generators[1].tail[0].weight)


def test_finished_scales_are_frozen_and_the_reconstruction_noise_is_fixed() -> None:
    model = train(stripes(), iters=2, scales=3, seed=0, device="cpu", **TINY)
    assert all(not g.training for g in model.generators)
    assert all(not p.requires_grad for g in model.generators for p in g.parameters())
    assert model.z_opt[0].shape == (1, *model.scales.sizes[0])  # one channel, broadcast
    assert all(not z.any() for z in model.z_opt[1:])  # zeros above the coarsest scale


@pytest.mark.parametrize("schedule", ["paper", "fast"])
def test_interrupted_after_a_scale_and_resumed_equals_uninterrupted(
    schedule: str, tmp_path
) -> None:
    opts = {"schedule": schedule, "iters": 3, "scales": 3, "seed": 2, "device": "cpu", **TINY}
    if schedule == "fast":
        opts["concurrent"] = 2
    whole = train(stripes(), **opts)

    class Stop(Exception):
        pass

    def save_then_stop(model: SinGANModel) -> None:
        save_model(model, tmp_path / "model")
        if model.done == 1:
            raise Stop

    with pytest.raises(Stop):
        train(stripes(), checkpoint=save_then_stop, **opts)
    partial = load_model(tmp_path / "model")
    assert partial.done == 1 and not partial.complete
    with pytest.raises(InputError, match="scales trained"):
        from dropgan.engines.singan import sample

        sample(partial)
    resumed = train(None, resume=tmp_path / "model", device="cpu")
    assert resumed.complete
    assert_same(resumed, whole)


def test_resume_refuses_other_parameters_seed_or_image(tmp_path) -> None:
    model = train(stripes(), iters=1, scales=2, seed=1, device="cpu", **TINY)
    with pytest.raises(InputError, match="iters"):
        train(stripes(), SinGANParams(iters=2, scales=2, **TINY), resume=model)
    with pytest.raises(InputError, match="seed"):
        train(stripes(), resume=model, seed=9)
    with pytest.raises(InputError, match="not the one"):
        train(stripes().flip(-1), resume=model)


def test_progress_reports_every_iteration_and_its_exception_stops_training() -> None:
    events = []
    train(stripes(), iters=3, scales=2, seed=0, device="cpu", progress=events.append, **TINY)
    stages = [e.stage for e in events]
    assert stages[:6] == ["scale 1/2"] * 3 + ["scale 2/2"] * 3
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0

    seen, saved = [], []

    def cancel(event) -> None:
        seen.append(event)
        if len(seen) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(stripes(), iters=3, scales=2, progress=cancel, checkpoint=saved.append, **TINY)
    assert len(seen) == 4  # stopped inside the second scale, at once
    assert [m.done for m in saved] == [1]  # the first scale was checkpointed, no more
