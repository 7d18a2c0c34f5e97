"""Keeping freed memory from staying with the process (glibc), for runs under a memory budget."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["MMAP_THRESHOLD", "fix_mmap_threshold"]

_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h

#: Allocations above this many bytes get their own mapping, returned to the system when freed.
MMAP_THRESHOLD = 1 << 18


@functools.cache
def fix_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD` for the rest of the process.

    By default glibc raises the threshold to the size of the largest block freed so far (up
    to 32 MiB); from then on the temporaries of a PNN step, a few MiB each, come from the
    heap, and the heap keeps what they free. Fixed, the threshold stays where it is: at
    1024 x 768 px the peak resident set of a generation fell from 1.23 to 1.09 GiB
    (``benchmarks/bench_memory.py``). Process-wide, so it is done only when a run asks for a
    memory budget.

    Returns
    -------
    bool
        Whether it was set (False where the C library is not glibc).

    Examples
    --------
    >>> isinstance(fix_mmap_threshold(), bool)
    True
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError, TypeError):
        return False
