"""The web app's requests, without Gradio: parameter fields from the engines' dataclasses,
the API call, the output files and the command line that makes the same images."""

from __future__ import annotations

import dataclasses
import json
import math
import shlex

import numpy as np
import pytest
import torch

import dropgan
from dropgan import cli
from dropgan.engines import ENGINES
from dropgan.errors import InputError
from dropgan.image import read_metadata
from dropgan.pyramid import resize
from dropgan.ui.fields import param_fields, parse_params
from dropgan.ui.runs import (
    TASKS,
    RunRequest,
    call,
    command_line,
    output_names,
    parse_scale,
    parse_size,
    summary,
    write_outputs,
)

SERVED = [(e, t) for e, eng in ENGINES.items() for t in TASKS if t in eng.tasks]


@pytest.mark.parametrize(("engine", "task"), SERVED)
def test_every_engine_parameter_is_a_field_with_the_tasks_default(engine, task):
    eng = ENGINES[engine]
    fields = param_fields(engine, task)
    names = [f.name for f in dataclasses.fields(eng.params_type)]
    assert [f.name for f in fields] == names
    resolved = eng.params(task, {})  # the task's defaults over the engine's
    for f in fields:
        assert (
            f.help
            == {d.name: d for d in dataclasses.fields(eng.params_type)}[f.name].metadata["help"]
        )
        if f.default is not None:  # None: the engine decides (it may from other fields)
            assert f.default == getattr(resolved, f.name)
        else:
            assert f.kind in ("text", "choice") and f.value in ("", None)
    # the page as it opens asks for nothing: every value is the default
    assert parse_params(engine, task, {f.name: f.value for f in fields}) == {}


def test_fields_that_a_number_box_cannot_hold_are_text():
    f = {p.name: p for p in param_fields("gpnn", "generate")}
    assert f["iters"].kind == "int" and f["ratio"].kind == "float"
    assert f["alpha"].kind == "text" and f["alpha"].value == "inf"  # JSON has no infinity
    assert f["nn"].kind in ("text", "choice") and f["nn"].default is None


def test_changed_fields_are_read_back_as_the_api_takes_them():
    values = {"iters": 2.0, "alpha": " 0.01 ", "nn": "exact", "ratio": 0.75, "memory_budget": ""}
    params = parse_params("gpnn", "generate", values)
    assert params == {"iters": 2, "alpha": 0.01, "nn": "exact"}
    assert isinstance(params["iters"], int)
    assert ENGINES["gpnn"].params("generate", params).alpha == 0.01
    with pytest.raises(InputError, match="alpha must be a number"):
        parse_params("gpnn", "generate", {"alpha": "lots"})


def test_optional_flags_are_read_from_text():
    from dropgan.ui.fields import ParamField, _read

    flag = ParamField("batch_norm", "text", None, "h", bool)
    assert [_read(flag, t) for t in ("True", " no ", "", "1")] == [True, False, None, True]
    with pytest.raises(InputError, match="true or false"):
        _read(flag, "maybe")


def test_sizes_and_scales_read_as_the_command_line_reads_them():
    assert parse_size("400x180") == cli._size("400x180")
    assert parse_scale("1.5x0.5") == cli._scale("1.5x0.5") and parse_scale("2") == 2.0
    assert parse_size("") is None and parse_scale(None) is None
    for bad in ("400", "0x10", "axb"):
        with pytest.raises(InputError, match="size"):
            parse_size(bad)
    for bad in ("0", "1x2x3", "inf"):
        with pytest.raises(InputError, match="scale"):
            parse_scale(bad)


def test_a_request_refuses_what_its_task_does_not_take():
    with pytest.raises(InputError, match="no option"):
        RunRequest("inpaint", {}, {"n": 2})
    with pytest.raises(InputError, match="unknown task"):
        RunRequest("paint", {})
    with pytest.raises(InputError, match="give the image and the mask first"):
        call(RunRequest("inpaint", {}))
    with pytest.raises(InputError, match="give the background and the naive and the mask"):
        call(RunRequest("harmonize", {}))
    with pytest.raises(InputError, match="no option"):
        RunRequest("superres", {}, {"sigma": 0.1})
    # the command line has --no-refine only: refine=True would mean another run with SinGAN
    with pytest.raises(InputError, match="None .* or False"):
        RunRequest("paint2image", {}, {"refine": True})


@pytest.fixture
def folder(tmp_path, small_photo):
    """Input files as a user has them: two photos and a mask."""
    d = tmp_path / "inputs"
    d.mkdir()
    dropgan.write_image(small_photo, d / "photo.png")
    dropgan.write_image(resize(small_photo.flip(-1), (56, 80)).clamp(0, 1), d / "other.png")
    dropgan.write_image(resize(small_photo, (32, 48)).clamp(0, 1), d / "small.png")
    dropgan.write_image(resize(small_photo.flip(-1), (28, 40)).clamp(0, 1), d / "other_small.png")
    mask = np.zeros((64, 96), np.uint8)
    mask[20:34, 40:60] = 255
    dropgan.write_image(mask, d / "hole.png")
    painted = small_photo.clone()
    painted[:, 20:34, 40:60] = torch.tensor([0.2, 0.4, 0.9])[:, None, None]
    dropgan.write_image(painted, d / "painted.png")
    edited = small_photo.clone()
    edited[:, 10:24, 10:30] = small_photo[:, 40:54, 60:80]
    dropgan.write_image(edited, d / "edited.png")
    g = torch.Generator().manual_seed(0)
    small = resize(small_photo, (32, 48)).clamp(0, 1)
    noisy = (small + 0.1 * torch.randn(small.shape, generator=g)).clamp(0, 1)
    dropgan.write_image(noisy, d / "noisy.png")
    paint = torch.empty(3, 40, 56)
    paint[:] = torch.tensor([0.3, 0.5, 0.8])[:, None, None]  # sky over ground
    paint[:, 24:] = torch.tensor([0.3, 0.45, 0.2])[:, None, None]
    dropgan.write_image(paint, d / "sketch.png")
    return d


FAST = {"iters": 1, "nn": "exact"}
REQUESTS = {
    "generate": lambda d: RunRequest(
        "generate",
        {"image": d / "photo.png"},
        {"n": 2, "start": 3, "seed": 7, "sigma": 0.5, "scale": (1.0, 0.75)},
        params={**FAST, "alpha": 0.01},
    ),
    "retarget": lambda d: RunRequest(
        "retarget",
        {"image": d / "photo.png"},
        {"size": (64, 112), "max_step": 1.2},
        params={**FAST, "coarsest_iters": 1},
    ),
    "analogy": lambda d: RunRequest(
        "analogy",
        {"source": d / "photo.png", "structure": d / "other.png"},
        {"refine": False, "levels": 2},
        params=FAST,
    ),
    "inpaint": lambda d: RunRequest(
        "inpaint",
        {"image": d / "painted.png", "mask": d / "hole.png"},
        {"steer": "painted"},
        params=FAST,
    ),
    "collage": lambda d: RunRequest(
        "collage",
        {"images": [d / "photo.png", d / "other.png"]},
        {"seed": 1, "size": (56, 120)},
        params={**FAST, "coarsest_iters": 1},
    ),
    "edit": lambda d: RunRequest(
        "edit",
        {"original": d / "photo.png", "edited": d / "edited.png"},
        {"n": 2, "sigma": 0.1},
        params=FAST,
    ),
    "superres": lambda d: RunRequest(
        "superres",
        {"image": d / "small.png"},
        {"factor": 2.0, "back_projection": 1, "seed": 3},
        params={"nn": "exact"},
    ),
    "denoise": lambda d: RunRequest(
        "denoise", {"image": d / "noisy.png"}, {"sigma": 0.1}, params={"nn": "exact"}
    ),
    "paint2image": lambda d: RunRequest(
        "paint2image",
        {"source": d / "small.png", "paint": d / "sketch.png"},
        {"refine": False, "quantize": True, "levels": 1},
        params=FAST,
    ),
    "paint2image-refined": lambda d: RunRequest(
        "paint2image",
        {"source": d / "small.png", "paint": d / "sketch.png"},
        {"levels": 1, "seed": 4},
        params={**FAST, "alpha": 0.01},
    ),
    "harmonize": lambda d: RunRequest(
        "harmonize",
        {"background": d / "photo.png", "naive": d / "painted.png", "mask": d / "hole.png"},
        {"levels": 1},
        params=FAST,
    ),
    "gpdm": lambda d: RunRequest(
        "generate",
        {"image": d / "photo.png"},
        {"seed": 2},
        "gpdm",
        {"steps": 3, "projections": 4, "finest_steps": 3},
    ),
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_the_command_line_shown_makes_the_same_images(name, folder, tmp_path, monkeypatch):
    """Run a request as the page does, then its command line as a user would, in the folder
    of the inputs: the same file names, the same pixels, the same metadata."""
    req = REQUESTS[name](folder)
    result = call(req)
    paths = write_outputs(req, result, tmp_path / "ui")
    assert [p.name for p in paths] == output_names(req, len(result))
    for i, p in enumerate(paths):
        assert read_metadata(p) == _json(result.metadata_of(i))
    command = command_line(req)
    assert command.startswith(f"dropgan {req.task} ")
    assert str(folder) not in command  # inputs by their names, as the user knows them
    monkeypatch.chdir(folder)
    argv = shlex.split(command)[1:] + ["--out", str(tmp_path / "cli"), "--quiet"]
    assert cli.main(argv) == 0
    for p in paths:
        mine = tmp_path / "cli" / p.name  # the command line names its files alike
        assert np.array_equal(_pixels(mine), _pixels(p))
        assert read_metadata(mine) == read_metadata(p)


def _pixels(path) -> np.ndarray:
    return (dropgan.read_image(path) * 255).round().byte().numpy()


def _json(meta):
    return json.loads(json.dumps(meta, sort_keys=True, default=str))


def test_defaults_are_left_out_of_the_command_line():
    req = RunRequest(
        "generate",
        {"image": "/somewhere/x.jpg"},
        {"n": 1, "start": 0, "sigma": 0.75, "seed": 0, "levels": None, "device": None},
    )
    assert command_line(req) == "dropgan generate x.jpg --seed 0"
    req = RunRequest("analogy", {"source": "/a/s.png", "structure": "/a/t.png"}, {"refine": True})
    assert command_line(req) == "dropgan analogy --source s.png --structure t.png"
    req = RunRequest("inpaint", {"image": "a b.png", "mask": "m.png"}, params={"alpha": math.inf})
    assert command_line(req) == "dropgan inpaint 'a b.png' --mask m.png --alpha inf"
    req = RunRequest("superres", {"image": "/a/x.png"}, {"factor": 4.0, "back_projection": None})
    assert command_line(req) == "dropgan superres x.png"
    assert output_names(req, 1) == output_names(RunRequest("superres", {"image": "x"}), 1)
    assert output_names(req, 1) == ["x_x4.png"]
    req = RunRequest(
        "paint2image",
        {"source": "/a/s.png", "paint": "/b/p.png"},
        {"refine": None, "quantize": False},
    )
    assert command_line(req) == "dropgan paint2image --source s.png --paint p.png"
    req = RunRequest("denoise", {"image": "/a/n.png"}, {"sigma": None}, "singan")
    assert command_line(req) == "dropgan denoise n.png --engine singan"


def test_summary_lists_the_resolved_parameters(small_photo):
    result = dropgan.generate(small_photo, levels=1, iters=1, nn="exact")
    text = summary(result)
    assert "**generate** with **gpnn**, seed 0, 1 pyramid levels" in text
    for name, value in result.metadata["params"].items():
        assert f"{name} = " in text, (name, value)
