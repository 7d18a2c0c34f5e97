"""Folder evaluation: pairing by name, the result rows, the markdown/CSV files and plots."""

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from dropgan.errors import InputError, OutputError
from dropgan.examples import example
from dropgan.image import read_image, write_image
from dropgan.metrics import (
    evaluate_folders,
    histogram_plot,
    markdown_table,
    pair_samples,
)


@pytest.fixture(scope="module")
def cache(metrics_cache):
    return metrics_cache


def _write(folder, name, image):
    folder.mkdir(exist_ok=True)
    write_image(image, folder / name)


@pytest.fixture
def folders(tmp_path):
    """Real ``a`` (96x192, large enough for NIQE) with two distinct samples, real ``b``
    (48x64) with one sample that is an exact copy, real ``c`` without samples, and a sample
    ``z_3`` without a real image."""
    photo = read_image(example("balloons"))
    a, b = photo[:, :96, :192], photo[:, 100:148, 100:164]
    real, fake = tmp_path / "real", tmp_path / "fake"
    _write(real, "a.png", a)
    _write(real, "b.png", b)
    _write(real, "c.png", photo[:, :40, :40])
    _write(fake, "a_0.png", a.flip(2))
    noisy = a + 0.05 * torch.randn(a.shape, generator=torch.Generator().manual_seed(0))
    _write(fake, "a_1.png", noisy.clamp(0, 1))
    _write(fake, "b.png", b)
    _write(fake, "z_3.png", b)
    return real, fake, tmp_path / "out"


def test_pairing_by_stem_and_sample_number(tmp_path):
    x = torch.zeros(3, 8, 8)
    for name in ("a.png", "a_1.png", "b.jpg"):
        _write(tmp_path / "real", name, x)
    for name in ("a.png", "a_0.png", "a_1.png", "b_10.png", "b_2.png"):
        _write(tmp_path / "fake", name, x)
    pairs = pair_samples(tmp_path / "real", tmp_path / "fake")
    assert {r.name: [s.name for s in v] for r, v in pairs.items()} == {
        "a.png": ["a.png", "a_0.png"],
        "a_1.png": ["a_1.png"],  # an exact name match wins over the sample-number reading
        "b.jpg": ["b_2.png", "b_10.png"],  # ordered by number, not by text
    }


def test_pairing_errors(tmp_path):
    x = torch.zeros(3, 8, 8)
    _write(tmp_path / "real", "a.png", x)
    _write(tmp_path / "fake", "b.png", x)
    with pytest.warns(UserWarning), pytest.raises(InputError, match="no sample .* is named after"):
        pair_samples(tmp_path / "real", tmp_path / "fake")
    _write(tmp_path / "real", "a.jpg", x)
    with pytest.raises(InputError, match="two real images named a"):
        pair_samples(tmp_path / "real", tmp_path / "fake")
    with pytest.raises(InputError, match="no such folder"):
        pair_samples(tmp_path / "nowhere", tmp_path / "fake")


def test_evaluation_rows_and_files(cache, folders):
    real, fake, out = folders
    with pytest.warns(UserWarning) as caught:
        rows = evaluate_folders(real, fake, out, max_queries=400, cache_dir=cache)
    messages = " ".join(str(w.message) for w in caught)
    assert "z_3.png" in messages and "c.png" in messages

    a, b = rows
    assert (a["image"], a["samples"], b["image"], b["samples"]) == ("a", 2, "b", 1)
    # b's only sample is a copy: perfect patch statistics and SIFID, no diversity measures.
    assert b["coherence"] == pytest.approx(0.0, abs=1e-6)
    assert b["completeness"] == pytest.approx(0.0, abs=1e-6)
    assert b["sifid"] == pytest.approx(0.0, abs=1e-6)
    assert b["diversity"] is None and b["lpips"] is None
    assert b["niqe"] is None and b["niqe_real"] is None  # 48x64 holds no 96x96 block
    assert a["diversity"] > 0 and a["lpips"] > 0 and a["sifid"] > 0 and a["coherence"] > 0
    assert a["niqe"] > 0 and a["niqe_real"] > 0

    md = (out / "results.md").read_text()
    assert md.startswith("| image | samples | sifid | niqe | niqe_real | coherence |")
    assert md.splitlines()[3].startswith("| b | 1 | ") and "| — |" in md
    assert "| **mean** |" in md
    with open(out / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["image"] for r in table] == ["a", "b"]
    assert float(table[0]["lpips"]) == a["lpips"] and table[1]["lpips"] == ""
    for stem in ("a", "b"):
        with Image.open(out / f"{stem}_nn_hist.png") as im:
            assert im.size == (640, 400)


def test_existing_results_need_force(cache, folders):
    real, fake, out = folders
    kwargs = {"metrics": ["coherence"], "max_queries": 100, "cache_dir": cache}
    with pytest.warns(UserWarning):
        evaluate_folders(real, fake, out, **kwargs)
        with pytest.raises(OutputError, match="results.md"):
            evaluate_folders(real, fake, out, **kwargs)
        evaluate_folders(real, fake, out, force=True, **kwargs)


def test_metrics_without_weights_fail_before_any_work(folders, tmp_path):
    real, fake, out = folders
    empty = tmp_path / "no-weights"
    with pytest.raises(InputError, match="dropgan setup-metrics"):
        evaluate_folders(real, fake, out, cache_dir=empty)
    assert not out.exists()
    # The measures that need no weights still run.
    with pytest.warns(UserWarning):
        rows = evaluate_folders(real, fake, metrics=["diversity"], cache_dir=empty)
    assert set(rows[0]) == {"image", "samples", "diversity"}


def test_unknown_metric_is_an_input_error(folders):
    real, fake, _ = folders
    with pytest.raises(InputError, match="unknown metrics fid"):
        evaluate_folders(real, fake, metrics=["fid", "sifid"])


def test_markdown_mean_row_skips_missing_values():
    rows = [
        {"image": "a", "samples": 2, "sifid": 1.0, "lpips": 0.5},
        {"image": "b", "samples": 1, "sifid": 3.0, "lpips": None},
    ]
    lines = markdown_table(rows).splitlines()
    assert lines[:2] == ["| image | samples | sifid | lpips |", "|---|---|---|---|"]
    assert lines[3] == "| b | 1 | 3 | — |"
    assert lines[4] == "| **mean** |  | 2 | 0.5 |"


def test_histogram_bars_follow_the_values():
    values = np.concatenate([np.zeros(900), np.ones(100)])  # 90% in the first bin
    im = np.asarray(histogram_plot(values, bins=10))
    bar = (im == (70, 110, 180)).all(axis=2)
    # 10 bins over the 550 pixels between the margins: the first and last bars' interiors.
    first, last = bar[:, 62:113].sum(), bar[:, 557:608].sum()
    assert first == pytest.approx(9 * last, rel=0.1)
    assert histogram_plot(np.zeros(10)).size == (640, 400)  # an exact copy: all distances 0
