"""The web app's inputs, without Gradio: upload checks, masks painted in the image editor,
the steering colour, and each tab's values read into a run."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

import dropgan
from dropgan.errors import InputError
from dropgan.image import read_mask
from dropgan.ui import inputs
from dropgan.ui.runs import call, command_line
from dropgan.ui.tabs import prepare

MAGENTA = (255, 0, 255)


def _rgba(photo) -> np.ndarray:
    rgb = (photo.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], -1)


def _stroke(shape, box, colour=MAGENTA, soft=True) -> np.ndarray:
    """A brush layer: transparent, with an opaque rectangle and a faint one-pixel rim (the
    soft edge of a real brush)."""
    layer = np.zeros(shape[:2] + (4,), np.uint8)
    y0, y1, x0, x1 = box
    if soft:
        layer[y0 - 1 : y1 + 1, x0 - 1 : x1 + 1] = (*colour, 30)
    layer[y0:y1, x0:x1] = (*colour, 255)
    return layer


def _composite(background: np.ndarray, layer: np.ndarray) -> np.ndarray:
    a = layer[..., 3:] / 255.0
    out = background.copy()
    out[..., :3] = np.round(background[..., :3] * (1 - a) + layer[..., :3] * a)
    return out


def _editor(photo, box=None) -> dict:
    bg = _rgba(photo)
    if box is None:
        return {"background": bg, "layers": [], "composite": bg}
    layer = _stroke(bg.shape, box)
    return {"background": bg, "layers": [layer], "composite": _composite(bg, layer)}


# --- uploads ------------------------------------------------------------------------------------


def test_upload_check_names_the_problem(tmp_path, photo_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    fake = tmp_path / "holiday.png"
    fake.write_text("not really a PNG")
    assert inputs.check_upload(text, 4_000_000) == (
        "notes.txt is not an image file (use PNG, JPEG, WebP, ...)"
    )
    assert "holiday.png is not an image file" in inputs.check_upload(fake, 4_000_000)
    big = inputs.check_upload(photo_path, 250 * 167 - 1)
    assert big == (
        "1.jpg is 250x167 px (0.0 Mpx), above this app's limit of 0.041749 Mpx: downscale it first"
    )
    assert inputs.check_upload(photo_path, 250 * 167) is None
    # the server's temporary name is replaced by the user's file name
    assert inputs.check_upload(fake, 100, name="mine.png").startswith("mine.png is not")


def test_upload_check_reads_only_the_header(tmp_path):
    """A PNG whose header claims 3000 x 2000 px but holds the pixels of 8 x 8 is refused for
    its size: the check never decodes the image."""
    path = tmp_path / "big.png"
    Image.new("RGB", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    data[ihdr : ihdr + 8] = struct.pack(">II", 3000, 2000)
    crc = zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    assert inputs.check_upload(path, 4_000_000) == (
        "big.png is 3000x2000 px (6.0 Mpx), above this app's limit of 4 Mpx: downscale it first"
    )
    huge = tmp_path / "huge.png"  # beyond Pillow's own bomb limit: refused all the same
    Image.new("1", (8, 8)).save(huge)
    data = bytearray(huge.read_bytes())
    data[ihdr : ihdr + 8] = struct.pack(">II", 20000, 20000)
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13])))
    huge.write_bytes(bytes(data))
    assert "huge.png has far more pixels than this app's limit" in inputs.check_upload(huge, 10**6)


# --- the editor ---------------------------------------------------------------------------------


def test_editor_mask_is_every_pixel_a_stroke_touches(small_photo):
    ed = _editor(small_photo, (20, 34, 40, 60))
    mask = inputs.editor_mask(ed)
    assert mask.sum() == (14 + 2) * (20 + 2)  # the soft rim counts
    assert mask[20:34, 40:60].all() and not mask[:18].any()
    two = {**ed, "layers": [*ed["layers"], _stroke(mask.shape, (2, 5, 2, 5), soft=False)]}
    assert inputs.editor_mask(two).sum() == mask.sum() + 9
    assert inputs.editor_mask({"background": ed["background"], "layers": []}).size == 0


def test_editor_image_puts_transparency_on_white():
    sketch = np.zeros((4, 5, 4), np.uint8)  # a blank canvas: transparent
    sketch[1, 1] = (0, 0, 255, 255)
    sketch[2, 2] = (0, 0, 0, 128)
    rgb = inputs.editor_image({"background": None, "layers": [], "composite": sketch}, "sketch")
    assert rgb[0, 0].tolist() == [255, 255, 255]
    assert rgb[1, 1].tolist() == [0, 0, 255]
    assert rgb[2, 2].tolist() == [127, 127, 127]
    with pytest.raises(InputError, match="upload the image first"):
        inputs.editor_image(None, "image")


@pytest.mark.parametrize(
    ("text", "rgb"),
    [("#FF00ff", MAGENTA), ("#3a6ea5cc", (58, 110, 165)), ("rgb(1, 2, 3)", (1, 2, 3))],
)
def test_colours(text, rgb):
    assert inputs.parse_colour(text) == rgb


def test_not_a_colour():
    with pytest.raises(InputError, match="not a colour"):
        inputs.parse_colour("blue-ish")


# --- tabs -> runs --------------------------------------------------------------------------------


FAST = {"iters": 1, "nn": "exact"}


def _near(image: np.ndarray, colour, tol: int = 60) -> np.ndarray:
    return np.abs(image.astype(int) - np.array(colour)).max(-1) <= tol


def test_inpaint_fills_the_painted_hole_with_the_chosen_colour_and_removes_it(
    small_photo, tmp_path
):
    """The hole painted with the brush is filled with the steering colour (magenta, which
    the photo does not have) in the image passed to the API; the output has none of it."""
    ed = _editor(small_photo, (20, 34, 40, 60))
    values = {"image": ed, "colour": "#ff00ff", "steer": "painted", "seed": 0}
    run = prepare("inpaint", values, FAST, "gpnn", tmp_path, 4_000_000)
    req = run.request
    assert req.options["steer"] == "painted" and req.params == FAST
    assert [p.name for p in run.written] == ["inpaint_image.png", "inpaint_mask.png"]
    given = np.asarray(Image.open(req.inputs["image"]).convert("RGB"))
    mask = read_mask(req.inputs["mask"]).numpy()
    assert np.array_equal(mask, inputs.editor_mask(ed))
    assert (given[mask] == MAGENTA).all()  # the whole hole, rim included
    assert np.array_equal(given[~mask], ed["background"][..., :3][~mask])  # nothing else
    assert not _near(ed["background"][..., :3], MAGENTA).any()
    out = (call(req).image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert not _near(out, MAGENTA).any()


def test_inpaint_with_a_mask_file_and_the_neutral_steer(small_photo, tmp_path):
    mask = np.zeros((64, 96), np.uint8)
    mask[10:20, 10:30] = 255
    dropgan.write_image(mask, tmp_path / "hole.png")
    values = {"image": _editor(small_photo), "mask_file": str(tmp_path / "hole.png")}
    run = prepare("inpaint", {**values, "steer": "mean"}, {}, "gpnn", tmp_path / "run", 10**6)
    assert run.request.options["steer"] == "mean"
    given = np.asarray(Image.open(run.request.inputs["image"]).convert("RGB"))
    assert np.array_equal(given, _editor(small_photo)["background"][..., :3])  # unpainted
    assert np.array_equal(read_mask(run.request.inputs["mask"]).numpy(), mask > 0)
    small = np.zeros((10, 10), np.uint8)
    small[2:4, 2:4] = 255
    dropgan.write_image(small, tmp_path / "small.png")
    with pytest.raises(InputError, match="same size"):
        prepare(
            "inpaint",
            {**values, "mask_file": str(tmp_path / "small.png")},
            {},
            "gpnn",
            tmp_path / "run2",
            10**6,
        )
    with pytest.raises(InputError, match="paint the hole"):
        prepare("inpaint", {"image": _editor(small_photo)}, {}, "gpnn", tmp_path / "r3", 10**6)


def test_an_image_from_the_editor_above_the_limit_is_one_sentence(small_photo, tmp_path):
    ed = _editor(small_photo, (20, 34, 40, 60))
    with pytest.raises(InputError) as e:
        prepare("inpaint", {"image": ed, "colour": "#ff00ff"}, {}, "gpnn", tmp_path, 6000)
    assert str(e.value) == (
        "the image is 96x64 px (0.0 Mpx), above this app's limit of 0.006 Mpx: downscale it first"
    )


def test_edit_takes_the_strokes_as_the_edit(small_photo, tmp_path):
    ed = _editor(small_photo, (10, 20, 10, 30))
    run = prepare("edit", {"original": ed, "n": 2, "sigma": 0.1}, FAST, "gpnn", tmp_path, 10**6)
    i = run.request.inputs
    original = np.asarray(Image.open(i["original"]).convert("RGB"))
    edited = np.asarray(Image.open(i["edited"]).convert("RGB"))
    assert np.array_equal(original, ed["background"][..., :3])
    assert np.array_equal(edited, ed["composite"][..., :3])
    assert run.request.options["n"] == 2 and len(call(run.request)) == 2
    with pytest.raises(InputError, match="paint your edit"):
        prepare("edit", {"original": _editor(small_photo)}, {}, "gpnn", tmp_path / "b", 10**6)


def test_analogy_takes_a_sketch_drawn_on_the_blank_canvas(small_photo, photo_path, tmp_path):
    sketch = np.zeros((48, 64, 4), np.uint8)
    sketch[24:, :] = (60, 120, 40, 255)  # green ground under a white (transparent) sky
    value = {"background": None, "layers": [sketch], "composite": sketch}
    values = {"source": str(photo_path), "structure": value, "refine": False}
    run = prepare("analogy", values, FAST, "gpnn", tmp_path, 10**6)
    structure = np.asarray(Image.open(run.request.inputs["structure"]).convert("RGB"))
    assert structure.shape == (48, 64, 3)
    assert (structure[:24] == 255).all() and (structure[24:] == (60, 120, 40)).all()
    assert run.request.options["refine"] is False
    assert tuple(call(run.request).image.shape) == (3, 48, 64)


def test_collage_and_generate_read_uploads_and_options(photo_path, fixtures_dir, tmp_path):
    other = fixtures_dir / "sigd16" / "2.jpg"
    gallery = [(str(photo_path), None), (str(other), "caption")]
    run = prepare("collage", {"images": gallery, "size": "300x160"}, {}, "gpnn", tmp_path, 10**6)
    assert run.request.inputs["images"] == [str(photo_path), str(other)]
    assert run.request.options["size"] == (160, 300)
    values = {"image": str(photo_path), "n": 3.0, "seed": 12, "scale": "1.5x1", "device": "auto"}
    run = prepare("generate", values, {"iters": 2}, "gpnn", tmp_path, 10**6)
    o = run.request.options
    assert (o["n"], o["seed"], o["scale"], o["device"]) == (3, 12, (1.0, 1.5), None)
    assert run.request.params == {"iters": 2}


def test_superres_and_denoise_read_their_options_as_the_command_line(photo_path, tmp_path):
    values = {"image": str(photo_path), "factor": 2, "back_projection": 1.0, "seed": 3.0}
    run = prepare("superres", values, {"nn": "exact"}, "gpnn", tmp_path, 10**6)
    o = run.request.options
    assert (o["factor"], o["back_projection"], o["seed"]) == (2.0, 1, 3)
    assert isinstance(o["factor"], float) and isinstance(o["back_projection"], int)
    assert o["levels"] is None and run.request.inputs == {"image": str(photo_path)}
    assert run.written == [] and run.request.params == {"nn": "exact"}
    empty = {"image": str(photo_path), "factor": None, "back_projection": ""}
    o = prepare("superres", empty, {}, "gpnn", tmp_path, 10**6).request.given()
    assert "factor" not in o and "back_projection" not in o  # the API's defaults
    run = prepare("denoise", {"image": str(photo_path), "sigma": 0.1}, {}, "gpnn", tmp_path, 10**6)
    assert run.request.options["sigma"] == 0.1
    values = {"image": str(photo_path), "sigma": None}
    run = prepare("denoise", values, {}, "singan", tmp_path, 10**6)
    assert "sigma" not in run.request.given() and run.request.engine == "singan"  # estimated


def test_paint2image_takes_a_painting_drawn_on_the_blank_canvas(small_photo, tmp_path):
    dropgan.write_image(small_photo, tmp_path / "source.png")
    painting = np.zeros((40, 56, 4), np.uint8)  # blank: transparent, read as white
    painting[20:, :] = (60, 120, 40, 255)
    value = {"background": None, "layers": [painting], "composite": painting}
    values = {"source": str(tmp_path / "source.png"), "paint": value, "refine": False}
    run = prepare("paint2image", {**values, "quantize": True}, FAST, "gpnn", tmp_path, 10**6)
    req = run.request
    assert [p.name for p in run.written] == ["painting.png"]
    paint = np.asarray(Image.open(req.inputs["paint"]).convert("RGB"))
    assert (paint[:20] == 255).all() and (paint[20:] == (60, 120, 40)).all()
    assert (req.options["refine"], req.options["quantize"]) == (False, True)
    out = call(req)
    assert tuple(out.image.shape) == (3, 40, 56)  # the painting's size
    assert out.metadata["options"]["quantize"] is True
    # a ticked refine is the engine's own default (the command line cannot say more)
    run = prepare("paint2image", {**values, "refine": True}, FAST, "gpnn", tmp_path, 10**6)
    assert run.request.options["refine"] is None and run.request.options["quantize"] is False


def test_harmonize_takes_the_object_painted_on_the_composite(small_photo, tmp_path):
    """The brush marks the pasted object on the composite; the composite passed to the API
    is the upload without the strokes, and the output is the background away from it."""
    dropgan.write_image(small_photo, tmp_path / "bg.png")
    naive = small_photo.clone()
    naive[:, 20:34, 40:60] = torch.tensor([0.9, 0.1, 0.1])[:, None, None]
    ed = _editor(naive, (20, 34, 40, 60))
    values = {"background": str(tmp_path / "bg.png"), "naive": ed}
    run = prepare("harmonize", values, FAST, "gpnn", tmp_path / "run", 10**6)
    req = run.request
    assert [p.name for p in run.written] == ["naive.png", "mask.png"]
    given = np.asarray(Image.open(req.inputs["naive"]).convert("RGB"))
    assert np.array_equal(given, ed["background"][..., :3])  # strokes not in the composite
    mask = read_mask(req.inputs["mask"]).numpy()
    assert np.array_equal(mask, inputs.editor_mask(ed))
    out = (call(req).image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    bg = _rgba(small_photo)[..., :3]
    # the blend weight is 0 beyond the dilation (7 px) and the blur's reach (20 px)
    assert np.array_equal(out[:, :12], bg[:, :12]) and np.array_equal(out[:, 88:], bg[:, 88:])
    # a mask file instead of strokes
    hole = np.zeros((64, 96), np.uint8)
    hole[20:34, 40:60] = 255
    dropgan.write_image(hole, tmp_path / "hole.png")
    values = {**values, "naive": _editor(naive), "mask_file": str(tmp_path / "hole.png")}
    run = prepare("harmonize", values, {}, "gpnn", tmp_path / "run2", 10**6)
    assert np.array_equal(read_mask(run.request.inputs["mask"]).numpy(), hole > 0)


def test_a_written_input_never_takes_the_name_of_an_upload(small_photo, tmp_path):
    """The command line runs in one folder with every input: a background uploaded as
    ``mask.png`` must not be confused with the painted mask."""
    (tmp_path / "up").mkdir()
    dropgan.write_image(small_photo, tmp_path / "up" / "mask.png")
    values = {"background": str(tmp_path / "up" / "mask.png"), "naive": None}
    values["naive"] = _editor(small_photo, (20, 34, 40, 60))
    run = prepare("harmonize", values, {}, "gpnn", tmp_path / "run", 10**6)
    i = run.request.inputs
    assert [p.name for p in run.written] == ["naive.png", "page_mask.png"]
    assert i["mask"] == str(run.written[1]) and run.written[1].is_file()
    assert not (tmp_path / "run" / "mask.png").exists()
    assert "--source mask.png --naive naive.png --mask page_mask.png" in command_line(
        run.request, run.names
    )


def test_harmonize_refuses_inputs_of_different_sizes(small_photo, tmp_path):
    dropgan.write_image(small_photo, tmp_path / "bg.png")
    dropgan.write_image(small_photo[:, :32, :48], tmp_path / "small.png")
    ed = _editor(small_photo, (20, 34, 40, 60))
    values = {"background": str(tmp_path / "small.png"), "naive": ed}
    with pytest.raises(InputError) as e:
        prepare("harmonize", values, {}, "gpnn", tmp_path / "a", 10**6)
    assert str(e.value) == (
        "the naive composite is 96x64 px but the background 48x32 px; they must be the same size"
    )
    values = {"background": str(tmp_path / "bg.png"), "naive": _editor(small_photo)}
    with pytest.raises(InputError, match="mask is 48x32 px but the naive composite 96x64"):
        prepare(
            "harmonize",
            {**values, "mask_file": str(tmp_path / "small.png")},
            {},
            "gpnn",
            tmp_path / "b",
            10**6,
        )
    with pytest.raises(InputError, match="paint the pasted object"):
        prepare("harmonize", values, {}, "gpnn", tmp_path / "c", 10**6)


@pytest.mark.parametrize(
    ("task", "values", "message"),
    [
        ("superres", {}, "upload the image first"),
        ("superres", {"image": "IMG", "factor": "big"}, "the factor must be a number"),
        ("superres", {"image": "IMG", "back_projection": 1.5}, "back-projection .* whole"),
        ("denoise", {"image": "TEXT"}, "is not an image file"),
        ("denoise", {"image": "IMG", "sigma": "some"}, "sigma must be a number"),
        ("paint2image", {"paint": "IMG"}, "upload the source image first"),
        ("paint2image", {"source": "IMG"}, "upload the painting first"),
        ("harmonize", {"naive": None}, "upload the background first"),
        ("harmonize", {"background": "IMG"}, "upload the naive composite first"),
        ("generate", {}, "upload the image first"),
        ("generate", {"image": "IMG", "size": "10x10", "scale": "2"}, "not both"),
        ("retarget", {"image": "IMG", "scale": ""}, "target size"),
        ("generate", {"image": "IMG", "n": 1.5}, "whole number"),
        ("collage", {"images": [("IMG", None)]}, "two or more"),
        ("generate", {"image": "TEXT"}, "is not an image file"),
        ("generate", {"image": "IMG"}, "above this app's limit"),
    ],
)
def test_bad_values_give_one_sentence(task, values, message, photo_path, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hi")
    swap = {"IMG": str(photo_path), "TEXT": str(text)}
    values = {
        k: swap.get(v, v)
        if isinstance(v, str)
        else [(swap[p], c) for p, c in v]
        if isinstance(v, list)
        else v
        for k, v in values.items()
    }
    limit = 1000 if message.startswith("above") else 10**6
    with pytest.raises(InputError, match=message):
        prepare(task, values, {}, "gpnn", tmp_path / "run", limit)
