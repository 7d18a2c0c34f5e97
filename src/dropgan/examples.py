"""Built-in example images (see the README for their sources and licences)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import InputError

__all__ = ["EXAMPLES", "example"]

EXAMPLES = ("balloons",)


def example(name: str = "balloons") -> Path:
    """Path of a built-in example image.

    Examples
    --------
    >>> example("balloons").name
    'balloons.png'
    """
    if name not in EXAMPLES:
        raise InputError(f"no built-in example {name!r} (choose from {', '.join(EXAMPLES)})")
    return Path(str(resources.files("dropgan") / "data" / f"{name}.png"))
