"""SinGAN model folders: round trips, atomic writes, and one clear error for bad folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import safetensors.torch
import torch

from dropgan._version import __version__
from dropgan.engines.singan import SinGANModel, load_model, sample, save_model, train
from dropgan.engines.singan.files import CONFIG, FORMAT_VERSION, WEIGHTS
from dropgan.errors import InputError, OutputError

TINY = {"min_size": 12, "width": 8, "min_width": 8, "max_width": 16}


@pytest.fixture(scope="module")
def model() -> SinGANModel:
    x = torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(2))
    return train(x, iters=2, scales=3, seed=3, device="cpu", **TINY)


@pytest.fixture()
def folder(model: SinGANModel, tmp_path: Path) -> Path:
    return save_model(model, tmp_path / "model")


def test_save_load_sample_gives_identical_pixels(model: SinGANModel, folder: Path) -> None:
    loaded = load_model(folder)
    for kwargs in ({}, {"start_scale": 1}, {"size": (20, 45)}, {"start_scale": 2, "scale": 1.5}):
        want = sample(model, n=2, seed=11, **kwargs)
        got = sample(loaded, n=2, seed=11, **kwargs)
        for a, b in zip(want, got, strict=True):
            assert torch.equal(a, b), kwargs
    assert loaded.noise_amp == model.noise_amp and loaded.params == model.params
    assert torch.equal(loaded.image, model.image)
    # a folder path samples as well, with no training image given
    assert torch.equal(sample(folder, seed=11)[0], sample(model, seed=11)[0])


def test_the_folder_holds_safetensors_and_a_readable_config(model, folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG, WEIGHTS]
    config = json.loads((folder / CONFIG).read_text())
    assert config["format_version"] == FORMAT_VERSION
    assert config["dropgan_version"] == __version__
    assert config["seed"] == 3 and config["scales_done"] == 3
    assert config["params"]["schedule"] == "paper" and config["params"]["iters"] == 2
    assert config["scales"]["sizes"] == [list(s) for s in model.scales.sizes]
    assert config["noise_amp"] == model.noise_amp
    names = safetensors.torch.load_file(folder / WEIGHTS).keys()
    assert {"image", "z_opt.0", "G.2.tail.0.weight", "D.tail.weight"} <= set(names)
    assert "G.0.body.0.norm.running_mean" in names  # BatchNorm buffers travel too


def test_saving_over_a_model_replaces_it_atomically(model, folder: Path, monkeypatch) -> None:
    other = train(None, resume=model, device="cpu")  # a copy, complete
    other.noise_amp = [*other.noise_amp[:-1], 0.5]
    save_model(other, folder)
    assert load_model(folder).noise_amp[-1] == 0.5
    assert sorted(p.name for p in folder.parent.iterdir()) == ["model"]  # no leftovers

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", fail)
    with pytest.raises(OSError, match="disk full"):
        save_model(model, folder)
    assert load_model(folder).noise_amp[-1] == 0.5  # the old model is intact
    assert sorted(p.name for p in folder.parent.iterdir()) == ["model"]


def test_saving_never_overwrites_a_folder_that_is_not_a_model(model, tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    with pytest.raises(OutputError):
        save_model(model, tmp_path / "photos")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / CONFIG).write_text('{"model_type": "bert"}')
    with pytest.raises(OutputError):
        save_model(model, tmp_path / "other")  # a config.json, but not one of ours
    with pytest.raises(OutputError):
        save_model(model, tmp_path / "missing" / "model")
    assert (tmp_path / "photos" / "a.jpg").read_bytes() == b"x"


def _edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / CONFIG).read_text())
    config.update(changes)
    (folder / CONFIG).write_text(json.dumps(config))


def _edit_tensors(folder: Path, edit) -> None:
    tensors = safetensors.torch.load_file(folder / WEIGHTS)
    edit(tensors)
    safetensors.torch.save_file(tensors, folder / WEIGHTS)


BREAKAGES = {
    "missing folder": lambda f: f.rename(f.with_name("gone")),
    "missing config": lambda f: (f / CONFIG).unlink(),
    "missing weights": lambda f: (f / WEIGHTS).unlink(),
    "corrupt json": lambda f: (f / CONFIG).write_text('{"format": "dropgan-singan", '),
    "json not a model": lambda f: (f / CONFIG).write_text("[1, 2]"),
    "newer version": lambda f: _edit_config(f, format_version=FORMAT_VERSION + 1),
    "bad parameters": lambda f: _edit_config(f, params={"iters": -1}),
    "unknown parameter": lambda f: _edit_config(f, params={"colour": 3}),
    "inconsistent counts": lambda f: _edit_config(f, noise_amp=[1.0]),
    "truncated weights": lambda f: (f / WEIGHTS).write_bytes((f / WEIGHTS).read_bytes()[:500]),
    "last byte cut": lambda f: (f / WEIGHTS).write_bytes((f / WEIGHTS).read_bytes()[:-1]),
    "garbage weights": lambda f: (f / WEIGHTS).write_bytes(b"\x00\x01" * 100),
    "a pickle as weights": lambda f: torch.save({"a": torch.zeros(2)}, f / WEIGHTS),
    "wrong shape": lambda f: _edit_tensors(
        f, lambda t: t.update({"G.1.tail.0.weight": torch.zeros(3, 4, 3, 3)})
    ),
    "missing tensor": lambda f: _edit_tensors(f, lambda t: t.pop("D.tail.bias")),
    "extra tensor": lambda f: _edit_tensors(f, lambda t: t.update({"G.9.x": torch.zeros(1)})),
    "wrong z_opt": lambda f: _edit_tensors(f, lambda t: t.update({"z_opt.0": torch.zeros(3)})),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_bad_model_folder_is_one_input_error(folder: Path, breakage: str) -> None:
    BREAKAGES[breakage](folder)
    with pytest.raises(InputError) as e:
        load_model(folder)
    message = str(e.value)
    assert "\n" not in message and str(folder) in message
    if breakage == "newer version":
        assert "upgrade dropgan" in message
