"""The core: one engine interface and registry, progress events with cancellation, and
results that carry their metadata."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import pytest
import torch
from PIL import Image

import dropgan
from dropgan.cli import main
from dropgan.engines import ENGINES, Engine, Problem, Run
from dropgan.errors import InputError
from dropgan.progress import Progress, ProgressEvent

FAST = {"nn": "exact", "iters": 1}


@dataclass(frozen=True)
class FlatParams:
    patch_size: int = field(default=3, metadata={"help": "patch side"})
    ratio: float = field(default=0.5, metadata={"help": "pyramid factor"})
    gain: float = field(default=1.0, metadata={"help": "multiplies the mean colour"})


class Flat(Engine):
    """A third engine that no task knows: the source's mean colour times ``gain``, plus the
    task's noise averaged away, at the output size; it records what it was asked."""

    name = "flat"
    summary = "the source's mean colour (a test engine)"
    params_type = FlatParams
    tasks = frozenset({"generate", "retarget"})

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def synthesize(self, problem: Problem, params: FlatParams, run: Run) -> torch.Tensor:
        self.problems.append(problem)
        run.progress.begin(len(problem.out_sizes))
        for n in range(len(problem.out_sizes)):
            run.progress.advance(1, f"level {n + 1}")
        mean = problem.sources[0].levels[0].mean(dim=(1, 2)) * params.gain
        return mean[:, None, None].expand(3, *problem.out_sizes[0]).clamp(0, 1)


@pytest.fixture
def flat(monkeypatch) -> Flat:
    engine = Flat()
    monkeypatch.setitem(ENGINES, engine.name, engine)
    return engine


@pytest.fixture
def photo_file(tmp_path, small_photo):
    path = tmp_path / "photo.png"
    dropgan.write_image(small_photo, path)
    return path


def test_a_registered_engine_serves_generate_and_retarget_through_the_api(flat, small_photo):
    mean = small_photo.mean(dim=(1, 2))
    samples = dropgan.generate(small_photo, n=2, engine="flat", gain=0.5, size=(30, 50))
    assert [tuple(y.shape) for y in samples] == [(3, 30, 50)] * 2
    assert torch.allclose(samples[0][:, 0, 0], mean * 0.5, atol=1e-6)
    wide = dropgan.retarget(small_photo, size=(64, 130), engine="flat").image
    assert wide.shape == (3, 64, 130)
    # the task built the pyramids with the engine's parameters: ratio 0.5, patch size 3
    problem = flat.problems[-1]
    assert problem.initial is not None and problem.sources[0].levels[0].shape[-2:] == (64, 96)
    assert problem.out_sizes[1] == (32, 65)
    assert samples.metadata["engine"] == "flat"
    assert samples.metadata["params"] == {"patch_size": 3, "ratio": 0.5, "gain": 0.5}


def test_a_registered_engine_is_on_the_command_line(flat, photo_file, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["generate", str(photo_file), "--engine", "flat", "--gain", "0.25", "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    written = dropgan.read_image(out / "photo_0.png")
    expected = dropgan.read_image(photo_file).mean(dim=(1, 2)) * 0.25
    assert (written[:, 5, 5] - expected).abs().max() < 1 / 255
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    assert "flat: the source's mean colour" in " ".join(capsys.readouterr().out.split())
    # an engine that does not do a task is refused, in one line
    with pytest.raises(SystemExit) as stop:
        main(["analogy", "--source", str(photo_file), "--structure", str(photo_file),
              "--engine", "flat", "--out", str(tmp_path / "x")])  # fmt: skip
    assert stop.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_an_engine_refuses_a_task_it_does_not_do(flat, small_photo):
    with pytest.raises(InputError, match="does not do inpaint"):
        dropgan.inpaint(small_photo, torch.ones(64, 96) * (torch.rand(64, 96) > 0.9), engine="flat")


def test_unknown_parameters_and_engines_are_errors(small_photo):
    with pytest.raises(InputError, match="do not apply to the gpnn engine"):
        dropgan.generate(small_photo, lr=0.1)
    with pytest.raises(InputError, match="unknown engine"):
        dropgan.generate(small_photo, engine="nope")


def _events(task, *args, **kw) -> list[ProgressEvent]:
    events: list[ProgressEvent] = []
    task(*args, progress=events.append, **kw)
    return events


def _hole():
    hole = torch.zeros(64, 96)
    hole[20:30, 40:55] = 1
    return hole


@pytest.mark.parametrize(
    ("task", "args", "kw"),
    [
        (dropgan.generate, (), {"n": 2, **FAST}),
        (dropgan.retarget, ((64, 130),), FAST),
        (dropgan.inpaint, (_hole(),), FAST),
        (dropgan.generate, (), {"engine": "gpdm", "steps": 5, "coarsest": 30}),
    ],
    ids=["generate", "retarget", "inpaint", "gpdm"],
)
def test_progress_is_monotone_and_ends_at_one(small_photo, task, args, kw):
    events = _events(task, small_photo, *args, **kw)
    fractions = [e.fraction for e in events]
    assert len(events) >= 4
    assert all(a <= b for a, b in zip(fractions, fractions[1:], strict=False))
    assert fractions[-1] == 1.0 and fractions.count(1.0) == 1
    assert all(0 <= f <= 1 for f in fractions)
    assert all(e.stage for e in events) and events[-1].eta == 0.0
    assert all(e.eta is None or e.eta >= 0 for e in events)


class Stop(Exception):
    pass


@pytest.mark.parametrize("engine", [{"nn": "exact", "iters": 3}, {"engine": "gpdm", "steps": 20}])
def test_a_raising_callback_stops_the_run_within_one_step(small_photo, engine):
    calls = []

    def cancel(event: ProgressEvent) -> None:
        calls.append(event)
        raise Stop

    with pytest.raises(Stop):
        dropgan.generate(small_photo, n=3, progress=cancel, **engine)
    assert len(calls) == 1 and calls[0].fraction < 0.2


def test_nested_parts_map_to_the_whole_run():
    events = []
    run = Progress(events.append)
    a, b = run.part(0.25, "a"), run.part(0.75, "b")
    b.begin(3)
    b.advance(3, "x")
    a.begin(1)
    a.advance(1)  # late reports of an earlier part do not move the fraction back
    assert [e.fraction for e in events] == [0.999, 0.999]
    assert events[0].stage == "b, x"


def test_cli_metadata_equals_the_apis(photo_file, tmp_path):
    out = tmp_path / "out"
    argv = ["generate", str(photo_file), "-n", "2", "--seed", "7", "--nn", "exact", "--iters", "1"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    api = dropgan.generate(str(photo_file), n=2, seed=7, nn="exact", iters=1)
    for i in range(2):
        with Image.open(out / f"photo_{i}.png") as im:
            written = json.loads(im.text["dropgan:params"])
        expected = json.loads(json.dumps(api.metadata_of(i), default=str))
        assert written == expected
        assert written["inputs"][0]["file"] == "photo.png" and written["sample"] == i
        assert torch.equal(dropgan.read_image(out / f"photo_{i}.png"), _as_8bit(api[i]))


def _as_8bit(image: torch.Tensor) -> torch.Tensor:
    return (image.clamp(0, 1) * 255).round() / 255


def test_sample_i_does_not_depend_on_n(small_photo):
    one = dropgan.generate(small_photo, n=1, seed=3, start=2, **FAST)
    three = dropgan.generate(small_photo, n=3, seed=3, **FAST)
    assert torch.equal(one[0], three[2])
    assert one.metadata_of(0)["sample_seed"] == three.metadata_of(2)["sample_seed"]
    assert not torch.equal(three[0], three[1])


def test_every_task_returns_a_result_with_its_metadata(small_photo):
    hole = _hole()
    edited = small_photo.clone()
    edited[:, 10:30, 10:30] = small_photo[:, 30:50, 60:80]
    results = {
        "generate": dropgan.generate(small_photo, **FAST),
        "retarget": dropgan.retarget(small_photo, (64, 110), **FAST),
        "analogy": dropgan.analogy(small_photo, small_photo.flip(-1), refine=False, **FAST),
        "inpaint": dropgan.inpaint(small_photo, hole, **FAST),
        "collage": dropgan.collage([small_photo, small_photo.flip(-1)], **FAST),
        "edit": dropgan.edit(small_photo, edited, **FAST),
    }
    for task, result in results.items():
        assert isinstance(result, dropgan.Result) and len(result) == 1
        meta = result.metadata_of(0)
        assert meta["task"] == task and meta["engine"] == "gpnn" and meta["sample"] == 0
        assert meta["params"]["nn"] == "exact" and meta["levels"] >= 1
        assert meta["dropgan"] == dropgan.__version__ and meta["torch"] == torch.__version__
        assert all(len(i["sha256"]) == 64 for i in meta["inputs"])
        json.dumps(meta)  # all plain values
    assert results["retarget"].metadata["params"]["alpha"] == 5e-3  # the task's default
    assert math.isinf(results["generate"].metadata["params"]["alpha"])


def test_ctrl_c_exits_130_in_one_line_and_leaves_no_file(photo_file, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "dropgan.cli", "generate", str(photo_file), "-n", "50",
           "--nn", "exact", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    # wait for the first progress line: the run has started computing
    first = proc.stderr.readline()
    assert first.startswith("dropgan:"), first
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 130
    assert err.strip().splitlines()[-1] == "dropgan: interrupted"
    assert "Traceback" not in err
    assert not out.exists()
