"""Memory the merging process no longer needs, handed back to the system.

A chunk of an import is a few large byte strings (COPY text, pickled between processes) that
live for one chunk. glibc raises its mmap threshold to the size of each such buffer freed, so
later ones come from the heap, which keeps its pages once they are free: over a million-row CSV
file, whose chunks wait for the merge, the merging process's peak RSS grew to 650-800 MiB. A
fixed threshold keeps every buffer above it in a mapping of its own, returned when freed, and
trimming the heap before each chunk hands back the rest: about 400 MiB, for some 2 µs of CPU per
row (measured with bench/import_bench.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter; setting it also stops its adjustment
LARGE_BUFFER_BYTES = 128 * 1024


@functools.cache
def _libc() -> object | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def return_large_buffers(threshold: int = LARGE_BUFFER_BYTES) -> bool:
    """Fix the process's mmap threshold; False where the C library offers no ``mallopt``."""
    mallopt = getattr(_libc(), "mallopt", None)
    return mallopt is not None and bool(mallopt(M_MMAP_THRESHOLD, threshold))


def return_free_pages() -> bool:
    """Hand the heap's free pages back to the system; False without ``malloc_trim``."""
    malloc_trim = getattr(_libc(), "malloc_trim", None)
    if malloc_trim is None:
        return False
    malloc_trim(0)
    return True
