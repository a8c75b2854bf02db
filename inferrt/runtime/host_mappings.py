"""Which host addresses this process may read or write, so a bad pointer given to a CPU engine is an error rather
than a segfault.

The kernel lists the process's mappings with their permissions in ``/proc/self/maps``. We keep them as two sorted
interval lists (readable, and readable-and-writable), adjacent mappings merged, and answer "is ``[addr, addr+n)``
covered" by bisection. The list is read again when an address is not covered (memory mapped since the last read),
and an address the list does cover is confirmed with ``mincore(2)``, a side-effect-free system call that fails with
ENOMEM when part of the range is no longer mapped (memory unmapped since the last read), in which case the list is
read again too. Permissions changed in place by ``mprotect`` after the last read are the one change not noticed.

Where ``/proc/self/maps`` does not exist (not Linux), addresses cannot be checked: :func:`host_range_problem`
reports nothing and the caller stays responsible for its pointers, as in TensorRT.
"""
from __future__ import annotations

import bisect
import ctypes
import errno
import mmap
import os
import threading

MAPS = "/proc/self/maps"
PAGE = mmap.PAGESIZE
_MINCORE_CHUNK = 1 << 16  # pages per mincore call (256 MiB of 4 KiB pages), bounding the vector it fills


class _Intervals:
    """Disjoint, sorted [start, end) intervals with adjacent ones merged."""

    def __init__(self, pairs):
        self.starts: list[int] = []
        self.ends: list[int] = []
        for lo, hi in pairs:
            if self.ends and self.ends[-1] == lo:
                self.ends[-1] = hi
            else:
                self.starts.append(lo)
                self.ends.append(hi)

    def covers(self, addr: int, nbytes: int) -> bool:
        i = bisect.bisect_right(self.starts, addr) - 1
        return i >= 0 and self.ends[i] >= addr + nbytes


def parse_maps(text: bytes) -> tuple[_Intervals, _Intervals]:
    """(readable, readable-and-writable) intervals of a ``/proc/<pid>/maps`` listing (sorted by address)."""
    readable, writable = [], []
    for line in text.splitlines():
        fields = line.split(None, 2)
        if len(fields) < 2 or b"-" not in fields[0]:
            continue
        lo, hi = (int(v, 16) for v in fields[0].split(b"-", 1))
        perms = fields[1]
        if perms[:1] == b"r":
            readable.append((lo, hi))
            if perms[1:2] == b"w":
                writable.append((lo, hi))
    return _Intervals(readable), _Intervals(writable)


def _libc():
    try:
        lib = ctypes.CDLL(None, use_errno=True)
        fn = lib.mincore
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
    fn.restype = ctypes.c_int
    return fn


class HostMappings:
    """The cached mapping list of this process (one per process: :data:`MAPPINGS`)."""

    def __init__(self, path: str = MAPS):
        self.path = path
        self.available = os.path.exists(path)
        self.reads = 0
        self._lock = threading.Lock()
        self._readable = self._writable = _Intervals(())
        self._mincore = _libc() if self.available else None
        self._local = threading.local()   # each thread's mincore result vector
        if self.available:
            self.refresh()

    def refresh(self) -> None:
        with open(self.path, "rb") as f:
            text = f.read()
        readable, writable = parse_maps(text)
        with self._lock:
            self._readable, self._writable = readable, writable
            self.reads += 1

    def _still_mapped(self, addr: int, nbytes: int) -> bool:
        """False only when mincore says part of the range is not mapped (ENOMEM); other failures say nothing."""
        mincore = self._mincore
        if mincore is None:
            return True
        lo = addr - addr % PAGE
        pages = (addr + nbytes - lo + PAGE - 1) // PAGE
        vec = getattr(self._local, "vec", None)
        if vec is None:
            vec = self._local.vec = (ctypes.c_ubyte * _MINCORE_CHUNK)()
        while pages > 0:   # one call for a range of up to _MINCORE_CHUNK pages (every binding under 256 MiB)
            n = min(pages, _MINCORE_CHUNK)
            if mincore(lo, n * PAGE, vec) != 0:
                return ctypes.get_errno() != errno.ENOMEM
            lo += n * PAGE
            pages -= n
        return True

    def covers(self, addr: int, nbytes: int, writable: bool) -> bool:
        """Whether ``[addr, addr + nbytes)`` lies in readable (and, with ``writable``, writable) memory now."""
        nbytes = max(int(nbytes), 1)
        if (self._writable if writable else self._readable).covers(addr, nbytes) and self._still_mapped(addr, nbytes):
            return True
        self.refresh()   # mapped since the last read, or unmapped since: read the list again and look once more
        return (self._writable if writable else self._readable).covers(addr, nbytes) \
            and self._still_mapped(addr, nbytes)


MAPPINGS = HostMappings()


def host_range_problem(addr: int, nbytes: int, writable: bool) -> str | None:
    """Why the process cannot use ``[addr, addr + nbytes)`` (None when it can, or when this platform cannot tell)."""
    if not MAPPINGS.available:
        return None
    if MAPPINGS.covers(addr, nbytes, writable):
        return None
    need = "readable and writable" if writable else "readable"
    if writable and MAPPINGS.covers(addr, nbytes, False):
        return f"[{addr:#x}, {addr + nbytes:#x}) is mapped read-only, but this tensor is written"
    if MAPPINGS.covers(addr, 1, False):
        return (f"only part of [{addr:#x}, {addr + nbytes:#x}) ({nbytes} bytes) is {need} memory of this process: "
                f"the buffer is too small for the tensor")
    return f"{addr:#x} is not {need} memory of this process (unmapped or freed)"
