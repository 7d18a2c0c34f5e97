"""The page's inputs turned into the files the API reads: uploads checked against the pixel
limit, a mask painted with the brush, the hole filled with the steering colour.

The image editor hands over the uploaded image (``background``), the brush strokes
(``layers``, transparent where nothing was painted) and both flattened (``composite``),
each an ``(H, W, 4)`` uint8 array. Nothing here imports Gradio.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image

import dropgan

from ..errors import InputError
from ..image import read_mask

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "check_upload",
    "editor_image",
    "editor_mask",
    "fill",
    "parse_colour",
    "read_mask_array",
    "save_png",
]

#: The largest upload, in pixels, unless the app is told otherwise (``dropgan ui
#: --max-pixels``): a 2000 x 2000 photo, which GPNN samples in seconds on a GPU.
DEFAULT_MAX_PIXELS = 4_000_000


def _plain(message: str, path: object, name: str) -> str:
    """An API error about a server-side file, with the file called by the user's name."""
    return message.replace(str(path), name)


def _too_large(name: str, w: int, h: int, max_pixels: int) -> str:
    return (
        f"{name} is {w}x{h} px ({w * h / 1e6:.1f} Mpx), above this app's limit of "
        f"{max_pixels / 1e6:g} Mpx: downscale it first"
    )


def check_upload(path: str | Path, max_pixels: int, name: str | None = None) -> str | None:
    """Why the uploaded file at ``path`` cannot be used (not an image, too many pixels), in
    one sentence; None when it can. Only the file's header is read before the size check.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "notes.png")
    >>> _ = open(p, "w").write("not an image")
    >>> check_upload(p, 4_000_000)
    'notes.png is not an image file (use PNG, JPEG, WebP, ...)'
    """
    name = name or Path(path).name
    not_image = f"{name} is not an image file (use PNG, JPEG, WebP, ...)"
    try:
        with Image.open(path) as im:
            w, h = im.size
    except Image.DecompressionBombError:
        return f"{name} has far more pixels than this app's limit of {max_pixels / 1e6:g} Mpx"
    except (OSError, ValueError, SyntaxError):
        return not_image
    if w * h > max_pixels:
        return _too_large(name, w, h, max_pixels)
    try:
        dropgan.read_image(path, name, max_pixels=max_pixels)
    except InputError as e:
        return _plain(str(e), path, name)
    return None


def read_mask_array(path: str | Path) -> np.ndarray:
    """A mask file (white, or any colour brighter than half-grey, marks the hole) as an
    ``(H, W)`` bool array."""
    return read_mask(path, Path(path).name).numpy()


def _rgba(value: object, what: str) -> np.ndarray:
    a = np.asarray(value)
    if a.ndim == 2:
        a = np.stack([a, a, a, np.full_like(a, 255)], axis=-1)
    if a.ndim != 3 or a.shape[-1] not in (3, 4) or a.dtype != np.uint8:
        raise InputError(f"the {what} is not an image the page can read")
    if a.shape[-1] == 3:
        a = np.concatenate([a, np.full(a.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    return a


def editor_image(
    value: Mapping[str, object] | None, what: str, key: str = "background"
) -> np.ndarray:
    """The editor's ``key`` image (``"background"``: as uploaded; ``"composite"``: with the
    strokes) as an ``(H, W, 3)`` uint8 array, transparent pixels on white.

    Examples
    --------
    >>> bg = np.zeros((2, 3, 4), np.uint8); bg[..., 3] = 255
    >>> editor_image({"background": bg, "layers": [], "composite": bg}, "image").shape
    (2, 3, 3)
    """
    image = None if not value else value.get(key)
    if image is None and key == "background" and value:  # a sketch on the blank canvas
        image = value.get("composite")
    if image is None:
        raise InputError(f"upload the {what} first")
    a = _rgba(image, what).astype(np.float32)
    alpha = a[..., 3:] / 255.0
    rgb = a[..., :3] * alpha + 255.0 * (1.0 - alpha)
    return np.round(rgb).astype(np.uint8)


def editor_mask(value: Mapping[str, object] | None) -> np.ndarray:
    """Where the brush painted: an ``(H, W)`` bool array, True wherever a stroke of any
    layer covers a pixel at all (its soft edge included, so that no painted colour is left
    outside the hole).

    Examples
    --------
    >>> layer = np.zeros((4, 4, 4), np.uint8); layer[1, 2] = (255, 0, 255, 40)
    >>> editor_mask({"background": None, "layers": [layer], "composite": None}).sum()
    np.int64(1)
    """
    layers = [] if not value else [x for x in value.get("layers") or [] if x is not None]
    if not layers:
        return np.zeros((0, 0), bool)
    arrays = [_rgba(x, "painted layer") for x in layers]
    mask = np.zeros(arrays[0].shape[:2], bool)
    for a in arrays:
        if a.shape[:2] != mask.shape:
            raise InputError("the painted layers differ in size from the image")
        mask |= a[..., 3] > 0
    return mask


_HEX = re.compile(r"^#?([0-9a-f]{6})([0-9a-f]{2})?$")
_RGB = re.compile(r"^rgba?\(([^)]*)\)$")


def parse_colour(text: str) -> tuple[int, int, int]:
    """A colour picker's value (``#rrggbb``, ``#rrggbbaa`` or ``rgb(r, g, b)``/``rgba(...)``)
    as 0..255 integers.

    Examples
    --------
    >>> parse_colour("#ff00FF"), parse_colour("rgba(10, 20.4, 30, 1)")
    ((255, 0, 255), (10, 20, 30))
    """
    t = str(text or "").strip().lower()
    m = _HEX.match(t)
    if m:
        h = m.group(1)
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    m = _RGB.match(t)
    if m:
        try:
            parts = [float(v) for v in m.group(1).split(",")[:3]]
        except ValueError:
            parts = []
        if len(parts) == 3 and all(0 <= v <= 255 for v in parts):
            return tuple(round(v) for v in parts)  # type: ignore[return-value]
    raise InputError(f"not a colour: {text!r} (use #rrggbb)")


def fill(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """``image`` with the ``mask``ed pixels set to ``colour``: the hole painted with the
    steering colour, as inpainting's ``steer="painted"`` takes it.

    Examples
    --------
    >>> x = np.zeros((2, 2, 3), np.uint8); m = np.array([[True, False], [False, False]])
    >>> fill(x, m, (1, 2, 3))[0, 0].tolist(), fill(x, m, (1, 2, 3))[1, 1].tolist()
    ([1, 2, 3], [0, 0, 0])
    """
    if mask.shape != image.shape[:2]:
        raise InputError(
            f"the mask is {mask.shape[1]}x{mask.shape[0]} px but the image "
            f"{image.shape[1]}x{image.shape[0]} px; they must be the same size"
        )
    out = image.copy()
    out[mask] = np.asarray(colour, np.uint8)
    return out


def save_png(image: np.ndarray, path: Path, max_pixels: int, what: str) -> Path:
    """Write an ``(H, W, 3)`` uint8 image or an ``(H, W)`` bool mask as PNG, after the pixel
    limit check (an image from the editor never went through the upload check)."""
    h, w = image.shape[:2]
    if h * w > max_pixels:
        raise InputError(_too_large(f"the {what}", w, h, max_pixels))
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    return dropgan.write_image(image, path, force=True)
