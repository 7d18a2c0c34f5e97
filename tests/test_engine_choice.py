"""Both engines through the shared API and CLI."""

import pytest
import torch
from PIL import Image

import dropgan
from dropgan.cli import main
from dropgan.errors import InputError
from dropgan.metrics import coherence

GPDM_FAST = dict(engine="gpdm", steps=10, coarsest=14, ratio=0.7)


def test_gpdm_generates_through_the_shared_api(small_photo):
    a = dropgan.generate(small_photo, n=2, seed=3, size=(40, 120), **GPDM_FAST)
    b = dropgan.generate(small_photo, n=2, seed=3, size=(40, 120), **GPDM_FAST)
    assert [tuple(y.shape) for y in a] == [(3, 40, 120)] * 2
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[0], a[1])


def test_gpdm_retargets_through_the_shared_api(small_photo):
    y = dropgan.retarget(small_photo, size=(64, 140), **GPDM_FAST).image
    assert y.shape == (3, 64, 140)
    assert coherence(y, small_photo) < coherence(torch.rand_like(y), small_photo)


def test_gpnn_only_options_are_refused_for_gpdm(small_photo):
    with pytest.raises(InputError, match="do not apply to the gpdm engine"):
        dropgan.generate(small_photo, engine="gpdm", alpha=1.0)
    with pytest.raises(InputError, match="nn do not apply to the gpdm engine"):
        dropgan.generate(small_photo, engine="gpdm", nn="exact")
    with pytest.raises(InputError, match="unknown engine"):
        dropgan.generate(small_photo, engine="nope")


def test_cli_engine_option(tmp_path, small_photo):
    src = tmp_path / "p.png"
    dropgan.write_image(small_photo[:, ::2, ::2], src)
    out = tmp_path / "out"
    fast = ["--engine", "gpdm", "--steps", "10", "--ratio", "0.7", "--quiet", "--out", str(out)]
    assert main(["generate", str(src), "--size", "60x30", *fast]) == 0
    assert main(["retarget", str(src), "--size", "64x32", *fast]) == 0
    assert Image.open(out / "p_0.png").size == (60, 30)
    assert Image.open(out / "p_64x32.png").size == (64, 32)
    assert (
        main(
            ["generate", str(src), "--engine", "gpdm", "--iters", "3", "--out", str(tmp_path / "x")]
        )
        == 2
    )
    assert not (tmp_path / "x").exists()


def test_cli_gpdm_schedule_options_reach_the_engine(tmp_path, small_photo):
    src = tmp_path / "p.png"
    dropgan.write_image(small_photo[:, ::2, ::2], src)
    x = dropgan.read_image(src)
    schedule = ["--steps", "8", "--finest-steps", "0", "--tol", "0", "--ratio", "0.7"]
    out = tmp_path / "out"
    assert (
        main(["generate", str(src), "--engine", "gpdm", *schedule, "--quiet", "--out", str(out)])
        == 0
    )
    api = dropgan.generate(x, engine="gpdm", steps=8, finest_steps=0, tol=0, ratio=0.7)[0]
    budgeted = dropgan.generate(x, engine="gpdm", steps=8, finest_steps=1, tol=0, ratio=0.7)[0]
    written = dropgan.read_image(out / "p_0.png")
    assert (written - api).abs().max() <= 0.5 / 255 + 1e-6  # only 8-bit rounding
    assert (written - budgeted).abs().max() > 1 / 255  # a budget of 1 step changes the result
    bad = [
        "generate",
        str(src),
        "--engine",
        "gpdm",
        "--finest-steps",
        "-1",
        "--out",
        str(tmp_path / "y"),
    ]
    assert main(bad) == 2
    assert not (tmp_path / "y").exists()
