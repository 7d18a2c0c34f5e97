"""Reading and writing images.

Images travel through dropgan as float32 tensors of shape ``(3, H, W)`` with values in [0, 1].
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from .errors import InputError, OutputError

ImageLike = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor

#: The PNG text chunk that holds an output's metadata (JSON).
METADATA_KEY = "dropgan:params"

__all__ = ["ImageLike", "METADATA_KEY", "read_image", "read_mask", "to_pil", "write_image"]


def _open(path: str | os.PathLike) -> Image.Image:
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir():
        raise InputError(f"is a folder, not an image: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            return ImageOps.exif_transpose(im)
    except UnidentifiedImageError:
        raise InputError(f"not an image Pillow can read: {path}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"corrupt or truncated image {path}: {e}") from None


def _pil_to_array(im: Image.Image, name: str) -> np.ndarray:
    """Pillow image of any mode to float32 (H, W, 3) in [0, 1]."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float32)
        return np.repeat((a / (65535.0 if a.max() > 255 else 255.0))[..., None], 3, axis=2).clip(
            0, 1
        )
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float32)
        return np.repeat(a[..., None], 3, axis=2).clip(0, 1)
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        alpha = np.asarray(im.getchannel("A"))
        if alpha.min() < 255:
            warnings.warn(f"{name}: alpha channel dropped", stacklevel=3)
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def _array_to_tensor(a: np.ndarray, name: str) -> torch.Tensor:
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise InputError(f"{name}: expected an (H, W) or (H, W, C) array, got shape {a.shape}")
    if np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    a = a.astype(np.float32)
    c = a.shape[2]
    if c == 1:
        a = np.repeat(a, 3, axis=2)
    elif c == 4:
        a = a[..., :3]
    elif c != 3:
        raise InputError(f"{name}: expected 1, 3 or 4 channels, got {c}")
    if not np.isfinite(a).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).clamp(0, 1)


def read_image(image: ImageLike, name: str = "image") -> torch.Tensor:
    """Read an image from a path, Pillow image, array or tensor.

    Parameters
    ----------
    image : path, PIL.Image, ndarray or Tensor
        A file in any format Pillow reads (EXIF orientation is applied, 16-bit and palette
        images are converted, an alpha channel is dropped with a warning); an ``(H, W[, C])``
        array (integers are scaled by their dtype's maximum, floats taken as [0, 1]); or a
        ``(C, H, W)`` tensor with values in [0, 1].
    name : str
        What to call the image in error messages.

    Returns
    -------
    Tensor
        float32, shape ``(3, H, W)``, values in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> read_image(np.zeros((20, 30), dtype=np.uint8)).shape
    torch.Size([3, 20, 30])
    """
    if isinstance(image, torch.Tensor):
        t = image.detach().to("cpu", torch.float32)
        if t.ndim == 2:
            t = t[None]
        if t.ndim != 3 or t.shape[0] not in (1, 3, 4):
            raise InputError(f"{name}: expected a (C, H, W) tensor, got shape {tuple(image.shape)}")
        return _array_to_tensor(t.permute(1, 2, 0).numpy(), name)
    if isinstance(image, np.ndarray):
        return _array_to_tensor(image, name)
    if isinstance(image, Image.Image):
        return _array_to_tensor(_pil_to_array(ImageOps.exif_transpose(image), name), name)
    if isinstance(image, (str, os.PathLike)):
        return _array_to_tensor(_pil_to_array(_open(image), str(image)), str(image))
    raise InputError(f"{name}: cannot read an image from {type(image).__name__}")


def read_mask(mask: ImageLike, name: str = "mask") -> torch.Tensor:
    """Read a mask: any non-black pixel is inside it.

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
    return read_image(mask, name).amax(dim=0) > 0.5


def to_pil(image: torch.Tensor) -> Image.Image:
    """A ``(3, H, W)`` tensor in [0, 1] as an 8-bit RGB Pillow image (values are clipped)."""
    a = (image.detach().cpu().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return Image.fromarray(a.permute(1, 2, 0).numpy(), mode="RGB")


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write a file by ``write(file)`` into a temporary file beside ``path``, then rename it
    into place: a crash never leaves a half-written file. The file gets the usual mode
    (0666 less the umask), not the owner-only mode of temporary files."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OutputError(f"cannot write to {path.parent}: {e.strerror}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_image(
    image: torch.Tensor | Image.Image,
    path: str | os.PathLike,
    metadata: dict[str, object] | None = None,
    force: bool = False,
) -> Path:
    """Write an image atomically; PNG files carry ``metadata`` as text chunks.

    The image is written to a temporary file beside ``path`` and renamed into place, so a
    crash never leaves a half-written file. An existing file is only replaced with ``force``.

    Examples
    --------
    >>> import torch, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.png")
    >>> write_image(torch.zeros(3, 8, 8), p, {"seed": 0}).name
    'x.png'
    """
    path = Path(path)
    if path.exists() and not force:
        raise OutputError(f"{path} exists (use --force to overwrite)")
    pil = image if isinstance(image, Image.Image) else to_pil(image)
    info = None
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise OutputError(f"unknown image format for {path}")
    if fmt == "PNG" and metadata:
        info = PngImagePlugin.PngInfo()
        for k, v in metadata.items():
            info.add_text(str(k), str(v))
    atomic_write(path, lambda f: pil.save(f, format=fmt, **({"pnginfo": info} if info else {})))
    return path
