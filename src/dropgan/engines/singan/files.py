"""SinGAN model folders: ``model.safetensors`` (every tensor) and ``config.json`` (the rest).

Loading runs no code from the files: safetensors holds raw tensors and JSON plain values,
and every tensor's name and shape is checked against the networks that the config
describes before any is used. Anything wrong gives one :class:`~dropgan.errors.InputError`
line. A model whose ``format_version`` is at most :data:`FORMAT_VERSION` loads; a newer one
is refused with a message to upgrade.

Tensors: ``image`` (the training image at the finest scale, [0, 1]); ``z_opt.{n}``; the
generators' weights and BatchNorm buffers as ``G.{n}.{name}``; the last trained scale's
discriminator as ``D.{name}`` (the next scale starts from it when resuming).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import torch

from ..._version import __version__
from ...errors import InputError, OutputError
from .model import SinGANModel
from .params import SinGANParams
from .pyramid import Scales

__all__ = ["CONFIG", "FORMAT", "FORMAT_VERSION", "WEIGHTS", "load_model", "save_model"]

FORMAT = "dropgan-singan"
#: The newest format this version writes and reads; older ones keep loading.
FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"


def _config(model: SinGANModel) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dropgan_version": __version__,
        "params": dataclasses.asdict(model.params),
        "seed": model.seed,
        "scales": {
            "sizes": [list(s) for s in model.scales.sizes],
            "exponents": list(model.scales.exponents),
            "ratio": model.scales.ratio,
        },
        "scales_done": model.done,
        "noise_amp": list(model.noise_amp),
        "trained_with": model.version,
    }


def _tensors(model: SinGANModel) -> dict[str, torch.Tensor]:
    out = {"image": model.image}
    for n, (g, z) in enumerate(zip(model.generators, model.z_opt, strict=True)):
        out[f"z_opt.{n}"] = z
        out.update({f"G.{n}.{k}": v for k, v in g.state_dict().items()})
    if model.discriminator is not None:
        out.update({f"D.{k}": v for k, v in model.discriminator.state_dict().items()})
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in out.items()}


def save_model(model: SinGANModel, folder: str | os.PathLike) -> Path:
    """Write ``model`` to ``folder`` atomically: into a new folder beside it, then renamed.

    An existing model folder is replaced; any other non-empty folder is left alone and an
    :class:`~dropgan.errors.OutputError` raised.

    Examples
    --------
    >>> import tempfile
    >>> from dropgan.engines.singan.train import new_model
    >>> m = new_model(torch.rand(3, 24, 32), SinGANParams(min_size=12, scales=2), 0, "cpu")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     sorted(p.name for p in save_model(m, Path(d) / "model").iterdir())
    ['config.json', 'model.safetensors']
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    parent = folder.parent if str(folder.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write the model: folder {parent} does not exist")
    if folder.exists() and not (folder.is_dir() and _is_model_or_empty(folder)):
        raise OutputError(f"{folder} exists and is not a model folder: not overwriting it")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=parent))
    except OSError as e:
        raise OutputError(f"cannot write the model beside {folder}: {e.strerror}") from None
    old: Path | None = None
    try:
        save_file(_tensors(model), str(tmp / WEIGHTS), metadata={"format": FORMAT})
        with open(tmp / CONFIG, "w", encoding="utf-8") as f:
            json.dump(_config(model), f, indent=2)
            f.write("\n")
        for name in (WEIGHTS, CONFIG):
            _fsync(tmp / name)
        if folder.exists():
            # a directory cannot be renamed over a non-empty one: move the old one aside
            old = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
            os.rename(folder, old)
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not folder.exists():
            os.rename(old, folder)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def _is_model_or_empty(folder: Path) -> bool:
    """Whether ``folder`` is empty or holds a SinGAN model of ours (any version): the only
    folders that :func:`save_model` replaces."""
    if not any(folder.iterdir()):
        return True
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(config, dict) and config.get("format") == FORMAT


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fail(folder: Path, why: str) -> InputError:
    line = " ".join(str(why).split())  # one line, whatever the cause says
    return InputError(f"cannot load SinGAN model {folder}: {line}")


def _read_config(folder: Path) -> dict[str, Any]:
    try:
        text = (folder / CONFIG).read_text(encoding="utf-8")
        config = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _fail(folder, f"{CONFIG} is not valid JSON ({e})") from None
    except OSError as e:
        raise _fail(folder, f"{CONFIG} cannot be read ({e.strerror})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise _fail(folder, f"{CONFIG} does not describe a SinGAN model")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail(folder, f"{CONFIG} has no valid format_version")
    if version > FORMAT_VERSION:
        raise _fail(
            folder,
            f"its format version {version} is newer than this dropgan ({__version__}) reads "
            f"({FORMAT_VERSION}); upgrade dropgan",
        )
    return config


def _model_from_config(
    folder: Path, config: dict[str, Any], image: torch.Tensor
) -> tuple[SinGANModel, int, list[float]]:
    """The untrained model that the config describes, its trained scale count and noise
    amplitudes, each checked."""
    raw = config.get("params")
    names = {f.name for f in dataclasses.fields(SinGANParams)}
    if isinstance(raw, dict) and set(raw) - names:
        unknown = ", ".join(sorted(set(raw) - names))
        raise _fail(folder, f"{CONFIG} has parameters this dropgan does not know ({unknown})")
    try:
        params = SinGANParams(**raw)
        seed = config["seed"]
        s = config["scales"]
        scales = Scales(
            tuple((int(h), int(w)) for h, w in s["sizes"]),
            tuple(float(e) for e in s["exponents"]),
            float(s["ratio"]),
        )
        done = config["scales_done"]
        amps = [float(a) for a in config["noise_amp"]]
        version = str(config.get("trained_with", config.get("dropgan_version", "?")))
    except InputError as e:
        raise _fail(folder, f"{CONFIG} has invalid parameters: {e}") from None
    except (KeyError, TypeError, ValueError) as e:
        raise _fail(
            folder, f"{CONFIG} is incomplete or malformed ({type(e).__name__}: {e})"
        ) from None
    ok = (
        isinstance(seed, int)
        and isinstance(done, int)
        and 0 <= done <= len(scales.sizes)
        and len(amps) == done
        and len(scales.exponents) == len(scales.sizes) >= 2
        and all(h >= 1 and w >= 1 for h, w in scales.sizes)
        and 0 < scales.ratio <= 1
    )
    if not ok:
        raise _fail(folder, f"{CONFIG} is inconsistent (scales, noise_amp, scales_done)")
    return SinGANModel(params.resolved(), seed, scales, image, version), done, amps


def load_model(folder: str | os.PathLike, device: str | torch.device = "cpu") -> SinGANModel:
    """Read a model folder written by :func:`save_model`.

    Raises
    ------
    InputError
        One line for a missing folder or file, a corrupt or truncated file, a format newer
        than this version reads, or tensors that do not fit the config.

    Examples
    --------
    >>> load_model("/nonexistent")
    Traceback (most recent call last):
    ...
    dropgan.errors.InputError: cannot load SinGAN model /nonexistent: the folder does not exist
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    if not folder.is_dir():
        raise _fail(folder, "the folder does not exist")
    for name in (CONFIG, WEIGHTS):
        if not (folder / name).is_file():
            raise _fail(folder, f"{name} is missing")
    config = _read_config(folder)
    try:
        tensors = load_file(str(folder / WEIGHTS), device="cpu")
    except Exception as e:  # safetensors raises its own error types for damaged files
        raise _fail(folder, f"{WEIGHTS} is corrupt or truncated ({e})") from None
    image = tensors.pop("image", None)
    if image is None or image.ndim != 3 or image.shape[0] != 3:
        raise _fail(folder, f"{WEIGHTS} has no valid image tensor")
    model, done, amps = _model_from_config(folder, config, image.float())
    if tuple(image.shape[1:]) != model.size:
        raise _fail(folder, f"the image is {tuple(image.shape[1:])}, the config says {model.size}")
    for n in range(done):
        g = model.new_generator(n)
        g.load_state_dict(_take(folder, tensors, f"G.{n}.", g.state_dict()))
        z = tensors.pop(f"z_opt.{n}", None)
        h, w = model.scales.sizes[n]
        if z is None or tuple(z.shape) != (1 if n == 0 else 3, h, w):
            raise _fail(folder, f"z_opt.{n} is missing or not of scale {n}'s size {h}x{w}")
        model.generators.append(g.eval().requires_grad_(False))
        model.z_opt.append(z.float())
    model.noise_amp = amps
    if done:
        d = model.new_discriminator(done - 1)
        d.load_state_dict(_take(folder, tensors, "D.", d.state_dict()))
        model.discriminator = d.eval().requires_grad_(False)
    if tensors:
        raise _fail(folder, f"{WEIGHTS} has unexpected tensors ({', '.join(sorted(tensors))})")
    try:
        return model.to(device)
    except (RuntimeError, TypeError, ValueError) as e:
        raise InputError(f"cannot move the model to {device}: {e}") from None


def _take(
    folder: Path, tensors: dict[str, torch.Tensor], prefix: str, expected: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The tensors named ``prefix + key`` for every key of ``expected``, removed from
    ``tensors``, each checked to have the expected shape and a matching kind."""
    out = {}
    for key, like in expected.items():
        t = tensors.pop(prefix + key, None)
        if t is None:
            raise _fail(folder, f"{WEIGHTS} lacks the tensor {prefix + key}")
        if t.shape != like.shape or t.is_floating_point() != like.is_floating_point():
            raise _fail(
                folder,
                f"tensor {prefix + key} is {tuple(t.shape)} {t.dtype}, the config needs "
                f"{tuple(like.shape)} {like.dtype}",
            )
        out[key] = t.to(like.dtype)
    return out
