"""Give memory the process freed back to the operating system (ROS-free).

Why: when the node cleans up, its models are dropped, but glibc's malloc keeps the freed memory
in its arenas (one per thread that allocated: the executor's, the frame worker's) for later
allocations. The process's resident size hardly shrinks, so the memory a robot meant to free
by cleaning up a perception node never becomes available to its other processes.
`malloc_trim(0)` hands the free pages of every arena back.
"""
from __future__ import annotations

import ctypes
import gc


def release_freed_memory() -> bool:
    """Collect garbage, then return free heap pages to the OS.

    True when the C library could be asked to (glibc's malloc_trim); False where it has no such
    call (e.g. musl or macOS), where freed memory is left as the allocator keeps it.
    """
    gc.collect()  # reference cycles (modules, closures) would otherwise keep tensors alive
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library already loaded into the process
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)
    return True
