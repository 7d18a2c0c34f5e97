"""Nearest-neighbour search backends behind one interface (:class:`NearestNeighbourSearch`)."""

from __future__ import annotations

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
    "make_backend",
    "nearest",
    "normalised_score",
]


def make_backend(name: str, **options: object) -> NearestNeighbourSearch:
    """A fresh backend instance by name (``exact``, ``patchmatch``), for one synthesis run.

    Examples
    --------
    >>> make_backend("exact").name
    'exact'
    """
    from ..errors import InputError

    if name not in BACKENDS:
        raise InputError(
            f"unknown nearest-neighbour backend {name!r} (choose from {', '.join(BACKENDS)})"
        )
    return BACKENDS[name](**options)
