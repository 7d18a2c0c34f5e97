"""Checks of user parameters, shared by every engine and task: one rule per kind of value,
each failing with one :class:`~dropgan.errors.InputError` sentence.

Integers may be Python or numpy integers (not bools, not floats with integral values);
reals may be any of those or floats; a seed must fit in 64 bits.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import InputError

__all__ = [
    "MAX_ITERS",
    "check_count",
    "check_seed",
    "field_help",
    "finite_positive",
    "is_int",
    "is_real",
    "parse_bytes",
    "sample_seed",
    "schedule_help",
]

#: Upper bound of any per-level step count: far above every recipe, low enough that a typo
#: cannot start a run of days.
MAX_ITERS = 100_000


def field_help(text: str) -> dict[str, str]:
    """Metadata of a parameter field: the help text of its command-line option and web-app
    control."""
    return {"help": text}


def schedule_help(text: str) -> dict[str, str]:
    """Metadata of a parameter field whose default (None) the engine's schedule sets."""
    return {"help": text, "default_text": "the schedule's"}


def is_int(value: object) -> bool:
    """True for Python and numpy integers, not for bools.

    Examples
    --------
    >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
    (True, True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_real(value: object) -> bool:
    """True for real numbers (integers included), not for bools or NaN.

    Examples
    --------
    >>> is_real(0.5), is_real(np.float32(2)), is_real(float("nan")), is_real("1")
    (True, True, False, False)
    """
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        return False
    return not math.isnan(value)


def finite_positive(name: str, value: object, *, allow_inf: bool = False) -> None:
    """Raise unless ``value`` is a positive real number (``inf`` only with ``allow_inf``).

    Examples
    --------
    >>> finite_positive("alpha", float("inf"), allow_inf=True)
    >>> finite_positive("lr", float("inf"))
    Traceback (most recent call last):
    ...
    dropgan.errors.InputError: lr must be a positive finite number, got inf
    """
    if not is_real(value) or not value > 0 or (math.isinf(value) and not allow_inf):
        kind = "positive number (or inf)" if allow_inf else "positive finite number"
        raise InputError(f"{name} must be a {kind}, got {value!r}")


def check_count(name: str, value: object, low: int = 1, high: int | None = None) -> int:
    """``value`` as an int, checked to be an integer in ``[low, high]``.

    Examples
    --------
    >>> check_count("n", np.int64(2))
    2
    """
    if not is_int(value) or value < low or (high is not None and value > high):
        span = f"at least {low}" if high is None else f"from {low} to {high}"
        raise InputError(f"{name} must be an integer {span}, got {value!r}")
    return int(value)


def check_seed(seed: object) -> int:
    """``seed`` as an int, checked to be an integer in ``[0, 2**63)``.

    Examples
    --------
    >>> check_seed(np.int64(7))
    7
    """
    return check_count("seed", seed, 0, 2**63 - 1)


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample ``index`` of a run seeded ``seed``: independent of how many
    samples the run makes, so sample 3 of ``n=4`` is sample 3 of ``n=10``; sample 0 uses
    ``seed`` itself.

    Examples
    --------
    >>> sample_seed(5, 0), sample_seed(5, 1) == sample_seed(5, 1), sample_seed(5, 1) != 6
    (5, True, True)
    """
    if index == 0:
        return seed
    state = np.random.SeedSequence(entropy=seed, spawn_key=(index,)).generate_state(2, np.uint32)
    return (int(state[0]) << 31 | int(state[1]) >> 1) & (2**63 - 1)


_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_bytes(value: object) -> int:
    """A byte count from an integer or a string such as ``"512M"``, ``"2G"``, ``"1.5GiB"``.

    Examples
    --------
    >>> parse_bytes("512M"), parse_bytes(1024)
    (536870912, 1024)
    """
    if is_int(value):
        n = int(value)
    elif isinstance(value, str):
        t = value.strip().lower().removesuffix("b").removesuffix("i")
        try:
            n = int(float(t[:-1]) * _UNITS[t[-1]]) if t[-1:] in _UNITS else int(t)
        except (ValueError, OverflowError, IndexError):
            raise InputError(f"expected bytes such as 512M or 2G, got {value!r}") from None
    else:
        raise InputError(f"expected bytes such as 512M or 2G, got {value!r}")
    if n <= 0:
        raise InputError(f"a byte count must be positive, got {value!r}")
    return n
