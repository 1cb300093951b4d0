"""The process's memory as the kernel counts it, and handing freed memory back to it."""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os


def rss_bytes() -> int:
    """Resident set size now (0 where /proc is not there)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def peak_rss_bytes() -> int:
    """The process's high-water mark (VmHWM): what the OOM killer and a cgroup limit would have seen."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def reset_peak() -> bool:
    """Restarts the high-water mark at the current RSS (Linux clear_refs); False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def trim_heap() -> None:
    """Hands freed heap memory back to the OS. glibc keeps freed arenas mapped (RSS stays at the biggest page's
    level) until asked; a no-op where the C library has no malloc_trim."""
    name = ctypes.util.find_library("c")
    if name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name).malloc_trim(0)
