"""What every task needs before it calls an engine: the device, the search backend, the
source pyramid with its depth checked, and the parameters validated."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch

from ..engines.gpnn import GPNNParams
from ..errors import InputError
from ..nn import BACKENDS, NearestNeighbourSearch, make_backend
from ..pyramid import level_sizes

__all__ = ["check_levels", "default_nn", "resolve_device", "search_backend", "split_params"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The device to compute on: CUDA when available unless ``device`` says otherwise.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda was asked for but no CUDA GPU is available")
    return dev


def default_nn(device: torch.device) -> str:
    """The default search backend: exact on a GPU, the fastest approximate one on a CPU.

    Examples
    --------
    >>> default_nn(torch.device("cuda"))
    'exact'
    """
    if device.type == "cuda" or "patchmatch" not in BACKENDS:
        return "exact"
    return "patchmatch"


def search_backend(
    nn: str | None, device: torch.device, seed: int, memory_budget: int | None
) -> NearestNeighbourSearch:
    """A fresh search backend for one run, given the options it accepts."""
    name = nn or default_nn(device)
    if name not in BACKENDS:
        raise InputError(
            f"unknown nearest-neighbour backend {name!r} "
            f"(choose from {', '.join(sorted(BACKENDS))})"
        )
    if memory_budget is not None and memory_budget < 1 << 20:
        raise InputError(f"memory budget must be at least 1 MiB, got {memory_budget} bytes")
    accepted = inspect.signature(BACKENDS[name]).parameters
    options = {"seed": seed, "memory_budget": memory_budget}
    return make_backend(
        name, **{k: v for k, v in options.items() if k in accepted and v is not None}
    )


def split_params(options: dict[str, object]) -> GPNNParams:
    """GPNN parameters from keyword options; an unknown option is an error, not ignored."""
    fields = GPNNParams.__dataclass_fields__
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise InputError(f"unknown parameter(s): {', '.join(unknown)}")
    return GPNNParams(**{k: v for k, v in options.items() if v is not None})


def check_levels(
    size: Sequence[int], ratio: float, levels: int, patch_size: int, what: str
) -> list[tuple[int, int]]:
    """Level sizes of an image, checked to hold patches at the coarsest level."""
    if levels < 0:
        raise InputError(f"levels must be >= 0, got {levels}")
    sizes = level_sizes(size, ratio, levels)
    h, w = sizes[-1]
    if min(h, w) < patch_size:
        raise InputError(
            f"{what} of {size[1]}x{size[0]} px is too small for {patch_size}x{patch_size} "
            f"patches at {levels} pyramid levels (coarsest {w}x{h} px)"
        )
    return sizes
