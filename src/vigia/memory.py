"""How a Vigía process asks the C heap and NumPy for memory.

Simulation and detection allocate and free cube-sized arrays (hundreds of MB) many times a line.
By default glibc hands every block above 32 MB straight back to the kernel (``munmap``) and the
next one is faulted in afresh, page by page; and NumPy asks for transparent huge pages on every
large array (``madvise(MADV_HUGEPAGE)``), which on a kernel set to defragment on such requests
stalls each fault on memory compaction. On the 2-core machine the demo is held to, those faults
were more than half of the demo's time (system time above user time). :func:`tune_for_arrays`
keeps freed blocks in the process for reuse and lets pages be ordinary pages.

Both settings are documented knobs, not patches: glibc's ``mallopt`` (M_MMAP_MAX, M_TRIM_THRESHOLD)
and its environment twins ``MALLOC_MMAP_MAX_`` and ``MALLOC_TRIM_THRESHOLD_``, and NumPy's
``NUMPY_MADVISE_HUGEPAGE``. The environment is set too (unless the user set it), so worker
processes spawned later start with the same settings.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["TRIM_THRESHOLD_BYTES", "tune_for_arrays"]

#: Free memory at the top of the heap kept for reuse before any is given back (1 GiB).
TRIM_THRESHOLD_BYTES = 1 << 30

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

_ENVIRONMENT = {
    "NUMPY_MADVISE_HUGEPAGE": "0",
    "MALLOC_MMAP_MAX_": "0",
    "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD_BYTES),
}


def tune_for_arrays() -> dict[str, bool]:
    """Set this process (and the processes it spawns) up for large, short-lived arrays.

    Returns
    -------
    dict of str to bool
        What took effect here: ``"heap"`` (glibc's allocator keeps freed blocks) and
        ``"hugepage_off"`` (NumPy no longer asks for transparent huge pages).

    Notes
    -----
    A value the user already put in the environment wins over ours, for this process and its
    children. Elsewhere than Linux with glibc the heap part does nothing.
    """
    for name, value in _ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    done = {"heap": False, "hugepage_off": False}
    if sys.platform.startswith("linux"):
        done["heap"] = _tune_glibc_heap()
    if os.environ["NUMPY_MADVISE_HUGEPAGE"] == "0":
        from numpy._core import multiarray  # NumPy's switch for what NUMPY_MADVISE_HUGEPAGE sets

        getattr(multiarray, "_set_madvise_hugepage")(False)  # noqa: B009 (private, untyped)
        done["hugepage_off"] = not getattr(multiarray, "_get_madvise_hugepage")()  # noqa: B009
    return done


def _tune_glibc_heap() -> bool:
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    try:  # the user's own values, when set, are glibc's to read; ours are plain ints
        mmap_max = ctypes.c_int(int(os.environ["MALLOC_MMAP_MAX_"]))
        trim = ctypes.c_int(int(os.environ["MALLOC_TRIM_THRESHOLD_"]))
    except ValueError:
        return False
    return bool(mallopt(_M_MMAP_MAX, mmap_max)) and bool(mallopt(_M_TRIM_THRESHOLD, trim))
