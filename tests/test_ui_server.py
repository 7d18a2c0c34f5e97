"""The web app's server through Gradio's Python client (no browser): a run returns images
with the command line's metadata, a second user waits with their position shown, Stop ends
a run within one step; and the ``dropgan ui`` command."""

from __future__ import annotations

import argparse
import importlib.util
import socket
import time

import pytest

import dropgan
from dropgan.errors import DropganError
from dropgan.image import read_metadata
from dropgan.pyramid import resize
from dropgan.ui import MISSING, add_ui_command, launch

gradio_client = pytest.importorskip("gradio_client", reason="the ui extra is not installed")
pytest.importorskip("gradio", reason="the ui extra is not installed")

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    srv = launch(port=free_port(), block=False, quiet=True)
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def small_file(tmp_path_factory, photo_path):
    """A real photograph (SIGD16 #1) at 96x64, as a user's PNG file."""
    path = tmp_path_factory.mktemp("upload") / "small.png"
    dropgan.write_image(resize(dropgan.read_image(photo_path), (64, 96)).clamp(0, 1), path)
    return path


def _client(server):
    return gradio_client.Client(server.url, verbose=False)


def _args(client, endpoint: str, **given) -> list:
    """The endpoint's inputs with their page defaults, ``given`` ones (by label) replaced;
    a label that two engines share names the first engine's (GPNN's) input."""
    api = client.view_api(return_format="dict", print_info=False)
    params = api["named_endpoints"][endpoint]["parameters"]
    labels = [p["label"] for p in params]
    values = [p.get("parameter_default") for p in params]
    for label, value in given.items():
        values[labels.index(label)] = value
    return values


def _wait(job, text: str, timeout: float = 30.0) -> str:
    """Wait until the job's progress message contains ``text``; return it."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        units = job.status().progress_data or []
        desc = " ".join(u.desc or "" for u in units)
        if text in desc:
            return desc
        time.sleep(0.05)
    raise AssertionError(f"no progress message with {text!r}")


def test_generate_returns_pngs_with_the_metadata_and_the_command(server, small_file):
    c = _client(server)
    image = gradio_client.handle_file(str(small_file))
    args = _args(c, "/generate", image=image, seed=5, iters=1, nn="exact", **{"samples (n)": 2})
    gallery, files, info, status = c.predict(*args, api_name="/generate")
    assert status.startswith("Done: 2 image(s)")
    assert [g["caption"] for g in gallery] == ["small_0.png", "small_1.png"]
    expected = dropgan.generate(small_file, 2, seed=5, iters=1, nn="exact")
    for i, path in enumerate(files):
        meta = read_metadata(path)  # the file as downloaded, metadata intact
        assert meta["task"] == "generate" and meta["sample"] == i and meta["seed"] == 5
        assert meta["params"]["iters"] == 1 and meta["inputs"][0]["file"] == "small.png"
        assert meta["inputs"][0]["sha256"] == expected.metadata["inputs"][0]["sha256"]
        assert (dropgan.read_image(path) - expected[i]).abs().max() <= 0.5 / 255 + 1e-6
    assert "dropgan generate small.png -n 2 --seed 5 --iters 1 --nn exact" in info


@pytest.mark.parametrize(
    ("task", "given", "call", "command", "name"),
    [
        (
            "superres",
            {"factor": 1.5, "back-projection": 1},
            lambda f: dropgan.superres(f, 1.5, back_projection=1, nn="exact"),
            "dropgan superres small.png --factor 1.5 --back-projection 1 --seed 0 --nn exact",
            "small_x1.5.png",
        ),
        (
            "denoise",
            {"sigma": 0.05},
            lambda f: dropgan.denoise(f, sigma=0.05, nn="exact"),
            "dropgan denoise small.png --sigma 0.05 --seed 0 --nn exact",
            "small_denoised.png",
        ),
    ],
)
def test_the_new_tabs_return_the_apis_image_and_command(
    server, small_file, task, given, call, command, name
):
    c = _client(server)
    image = gradio_client.handle_file(str(small_file))
    label = "noisy image" if task == "denoise" else "image"
    args = _args(c, f"/{task}", nn="exact", **{label: image, **given})
    gallery, files, info, status = c.predict(*args, api_name=f"/{task}")
    assert status.startswith("Done: 1 image(s)"), status
    assert [g["caption"] for g in gallery] == [name]
    expected = call(small_file)
    meta = read_metadata(files[0])
    assert meta["task"] == task and meta["options"] == _json(expected.metadata["options"])
    assert meta["params"] == _json(expected.metadata["params"])
    assert (dropgan.read_image(files[0]) - expected.image).abs().max() <= 0.5 / 255 + 1e-6
    assert command in info


def _json(value):
    import json

    return json.loads(json.dumps(value, default=str))


def test_the_new_tabs_show_their_options_but_not_model():
    from dropgan.ui.app import AppConfig, build

    demo = build(AppConfig())
    try:
        ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
        for want in (
            "superres-factor",
            "superres-back-projection",
            "denoise-sigma",
            "paint2image-paint",
            "paint2image-refine",
            "paint2image-quantize",
            "harmonize-background",
            "harmonize-naive",
            "harmonize-mask",
        ):
            assert want in ids
        for task in ("superres", "denoise", "paint2image", "harmonize"):
            assert f"tab-{task}" in ids and f"{task}-engine" in ids
        labels = {getattr(b, "label", None) for b in demo.blocks.values()}
        assert "model" not in labels  # a trained model is the command line's (--model)
    finally:
        demo.dropgan_config.cleanup()


def test_a_bad_value_is_one_line_in_the_page_not_a_traceback(server, small_file):
    c = _client(server)
    image = gradio_client.handle_file(str(small_file))
    *_, status = c.predict(*_args(c, "/generate", image=image, ratio=1.5), api_name="/generate")
    assert status.startswith("⚠️ pyramid ratio must be between 0 and 1")
    assert "Traceback" not in status and "\n" not in status
    *_, status = c.predict(
        *_args(c, "/retarget", image=image, **{"or scale (F or SXxSY)": "x"}), api_name="/retarget"
    )
    assert status == "⚠️ scale must be a factor or SXxSY, e.g. 1.5x1, got 'x'"


def test_a_second_user_waits_with_their_position_and_stop_ends_a_run(server, small_file):
    alice, bob, carol = _client(server), _client(server), _client(server)
    # a long run of short steps: 64 samples, every default step (a minute or more on a CPU)
    image = gradio_client.handle_file(str(small_file))
    long = _args(alice, "/generate", image=image, nn="exact", **{"samples (n)": 64})
    job_a = alice.submit(*long, api_name="/generate")
    _wait(job_a, "level")
    fast = _args(bob, "/generate", image=image, iters=1, nn="exact")
    job_b = bob.submit(*fast, api_name="/generate")
    assert "waiting in the queue: 1 job ahead of yours" in _wait(job_b, "waiting")
    assert carol.predict(api_name="/stop") != "Stopping…"  # carol has nothing to stop
    assert bob.predict(api_name="/stop") == "Stopping…"  # bob's Stop is bob's waiting job
    *_, status_b = job_b.result(timeout=10)
    assert status_b.startswith("⏹ Stopped after")
    assert job_a.status().code.name == "PROGRESS"  # alice's run goes on
    job_b = bob.submit(*fast, api_name="/generate")
    _wait(job_b, "waiting")
    start = time.monotonic()
    assert alice.predict(api_name="/stop") == "Stopping…"
    *_, status_a = job_a.result(timeout=60)
    assert status_a.startswith("⏹ Stopped after")
    assert time.monotonic() - start < 10  # within one step, not the minutes of the run
    *_, status_b = job_b.result(timeout=60)  # then bob's turn came
    assert status_b.startswith("Done: 1 image(s)")


# --- the command ---------------------------------------------------------------------------------


def _parser():
    parser = argparse.ArgumentParser(prog="dropgan", exit_on_error=False)
    sub = parser.add_subparsers(dest="command")
    add_ui_command(sub)
    return parser


def test_the_command_binds_this_machine_only_and_shares_nothing_by_default(monkeypatch):
    calls = []
    monkeypatch.setattr("dropgan.ui.launch", lambda *a, **k: calls.append(a))
    args = _parser().parse_args(["ui"])
    assert args.run(args) == 0
    assert calls == [("127.0.0.1", 7860, False, 4_000_000, 1)]
    args = _parser().parse_args(
        [
            "ui",
            "--host",
            "0.0.0.0",
            "--port",
            "8000",
            "--share",
            "--max-pixels",
            "1e6",
            "--concurrency",
            "2",
        ]
    )
    args.run(args)
    assert calls[-1] == ("0.0.0.0", 8000, True, 1_000_000, 2)


@pytest.mark.parametrize(
    "argv", [["--port", "0"], ["--max-pixels", "-3"], ["--concurrency", "1.5"]]
)
def test_the_command_refuses_bad_numbers(argv, capsys):
    with pytest.raises((SystemExit, argparse.ArgumentError)):
        _parser().parse_args(["ui", *argv])


def test_without_gradio_one_line_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a)
    )
    with pytest.raises(DropganError) as e:
        launch(block=False)
    assert str(e.value) == MISSING == "the web app needs the ui extra: pip install 'dropgan[ui]'"


def test_a_busy_port_is_one_line(server):
    port = int(server.url.rstrip("/").rsplit(":", 1)[1])
    with pytest.raises(DropganError, match=f"cannot serve on 127.0.0.1:{port}"):
        launch(port=port, block=False, quiet=True)


def test_gradio_telemetry_is_off(server):
    from gradio import analytics

    assert not analytics.analytics_enabled()


# --- the page's own handlers ---------------------------------------------------------------------


def test_use_as_input_sends_the_selected_output_to_the_chosen_input():
    from dropgan.ui.events import use_as_input

    order = [("generate", "image"), ("inpaint", "image"), ("collage", "images")]
    use = use_as_input(order)
    outputs = ["/r/a_0.png", "/r/a_1.png"]
    *updates, tabs, status = use(outputs, 1, "Inpaint", None)
    assert updates[1] == {"background": "/r/a_1.png", "layers": [], "composite": "/r/a_1.png"}
    assert updates[0] == updates[2] == {"__type__": "update"}  # the others unchanged
    assert tabs.selected == "inpaint" and status.startswith("a_1.png is now the input")
    *updates, tabs, _ = use(outputs, 0, "Collage (add)", [("/x/first.png", None)])
    assert updates[2] == [("/x/first.png", None), ("/r/a_0.png", None)]
    order = [("paint2image", "paint"), ("harmonize", "naive"), ("harmonize", "background")]
    *updates, tabs, _ = use_as_input(order)(outputs, 0, "Paint to image: painting", None)
    assert updates[0]["composite"] == "/r/a_0.png" and tabs.selected == "paint2image"
    *updates, tabs, _ = use_as_input(order)(outputs, 1, "Harmonize: background", None)
    assert updates[2] == "/r/a_1.png" and tabs.selected == "harmonize"
    *updates, _, status = use([], 0, "Generate", None)
    assert status == "⚠️ make an image first"


def test_an_unusable_upload_is_removed_with_the_reason(tmp_path, small_file):
    from dropgan.ui.events import AppConfig, upload_check

    config = AppConfig(max_pixels=1000, workdir=tmp_path)
    fake = tmp_path / "abc123.png"
    fake.write_text("text")
    value, status = upload_check(config)({"path": str(fake), "orig_name": "cat.png"})
    assert value is None and status == "⚠️ cat.png is not an image file (use PNG, JPEG, WebP, ...)"
    value, status = upload_check(config)({"path": str(small_file), "orig_name": "small.png"})
    assert value is None and "small.png is 96x64 px" in status
    value, status = upload_check(AppConfig(workdir=tmp_path))({"path": str(small_file)})
    assert status == "" and value == {"__type__": "update"}  # kept as it is


def test_a_new_engine_gets_its_inputs_without_an_edit_here(monkeypatch, tmp_path):
    """An engine registered later (here a stand-in with a menu, a flag and an optional
    value) appears in the engine menu of its tasks with an input per parameter."""
    import dataclasses

    import gradio as gr

    from dropgan.engines import ENGINES, GPNN
    from dropgan.ui.app import AppConfig, build
    from dropgan.ui.fields import param_fields

    @dataclasses.dataclass(frozen=True)
    class ToyParams:
        patch_size: int = dataclasses.field(default=5, metadata={"help": "patch side"})
        ratio: float = dataclasses.field(default=0.5, metadata={"help": "pyramid ratio"})
        mode: str = dataclasses.field(
            default="fast", metadata={"help": "how", "choices": ("fast", "slow")}
        )
        smooth: bool = dataclasses.field(default=True, metadata={"help": "smooth it"})
        budget: int | None = dataclasses.field(
            default=None, metadata={"help": "bytes", "default_text": "all"}
        )

    class Toy(GPNN):
        name, summary, params_type = "toy", "a stand-in", ToyParams
        tasks, task_defaults = frozenset({"retarget"}), {}

    monkeypatch.setitem(ENGINES, "toy", Toy())
    kinds = {f.name: (f.kind, f.value) for f in param_fields("toy", "retarget")}
    assert kinds == {
        "patch_size": ("int", 5),
        "ratio": ("float", 0.5),
        "mode": ("choice", "fast"),
        "smooth": ("bool", True),
        "budget": ("text", ""),
    }
    demo = build(AppConfig(workdir=tmp_path))
    found = {
        (type(b).__name__, b.elem_id)
        for b in demo.blocks.values()
        if getattr(b, "elem_id", None) and b.elem_id.startswith("toy-")
    }
    assert found == {
        ("Number", "toy-patch-size"),
        ("Number", "toy-ratio"),
        ("Dropdown", "toy-mode"),
        ("Checkbox", "toy-smooth"),
        ("Textbox", "toy-budget"),
    }
    menu = next(b for b in demo.blocks.values() if getattr(b, "elem_id", "") == "retarget-engine")
    assert isinstance(menu, gr.Dropdown) and [c[0] for c in menu.choices][-1] == "toy"


def test_a_collage_upload_keeps_the_images_and_names_the_others(tmp_path, small_file):
    from dropgan.ui.events import AppConfig, gallery_check

    notes = tmp_path / "notes.png"
    notes.write_text("no")
    kept, status = gallery_check(AppConfig(workdir=tmp_path))(
        [(str(small_file), None), (str(notes), None)]
    )
    assert kept == [(str(small_file), None)]
    assert status == "⚠️ notes.png is not an image file (use PNG, JPEG, WebP, ...)"


def test_run_folders_are_fresh_and_old_ones_go(tmp_path):
    import os

    from dropgan.ui.events import KEEP_SECONDS, AppConfig

    config = AppConfig(workdir=tmp_path)
    first, second = config.new_folder(), config.new_folder()
    assert first != second and first.is_dir() and second.is_dir()
    old = time.time() - KEEP_SECONDS - 60
    os.utime(first, (old, old))
    third = config.new_folder()
    assert not first.exists() and second.is_dir() and third.is_dir()
    config.cleanup()
    assert tmp_path.is_dir()  # a folder the app was given is the caller's to remove
