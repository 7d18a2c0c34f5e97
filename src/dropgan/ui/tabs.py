"""How each tab's inputs become a :class:`~dropgan.ui.runs.RunRequest`: the page's values
(files, painted editor layers, option boxes) read, checked and written as the files the API
and the equivalent command line take. Nothing here imports Gradio: a tab's values arrive as
a plain dict keyed by the input's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..errors import InputError
from . import inputs
from .fields import parse_params
from .runs import RunRequest, parse_scale, parse_size

__all__ = ["FIXED_DEPTH", "Prepared", "TASK_OPTIONS", "prepare"]


@dataclass(frozen=True)
class Prepared:
    """A run ready to go: the request, the input files the page wrote for it (painted
    images and masks, offered for download so that the command line can run) and the
    names the command line calls the inputs by."""

    request: RunRequest
    written: list[Path]
    names: dict[str, str]


#: The options each tab shows besides seed, levels and device, by the API's names.
TASK_OPTIONS = {
    "generate": ("n", "start", "size", "scale", "sigma"),
    "retarget": ("size", "scale", "max_step"),
    "analogy": ("refine",),
    "inpaint": ("steer",),
    "collage": ("size",),
    "edit": ("n", "start", "sigma"),
    "superres": ("factor", "back_projection"),
    "denoise": ("sigma",),
    "paint2image": ("refine", "quantize"),
    "harmonize": (),
}
#: Tasks whose pyramid depth is fixed by the method (the API refuses another): no box.
FIXED_DEPTH = frozenset({"superres", "denoise"})


def _whole(value: object, what: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a whole number, got {value!r}") from None
    if not f.is_integer():
        raise InputError(f"{what} must be a whole number, got {value!r}")
    return int(f)


def _real(value: object, what: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)  # the command line's numbers are floats: the same metadata
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {value!r}") from None


#: What a bad value of an option is called in its sentence.
_WHAT = {
    "n": "the number of samples",
    "start": "start",
    "back_projection": "back-projection iterations",
    "factor": "the factor",
    "sigma": "sigma",
    "max_step": "the max step",
}


def _options(task: str, v: Mapping[str, object]) -> dict[str, object]:
    """The task's keyword options from the option boxes."""
    o: dict[str, object] = {
        "seed": _whole(v.get("seed"), "the seed"),
        "levels": _whole(v.get("levels"), "levels"),
        "device": None if v.get("device") in (None, "", "auto") else v.get("device"),
    }
    for name in TASK_OPTIONS[task]:
        value = v.get(name)
        if name in ("n", "start", "back_projection"):
            value = _whole(value, _WHAT[name])
        elif name in ("factor", "sigma", "max_step"):
            value = _real(value, _WHAT[name])
        elif name == "size":
            value = parse_size(value)
        elif name == "scale":
            value = parse_scale(value)
        o[name] = value
    if o.get("size") is not None and o.get("scale") is not None:
        raise InputError("give an output size or a scale, not both")
    if task == "retarget" and o.get("size") is None and o.get("scale") is None:
        raise InputError("give a target size (WxH) or a scale")
    return o


def _upload(path: object, what: str, max_pixels: int) -> str:
    """An uploaded file, checked; its path."""
    if not path:
        raise InputError(f"upload the {what} first")
    problem = inputs.check_upload(str(path), max_pixels)
    if problem:
        raise InputError(problem)
    return str(path)


def _size(path: str) -> tuple[int, int]:
    """An uploaded image's (height, width), from its header."""
    with Image.open(path) as im:
        return im.height, im.width


def _same_size(what: str, shape: tuple[int, ...], of: str, ref: tuple[int, ...]) -> None:
    if tuple(shape[:2]) != tuple(ref[:2]):
        raise InputError(
            f"the {what} is {shape[1]}x{shape[0]} px but the {of} {ref[1]}x{ref[0]} px; "
            "they must be the same size"
        )


def _files(value: object) -> list[str]:
    """The paths of a multi-file input (a gallery gives (path, caption) pairs)."""
    out = []
    for item in value or []:
        path = item[0] if isinstance(item, (tuple, list)) else item
        if isinstance(path, Mapping):
            path = path.get("path")
        if path:
            out.append(str(path))
    return out


def _inputs(
    task: str, v: Mapping[str, object], folder: Path, max_pixels: int
) -> tuple[dict[str, object], list[Path], dict[str, object]]:
    """The task's input files by role, the files written for them, and extra options."""
    written: list[Path] = []
    if task in ("generate", "retarget", "superres", "denoise"):
        return {"image": _upload(v.get("image"), "image", max_pixels)}, written, {}
    if task == "paint2image":
        source = _upload(v.get("source"), "source image", max_pixels)
        paint = inputs.editor_image(v.get("paint"), "painting", "composite")
        path = inputs.save_png(paint, folder / "painting.png", max_pixels, "painting")
        return {"source": source, "paint": str(path)}, [path], {}
    if task == "harmonize":
        return _harmonize(v, folder, max_pixels)
    if task == "analogy":
        source = _upload(v.get("source"), "source image", max_pixels)
        structure = inputs.editor_image(
            v.get("structure"), "structure (photo or sketch)", "composite"
        )
        path = inputs.save_png(structure, folder / "structure.png", max_pixels, "structure")
        return {"source": source, "structure": str(path)}, [path], {}
    if task == "inpaint":
        editor = v.get("image")
        image = inputs.editor_image(editor, "image")
        if v.get("mask_file"):
            mask_path = _upload(v.get("mask_file"), "mask file", max_pixels)
            mask = inputs.read_mask_array(mask_path)
        else:
            mask = inputs.editor_mask(editor)
            if not mask.any():
                raise InputError(
                    "paint the hole on the image with the brush (or upload a mask file)"
                )
        steer = v.get("steer") or "painted"
        if steer == "painted":
            image = inputs.fill(image, mask, inputs.parse_colour(v.get("colour") or "#000000"))
        image_path = inputs.save_png(image, folder / "inpaint_image.png", max_pixels, "image")
        mask_png = inputs.save_png(mask, folder / "inpaint_mask.png", max_pixels, "mask")
        written += [image_path, mask_png]
        return {"image": str(image_path), "mask": str(mask_png)}, written, {"steer": steer}
    if task == "collage":
        files = [_upload(p, "image", max_pixels) for p in _files(v.get("images"))]
        if len(files) < 2:
            raise InputError("a collage needs two or more images")
        return {"images": files}, written, {}
    # edit: the original as uploaded, and the edit painted on it (or an edited file)
    editor = v.get("original")
    original = inputs.editor_image(editor, "original image")
    original_path = inputs.save_png(original, folder / "original.png", max_pixels, "original")
    written.append(original_path)
    if v.get("edited_file"):
        edited = _upload(v.get("edited_file"), "edited image", max_pixels)
    else:
        painted = inputs.editor_mask(editor)
        if not painted.any():
            raise InputError(
                "paint your edit on the image with the brush (or upload an edited file)"
            )
        edited_image = inputs.editor_image(editor, "original image", "composite")
        edited = str(inputs.save_png(edited_image, folder / "edited.png", max_pixels, "edit"))
        written.append(Path(edited))
    return {"original": str(original_path), "edited": edited}, written, {}


def _harmonize(
    v: Mapping[str, object], folder: Path, max_pixels: int
) -> tuple[dict[str, object], list[Path], dict[str, object]]:
    """The background as uploaded; the naive composite from the editor, with the pasted
    object painted on it with the brush (or a mask file)."""
    background = _upload(v.get("background"), "background", max_pixels)
    editor = v.get("naive")
    naive = inputs.editor_image(editor, "naive composite")
    if v.get("mask_file"):
        mask = inputs.read_mask_array(_upload(v.get("mask_file"), "mask file", max_pixels))
    else:
        mask = inputs.editor_mask(editor)
        if not mask.any():
            raise InputError(
                "paint the pasted object on the composite with the brush (or upload a mask file)"
            )
    _same_size("mask", mask.shape, "naive composite", naive.shape)
    _same_size("naive composite", naive.shape, "background", _size(background))
    naive_path = inputs.save_png(naive, folder / "naive.png", max_pixels, "naive composite")
    mask_path = inputs.save_png(mask, folder / "mask.png", max_pixels, "mask")
    roles = {"background": background, "naive": str(naive_path), "mask": str(mask_path)}
    return roles, [naive_path, mask_path], {}


def _distinct_names(
    roles: dict[str, object], written: list[Path]
) -> tuple[dict[str, object], list[Path]]:
    """The written files renamed where an upload has the same name: the command line runs
    in one folder with all the inputs, where two files of one name would be one file."""
    paths = [p for v in roles.values() for p in (v if isinstance(v, list) else [v])]
    mine = {str(p) for p in written}
    taken = {Path(str(p)).name for p in paths if str(p) not in mine}
    renamed: dict[str, str] = {}
    out = []
    for p in written:
        new = p
        while new.name in taken:
            new = new.with_name(f"page_{new.name}")
        if new != p:
            p.replace(new)
            renamed[str(p)] = str(new)
        out.append(new)
    fix = lambda v: renamed.get(str(v), v)  # noqa: E731
    roles = {k: [fix(x) for x in v] if isinstance(v, list) else fix(v) for k, v in roles.items()}
    return roles, out


def prepare(
    task: str,
    values: Mapping[str, object],
    params: Mapping[str, object],
    engine: str,
    folder: Path,
    max_pixels: int,
) -> Prepared:
    """Read a tab's ``values`` (its inputs and options by name) and ``params`` (the engine's
    parameter inputs by name) into a :class:`Prepared` run, writing painted inputs into
    ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    roles, written, extra = _inputs(task, values, folder, max_pixels)
    roles, written = _distinct_names(roles, written)
    options = {**_options(task, values), **extra}
    if task == "analogy":
        options["refine"] = bool(values.get("refine", True))
    if task == "paint2image":  # the engine's default, or off (the command line's choice)
        options["refine"] = None if values.get("refine", True) else False
        options["quantize"] = bool(values.get("quantize", False))
    if task == "inpaint":
        options["steer"] = extra["steer"]
    request = RunRequest(task, roles, options, engine, parse_params(engine, task, dict(params)))
    names = {str(p): p.name for p in written}
    return Prepared(request, written, names)
