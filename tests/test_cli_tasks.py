import pytest
import torch
from PIL import Image

from dropgan.cli import main
from dropgan.image import read_image, write_image

FAST = ["--nn", "exact", "--levels", "1", "--iters", "1", "--coarsest-iters", "1", "--quiet"]


@pytest.fixture()
def files(tmp_path, small_photo):
    """Small inputs for every task: 24 x 32 images, a mask, an edit."""
    x = small_photo[:, :24, :32]
    paths = {}

    def save(name, image):
        paths[name] = str(write_image(image, tmp_path / name))

    save("photo.png", x)
    save("other.png", small_photo[:, 30:54, 50:82])
    hole = torch.zeros(3, 24, 32)
    hole[:, 8:14, 10:18] = 1.0
    save("mask.png", hole)
    painted = x.clone()
    painted[:, 8:14, 10:18] = torch.tensor([0.0, 0.0, 1.0])[:, None, None]
    save("painted.png", painted)
    edited = x.clone()
    edited[:, 2:10, 2:10] = x[:, 14:22, 20:28]
    save("edited.png", edited)
    save("small_mask.png", hole[:, :20])
    save("empty_mask.png", torch.zeros(3, 24, 32))
    save("full_mask.png", torch.ones(3, 24, 32))
    save("tall.png", small_photo[:, :, :20])
    return paths


def _run(capsys, *argv):
    """Exit status and stderr of the command, whether it returns or argparse exits."""
    try:
        status = main([str(a) for a in argv])
    except SystemExit as e:
        status = e.code
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "written", "size"),
    [
        (["retarget", "photo.png", "--size", "40x20"], ["photo_40x20.png"], (40, 20)),
        (["retarget", "photo.png", "--scale", "0.75x1"], ["photo_scale0.75x1.png"], (24, 24)),
        (
            ["analogy", "--source", "other.png", "--structure", "photo.png", "--no-refine"],
            ["other_photo_analogy.png"],
            (32, 24),
        ),
        (["inpaint", "painted.png", "--mask", "mask.png"], ["painted_inpaint.png"], (32, 24)),
        (["collage", "photo.png", "other.png"], ["photo_collage.png"], (64, 24)),
        (["edit", "photo.png", "edited.png"], ["edited_edit_0.png"], (32, 24)),
        (
            ["edit", "photo.png", "edited.png", "-n", "2", "--sigma", "0.2"],
            ["edited_edit_0.png", "edited_edit_1.png"],
            (32, 24),
        ),
    ],
    ids=["retarget-size", "retarget-scale", "analogy", "inpaint", "collage", "edit", "edit-n"],
)
def test_each_task_writes_its_images(tmp_path, files, capsys, argv, written, size):
    out = tmp_path / "out"
    args = [files.get(a, a) for a in argv]
    status, err = _run(capsys, *args, "--out", out, *FAST)
    assert status == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(written)
    for name in written:
        with Image.open(out / name) as im:
            assert im.size == size
            assert "dropgan:params" in im.info
    assert read_image(out / written[0]).std() > 0.01


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["inpaint", "photo.png", "--mask", "small_mask.png"], "same size"),
        (["inpaint", "photo.png", "--mask", "empty_mask.png"], "empty"),
        (["inpaint", "photo.png", "--mask", "full_mask.png"], "whole image"),
        (["collage", "photo.png", "tall.png"], "factor 2"),
        (["collage", "photo.png"], "at least two"),
        (["retarget", "photo.png", "--size", "40x5"], "too small"),
        (["retarget", "photo.png"], "required"),
        (["edit", "photo.png", "photo.png"], "does not differ"),
        (["edit", "photo.png", "tall.png"], "same size"),
        (["analogy", "--source", "photo.png", "--structure", "missing.png"], "no such file"),
    ],
    ids=[
        "mask-size",
        "empty-mask",
        "full-mask",
        "collage-heights",
        "collage-one",
        "target-too-small",
        "retarget-no-size",
        "no-edit",
        "edit-size",
        "missing-file",
    ],
)
def test_bad_input_is_one_error_line_and_writes_nothing(tmp_path, files, capsys, argv, message):
    out = tmp_path / "out"
    args = [files.get(a, a) for a in argv]
    status, err = _run(capsys, *args, "--out", out, "--nn", "exact", "--quiet")
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dropgan: error:"), err
    assert message in lines[0]
    assert not out.exists()
