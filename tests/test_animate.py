"""Animation: the walk, the frames of GPNN and SinGAN, the animation files and the command."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

import dropgan.cli as cli
from dropgan.engines.singan import save_model, train
from dropgan.engines.singan.animate import noise_walk
from dropgan.engines.singan.sample import sample_image
from dropgan.errors import InputError, OutputError
from dropgan.image import read_metadata
from dropgan.result import Result
from dropgan.tasks.animate import add_animate_command, animate, walk_std, write_animation
from dropgan.tasks.generation import generate

FAST = {"iters": 1, "nn": "exact"}


def _mean_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().mean())


def test_walk_std_is_the_walks_long_run_deviation():
    g = torch.Generator().manual_seed(0)
    for pull, momentum in [(0.1, 0.9), (0.3, 0.5)]:
        walk = noise_walk(torch.zeros(4000), lambda: torch.randn(4000, generator=g), pull, momentum)
        z = torch.stack([next(walk) for _ in range(300)])[100:]  # past the start
        assert abs(float(z.std()) / walk_std(pull, momentum) - 1) < 0.03


def test_walk_starts_near_the_centre_and_is_pulled_back():
    g = torch.Generator().manual_seed(1)
    walk = noise_walk(torch.zeros(1000), lambda: torch.randn(1000, generator=g))
    z = torch.stack([next(walk) for _ in range(300)])
    # z_{-1} = 0.95 z_opt + 0.05 e: the first frame is much nearer than the walk goes later
    assert float(z[0].abs().mean()) < 0.4 * float(z[100:].abs().mean())
    center = torch.full((1000,), 3.0)
    walk = noise_walk(center, lambda: torch.randn(1000, generator=g))
    tail = torch.stack([next(walk) for _ in range(400)][100:])
    assert abs(float(tail.mean()) - 3.0) < 0.05  # wanders around z_opt, not away


def test_frames_count_size_seed_and_prefix():
    x = torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(0))
    r = animate(x, frames=5, seed=3, sigma=2.0, **FAST)
    assert len(r) == 5 and all(tuple(f.shape) == (3, 24, 32) for f in r)
    assert r.metadata["task"] == "animate"
    assert r.metadata["options"] == {
        "frames": 5,
        "fps": 10.0,
        "pull": 0.1,
        "momentum": 0.9,
        "sigma": 2.0,
    }
    assert [r.metadata_of(i)["frame"] for i in range(5)] == list(range(5))
    again = animate(x, frames=3, seed=3, sigma=2.0, **FAST)  # frame t does not depend on n
    assert all(torch.equal(a, b) for a, b in zip(again, r, strict=False))
    other = animate(x, frames=5, seed=4, sigma=2.0, **FAST)
    assert not torch.equal(other[-1], r[-1])


def test_consecutive_frames_closer_than_independent_samples(small_photo):
    # GPNN with 3 PNN steps per level measured 0.061 against 0.119 here (0.044 against 0.123
    # with the default 10: module notes); frames past the walk's start only
    r = animate(small_photo, frames=10, seed=0, nn="exact", iters=3)
    steps = [_mean_diff(a, b) for a, b in zip(r[4:], r[5:], strict=False)]
    samples = generate(small_photo, n=3, seed=0, nn="exact", iters=3)
    pairs = [_mean_diff(a, b) for i, a in enumerate(samples) for b in samples[i + 1 :]]
    consecutive, independent = sum(steps) / len(steps), sum(pairs) / len(pairs)
    assert independent > 0.05
    assert consecutive < 0.75 * independent
    # and the animation wanders: its last frame is no longer the first
    assert _mean_diff(r[-1], r[0]) > 0.2 * independent


def test_progress_reaches_the_end_and_cancels():
    x = torch.rand(3, 24, 32)
    events = []
    animate(x, frames=3, progress=events.append, **FAST)
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert fractions.count(1.0) == 1 and any("frame 3/3" in e.stage for e in events)

    class Stop(Exception):
        pass

    seen = []

    def stop(event):
        seen.append(event)
        if "frame 2/" in event.stage:
            raise Stop

    with pytest.raises(Stop):
        animate(x, frames=50, progress=stop, **FAST)
    assert not any("frame 3/" in e.stage for e in seen)  # stopped within the frame


@pytest.mark.parametrize("bad", [{"frames": 1}, {"fps": 0}, {"fps": 500}, {"pull": 0}])
def test_bad_walk_is_one_input_error(bad):
    with pytest.raises(InputError):
        animate(torch.rand(3, 24, 32), **{"frames": 3, **bad}, **FAST)


@pytest.fixture(scope="module")
def tiny_model():
    return train(
        torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(2)),
        iters=2,
        scales=2,
        min_size=12,
        seed=1,
    )


def test_singan_frames_walk_from_the_reconstruction(tiny_model, tmp_path):
    r = animate(model=tiny_model, frames=6, seed=5, start_scale=0)
    assert len(r) == 6 and all(tuple(f.shape) == (3, *tiny_model.size) for f in r)
    assert r.metadata["engine"] == "singan" and r.metadata["params"]["start_scale"] == 0
    assert all(not torch.equal(a, b) for a, b in zip(r, r[1:], strict=False))
    rec = sample_image(tiny_model, start_scale=len(tiny_model.scales))
    free = sample_image(tiny_model, generator=torch.Generator().manual_seed(9))
    assert _mean_diff(r[0], rec) < 0.5 * _mean_diff(free, rec)
    # a folder gives the same frames; the same seed the same frames
    save_model(tiny_model, tmp_path / "m")
    again = animate(model=tmp_path / "m", frames=6, seed=5, start_scale=0)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(again, r, strict=False))
    assert again.metadata["inputs"] == [{"role": "model", "file": "m"}]


def test_singan_default_start_scale_needs_three_scales(tiny_model):
    with pytest.raises(InputError, match="start scale"):
        animate(model=tiny_model, frames=2)  # the authors' 2 is the reconstruction here


def test_singan_trains_with_the_task_defaults():
    x = torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(0))
    r = animate(x, frames=2, engine="singan", iters=1, scales=2, min_size=12, start_scale=1)
    assert len(r) == 2 and r.metadata["params"]["schedule"] == "fast"
    assert r.metadata["params"]["start_scale"] == 1


def _frames(n: int) -> Result:
    g = torch.Generator().manual_seed(0)
    frames = tuple(torch.rand(3, 16, 20, generator=g) for _ in range(n))
    return Result(frames, {"task": "animate", "options": {"fps": 5.0}})


@pytest.mark.parametrize("suffix", [".gif", ".png", ".webp"])
def test_animation_file_reads_back(tmp_path, suffix):
    path = tmp_path / f"a{suffix}"
    write_animation(_frames(4), path)
    with Image.open(path) as im:
        assert im.n_frames == 4 and im.size == (20, 16)
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            im.load()  # WebP reads a frame's duration with its pixels
            durations.append(im.info["duration"])
    assert durations == [200] * 4  # 5 fps from the result's metadata
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    with pytest.raises(OutputError, match="exists"):
        write_animation(_frames(4), path)
    if suffix == ".png":
        assert read_metadata(path)["task"] == "animate"
    if suffix == ".gif":
        with Image.open(path) as im:
            assert json.loads(im.info["comment"])["task"] == "animate"


def test_unknown_suffix_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match=r"\.gif"):
        write_animation(_frames(2), tmp_path / "a.mp4")
    assert not list(tmp_path.iterdir())


def _main(monkeypatch, argv):
    """``dropgan.cli.main`` with the animate command (as the lead wires it)."""
    build = cli.build_parser

    def with_animate():
        parser = build()
        sub = parser._subparsers._group_actions[0]
        if "animate" not in sub.choices:
            add_animate_command(sub)
        return parser

    monkeypatch.setattr(cli, "build_parser", with_animate)
    try:
        return cli.main(argv)
    except SystemExit as e:  # argparse's own errors (a value of the wrong type)
        return e.code


def test_command_writes_the_animation(monkeypatch, tmp_path, photo_path, capsys):
    out = tmp_path / "anim.gif"
    argv = [str(photo_path), "--out", str(out), "--frames", "3", "--fps", "4", "--quiet"]
    assert _main(monkeypatch, ["animate", *argv, "--iters", "1", "--levels", "2"]) == 0
    with Image.open(out) as im:
        assert im.info["duration"] == 250
        meta = json.loads(im.info["comment"])
    assert meta["task"] == "animate" and meta["options"]["frames"] == 3
    assert _main(monkeypatch, ["animate", *argv]) == 2  # exists, no --force
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, words",
    [
        (["--frames", "1"], "frames"),
        (["--frames", "x"], "integer"),
        (["--fps", "0"], "frames per second"),
        (["--fps", "-3"], "frames per second"),
    ],
)
def test_command_bad_input_is_one_line(monkeypatch, tmp_path, photo_path, capsys, args, words):
    out = tmp_path / "anim.gif"
    assert _main(monkeypatch, ["animate", str(photo_path), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dropgan: error:") and err.count("\n") == 1 and words in err
    assert not list(tmp_path.iterdir())


def test_command_bad_suffix_is_one_line(monkeypatch, tmp_path, photo_path, capsys):
    out = tmp_path / "anim.mp4"
    assert _main(monkeypatch, ["animate", str(photo_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dropgan: error:") and err.count("\n") == 1 and ".webp" in err
    assert not list(tmp_path.iterdir())


def test_command_animates_a_model_folder(monkeypatch, tmp_path, tiny_model):
    save_model(tiny_model, tmp_path / "m")
    out = tmp_path / "anim.png"
    argv = ["animate", "--model", str(tmp_path / "m"), "--out", str(out), "--frames", "3"]
    assert _main(monkeypatch, [*argv, "--start-scale", "1", "--quiet"]) == 0
    with Image.open(out) as im:
        assert im.n_frames == 3 and im.size == (32, 24)
    meta = read_metadata(out)
    assert meta["engine"] == "singan" and meta["params"]["start_scale"] == 1
