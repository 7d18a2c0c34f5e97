"""Bad input, interrupted and concurrent runs, and outputs that can be made again from their
metadata alone."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

import dropgan
from dropgan.cli import main
from dropgan.errors import InputError
from dropgan.image import read_metadata
from dropgan.outputs import LOCK_NAME

FAST = ["--nn", "exact", "--iters", "1", "--quiet"]


def _png_claiming(path: Path, width: int, height: int) -> Path:
    """A valid 1x1 PNG whose header then claims another size (a decompression bomb)."""
    dropgan.write_image(torch.zeros(3, 1, 1), path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def files(tmp_path, small_photo):
    folder = tmp_path / "in"
    folder.mkdir()
    made = {
        "photo": folder / "photo.png",
        "tiny": folder / "tiny.png",
        "text": folder / "notes.txt",
        "corrupt": folder / "corrupt.png",
        "bomb": _png_claiming(folder / "bomb.png", 20000, 20000),
        "mask": folder / "mask.png",
        "smallmask": folder / "smallmask.png",
        "empty": folder / "empty.png",
    }
    dropgan.write_image(small_photo, made["photo"])
    dropgan.write_image(small_photo[:, :10, :10], made["tiny"])
    made["text"].write_text("not an image")
    made["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    hole = torch.zeros(3, 64, 96)
    hole[:, 20:30, 40:50] = 1
    dropgan.write_image(hole, made["mask"])
    dropgan.write_image(hole[:, :32], made["smallmask"])
    dropgan.write_image(torch.zeros(3, 64, 96), made["empty"])
    return {k: str(v) for k, v in made.items()}


CORPUS = [
    # (argv with {name} placeholders for the input files, words the error line must hold)
    ("generate {missing}", "no such file"),
    ("generate {text}", "not an image"),
    ("generate {corrupt}", "corrupt"),
    ("generate {bomb}", "pixels"),
    ("generate {tiny}", "too small"),
    ("generate {photo} --example balloons", "one of"),
    ("generate {photo} --seed 1180591620717411303424", "seed"),
    ("generate {photo} --seed -1", "seed"),
    ("generate {photo} --device mps", "device"),
    ("generate {photo} --device meta", "device"),
    ("generate {photo} --device quantum", "device"),
    ("generate {photo} --memory-budget infG", "bytes"),
    ("generate {photo} --memory-budget 1k", "at least 1 MiB"),
    ("generate {photo} --sigma inf", "sigma"),
    ("generate {photo} --sigma nan", "sigma"),
    ("generate {photo} --sigma -1", "sigma"),
    ("generate {photo} --alpha 0", "alpha"),
    ("generate {photo} --alpha nan", "alpha"),
    ("generate {photo} --patch-size 4", "patch size"),
    ("generate {photo} --iters 0", "iters"),
    ("generate {photo} --ratio 0.999", "levels"),
    ("generate {photo} --ratio 1.5", "ratio"),
    ("generate {photo} --levels -1", "levels"),
    ("generate {photo} --levels 2.5", "int"),
    ("generate {photo} --levels 40", "too small"),
    ("generate {photo} -n 0", "at least 1"),
    ("generate {photo} --start -1", "start"),
    ("generate {photo} --size 20000x20000", "pixels"),
    ("generate {photo} --size 10x0", "size"),
    ("generate {photo} --nn nonsense", "backend"),
    ("generate {photo} --engine gpdm --lr inf", "lr"),
    ("generate {photo} --engine gpdm --tol nan", "tol"),
    ("generate {photo} --engine gpdm --tol -1", "tol"),
    ("generate {photo} --engine gpdm --nn exact", "do not apply"),
    ("generate {photo} --keys fuzzy", "keys"),
    ("retarget {photo} --size 100x64 --max-step 1.0001", "steps"),
    ("retarget {photo} --size 100x64 --max-step 1", "above 1"),
    ("retarget {tiny} --size 12x10", "too small"),
    ("retarget {photo} --scale inf", "positive"),
    ("analogy --source {tiny} --structure {photo}", "too small"),
    ("inpaint {photo} --mask {smallmask}", "same size"),
    ("inpaint {photo} --mask {empty}", "empty"),
    ("inpaint {photo} --mask {missing}", "no such file"),
    ("collage {photo}", "at least two"),
    ("edit {photo} {tiny}", "same size"),
    ("edit {photo} {photo}", "does not differ"),
    ("eval --real {reals} --fake {reals} --patch-size 0", "patch"),
    ("eval --real {reals} --fake {reals} --metrics ,", "metric"),
]


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    try:
        status = main(argv)
    except SystemExit as e:  # argparse's own errors
        status = e.code
    return status, capsys.readouterr().err


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize(("argv", "words"), CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_input_gives_one_error_line_and_leaves_nothing(tmp_path, files, capsys, argv, words):
    reals = tmp_path / "reals"
    reals.mkdir()
    dropgan.write_image(dropgan.read_image(files["photo"]), reals / "photo.png")
    names = {**files, "missing": str(tmp_path / "missing.png"), "reals": str(reals)}
    before = _tree(tmp_path)
    out = tmp_path / "a" / "b" / "c"
    args = argv.format(**names).split()
    if args[0] != "eval":
        args += ["--out", str(out), "--quiet"]
    status, err = _run(capsys, args)
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dropgan: error:"), err
    assert words in lines[0], lines[0]
    assert "Traceback" not in err
    assert _tree(tmp_path) == before  # no file, no folder (not even a/ or a/b/)


def test_an_output_name_taken_by_a_folder_fails_before_the_work(tmp_path, files, capsys):
    out = tmp_path / "out"
    (out / "photo_0.png").mkdir(parents=True)
    status, err = _run(capsys, ["generate", files["photo"], "--out", str(out), "--force", *FAST])
    assert status == 2 and "is a folder" in err


def test_a_second_run_on_the_same_folder_is_refused_while_the_first_runs(tmp_path, files, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text(str(os.getppid()))  # a live process holds the folder
    status, err = _run(capsys, ["generate", files["photo"], "--out", str(out), *FAST])
    assert status == 2 and "is writing to" in err
    assert not (out / "photo_0.png").exists()
    # the lock of a killed run is taken over
    (out / LOCK_NAME).write_text("999999999")
    status, err = _run(capsys, ["generate", files["photo"], "--out", str(out), *FAST])
    assert status == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["photo_0.png"]


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "{photo}", "-n", "3", "--seed", "9"],
        ["retarget", "{photo}", "--size", "120x64"],
        ["inpaint", "{photo}", "--mask", "{mask}"],
        ["edit", "{photo}", "{edited}", "-n", "2", "--sigma", "0.3"],
        ["edit", "{photo}", "{edited}", "--mask", "{mask}", "--blend"],
        ["harmonize", "--source", "{photo}", "--naive", "{edited}", "--mask", "{mask}"],
    ],
    ids=["generate", "retarget", "inpaint", "edit", "edit-mask", "harmonize"],
)
def test_an_output_is_made_again_from_its_metadata_alone(tmp_path, files, small_photo, argv):
    edited = small_photo.clone()
    edited[:, 10:30, 10:30] = small_photo[:, 30:50, 60:80]
    files["edited"] = str(tmp_path / "edited.png")
    dropgan.write_image(edited, files["edited"])
    out = tmp_path / "out"
    assert main([a.format(**files) for a in argv] + ["--out", str(out), *FAST]) == 0
    last = sorted(out.glob("*.png"))[-1]
    meta = read_metadata(last)
    as_file = {"image": "photo", "original": "photo", "background": "photo", "naive": "edited"}
    inputs = [files[as_file.get(r, r)] for r in _roles(meta)]
    again = dropgan.regenerate(last.as_posix() and meta, *inputs)
    assert torch.equal(_as_8bit(again), dropgan.read_image(last))


def _roles(meta: dict) -> list[str]:
    return [i["role"] for i in meta["inputs"]]


def _as_8bit(image: torch.Tensor) -> torch.Tensor:
    return (image.clamp(0, 1) * 255).round() / 255


def test_regenerate_refuses_other_inputs(small_photo):
    out = dropgan.generate(small_photo, nn="exact", iters=1)
    with pytest.raises(InputError, match="not the one"):
        dropgan.regenerate(out.metadata_of(0), small_photo.flip(-1))
    with pytest.raises(InputError, match="input"):
        dropgan.regenerate(out.metadata_of(0))


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"seed": None}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": "1"}, "seed"),
        ({"size": "64x96"}, "size"),
        ({"scale": float("inf")}, "scale"),
        ({"levels": 2.5}, "levels"),
        ({"sigma": None}, "sigma"),
        ({"n": 0}, "at least 1"),
        ({"memory_budget": "lots"}, "bytes"),
        ({"progress": "yes"}, "progress"),
    ],
)
def test_api_misuse_is_one_input_error(small_photo, kw, words):
    with pytest.raises(InputError, match=words):
        dropgan.generate(small_photo, **{"nn": "exact", "iters": 1, **kw})


def test_numpy_integers_and_byte_strings_are_taken(small_photo, tmp_path):
    out = dropgan.generate(small_photo, n=np.int64(2), seed=np.int64(1), memory_budget="64M",
                           nn="exact", iters=1)  # fmt: skip
    assert len(out) == 2 and out.metadata["params"]["memory_budget"] == 64 << 20
    dropgan.write_image(dropgan.generate(small_photo, nn="exact", iters=1), tmp_path / "x.png")
    assert read_metadata(tmp_path / "x.png")["task"] == "generate"
