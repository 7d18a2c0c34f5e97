"""The reproduction command: runs generated, timed, reused on a rerun, measured, and the page."""

import importlib
import json
import math
import shlex
from pathlib import Path

import pytest
import torch

from dropgan.cli import build_parser
from dropgan.errors import InputError, OutputError
from dropgan.image import read_image, write_image
from dropgan.metrics.assets import load_asset
from dropgan.metrics.reproduce import Run, cli_command, reproduce
from dropgan.pyramid import resize

# the module, not the function of the same name
reproduce_module = importlib.import_module("dropgan.metrics.reproduce")

LIGHT = ["coherence", "completeness", "diversity"]  # metrics that need no weights
# one PNN step at two levels: a fraction of a second; in this process (no pool to start)
QUICK = {"iters": 1, "levels": 1, "workers": 0}


@pytest.fixture(scope="module")
def images(fixtures_dir, tmp_path_factory):
    """SIGD16 #1 and #2 at 48x32, and a reference set: each image flipped, one per image."""
    root = tmp_path_factory.mktemp("sigd")
    for stem in ("1", "2"):
        x = resize(read_image(fixtures_dir / "sigd16" / f"{stem}.jpg"), (32, 48)).clamp(0, 1)
        (root / "images").mkdir(exist_ok=True)
        (root / "ref").mkdir(exist_ok=True)
        write_image(x, root / "images" / f"{stem}.png")
        write_image(x.flip(2), root / "ref" / f"{stem}.png")
    return root / "images", root / "ref"


def _summary(page: str) -> dict[str, dict[str, str]]:
    """The summary table of a page: row label -> column -> cell text."""
    lines = page.split("## Summary\n\n", 1)[1].splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def _mtimes(folder):
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def done(images, tmp_path_factory):
    """Two runs (two samples at sigma 0.75, one at 1.25) and two references (the images
    flipped, and the images themselves), measured."""
    real, ref = images
    out = tmp_path_factory.mktemp("out")
    runs = ["nn=exact,samples=2", Run(nn="exact", sigma=1.25, samples=1)]
    refs = {"flipped": ref, "copied": real}
    page = reproduce(real, out, runs, references=refs, metrics=LIGHT, **QUICK)
    return out, page, runs, refs


def test_page_has_a_row_per_run_and_reference_with_finite_numbers(done):
    out, page, _, _ = done
    assert page == out / "results.md"
    rows = _summary(page.read_text())
    runs = ["gpnn-exact-sigma0.75-n2", "gpnn-exact-sigma1.25-n1"]
    assert list(rows) == [*runs, "flipped", "copied"]
    # the copy detector: the copied reference fails twice, however perfect its measures
    assert [rows[name]["copies"] for name in rows] == ["0", "0", "0", "2"]
    assert float(rows["copied"]["coherence"]) == pytest.approx(0, abs=1e-6)
    for name, row in rows.items():
        for column in ("coherence", "completeness"):
            assert math.isfinite(float(row[column])) and float(row[column]) >= 0, name
    assert rows["flipped"]["seconds"] == rows["flipped"]["cpu_seconds"] == "—"  # no runtime
    for name in ("gpnn-exact-sigma0.75-n2", "gpnn-exact-sigma1.25-n1"):
        assert 0 < float(rows[name]["seconds"]) < 60
        assert 0 < float(rows[name]["cpu_seconds"]) < 60
    # diversity only where there are two samples per image
    assert float(rows["gpnn-exact-sigma0.75-n2"]["diversity"]) > 0
    assert rows["gpnn-exact-sigma1.25-n1"]["diversity"] == "—"
    assert rows["flipped"]["diversity"] == "—"
    # no weights-based metric was asked for: their columns are absent, not empty
    assert "sifid" not in rows["flipped"] and "niqe" not in rows["flipped"]
    assert sorted(p.name for p in (out / "gpnn-exact-sigma0.75-n2").iterdir()) == [
        "1_0.png",
        "1_1.png",
        "2_0.png",
        "2_1.png",
    ]


def test_page_names_machine_command_and_inception(done, images):
    out, page, runs, refs = done
    text = page.read_text()
    real, _ = images
    command = cli_command(
        real, out, [Run.parse(r) if isinstance(r, str) else r for r in runs],
        references=refs, metrics=LIGHT, **QUICK,
    )  # fmt: skip
    assert f"```sh\n{command}\n```" in text
    assert f"torch {torch.__version__}" in text and "logical cores" in text
    assert f"torch threads {torch.get_num_threads()}" in text  # stored with the images
    assert "FID InceptionV3" in text
    for name in ("gpnn-exact-sigma0.75-n2", "gpnn-exact-sigma1.25-n1", "flipped", "copied"):
        assert f"\n### {name}\n" in text  # a per-image table each


def test_rerun_reuses_matching_images_and_force_regenerates(images, tmp_path):
    real, _ = images
    run = ["nn=exact,samples=2"]
    folder = tmp_path / "gpnn-exact-sigma0.75-n2"
    first = reproduce(real, tmp_path, run, metrics=LIGHT, **QUICK).read_text()
    before = _mtimes(folder)
    second = reproduce(real, tmp_path, run, metrics=LIGHT, **QUICK).read_text()
    assert _mtimes(folder) == before
    # the stored runtimes are reported again, not remeasured
    assert _summary(second) == _summary(first)

    # an interrupted run: only the missing sample is made again, the others are kept
    (folder / "2_1.png").unlink()
    reproduce(real, tmp_path, run, metrics=LIGHT, **QUICK)
    after = _mtimes(folder)
    assert {k: after[k] for k in ("1_0.png", "1_1.png", "2_0.png")} == {
        k: before[k] for k in ("1_0.png", "1_1.png", "2_0.png")
    }
    assert "2_1.png" in after

    reproduce(real, tmp_path, run, metrics=LIGHT, force=True, **QUICK)
    assert all(t != before[name] for name, t in _mtimes(folder).items())


def test_images_from_other_settings_are_not_reused(images, tmp_path):
    real, _ = images
    run = ["nn=exact,samples=1"]
    reproduce(real, tmp_path, run, metrics=LIGHT, **QUICK)
    folder = tmp_path / "gpnn-exact-sigma0.75-n1"
    before = _mtimes(folder)
    with pytest.raises(OutputError, match="other settings: 1_0.png, 2_0.png"):
        reproduce(real, tmp_path, run, metrics=LIGHT, iters=2, levels=1, workers=0)
    assert _mtimes(folder) == before  # refused before any work
    reproduce(real, tmp_path, run, metrics=LIGHT, iters=2, levels=1, force=True, workers=0)
    # a stray image would be measured with the run's: refused even with force
    write_image(torch.zeros(3, 32, 48), folder / "1_7.png")
    with pytest.raises(OutputError, match="does not make: 1_7.png"):
        reproduce(real, tmp_path, run, metrics=LIGHT, force=True, **QUICK)


def test_bad_requests_fail_before_any_work(images, tmp_path):
    real, ref = images
    out = tmp_path / "out"
    with pytest.raises(InputError, match="dropgan setup-metrics"):
        reproduce(real, out, ["nn=exact"], metrics=["sifid"], cache_dir=tmp_path / "empty")
    with pytest.raises(InputError, match="set sigma per run"):
        reproduce(real, out, ["nn=exact"], metrics=LIGHT, sigma=1.0)
    with pytest.raises(InputError, match="named alike: gpnn-exact-sigma0.75-n4"):
        reproduce(real, out, ["nn=exact", "nn=exact,sigma=0.750"], metrics=LIGHT)
    with pytest.raises(InputError, match="reference r: no such folder"):
        reproduce(real, out, ["nn=exact"], references={"r": tmp_path / "none"}, metrics=LIGHT)
    with pytest.raises(InputError, match="no such folder"):
        reproduce(tmp_path / "none", out, metrics=LIGHT)
    (tmp_path / "same").mkdir()
    for name in ("1.png", "1.jpg", "2.png"):
        write_image(torch.zeros(3, 32, 48), tmp_path / "same" / name)
    with pytest.raises(InputError, match="share a name: 1$"):
        reproduce(tmp_path / "same", out, ["nn=exact"], metrics=LIGHT)
    with pytest.raises(OutputError, match="is not a folder"):  # a page under a file
        reproduce(real, out, ["nn=exact"], metrics=LIGHT, page=tmp_path / "same" / "1.png" / "p")
    assert not out.exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ("samples=0", "at least 1"),
        ("sigma=-1", "sigma must be"),
        ("sigma=x", "sigma must be a number"),
        ("nn=exact,nn=exact", "bad run"),
        ("colour=red", "bad run"),
        ("exact", "bad run"),
    ],
)
def test_bad_run_specs(text, message):
    with pytest.raises(InputError, match=message):
        Run.parse(text)


@pytest.mark.parametrize(
    "run", [Run(), Run(nn="exact", sigma=1.25, samples=1), Run(engine="gpdm", nn="patchmatch")]
)
def test_run_spec_reads_back(run):
    assert Run.parse(run.spec()) == run


def test_a_gpdm_run_with_engine_parameters(images, tmp_path):
    real, _ = images
    with pytest.raises(InputError, match="unknown engine 'nope'"):
        reproduce(real, tmp_path, ["engine=nope"], metrics=LIGHT)
    assert not any(tmp_path.iterdir())
    page = reproduce(real, tmp_path, ["engine=gpdm,samples=2"], metrics=LIGHT, steps=5, workers=0)
    assert "gpdm-sigma0.75-n2" in _summary(page.read_text())
    outputs = sorted(p.name for p in (tmp_path / "gpdm-sigma0.75-n2").iterdir())
    assert outputs == sorted(f"{p.stem}_{i}.png" for p in real.iterdir() for i in range(2))
    assert "--steps 5" in page.read_text()  # the page's command reproduces the call


def test_weighted_metrics_and_source_niqe(fixtures_dir, tmp_path):
    try:
        for name in ("sifid_inception", "niqe_pristine", "lpips_alex"):
            load_asset(name)
    except InputError:
        pytest.skip("metric weights are not set up (dropgan setup-metrics)")
    # NIQE needs two 96x96 blocks: one image at 192x96, and a reference set of two samples
    # of it, so that every metric applies; no generation, which would take seconds here
    x = resize(read_image(fixtures_dir / "sigd16" / "3.jpg"), (96, 192)).clamp(0, 1)
    noisy = x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    for folder, name, image in [
        ("images", "3.png", x), ("ref", "3_0.png", x.flip(2)), ("ref", "3_1.png", noisy.clamp(0, 1))
    ]:  # fmt: skip
        (tmp_path / folder).mkdir(exist_ok=True)
        write_image(image, tmp_path / folder / name)
    page = reproduce(
        tmp_path / "images", tmp_path / "out", [], references={"two": tmp_path / "ref"},
        page=tmp_path / "docs" / "results.md", max_queries=500,
    )  # fmt: skip
    assert page == tmp_path / "docs" / "results.md"
    rows = _summary(page.read_text())
    assert list(rows) == ["two", "source images"]
    assert rows["two"]["samples"] == "2" and "seconds" not in rows["two"]  # no run: no column
    for column in ("sifid", "niqe", "coherence", "completeness", "diversity", "lpips"):
        assert math.isfinite(float(rows["two"][column])) and float(rows["two"][column]) > 0, column
    assert float(rows["source images"]["niqe"]) > 0


def test_the_pages_command_line_parses_back_to_the_call():
    cmd = cli_command("imgs", "out", [Run(nn="exact", samples=1)], iters=2, finest_steps=0)
    args = build_parser().parse_args(shlex.split(cmd)[1:])
    assert (args.images, args.runs) == (Path("imgs"), ["nn=exact,sigma=0.75,samples=1"])
    assert (args.param_iters, args.param_finest_steps) == (2, 0)


def test_generation_runs_as_batch_jobs_on_the_pool(images, tmp_path):
    real, _ = images
    kw = {"metrics": LIGHT, "iters": 1, "levels": 1}
    page = reproduce(real, tmp_path, ["nn=exact,samples=2"], workers=2, threads_per_worker=1, **kw)
    text = page.read_text()
    assert "torch threads 1" in text  # what the workers ran with, stored with the images
    assert "--workers 2 --threads-per-worker 1" in text
    lines = (tmp_path / "reproduce.results.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    run = "gpnn-exact-sigma0.75-n2"
    assert sorted(r["id"] for r in records) == [f"{run}/1", f"{run}/2"]
    assert {(r["status"], r["executor"], r["threads"]) for r in records} == {("done", "local", 1)}
    assert (tmp_path / "reproduce.failures.jsonl").read_text() == ""
    # the rerun in this process finds every image done
    reproduce(real, tmp_path, ["nn=exact,samples=2"], workers=0, **kw)
    lines = (tmp_path / "reproduce.results.jsonl").read_text().splitlines()
    assert [json.loads(line)["status"] for line in lines[2:]] == ["skipped", "skipped"]


def test_the_pages_command_line_keeps_the_pool_and_search_options():
    cmd = cli_command("imgs", "out", [Run(nn="exact")], search="exact", workers=2, ray="ray://h:1")
    assert cmd.endswith("--search exact --workers 2 --ray ray://h:1")
    parser = build_parser()
    try:
        args = parser.parse_args(shlex.split(cmd)[1:])
    except SystemExit:
        pytest.skip("dropgan reproduce has no --search, --workers, --ray yet (cli.py wiring)")
    assert (args.search, args.workers, args.ray) == ("exact", 2, "ray://h:1")
