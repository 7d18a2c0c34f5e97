"""SinGAN through the shared API and the command line: train, save, resume, sample."""

from __future__ import annotations

import pytest
import torch

import dropgan
from dropgan.cli import main
from dropgan.errors import InputError

TINY = {"iters": 3, "scales": 3, "min_size": 12, "max_size": 40}


@pytest.fixture
def photo(small_photo):
    return small_photo[:, ::2, ::2].contiguous()  # 48x32


def test_generate_trains_once_and_samples_differ(photo):
    out = dropgan.generate(photo, n=2, engine="singan", seed=1, **TINY)
    assert [tuple(y.shape) for y in out] == [(3, 27, 40)] * 2  # the model's size: 40 px long
    assert not torch.equal(out[0], out[1])
    assert out.metadata["engine"] == "singan" and out.metadata["params"]["iters"] == 3
    again = dropgan.generate(photo, n=1, start=1, engine="singan", seed=1, **TINY)
    assert torch.equal(again[0], out[1])  # sample 1 does not depend on n


def test_a_saved_model_samples_like_the_trained_one(photo, tmp_path):
    model = dropgan.train(photo, tmp_path / "m", seed=2, **TINY)
    direct = dropgan.generate(model=model, n=2, seed=5, scale=(1, 1.5))
    loaded = dropgan.generate(model=tmp_path / "m", n=2, seed=5, scale=(1, 1.5))
    assert all(torch.equal(a, b) for a, b in zip(direct, loaded, strict=True))
    assert direct[0].shape == (3, 27, 60)
    other = dropgan.generate(model=model, n=1, seed=5, start_scale=2)
    assert not torch.equal(other[0], direct[0][:, :, :40])
    with pytest.raises(InputError, match="fixed by the trained model"):
        dropgan.generate(model=model, iters=5)


def test_an_interrupted_training_resumes_to_the_same_model(photo, tmp_path):
    whole = dropgan.train(photo, tmp_path / "whole", seed=3, **TINY)
    events = []

    def stop_in_scale_two(event):
        events.append(event)
        if event.stage.startswith("scale 2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dropgan.train(photo, tmp_path / "part", seed=3, progress=stop_in_scale_two, **TINY)
    resumed = dropgan.train(None, tmp_path / "part", resume=True)
    a = dropgan.generate(model=whole, n=1, seed=0)[0]
    b = dropgan.generate(model=resumed, n=1, seed=0)[0]
    assert torch.equal(a, b)


def test_the_command_line_trains_and_samples(tmp_path, photo, capsys):
    src = tmp_path / "p.png"
    dropgan.write_image(photo, src)
    model = tmp_path / "model"
    flags = ["--iters", "3", "--scales", "3", "--min-size", "12", "--max-size", "40"]
    assert main(["train", str(src), "--out", str(model), "--quiet", *flags]) == 0
    assert main(["train", str(src), "--out", str(model), "--quiet", *flags]) == 2
    assert "exists" in capsys.readouterr().err
    out = tmp_path / "samples"
    argv = ["generate", "--model", str(model), "-n", "2", "--scale", "2x1", "--out", str(out)]
    assert main([*argv, "--start-scale", "1", "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["model_0.png", "model_1.png"]
    assert dropgan.read_image(out / "model_0.png").shape == (3, 27, 80)


def test_bad_model_folders_are_one_error_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    (tmp_path / "broken" / "model.safetensors").write_bytes(b"\0" * 16)
    for folder in ("empty", "broken", "missing"):
        status = main(["generate", "--model", str(tmp_path / folder), "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert status == 2 and len(err.strip().splitlines()) == 1, err
        assert err.startswith("dropgan: error:")
    assert not (tmp_path / "o").exists()
