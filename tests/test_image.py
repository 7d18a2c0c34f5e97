import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from dropgan.errors import InputError, OutputError
from dropgan.image import read_image, read_mask, write_image


def test_modes_are_converted_to_rgb_in_unit_range(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    gray = rgb[..., 0]
    cases = {
        "gray.png": Image.fromarray(gray, "L"),
        "rgb.png": Image.fromarray(rgb, "RGB"),
        "pal.png": Image.fromarray(rgb, "RGB").quantize(16),
        "g16.png": Image.fromarray(gray.astype(np.uint16) * 257),
    }
    for name, im in cases.items():
        im.save(tmp_path / name)
        x = read_image(tmp_path / name)
        assert x.shape == (3, 20, 30) and x.dtype == torch.float32, name
        assert float(x.min()) >= 0 and float(x.max()) <= 1, name
    # grayscale and 16-bit grayscale give the same image, replicated over channels
    g8, g16 = read_image(tmp_path / "gray.png"), read_image(tmp_path / "g16.png")
    torch.testing.assert_close(g8, g16)
    torch.testing.assert_close(g8[0], g8[2])
    torch.testing.assert_close(g8[0], torch.from_numpy(gray / 255.0).float())


def test_alpha_is_dropped_with_a_note(tmp_path):
    a = np.zeros((8, 8, 4), dtype=np.uint8)
    a[..., 3] = 100
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    with pytest.warns(UserWarning, match="alpha channel dropped"):
        assert read_image(tmp_path / "a.png").shape == (3, 8, 8)
    a[..., 3] = 255  # opaque: nothing to say
    Image.fromarray(a, "RGBA").save(tmp_path / "b.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_image(tmp_path / "b.png")


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((10, 20, 3), dtype=np.uint8)
    a[0, 0] = 255  # top-left marker
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6  # stored rotated: display needs a 90 degree clockwise turn
    im.save(tmp_path / "r.jpg", exif=exif, quality=100)
    x = read_image(tmp_path / "r.jpg")
    assert x.shape == (3, 20, 10)
    assert x[:, 0, -1].mean() > 0.8  # the marker moved to the top-right corner


def test_bad_files_raise_one_clear_error(tmp_path):
    (tmp_path / "text.png").write_text("not an image")
    Image.fromarray(np.zeros((50, 50, 3), np.uint8)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    for name, match in [
        ("missing.png", "no such file"),
        ("text.png", "not an image"),
        ("cut.jpg", "truncated"),
    ]:
        with pytest.raises(InputError, match=match):
            read_image(tmp_path / name)
    with pytest.raises(InputError, match="folder"):
        read_image(tmp_path)


def test_arrays_and_tensors():
    assert read_image(np.full((4, 5), 65535, np.uint16)).max() == 1.0
    t = torch.rand(3, 6, 7)
    torch.testing.assert_close(read_image(t), t)
    with pytest.raises(InputError):
        read_image(np.full((4, 5, 3), np.nan, np.float32))
    assert read_mask(np.eye(4, dtype=np.uint8) * 255).sum() == 4


def test_write_is_atomic_and_refuses_to_overwrite(tmp_path):
    x = torch.rand(3, 8, 9)
    p = write_image(x, tmp_path / "x.png", {"seed": 3})
    assert Image.open(p).text["seed"] == "3"
    with pytest.raises(OutputError, match="exists"):
        write_image(x, p)
    write_image(torch.zeros(3, 8, 9), p, force=True)
    assert np.asarray(Image.open(p)).max() == 0
    assert sorted(q.name for q in tmp_path.iterdir()) == ["x.png"]  # no temporary left behind
    back = read_image(p)
    assert back.shape == x.shape


def test_written_files_get_the_usual_mode_not_owner_only(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        p = write_image(torch.rand(3, 4, 4), tmp_path / "m.png")
    finally:
        os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o644
