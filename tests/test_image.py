"""Reading and writing images: modes, the value rule, the pixel limit, metadata, failures."""

import errno
import json
import os
import struct
import types
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile, PngImagePlugin

from dropgan.errors import InputError, OutputError
from dropgan.image import (
    MAX_PIXELS,
    METADATA_KEY,
    pixel_limit,
    read_image,
    read_mask,
    read_metadata,
    write_image,
)

RNG = np.random.default_rng(0)


def _rgb(h=20, w=30):
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


# --- files and modes --------------------------------------------------------------------------


def test_modes_are_converted_to_rgb_in_unit_range(tmp_path):
    rgb = _rgb()
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


def test_the_shipped_photo_is_a_real_photo(photo_path, small_photo):
    x = read_image(photo_path)
    assert x.shape == (3, 167, 250)
    assert float(x.std()) > 0.1  # a photograph, not a flat test card
    assert small_photo.shape == (3, 64, 96)


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


@pytest.mark.parametrize("suffix", [".gif", ".png"])
def test_animated_image_gives_its_first_frame_with_a_warning(tmp_path, suffix):
    frames = [Image.new("RGB", (12, 10), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = tmp_path / f"anim{suffix}"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.warns(UserWarning, match="animated image, using its first frame"):
        x = read_image(path)
    assert x.shape == (3, 10, 12)
    torch.testing.assert_close(x[:, 5, 5], torch.tensor([1.0, 0.0, 0.0]))
    frames[0].save(tmp_path / "still.gif")  # one frame: nothing to say
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_image(tmp_path / "still.gif")


# --- the value rule ---------------------------------------------------------------------------


def test_numpy_and_torch_integers_give_identical_images():
    a = _rgb()
    from_numpy = read_image(a)
    from_torch = read_image(torch.from_numpy(a).permute(2, 0, 1))
    assert torch.equal(from_numpy, from_torch)
    torch.testing.assert_close(from_numpy, torch.from_numpy(a / 255.0).permute(2, 0, 1).float())
    assert torch.equal(read_image(torch.from_numpy(a[..., 0])), read_image(a[..., 0]))
    # uint16 by its own range
    assert torch.equal(read_image(a.astype(np.uint16) * 257), from_numpy)


def test_bool_masks_are_zero_and_one():
    m = np.eye(5, dtype=bool)
    x = read_image(m)
    assert set(x.unique().tolist()) == {0.0, 1.0} and x[0].sum() == 5
    assert torch.equal(read_image(torch.from_numpy(m)), x)
    assert read_mask(m).sum() == 5
    assert read_mask(np.eye(4, dtype=np.uint8) * 255).sum() == 4


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16, np.int8, np.uint32])
def test_integer_types_without_an_image_range_are_refused(dtype):
    a = np.arange(100, dtype=dtype).reshape(10, 10)
    with pytest.raises(InputError, match="values \\(range 0..99\\) have no standard image range"):
        read_image(a)
    with pytest.raises(InputError, match="convert them to uint8 for 0..255"):
        read_image(torch.from_numpy(a))


def test_int64_of_plain_python_integers_is_refused_with_the_fix():
    t = torch.randint(0, 256, (3, 8, 8))  # torch makes int64, a common way to get 0..255
    with pytest.raises(InputError, match="int64 values .*uint8 for 0..255") as e:
        read_image(t)
    assert "\n" not in str(e.value)
    assert torch.equal(read_image(t.to(torch.uint8)), t / 255.0)


def test_negative_integers_are_refused():
    with pytest.raises(InputError, match="-3..5, but image values cannot be negative"):
        read_image(np.array([[-3, 5]], dtype=np.int16))


@pytest.mark.parametrize(
    ("lo", "hi", "hint"),
    [
        (0.0, 255.0, "range 0..255, outside \\[0, 1\\]: divide by 255"),
        (0.0, 4095.0, "divide by 65535"),
        (-1.0, 1.0, "\\(x \\+ 1\\) / 2"),
        (-0.04, 1.06, "clip them to \\[0, 1\\]"),
        (-300.0, 300.0, "rescale them to \\[0, 1\\]"),
    ],
)
def test_floats_outside_the_unit_range_are_refused_with_a_hint(lo, hi, hint):
    a = np.linspace(lo, hi, 48).reshape(4, 4, 3)
    for value in (a, a.astype(np.float32), torch.from_numpy(a).permute(2, 0, 1)):
        with pytest.raises(InputError, match=hint) as e:
            read_image(value)
        assert "\n" not in str(e.value)


def test_tiny_overshoot_is_clipped_not_refused():
    a = np.array([[-0.0009, 0.5, 1.0009]], dtype=np.float64)
    x = read_image(a)
    assert x[0].tolist() == [[0.0, 0.5, 1.0]]
    t = torch.rand(3, 6, 7)
    assert torch.equal(read_image(t), t)  # in range: unchanged
    assert torch.equal(read_image(t.half()), t.half().float())
    assert torch.equal(read_image(t.bfloat16()), t.bfloat16().float())


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_infinity_are_refused(bad):
    a = np.full((4, 5, 3), 0.5, np.float32)
    a[1, 2, 0] = bad
    with pytest.raises(InputError, match="NaN or infinite"):
        read_image(a)
    with pytest.raises(InputError, match="NaN or infinite"):
        read_image(torch.from_numpy(a).permute(2, 0, 1))


def test_pil_float_and_32_bit_modes_follow_the_rule():
    levels = np.linspace(0, 255, 30, dtype=np.float32).reshape(5, 6)
    with pytest.raises(InputError, match="divide by 255"):
        read_image(Image.fromarray(levels, "F"))
    torch.testing.assert_close(
        read_image(Image.fromarray(levels / 255, "F"))[1], torch.from_numpy(levels / 255)
    )
    sixteen = np.linspace(0, 65535, 30).astype(np.int32).reshape(5, 6)
    x = read_image(Image.fromarray(sixteen, "I"))
    torch.testing.assert_close(x[0], torch.from_numpy(sixteen / 65535).float())
    with pytest.raises(InputError, match="beyond their range 0..65535"):
        read_image(Image.fromarray(sixteen * 2, "I"))
    with pytest.raises(InputError, match="cannot be negative"):
        read_image(Image.fromarray(sixteen - 1, "I"))


# --- shapes -----------------------------------------------------------------------------------


def test_tensor_and_array_shapes():
    t = torch.rand(3, 6, 7)
    assert torch.equal(read_image(t[None]), t)  # a batch of one
    assert torch.equal(read_image(t[0]), t[0].expand(3, -1, -1))
    assert torch.equal(read_image(t[:1]), t[0].expand(3, -1, -1))
    a = _rgb(6, 7)
    rgba = np.concatenate([a, np.zeros_like(a[..., :1])], axis=2)
    assert torch.equal(read_image(rgba), read_image(a))
    with pytest.raises(InputError, match="a batch of 2 images"):
        read_image(torch.rand(2, 3, 6, 7))
    with pytest.raises(InputError, match="channels-last.*permute"):
        read_image(torch.rand(6, 7, 3))
    with pytest.raises(InputError, match="expected 1, 3 or 4 channels"):
        read_image(np.zeros((6, 7, 2), np.uint8))
    with pytest.raises(InputError, match="empty"):
        read_image(np.zeros((0, 7, 3), np.uint8))
    with pytest.raises(InputError, match="cannot read an image from list"):
        read_image([[0.0]])


def test_result_never_shares_memory_with_the_input():
    a = np.full((4, 4, 3), 0.5, np.float32)
    x = read_image(a)
    a[:] = 0
    assert float(x.min()) == 0.5


# --- the pixel limit --------------------------------------------------------------------------


def _png_claiming(path, width, height):
    """A tiny PNG whose header says ``width`` x ``height``: its pixels cannot be decoded."""
    Image.new("RGB", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"  # the first chunk: length, type, 13 bytes of data, CRC
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("width", "height", "said"),
    [
        (20000, 20000, "image of 400,000,000 pixels"),  # Pillow's bomb error, mapped
        (10000, 10000, "10000x10000 image \\(100.0 Mpx\\)"),  # Pillow only warns
        (4000, 3000, "4000x3000 image \\(12.0 Mpx\\)"),  # a camera file: over our limit only
    ],
)
def test_huge_header_is_refused_before_decoding(tmp_path, monkeypatch, width, height, said):
    path = _png_claiming(tmp_path / "bomb.png", width, height)

    def no_decoding(self):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    monkeypatch.delenv("DROPGAN_MAX_PIXELS", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning included
        with pytest.raises(InputError, match=said) as e:
            read_image(path)
    message = str(e.value)
    assert f"exceeds the limit of {MAX_PIXELS:,} pixels" in message
    assert "downscale it, or raise the limit with max_pixels or DROPGAN_MAX_PIXELS" in message
    assert "\n" not in message


def test_a_limit_raised_beyond_pillows_names_pillows(tmp_path, monkeypatch):
    path = _png_claiming(tmp_path / "bomb.png", 20000, 20000)
    with pytest.raises(InputError, match="400,000,000 pixels exceeds Pillow's .*MAX_IMAGE_PIXELS"):
        read_image(path, max_pixels=10**9)


def test_limit_comes_from_argument_then_environment_then_default(tmp_path, monkeypatch):
    Image.fromarray(_rgb(100, 100)).save(tmp_path / "p.png")
    monkeypatch.delenv("DROPGAN_MAX_PIXELS", raising=False)
    assert pixel_limit() == MAX_PIXELS == 8_000_000
    monkeypatch.setenv("DROPGAN_MAX_PIXELS", "9999")
    assert pixel_limit() == 9999
    for image in (tmp_path / "p.png", _rgb(100, 100), torch.rand(3, 100, 100)):
        with pytest.raises(InputError, match="100x100 image .* limit of 9,999 pixels"):
            read_image(image)
        assert read_image(image, max_pixels=10_000).shape == (3, 100, 100)
    with pytest.raises(InputError, match="limit of 9,999 pixels"):
        read_mask(np.zeros((100, 100), bool))
    monkeypatch.setenv("DROPGAN_MAX_PIXELS", "4e7")
    assert pixel_limit() == 40_000_000
    monkeypatch.setenv("DROPGAN_MAX_PIXELS", "lots")
    with pytest.raises(InputError, match="DROPGAN_MAX_PIXELS must be a positive whole number"):
        read_image(_rgb(4, 4))
    for bad in (0, -5, 2.5, "10", True):
        with pytest.raises(InputError, match="max_pixels must be a positive whole number"):
            pixel_limit(bad)


def test_large_tensor_is_refused_without_being_copied():
    # expand allocates nothing: converting it first would take 2.3 GB
    huge = torch.zeros(1, 1, 1, dtype=torch.float32).expand(3, 8000, 6000)
    with pytest.raises(InputError, match="6000x8000 image \\(48.0 Mpx\\)"):
        read_image(huge)


# --- writing ----------------------------------------------------------------------------------


def test_write_is_atomic_and_refuses_to_overwrite(tmp_path):
    x = torch.rand(3, 8, 9)
    p = write_image(x, tmp_path / "x.png", {"seed": 3})
    assert Image.open(p).text["seed"] == "3"
    with pytest.raises(OutputError, match="exists; pass force=True"):
        write_image(x, p)
    write_image(torch.zeros(3, 8, 9), p, force=True)
    assert np.asarray(Image.open(p)).max() == 0
    assert sorted(q.name for q in tmp_path.iterdir()) == ["x.png"]  # no temporary left behind
    back = read_image(p)
    assert back.shape == x.shape


def test_written_files_get_the_usual_mode_not_owner_only(tmp_path):
    umask = os.umask(0o022)
    try:
        p = write_image(torch.rand(3, 4, 4), tmp_path / "m.png")
    finally:
        os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o644


def test_write_takes_every_shape_and_type_read_takes(tmp_path):
    a = _rgb(6, 7)
    x = read_image(a)
    cases = {
        "chw": x,
        "batch": x[None],
        "numpy": a,
        "numpy_float": a / 255.0,
        "pil": Image.fromarray(a),
    }
    for name, image in cases.items():
        assert torch.equal(read_image(write_image(image, tmp_path / f"{name}.png")), x), name
    grey = read_image(write_image(x[0], tmp_path / "grey.png"))
    assert torch.equal(grey, x[0].expand(3, -1, -1))


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (torch.full((3, 4, 4), float("nan")), "NaN or infinite"),
        (torch.full((3, 4, 4), float("inf")), "NaN or infinite"),
        (np.full((4, 4, 3), 200.0), "divide by 255"),
        (torch.randint(0, 256, (3, 4, 4)), "uint8"),
        (torch.rand(2, 3, 4, 4), "a batch of 2"),
    ],
)
def test_write_refuses_what_read_refuses_and_leaves_no_file(tmp_path, image, match):
    with pytest.raises(InputError, match=match):
        write_image(image, tmp_path / "bad.png")
    assert list(tmp_path.iterdir()) == []


def test_write_maps_what_pillow_cannot_encode(tmp_path):
    rgba = Image.new("RGBA", (4, 4))
    with pytest.raises(InputError, match="cannot be saved as JPEG"):
        write_image(rgba, tmp_path / "a.jpg")
    with pytest.raises(OutputError, match="not a file name of an image format"):
        write_image(torch.rand(3, 4, 4), tmp_path / "a.txt")
    assert list(tmp_path.iterdir()) == []


class _FullDisk:
    """A file whose every write fails as on a full disk."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_is_one_output_error_and_leaves_nothing(tmp_path, monkeypatch):
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _FullDisk(real_fdopen(fd, *a, **k)))
    with pytest.raises(OutputError) as e:
        write_image(torch.rand(3, 8, 8), tmp_path / "x.png")
    assert str(e.value) == f"cannot write {tmp_path / 'x.png'}: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_a_folder_in_the_way_is_an_output_error(tmp_path):
    (tmp_path / "x.png").mkdir()
    with pytest.raises(OutputError, match="cannot write .*x.png: Is a directory"):
        write_image(torch.rand(3, 8, 8), tmp_path / "x.png", force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"] and (tmp_path / "x.png").is_dir()


# --- results and metadata ---------------------------------------------------------------------


class _Result:
    """Like dropgan.Result: images, run metadata, and each image's own."""

    def __init__(self, images, metadata):
        self.images = tuple(images)
        self.metadata = metadata

    def metadata_of(self, i):
        return {**self.metadata, "sample": i}


def test_result_metadata_round_trips_as_one_json_chunk(tmp_path):
    x = torch.rand(3, 5, 6)
    meta = {"task": "generate", "seed": 7, "size": (5, 6), "device": torch.device("cpu")}
    p = write_image(types.SimpleNamespace(images=[x], metadata=meta), tmp_path / "r.png")
    assert list(Image.open(p).text) == [METADATA_KEY]  # one chunk, nothing else
    back = read_metadata(p)
    assert back == {"task": "generate", "seed": 7, "size": [5, 6], "device": "cpu"}
    assert Image.open(p).text[METADATA_KEY] == json.dumps(meta, sort_keys=True, default=str)
    torch.testing.assert_close(read_image(p), x, atol=0.5 / 255, rtol=0)


def test_result_of_several_images_needs_an_index(tmp_path):
    xs = [torch.zeros(3, 4, 4), torch.ones(3, 4, 4)]
    r = _Result(xs, {"seed": 1})
    with pytest.raises(InputError, match="has 2 images .*write result\\[i\\] with index=i"):
        write_image(r, tmp_path / "a.png")
    p = write_image(r, tmp_path / "b.png", index=1)
    assert read_metadata(p) == {"seed": 1, "sample": 1}
    assert read_image(p).min() == 1.0
    with pytest.raises(InputError, match="index must be a whole number in 0..1, got 2"):
        write_image(r, tmp_path / "c.png", index=2)
    with pytest.raises(InputError, match="index selects an image of a result"):
        write_image(xs[0], tmp_path / "d.png", index=0)
    with pytest.raises(InputError, match="no image"):
        write_image(_Result([], {}), tmp_path / "e.png")
    # metadata given explicitly replaces the result's
    p = write_image(_Result(xs[:1], {"seed": 1}), tmp_path / "f.png", {"note": "mine"})
    assert Image.open(p).text == {"note": "mine"} and read_metadata(p) == {}
    assert sorted(q.name for q in tmp_path.iterdir()) == ["b.png", "f.png"]


def test_read_metadata_of_files_without_it_and_of_damaged_ones(tmp_path):
    write_image(torch.rand(3, 4, 4), tmp_path / "plain.png")
    write_image(torch.rand(3, 4, 4), tmp_path / "photo.jpg")
    assert read_metadata(tmp_path / "plain.png") == {}
    assert read_metadata(tmp_path / "photo.jpg") == {}
    for text, match in [("{not json", "not valid JSON"), ("[1, 2]", "not a JSON object")]:
        write_image(torch.rand(3, 4, 4), tmp_path / "bad.png", {METADATA_KEY: text}, force=True)
        with pytest.raises(InputError, match=match):
            read_metadata(tmp_path / "bad.png")
    # a byte of the chunk changed after writing: its checksum no longer matches
    good = write_image(_Result([torch.rand(3, 4, 4)], {"seed": 3}), tmp_path / "good.png")
    data = bytearray(good.read_bytes())
    at = data.index(b'"seed"')
    data[at + 1] = ord("S")
    (tmp_path / "damaged.png").write_bytes(bytes(data))
    with pytest.raises(InputError, match="corrupt PNG file"):
        read_metadata(tmp_path / "damaged.png")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="not an image"):
        read_metadata(tmp_path / "notes.txt")
    with pytest.raises(InputError, match="no such file"):
        read_metadata(tmp_path / "missing.png")


def test_read_metadata_reads_only_the_header_of_a_huge_png(tmp_path, monkeypatch):
    meta = PngImagePlugin.PngInfo()
    meta.add_text(METADATA_KEY, json.dumps({"seed": 5}))
    Image.new("RGB", (8, 8)).save(tmp_path / "small.png", pnginfo=meta)
    data = bytearray((tmp_path / "small.png").read_bytes())
    data[16:24] = struct.pack(">II", 20000, 20000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    (tmp_path / "huge.png").write_bytes(bytes(data))
    assert read_metadata(tmp_path / "huge.png") == {"seed": 5}
