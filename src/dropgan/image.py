"""Reading and writing images.

Images travel through dropgan as float32 tensors of shape ``(3, H, W)`` with values in [0, 1].

Value rule
----------
Every input (file, Pillow image, NumPy array, torch tensor) is brought into [0, 1] by one rule
that looks at its type, never at its values, so that no range is ever guessed:

==================  ===========================================================================
values              become
==================  ===========================================================================
bool                0 and 1 (masks)
uint8               divided by 255
uint16              divided by 65535
other integers      refused (int8, int16, int32, int64, uint32, uint64): their type says nothing
                    of their range, and NumPy and torch make int64 of plain Python integers;
                    convert them to uint8 (0..255), uint16 (0..65535) or floats in [0, 1]
negative integers   refused
floats (any width)  kept: they must lie in [0, 1]; up to ``1e-3`` outside is rounding and is
                    clipped, further out is refused with a hint how to rescale (``0..255``:
                    divide by 255)
NaN, infinity       refused
==================  ===========================================================================

Pillow images follow their mode: the 8-bit modes (``1``, ``L``, ``P``, ``RGB``, ``RGBA``,
``CMYK`` ...) as uint8; ``I;16`` as uint16; ``I`` (32-bit integers, in which older Pillow and
some TIFF files hold 16-bit data) as 16-bit values, which must lie in 0..65535; ``F`` as floats.
A numpy uint8 array and a torch uint8 tensor of the same values give the same image.

Shapes: arrays are ``(H, W)`` or ``(H, W, C)``; tensors ``(H, W)``, ``(C, H, W)`` or a batch of
one ``(1, C, H, W)``; ``C`` is 1 (grey, replicated), 3, or 4 (the fourth channel, alpha, is
dropped).

Pixel limit
-----------
Inputs larger than :data:`MAX_PIXELS` (8 million pixels, so that a run fits in 24 GB) are
refused, files from their header before anything is decoded. ``$DROPGAN_MAX_PIXELS`` replaces
the default, and the ``max_pixels`` argument of :func:`read_image` replaces both.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from .errors import InputError, OutputError

ImageLike = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor

#: The PNG text chunk that holds an output's metadata (JSON).
METADATA_KEY = "dropgan:params"

#: The default pixel limit of inputs, chosen so that a run stays within 24 GB. A run's memory
#: grows with the pixels of its output, which is the input's size by default: measured at
#: about 2.5 KB a pixel (one sample, default settings: 0.40 GB at 250x188, 0.74 GB at
#: 500x376; PatchMatch at 1024x768 peaks at 2.0 GB), 8 Mpx come to about 20 GB. That admits
#: a 4K frame (3840x2160) and refuses full-resolution camera files, which take hours and are
#: meant to be downscaled: the methods work on a few hundred pixels a side.
MAX_PIXELS = 8_000_000

#: The environment variable that replaces :data:`MAX_PIXELS`.
MAX_PIXELS_ENV = "DROPGAN_MAX_PIXELS"

#: How far outside [0, 1] float values may lie and still be taken (clipped) as rounding.
RANGE_TOLERANCE = 1e-3

__all__ = [
    "MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "METADATA_KEY",
    "RANGE_TOLERANCE",
    "ImageLike",
    "check_pixel_limit",
    "pixel_limit",
    "read_image",
    "read_mask",
    "read_metadata",
    "to_pil",
    "write_image",
]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- pixel limit ------------------------------------------------------------------------------


def _whole_number(value: object) -> int | None:
    """``value`` as a positive int when it is one (``4e7`` and the text ``"40_000_000"``
    included), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                return None
    if isinstance(value, (float, np.floating)):
        if not float(value).is_integer():  # also false for NaN and infinity
            return None
        value = int(value)
    if not isinstance(value, (int, np.integer)):
        return None
    return int(value) if value >= 1 else None


def pixel_limit(max_pixels: int | None = None) -> int:
    """The pixel limit in force: ``max_pixels``, else ``$DROPGAN_MAX_PIXELS``, else
    :data:`MAX_PIXELS`.

    Parameters
    ----------
    max_pixels : int, optional
        A limit given by the caller; it wins over the environment and the default.

    Returns
    -------
    int
        The largest number of pixels (height times width) accepted.

    Raises
    ------
    InputError
        When ``max_pixels`` or the environment variable is not a positive whole number.

    Examples
    --------
    >>> pixel_limit(1000)
    1000
    """
    if max_pixels is not None:
        n = None if isinstance(max_pixels, str) else _whole_number(max_pixels)
        if n is None:
            raise InputError(
                f"max_pixels must be a positive whole number of pixels, got {max_pixels!r}"
            )
        return n
    raw = os.environ.get(MAX_PIXELS_ENV)
    if raw is None or not raw.strip():
        return MAX_PIXELS
    n = _whole_number(raw)
    if n is None:
        raise InputError(f"{MAX_PIXELS_ENV} must be a positive whole number of pixels, got {raw!r}")
    return n


def _too_large(name: str, pixels: int, limit: int, size: tuple[int, int] | None = None) -> str:
    if size is not None:
        what = f"{size[0]}x{size[1]} image ({pixels / 1e6:.1f} Mpx)"
    else:  # Pillow refused it before telling its size; its message has the pixel count
        what = f"image of {pixels:,} pixels" if pixels else "image"
    return (
        f"{name}: {what} exceeds the limit of {limit:,} pixels: downscale it, "
        f"or raise the limit with max_pixels or {MAX_PIXELS_ENV}"
    )


def check_pixel_limit(
    height: int, width: int, name: str = "image", max_pixels: int | None = None
) -> None:
    """Refuse an image of ``height`` x ``width`` above the pixel limit, before it is allocated.

    Parameters
    ----------
    height, width : int
        The image's size.
    name : str
        What to call the image in the error.
    max_pixels : int, optional
        The limit; see :func:`pixel_limit`.

    Raises
    ------
    InputError
        When ``height * width`` exceeds the limit.

    Examples
    --------
    >>> check_pixel_limit(100, 100, "output", max_pixels=10_000)
    >>> check_pixel_limit(100, 101, "output", max_pixels=10_000)
    Traceback (most recent call last):
    ...
    dropgan.errors.InputError: output: 101x100 image (0.0 Mpx) exceeds the limit of 10,000 \
pixels: downscale it, or raise the limit with max_pixels or DROPGAN_MAX_PIXELS
    """
    limit = pixel_limit(max_pixels)
    if height * width > limit:
        raise InputError(_too_large(name, height * width, limit, (width, height)))


# --- values -----------------------------------------------------------------------------------


def _rescale_hint(lo: float, hi: float) -> str:
    """How to bring floats of range ``lo..hi`` into [0, 1]: a hint for the error, never applied."""
    if lo >= -0.25 and hi <= 1.25:
        return "clip them to [0, 1]"
    if lo >= -1 - RANGE_TOLERANCE and hi <= 1 + RANGE_TOLERANCE:
        return "map them to [0, 1] with (x + 1) / 2"
    if lo >= -RANGE_TOLERANCE and hi <= 255 + RANGE_TOLERANCE:
        return "divide by 255"
    if lo >= -RANGE_TOLERANCE and hi <= 65535 + RANGE_TOLERANCE:
        return "divide by 65535"
    return "rescale them to [0, 1]"


def _unit_values(a: np.ndarray, name: str, int_max: int | None = None) -> np.ndarray:
    """Values of any dtype to float32 in [0, 1] by the module's rule (a new array).

    ``int_max`` overrides the range an integer dtype implies (Pillow's mode ``I`` holds
    16-bit data in int32).
    """
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = int(a.min()), int(a.max())
        if lo < 0:
            raise InputError(
                f"{name}: {a.dtype} values range {lo}..{hi}, but image values cannot be negative"
            )
        if int_max is None and a.dtype.kind == "u" and a.dtype.itemsize in (1, 2):
            int_max = 255 if a.dtype.itemsize == 1 else 65535
        if int_max is None:
            raise InputError(
                f"{name}: {a.dtype} values (range {lo}..{hi}) have no standard image range: "
                "convert them to uint8 for 0..255, to uint16 for 0..65535, or to floats in [0, 1]"
            )
        if hi > int_max:
            raise InputError(f"{name}: values range {lo}..{hi}, beyond their range 0..{int_max}")
        return a.astype(np.float32) / np.float32(int_max)
    if np.issubdtype(a.dtype, np.floating):
        # min and max propagate NaN, so they find NaN and infinity in one pass
        lo, hi = float(a.min()), float(a.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise InputError(f"{name}: contains NaN or infinite values")
        if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
            raise InputError(
                f"{name}: float values range {lo:.4g}..{hi:.4g}, outside [0, 1]: "
                f"{_rescale_hint(lo, hi)}"
            )
        return np.clip(a.astype(np.float32), 0.0, 1.0)
    raise InputError(f"{name}: cannot read an image from {a.dtype} values")


def _from_array(a: np.ndarray, name: str, int_max: int | None = None) -> torch.Tensor:
    """An ``(H, W)`` or ``(H, W, C)`` array to a ``(3, H, W)`` float32 tensor in [0, 1]."""
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise InputError(f"{name}: expected an (H, W) or (H, W, C) array, got shape {a.shape}")
    h, w, c = a.shape
    if h == 0 or w == 0:
        raise InputError(f"{name}: the image is empty (shape {a.shape})")
    if c == 4:
        a = a[..., :3]  # alpha: dropped before the range check, which is about the colours
    elif c not in (1, 3):
        raise InputError(f"{name}: expected 1, 3 or 4 channels, got {c}")
    t = torch.from_numpy(np.ascontiguousarray(_unit_values(a, name, int_max))).permute(2, 0, 1)
    return t.expand(3, -1, -1).contiguous() if t.shape[0] == 1 else t.contiguous()


def _tensor_to_array(t: torch.Tensor, name: str, max_pixels: int | None) -> np.ndarray:
    """A ``(H, W)``, ``(C, H, W)`` or ``(1, C, H, W)`` tensor as an ``(H, W, C)`` array, its
    dtype kept so that the value rule is NumPy's."""
    shape = tuple(t.shape)
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise InputError(f"{name}: a batch of {t.shape[0]} images; pass one, e.g. images[0]")
        t = t[0]
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3 or t.shape[0] not in (1, 3, 4):
        hint = ""
        if t.ndim == 3 and t.shape[-1] in (1, 3, 4):
            hint = " (for a channels-last tensor use .permute(2, 0, 1))"
        raise InputError(f"{name}: expected a (C, H, W) tensor, got shape {shape}{hint}")
    check_pixel_limit(t.shape[1], t.shape[2], name, max_pixels)
    if t.device.type == "meta":
        raise InputError(f"{name}: a tensor on the meta device holds no values")
    if t.is_complex():
        raise InputError(f"{name}: cannot read an image from {t.dtype} values")
    t = t.detach().cpu()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()  # NumPy has no bfloat16; float16 is widened alike for one code path
    return t.permute(1, 2, 0).numpy()


# --- files and Pillow images ------------------------------------------------------------------


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"is a folder, not an image: {path}")


def _bomb_pixels(e: Exception) -> int:
    """The pixel count in Pillow's decompression-bomb message, 0 if it has none."""
    m = re.search(r"\((\d+) pixels\)", str(e))
    return int(m.group(1)) if m else 0


def _open(path: Path, max_pixels: int | None) -> Image.Image:
    """Open ``path``, check its size from the header, then decode its first frame."""
    _check_file(path)
    limit = pixel_limit(max_pixels)
    try:
        with warnings.catch_warnings():
            # Pillow warns from its own, larger limit; ours is checked below and decides
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)  # reads the header only
    except Image.DecompressionBombError as e:
        pixels = _bomb_pixels(e)
        if pixels and pixels <= limit:  # within ours, beyond Pillow's (a limit raised that far)
            raise InputError(
                f"{path}: image of {pixels:,} pixels exceeds Pillow's decompression-bomb limit; "
                "raise PIL.Image.MAX_IMAGE_PIXELS to read it"
            ) from None
        raise InputError(_too_large(str(path), pixels, limit)) from None
    except UnidentifiedImageError:
        raise InputError(f"not an image Pillow can read: {path}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"corrupt or truncated image {path}: {e}") from None
    with im:
        w, h = im.size
        if w * h > limit:
            raise InputError(_too_large(str(path), w * h, limit, (w, h)))
        try:
            # MPO files from cameras hold previews or depth maps as further frames: not news
            if im.format != "MPO" and getattr(im, "is_animated", False):
                kind = "multi-page" if im.format == "TIFF" else "animated"
                warnings.warn(f"{path}: {kind} image, using its first frame", stacklevel=3)
                im.seek(0)
            im.load()
            return ImageOps.exif_transpose(im)  # a copy: it outlives the file
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise InputError(f"corrupt or truncated image {path}: {e}") from None


def _from_pil(im: Image.Image, name: str) -> torch.Tensor:
    """A Pillow image of any mode to a ``(3, H, W)`` tensor by the value rule."""
    if im.mode == "F":
        return _from_array(np.asarray(im), name)
    if im.mode == "I" or im.mode.startswith("I;16"):
        return _from_array(np.asarray(im), name, int_max=65535)
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        alpha = np.asarray(im.getchannel("A"))
        if alpha.min() < 255:
            warnings.warn(f"{name}: alpha channel dropped", stacklevel=3)
    try:
        rgb = im.convert("RGB")
    except ValueError as e:  # modes Pillow has no conversion for, e.g. LAB
        raise InputError(f"{name}: cannot convert a mode {im.mode} image to RGB: {e}") from None
    return _from_array(np.asarray(rgb), name)


def read_image(
    image: ImageLike, name: str = "image", max_pixels: int | None = None
) -> torch.Tensor:
    """Read an image from a path, Pillow image, array or tensor.

    Values are brought into [0, 1] by the module's value rule, which looks at the type only:
    bool as 0/1, uint8 divided by 255, uint16 by 65535, other integer types and negative
    values refused, floats kept and required to lie in [0, 1] (``1e-3`` of rounding is
    clipped; further out is an error that says how to rescale), NaN and infinity refused.
    Pillow modes: 8-bit modes as uint8, ``I;16`` as uint16, ``I`` as 16-bit values in
    0..65535, ``F`` as floats.

    Parameters
    ----------
    image : path, PIL.Image, ndarray or Tensor
        A file in any format Pillow reads (EXIF orientation is applied, palette images are
        converted, an alpha channel is dropped with a warning, an animated image gives its
        first frame with a warning); an ``(H, W)`` or ``(H, W, C)`` array; or an ``(H, W)``,
        ``(C, H, W)`` or ``(1, C, H, W)`` tensor. ``C`` is 1, 3 or 4 (alpha dropped).
    name : str
        What to call the image in error messages (a file is called by its path).
    max_pixels : int, optional
        The largest height x width accepted; default ``$DROPGAN_MAX_PIXELS``, else
        :data:`MAX_PIXELS`. A file is checked from its header, before it is decoded.

    Returns
    -------
    Tensor
        float32, shape ``(3, H, W)``, values in [0, 1]; never shares memory with ``image``.

    Raises
    ------
    InputError
        For a missing, unreadable or too large image, a shape or dtype it cannot take, or
        values outside the rule.

    Examples
    --------
    >>> import numpy as np
    >>> read_image(np.zeros((20, 30), dtype=np.uint8)).shape
    torch.Size([3, 20, 30])
    >>> read_image(np.full((2, 2), 255.0))
    Traceback (most recent call last):
    ...
    dropgan.errors.InputError: image: float values range 255..255, outside [0, 1]: divide by 255
    """
    if isinstance(image, torch.Tensor):
        return _from_array(_tensor_to_array(image, name, max_pixels), name)
    if isinstance(image, np.ndarray):
        if image.ndim in (2, 3):
            check_pixel_limit(image.shape[0], image.shape[1], name, max_pixels)
        return _from_array(image, name)
    if isinstance(image, Image.Image):
        check_pixel_limit(image.height, image.width, name, max_pixels)
        return _from_pil(ImageOps.exif_transpose(image), name)
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        return _from_pil(_open(path, max_pixels), str(path))
    raise InputError(f"{name}: cannot read an image from {type(image).__name__}")


#: A mask pixel is inside when some channel exceeds this: any colour but black, with room
#: for the noise of a lossy save of black (a few grey levels of 255).
MASK_THRESHOLD = 0.1


def read_mask(mask: ImageLike, name: str = "mask", max_pixels: int | None = None) -> torch.Tensor:
    """Read a mask: every pixel that is not black (:data:`MASK_THRESHOLD`) is inside it, so a
    hole painted grey or in any colour counts.

    The values follow :func:`read_image`'s rule (a bool array is a mask as it is).

    Returns
    -------
    Tensor
        bool, shape ``(H, W)``; True inside the masked region.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((4, 4), dtype=np.uint8); m[1, 2] = 255
    >>> int(read_mask(m).sum())
    1
    """
    return read_image(mask, name, max_pixels).amax(dim=0) > MASK_THRESHOLD


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata :func:`write_image` stored in a PNG file's ``dropgan:params`` text chunk.

    Nothing is decoded but the header and the chunks before the pixels.

    Parameters
    ----------
    path : path
        An image file.

    Returns
    -------
    dict
        The metadata; empty when the file has none (every file but a PNG written with it).

    Raises
    ------
    InputError
        When the file is missing or not an image, or its chunk is damaged or not a JSON object.

    Examples
    --------
    >>> import torch, tempfile, os, types
    >>> p = os.path.join(tempfile.mkdtemp(), "x.png")
    >>> result = types.SimpleNamespace(images=[torch.zeros(3, 4, 4)], metadata={"seed": 1})
    >>> _ = write_image(result, p)
    >>> read_metadata(p)
    {'seed': 1}
    """
    path = Path(path)
    _check_file(path)
    try:
        with open(path, "rb") as f:
            is_png = f.read(len(_PNG_SIGNATURE)) == _PNG_SIGNATURE
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None
    if not is_png:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                Image.open(path).close()
        except Image.DecompressionBombError:
            pass  # an image all the same, and only PNG files carry metadata
        except UnidentifiedImageError:
            raise InputError(f"not an image Pillow can read: {path}") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise InputError(f"corrupt or truncated image {path}: {e}") from None
        return {}
    try:
        # the PNG reader itself, not Image.open: no pixel limit applies to reading chunks
        with PngImagePlugin.PngImageFile(str(path)) as im:
            raw = im.info.get(METADATA_KEY)
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise InputError(f"corrupt PNG file {path}: {e}") from None
    if raw is None:
        return {}
    try:
        meta = json.loads(raw)
    except ValueError as e:
        raise InputError(f"{path}: its {METADATA_KEY} metadata is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise InputError(f"{path}: its {METADATA_KEY} metadata is not a JSON object")
    return meta


# --- writing ----------------------------------------------------------------------------------


def to_pil(image: torch.Tensor) -> Image.Image:
    """A ``(3, H, W)`` tensor in [0, 1] as an 8-bit RGB Pillow image (values are clipped).

    Examples
    --------
    >>> import torch
    >>> to_pil(torch.ones(3, 2, 5)).size
    (5, 2)
    """
    a = (image.detach().cpu().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return Image.fromarray(a.permute(1, 2, 0).numpy(), mode="RGB")


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write a file by ``write(file)`` into a temporary file beside ``path``, then rename it
    into place: a crash never leaves a half-written file. The file gets the usual mode
    (0666 less the umask), not the owner-only mode of temporary files.

    Raises
    ------
    OutputError
        For any system error on the way (folder not writable, disk full, ``path`` a folder);
        the temporary file is removed.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(p, lambda f: f.write(b"hi")); p.read_bytes()
    b'hi'
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OutputError(f"cannot write to {path.parent}: {e.strerror or e}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException as e:  # an interrupt included: no temporary file is left behind
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, OutputError):
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
        raise


def _unpack_result(
    image: object, index: int | None, metadata: Mapping[str, object] | None
) -> tuple[object, Mapping[str, object] | None]:
    """The one image to write and its text chunks: a result-like object (``images``,
    ``metadata``, optionally ``metadata_of(i)``) gives its image and metadata as JSON."""
    plain = isinstance(image, (torch.Tensor, np.ndarray, Image.Image, str, os.PathLike))
    if plain or not hasattr(image, "images"):
        if index is not None:
            raise InputError("index selects an image of a result; this is a single image")
        return image, metadata
    images = image.images
    n = len(images)
    if n == 0:
        raise InputError("the result holds no image to write")
    if index is None:
        if n != 1:
            raise InputError(
                f"the result has {n} images and a file holds one: write result[i] with "
                "index=i, or each image in turn"
            )
        index = 0
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < n:
        raise InputError(f"index must be a whole number in 0..{n - 1}, got {index!r}")
    index = int(index)
    if metadata is None:
        of = getattr(image, "metadata_of", None)
        meta = of(index) if callable(of) else getattr(image, "metadata", None)
        if meta is not None:
            if not isinstance(meta, Mapping):
                raise InputError(f"the result's metadata is a {type(meta).__name__}, not a mapping")
            try:
                metadata = {METADATA_KEY: json.dumps(dict(meta), sort_keys=True, default=str)}
            except (TypeError, ValueError) as e:
                raise InputError(f"the result's metadata cannot be written as JSON: {e}") from None
    return images[index], metadata


def write_image(
    image: torch.Tensor | np.ndarray | Image.Image | object,
    path: str | os.PathLike,
    metadata: Mapping[str, object] | None = None,
    force: bool = False,
    *,
    index: int | None = None,
) -> Path:
    """Write an image atomically; PNG files carry metadata as text chunks.

    The image is encoded in memory, written to a temporary file beside ``path`` and renamed
    into place, so a failure (a bad image, a full disk) never leaves a file, whole or half.

    Parameters
    ----------
    image : Tensor, ndarray, PIL.Image or Result
        A tensor or array as :func:`read_image` takes it (same value rule: NaN, infinity and
        floats outside [0, 1] are refused), written as 8-bit RGB; a Pillow image, written as
        it is (modes ``I`` and ``F`` go through the value rule to 8-bit RGB); or a result
        (an object with ``images`` and ``metadata``, such as :class:`dropgan.Result`) of one
        image, or with ``index``, whose metadata (``metadata_of(index)`` when it has it) is
        stored as JSON in the ``dropgan:params`` chunk; :func:`read_metadata` reads it back.
    path : path
        The file; its suffix chooses the format.
    metadata : mapping, optional
        Text chunks for a PNG file, one per key (values as ``str``); replaces a result's.
        Other formats store none.
    force : bool
        Replace an existing file.
    index : int, optional
        Which image of a result of several to write.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        For an image that cannot be written (shape, values, a mode the format cannot hold).
    OutputError
        When ``path`` exists without ``force``, its format is unknown, or writing fails.

    Examples
    --------
    >>> import torch, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.png")
    >>> write_image(torch.zeros(3, 8, 8), p, {"seed": 0}).name
    'x.png'
    """
    path = Path(path)
    image, metadata = _unpack_result(image, index, metadata)
    if path.exists() and not force:
        raise OutputError(f"{path} exists; pass force=True to replace it")
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise OutputError(f"{path}: not a file name of an image format Pillow can write")
    name = f"image for {path.name}"
    if isinstance(image, Image.Image):
        pil = to_pil(_from_pil(image, name)) if image.mode in ("F", "I") else image
    elif isinstance(image, (torch.Tensor, np.ndarray)):
        pil = to_pil(read_image(image, name, max_pixels=_shape_pixels(image)))
    else:
        raise InputError(f"{name}: cannot write an image from {type(image).__name__}")
    options: dict[str, object] = {}
    if fmt == "PNG" and metadata:
        info = PngImagePlugin.PngInfo()
        for k, v in metadata.items():
            info.add_text(str(k), str(v))
        options["pnginfo"] = info
    buf = io.BytesIO()
    try:
        pil.save(buf, format=fmt, **options)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{name}: cannot be saved as {fmt}: {e}") from None
    atomic_write(path, lambda f: f.write(buf.getbuffer()))
    return path


def _shape_pixels(image: torch.Tensor | np.ndarray) -> int:
    """Pixels of an image to write: the limit is for inputs, an output is already in memory."""
    hw = image.shape[:2] if isinstance(image, np.ndarray) else image.shape[-2:]
    return max(1, int(np.prod(hw))) if len(hw) == 2 else 1
