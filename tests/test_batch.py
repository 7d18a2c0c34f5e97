"""dropgan batch: manifests checked up front, failures isolated, reruns idempotent and resumable
after SIGKILL, the same pixels with 1 or 2 workers and with Ray."""

from __future__ import annotations

import builtins
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import dropgan
from dropgan.batch import check_schema, choose_workers, job_schema, plan, read_manifest, run_batch
from dropgan.batch.__main__ import main as batch_main
from dropgan.batch.command import folder_jobs
from dropgan.batch.manifest import parse_job
from dropgan.batch.runner import BATCH_KEY
from dropgan.errors import InputError
from dropgan.image import read_image, read_metadata, write_image
from dropgan.pyramid import resize

QUICK = {"iters": 1, "levels": 2, "nn": "exact"}  # a fraction of a second per image
GOOD = ("gen", "wide", "analogy", "inpaint")
BAD = ("missing", "corrupt", "colour")


@pytest.fixture(scope="module")
def inputs(fixtures_dir, tmp_path_factory) -> Path:
    """Two 48x32 photos, a mask, and a truncated copy of a PNG."""
    root = tmp_path_factory.mktemp("inputs")
    for stem in ("1", "2"):
        x = read_image(fixtures_dir / "sigd16" / f"{stem}.jpg")
        write_image(resize(x, (32, 48)).clamp(0, 1), root / f"{stem}.png")
    mask = torch.zeros(3, 32, 48)
    mask[:, 12:20, 20:28] = 1
    write_image(mask, root / "hole.png")
    (root / "corrupt.png").write_bytes((root / "1.png").read_bytes()[:300])
    return root


def _manifest(inputs: Path) -> list[dict]:
    """Four good jobs of four tasks, a missing input, a corrupt image and a bad parameter;
    inputs by absolute path, outputs relative to the manifest's folder."""
    a, b = str(inputs / "1.png"), str(inputs / "2.png")
    return [
        {"id": "gen", "task": "generate", "inputs": {"image": a}, "n": 3, "seed": 5,
         "params": QUICK, "out": "out"},
        {"id": "wide", "task": "retarget", "inputs": {"image": b}, "out": "out",
         "params": {**QUICK, "scale": [1.0, 1.5]}, "name": "{stem}_wide.png"},
        {"id": "missing", "task": "generate", "inputs": {"image": str(inputs / "none.png")},
         "params": QUICK, "out": "out"},
        {"id": "analogy", "task": "analogy", "inputs": {"source": a, "structure": b},
         "params": QUICK, "out": "out"},
        {"id": "corrupt", "task": "generate", "inputs": {"image": str(inputs / "corrupt.png")},
         "params": QUICK, "out": "out"},
        {"id": "colour", "task": "generate", "inputs": {"image": b}, "n": 2, "out": "out",
         "params": {**QUICK, "colour": "red"}},
        {"id": "inpaint", "task": "inpaint", "out": "out",
         "inputs": {"image": a, "mask": str(inputs / "hole.png")}, "params": QUICK},
    ]  # fmt: skip


def _write_manifest(folder: Path, jobs: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "jobs.jsonl"
    path.write_text("".join(json.dumps(j) + "\n" for j in jobs))
    return path


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _pixels(folder: Path) -> dict[str, torch.Tensor]:
    return {p.name: read_image(p) for p in sorted(folder.glob("*.png"))}


def _stamps(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in sorted(folder.iterdir())}


@pytest.fixture
def keep_sigterm():
    """The command's main sets a SIGTERM handler: put pytest's back."""
    saved = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, saved)


@pytest.fixture(scope="module")
def two_workers(inputs, tmp_path_factory) -> Path:
    """The mixed manifest run by the command on two worker processes."""
    folder = tmp_path_factory.mktemp("two")
    manifest = _write_manifest(folder, _manifest(inputs))
    saved = signal.getsignal(signal.SIGTERM)
    try:
        status = batch_main([str(manifest), "--workers", "2", "--threads-per-worker", "1"])
    finally:
        signal.signal(signal.SIGTERM, saved)
    assert status == 1  # some jobs failed
    return folder


def test_mixed_manifest_good_outputs_exist_and_failures_name_the_bad_jobs(two_workers, inputs):
    folder = two_workers
    failures = _records(folder / "jobs.failures.jsonl")
    assert sorted(f["id"] for f in failures) == sorted(BAD)
    reasons = {f["id"]: f["reason"] for f in failures}
    assert "no such file" in reasons["missing"] and "none.png" in reasons["missing"]
    assert "corrupt" in reasons["corrupt"] or "truncated" in reasons["corrupt"]
    assert "colour" in reasons["colour"]
    assert all("\n" not in r for r in reasons.values())
    assert {f["line"] for f in failures} == {3, 5, 6}
    assert failures[0]["job"]["id"] in BAD  # the job as written
    names = sorted(p.name for p in (folder / "out").iterdir())
    assert names == ["1_0.png", "1_1.png", "1_2.png", "1_2_analogy.png", "1_hole_inpaint.png",
                     "2_wide.png"]  # fmt: skip
    done = {r["id"]: r for r in _records(folder / "jobs.results.jsonl") if r["status"] == "done"}
    assert sorted(done) == sorted(GOOD)
    for r in done.values():
        assert r["seconds"] > 0 and r["peak_memory_mb"] > 10 and r["threads"] == 1
        assert r["host"] == socket.gethostname() and r["executor"] == "local"
        assert all(Path(p).is_file() for p in r["outputs"])
    assert done["gen"]["made"] == [0, 1, 2] and done["gen"]["kept"] == []
    assert tuple(read_image(folder / "out" / "2_wide.png").shape) == (3, 32, 72)


def test_outputs_are_the_apis_images_with_its_metadata(two_workers, inputs):
    """Sample i of a job is sample i of one API call making them all (start= splits a job
    without changing a pixel), stored with that call's metadata plus the job's fingerprint."""
    direct = dropgan.generate(inputs / "1.png", 3, seed=5, **QUICK)
    for i in range(3):
        path = two_workers / "out" / f"1_{i}.png"
        assert torch.equal(read_image(path), read_image(dropgan.image.to_pil(direct[i])))
        meta = read_metadata(path)
        stored = meta.pop(BATCH_KEY)
        expected = json.loads(json.dumps(direct.metadata_of(i), default=str))
        for key in ("task", "engine", "params", "levels", "seed", "inputs", "sample"):
            assert meta[key] == expected[key], key
        assert stored["job"]["params"] == QUICK and stored["job"]["seed"] == 5
        assert stored["seconds"] > 0 and stored["threads"] == 1


def test_one_and_two_workers_give_the_same_pixels(two_workers, inputs, tmp_path):
    manifest = _write_manifest(tmp_path, _manifest(inputs))
    report = run_batch(manifest, workers=1, threads_per_worker=1)
    assert sorted(r["id"] for r in report.failed) == sorted(BAD)
    one, two = _pixels(tmp_path / "out"), _pixels(two_workers / "out")
    assert list(one) == list(two)
    for name in one:
        assert torch.equal(one[name], two[name]), name


def test_rerun_skips_what_is_done_and_refuses_files_of_other_parameters(two_workers, inputs):
    folder = two_workers
    before = _stamps(folder / "out")
    report = run_batch(folder / "jobs.jsonl", workers=0)
    assert report.done == [] and sorted(r["id"] for r in report.skipped) == sorted(GOOD)
    assert sorted(r["id"] for r in report.failed) == sorted(BAD)
    assert _stamps(folder / "out") == before
    # the failures file describes the last run; the results file keeps every run
    assert len(_records(folder / "jobs.failures.jsonl")) == 3
    runs = {r["run"] for r in _records(folder / "jobs.results.jsonl")}
    assert len(runs) == 2


def test_files_of_other_parameters_are_refused_then_forced(two_workers, inputs, tmp_path):
    (tmp_path / "out").mkdir()
    shutil.copy(two_workers / "out" / "2_wide.png", tmp_path / "out")
    job = next(j for j in _manifest(inputs) if j["id"] == "wide")
    changed = _write_manifest(tmp_path, [{**job, "params": {**job["params"], "iters": 2}}])
    before = _stamps(tmp_path / "out")
    report = run_batch(changed, workers=0)
    assert "2_wide.png was made with other parameters" in report.failed[0]["reason"]
    assert _stamps(tmp_path / "out") == before
    report = run_batch(changed, workers=0, force=True)
    assert [r["id"] for r in report.done] == ["wide"]
    assert _stamps(tmp_path / "out") != before
    assert read_metadata(tmp_path / "out" / "2_wide.png")["params"]["iters"] == 2
    # a file that is not a readable image is nobody's output: made again, without force
    (tmp_path / "out" / "2_wide.png").write_bytes(b"not a png")
    assert [r["id"] for r in run_batch(changed, workers=0).done] == ["wide"]


def _worker_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_sigkill_then_rerun_finishes_the_rest_without_redoing_anything(fixtures_dir, tmp_path):
    # eight jobs of two samples, each sample about 0.1-0.3 s on one worker
    x = resize(read_image(fixtures_dir / "sigd16" / "1.jpg"), (48, 72)).clamp(0, 1)
    write_image(x, tmp_path / "x.png")
    jobs = [
        {"id": f"j{k}", "task": "generate", "inputs": {"image": str(tmp_path / "x.png")}, "n": 2,
         "seed": k, "params": {"iters": 1, "levels": 1, "nn": "exact"}, "out": "out",
         "name": f"j{k}_{{sample}}.png"}
        for k in range(8)
    ]  # fmt: skip
    manifest = _write_manifest(tmp_path, jobs)
    command = [sys.executable, "-m", "dropgan.batch", str(manifest), "--workers", "1", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runner = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    results = tmp_path / "jobs.results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and runner.poll() is None:
        if results.exists() and len(_records(results)) >= 2:
            break
        time.sleep(0.05)
    assert runner.poll() is None, runner.stderr.read().decode()
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    first = _records(results)
    worker = first[0]["pid"]
    if sys.platform.startswith("linux"):  # the worker dies with the runner, writing no more
        deadline = time.monotonic() + 10
        while not _worker_gone(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _worker_gone(worker)
    after_kill = _stamps(tmp_path / "out")
    # what a kill during a write leaves: a temporary file beside an output
    (tmp_path / "out" / ".j7_0.png.abcd1234.tmp").write_bytes(b"half a png")
    outputs = [f"j{k}_{i}.png" for k in range(8) for i in range(2)]
    finished = [n for n in outputs if n in after_kill]
    assert 4 <= len(finished) < len(outputs)  # killed mid-way, with at least two jobs done

    saved = signal.getsignal(signal.SIGTERM)
    try:  # the rerun in this process: no interpreter to start
        assert batch_main([str(manifest), "--workers", "0", "--quiet"]) == 0
    finally:
        signal.signal(signal.SIGTERM, saved)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(outputs)
    now = _stamps(tmp_path / "out")
    assert {n: now[n] for n in finished} == {n: after_kill[n] for n in finished}
    second = [r for r in _records(results) if r["run"] != first[0]["run"]]
    made = {f"{r['id']}_{i}.png" for r in second if r["status"] == "done" for i in r["made"]}
    assert made == set(outputs) - set(finished)  # each sample made once over both runs
    skipped = {r["id"] for r in second if r["status"] == "skipped"}
    assert skipped >= {r["id"] for r in first if r["status"] == "done"}
    works, errors = plan(read_manifest(manifest)[0])
    assert errors == [] and all(w.todo == [] for w in works)


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'dropgan[ray]')")
    printer = builtins.print
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    yield ray
    ray.shutdown()
    builtins.print = printer  # Ray's replacement outlives it


def test_ray_gives_the_local_pools_outputs(local_ray, two_workers, inputs, tmp_path):
    manifest = _write_manifest(tmp_path, _manifest(inputs))
    report = run_batch(manifest, ray=True, threads_per_worker=1)
    assert sorted(r["id"] for r in report.failed) == sorted(BAD)
    assert sorted(r["id"] for r in report.done) == sorted(GOOD)
    assert {r["executor"] for r in report.done} == {"ray"}
    on_ray, local = _pixels(tmp_path / "out"), _pixels(two_workers / "out")
    assert list(on_ray) == list(local)
    for name in local:
        assert torch.equal(on_ray[name], local[name]), name
    assert run_batch(manifest, ray=True).done == []  # idempotent on Ray too


# --- manifests, checked up front ---------------------------------------------------------------


def _job(**fields) -> dict:
    return {"task": "generate", "inputs": {"image": "a.png"}, "out": "o", **fields}


@pytest.mark.parametrize(
    "job, message",
    [
        (_job(task="paint"), "task: must be one of"),
        (_job(inputs={"picture": "a.png"}), "'image' is missing"),
        (_job(task="collage", inputs={"images": ["a.png"]}), "at least 2 items"),
        (_job(task="retarget", n=2), "n: must be 1"),
        (_job(seed=-1), "seed: must be at least 0"),
        (_job(colour=1), "unknown field 'colour'"),
        (_job(name="{stem}.jpg"), "must match"),
        (_job(out=""), "out: must not be empty"),
        (_job(resources={"num_cpus": 0}), "must be above 0"),
        ([1, 2], "must be an object"),
    ],
)
def test_schema_catches_bad_jobs(job, message):
    problems = check_schema(job)
    assert problems and message in problems[0], problems


def test_schema_is_valid_json_schema_and_agrees_with_jsonschema():
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")
    validator = jsonschema.Draft202012Validator(job_schema())
    validator.check_schema(job_schema())
    jobs = [
        _job(), _job(n=3, start=2, seed=9, params={"sigma": 1}), _job(task="paint"),
        _job(task="edit", inputs={"original": "a", "edited": "b"}, n=2),
        _job(task="edit", inputs={"original": "a"}), _job(task="inpaint", n=1),
        _job(task="inpaint", inputs={"image": "a", "mask": "m"}, start=1),
        _job(task="collage", inputs={"images": ["a", "b"]}), _job(name="x.png", id=""),
        _job(resources={"num_gpus": 1}), _job(resources={"gpus": 1}), _job(n=True),
    ]  # fmt: skip
    for job in jobs:
        assert bool(check_schema(job)) == (not validator.is_valid(job)), job
    for example in job_schema()["examples"]:
        assert check_schema(example) == [] and validator.is_valid(example)


def test_job_checks_beyond_the_schema(tmp_path):
    write_image(torch.zeros(3, 8, 8), tmp_path / "a.png")
    base = _job(out=str(tmp_path / "o"))
    with pytest.raises(InputError, match="unknown parameter.*colour.*task options"):
        parse_job({**base, "params": {"colour": 1}}, 1, tmp_path)
    with pytest.raises(InputError, match="iters must be"):
        parse_job({**base, "params": {"iters": 0}}, 1, tmp_path)
    with pytest.raises(InputError, match="unknown engine"):
        parse_job({**base, "engine": "nope"}, 1, tmp_path)
    with pytest.raises(InputError, match="needs \\{sample\\}"):
        parse_job({**base, "n": 2, "name": "x.png"}, 1, tmp_path)
    with pytest.raises(InputError, match="unknown field"):
        parse_job({**base, "name": "{colour}.png"}, 1, tmp_path)
    with pytest.raises(InputError, match="inside the output folder"):
        parse_job({**base, "name": "../{stem}.png"}, 1, tmp_path)
    with pytest.raises(InputError, match="input image: no such file"):
        parse_job({**base, "inputs": {"image": "b.png"}}, 1, tmp_path)
    job = parse_job({**base, "n": 2, "start": 3, "params": {"sigma": 0.5, "iters": 2}}, 4, tmp_path)
    assert job.id == "line 4" and job.inputs["image"] == str(tmp_path / "a.png")
    assert [p.name for p in job.outputs().values()] == ["a_3.png", "a_4.png"]


def test_a_manifest_with_two_jobs_writing_one_file_and_comments(tmp_path):
    write_image(torch.zeros(3, 8, 8), tmp_path / "a.png")
    text = "# comment\n\n" + "\n".join(
        json.dumps(j) for j in [_job(id="one"), _job(id="two", seed=1), _job(id="three", n=2)]
    )
    (tmp_path / "jobs.jsonl").write_text(text + "\n[\n")
    jobs, errors = read_manifest(tmp_path / "jobs.jsonl")
    assert [j.id for j in jobs] == ["one"] and [j.line for j in jobs] == [3]
    assert [(e.line, e.id) for e in errors] == [(4, "two"), (5, "three"), (6, None)]
    assert "as job 'one' does" in errors[0].reason and "not valid JSON" in errors[2].reason


def test_workers_times_threads_never_exceed_the_cores():
    for cores in (1, 2, 3, 8, 16):
        for workers in (None, 1, 2, 5):
            for threads in (None, 1, 2, 3):
                try:
                    w, t = choose_workers(workers, threads, cores)
                except InputError:
                    assert (workers or 1) * (threads or 1) > cores
                    continue
                assert 1 <= w * t <= cores
                assert w == (workers or w) and t == (threads or t)
                if workers is None or threads is None:  # the cores are filled
                    assert (w + 1) * t > cores or w * (t + 1) > cores
    assert choose_workers(0, None, 4) == (0, 1)
    with pytest.raises(InputError, match="3 workers x 2 threads is more than the 4 cores"):
        choose_workers(3, 2, 4)
    with pytest.raises(InputError, match="workers must be"):
        choose_workers(-1, None, 4)


def test_folder_shortcut_splits_samples_with_start(tmp_path, keep_sigterm):
    images = tmp_path / "images"
    images.mkdir()
    x = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    write_image(x, images / "a.png")
    jobs = folder_jobs([images / "a.png"], "generate", tmp_path / "out", n=5, samples_per_job=2)
    assert [(j["start"], j["n"]) for j in jobs] == [(0, 2), (2, 2), (4, 1)]
    args = ["--task", "generate", "--images", str(images), "-n", "3", "--samples-per-job", "2",
            "--out", str(tmp_path / "out"), "--iters", "1", "--levels", "1", "--nn", "exact",
            "--workers", "0", "--quiet"]  # fmt: skip
    assert batch_main(args) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == [
        "a_0.png",
        "a_1.png",
        "a_2.png",
    ]
    written = _records(tmp_path / "out" / "jobs.jsonl")
    assert [j["id"] for j in written] == ["a:0", "a:2"]
    assert written[0]["params"] == {"iters": 1, "levels": 1, "nn": "exact", "sigma": 0.75}
    direct = dropgan.generate(images / "a.png", 3, iters=1, levels=1, nn="exact")
    assert torch.equal(
        read_image(tmp_path / "out" / "a_2.png"), read_image(dropgan.image.to_pil(direct[2]))
    )
    assert batch_main([*args, "--dry-run"]) == 0


def test_bad_invocations_exit_2(tmp_path, keep_sigterm, capsys):
    assert batch_main([str(tmp_path / "none.jsonl")]) == 2
    assert "cannot read the manifest" in capsys.readouterr().err
    assert batch_main(["--task", "generate", "--images", str(tmp_path)]) == 2
    assert "give a manifest, or --task, --images and --out" in capsys.readouterr().err
    (tmp_path / "j.jsonl").write_text("")
    assert (
        batch_main([str(tmp_path / "j.jsonl"), "--workers", "99", "--threads-per-worker", "99"])
        == 2
    )


def test_ray_missing_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    write_image(torch.zeros(3, 16, 16), tmp_path / "a.png")
    with pytest.raises(InputError, match='pip install "dropgan\\[ray\\]"'):
        run_batch([_job(inputs={"image": str(tmp_path / "a.png")}, out=str(tmp_path))], ray=True)
