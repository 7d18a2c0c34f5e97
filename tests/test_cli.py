import json

import numpy as np
import pytest
from PIL import Image

from dropgan.cli import main


@pytest.fixture
def photo(tmp_path, small_photo):
    path = tmp_path / "photo.png"
    Image.fromarray((small_photo.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(
        path
    )
    return path


FAST = ["--iters", "1", "--levels", "2", "--nn", "exact", "--quiet"]


def test_generate_writes_samples_with_their_parameters(tmp_path, photo, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "generate",
                str(photo),
                "-n",
                "2",
                "--seed",
                "5",
                "--size",
                "80x40",
                "--out",
                str(out),
                *FAST,
            ]
        )
        == 0
    )
    files = sorted(p.name for p in out.iterdir())
    assert files == ["photo_0.png", "photo_1.png"]
    im = Image.open(out / "photo_1.png")
    assert im.size == (80, 40)
    meta = json.loads(im.text["dropgan:params"])
    assert meta["seed"] == 5 and meta["sample"] == 1 and meta["params"]["nn"] == "exact"
    # an existing output is not overwritten without --force, and is left as it was
    before = (out / "photo_0.png").read_bytes()
    assert main(["generate", str(photo), "--out", str(out), *FAST]) == 2
    assert "exists" in capsys.readouterr().err
    assert (out / "photo_0.png").read_bytes() == before
    assert main(["generate", str(photo), "--out", str(out), "--force", *FAST]) == 0


def _corrupt(tmp_path):
    p = tmp_path / "bad.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    return p


def _tiny(tmp_path):
    p = tmp_path / "tiny.png"
    Image.new("RGB", (10, 10)).save(p)
    return p


def run(argv):
    """Exit status of the command, whether argparse or main itself decided it."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda t, ph: [str(t / "missing.png")], "no such file"),
        (lambda t, ph: [str(_corrupt(t))], "bad.png"),
        (lambda t, ph: [str(_tiny(t))], "too small"),
        (lambda t, ph: [str(ph), "--sigma", "-1"], "sigma"),
        (lambda t, ph: [str(ph), "--patch-size", "4"], "patch size"),
        (lambda t, ph: [str(ph), "--patch-size", "1"], "patch size"),
        (lambda t, ph: [str(ph), "-n", "0"], "at least 1"),
        (lambda t, ph: [str(ph), "--alpha", "0"], "positive"),
        (lambda t, ph: [str(ph), "--size", "10x0"], "size"),
        (lambda t, ph: [str(ph), "--levels", "40"], "too small"),
        (lambda t, ph: [str(ph), "--ratio", "1.5"], "ratio"),
        (lambda t, ph: [str(ph), "--nn", "nonsense"], "backend"),
        (lambda t, ph: [str(ph), "--device", "quantum"], "device"),
        (lambda t, ph: [str(ph), "--iters", "0"], "iters must be"),
    ],
)
def test_bad_input_gives_one_error_line_and_writes_nothing(
    tmp_path, photo, capsys, make_args, message
):
    out = tmp_path / "out"
    assert run(["generate", *make_args(tmp_path, photo), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("dropgan: error:") and message in err
    assert not out.exists()


def test_argument_errors_exit_with_status_2(capsys):
    assert run(["generate", "--size", "wide"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_unwritable_output_folder(tmp_path, photo, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["generate", str(photo), "--out", str(blocker / "sub"), *FAST]) == 2
    assert "cannot create" in capsys.readouterr().err
    assert main(["generate", str(photo), "--out", str(blocker), *FAST]) == 2
    assert "is a file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--reference", "no-equals-sign"], "NAME=DIR"),
        (["--run", "bogus"], "bad run"),
        (["--run", "samples=0"], "at least 1"),
    ],
)
def test_reproduce_bad_input(tmp_path, photo, capsys, extra, message):
    out = tmp_path / "out"
    assert run(["reproduce", "--images", str(photo.parent), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not out.exists()


def test_a_run_leaves_the_processs_warning_settings_as_they_were(tmp_path):
    import warnings

    filters, show = list(warnings.filters), warnings.showwarning
    status = main(
        [
            "generate",
            "--example",
            "balloons",
            "--out",
            str(tmp_path),
            "--quiet",
            "--levels",
            "1",
            "--iters",
            "1",
            "--nn",
            "exact",
            "--size",
            "40x30",
        ]
    )
    assert status == 0
    assert warnings.filters == filters and warnings.showwarning is show
