"""Nearest-neighbour search backends behind one interface (:class:`NearestNeighbourSearch`)."""

from __future__ import annotations

import inspect

import torch

from .base import NearestNeighbourSearch, PatchLayout, normalised_score
from .exact import ExactSearch, nearest
from .patchmatch import PatchMatchSearch

BACKENDS: dict[str, type[NearestNeighbourSearch]] = {
    ExactSearch.name: ExactSearch,
    PatchMatchSearch.name: PatchMatchSearch,
}

__all__ = [
    "BACKENDS",
    "ExactSearch",
    "NearestNeighbourSearch",
    "PatchLayout",
    "PatchMatchSearch",
    "default_backend",
    "make_backend",
    "nearest",
    "normalised_score",
]


def default_backend(device: torch.device) -> str:
    """The default backend on ``device``: exact search on a GPU, where it takes well under a
    second per sample; PatchMatch on a CPU, where exact search takes minutes.

    Examples
    --------
    >>> default_backend(torch.device("cuda")), default_backend(torch.device("cpu"))
    ('exact', 'patchmatch')
    """
    return "exact" if device.type == "cuda" else PatchMatchSearch.name


def make_backend(name: str, **options: object) -> NearestNeighbourSearch:
    """A fresh backend instance by name, for one synthesis run; of ``options`` (such as
    ``seed``, ``memory_budget``) it gets those its constructor takes, None meaning its
    default.

    Examples
    --------
    >>> make_backend("exact", seed=3).name
    'exact'
    """
    from ..errors import InputError

    if name not in BACKENDS:
        raise InputError(
            f"unknown nearest-neighbour backend {name!r} (choose from {', '.join(BACKENDS)})"
        )
    accepted = inspect.signature(BACKENDS[name]).parameters
    return BACKENDS[name](**{k: v for k, v in options.items() if k in accepted and v is not None})
