"""Bad raw addresses handed to a CPU engine through the TensorRT API, as a table.

Each case binds x, s and y of the rt_tools network (batch 2) to good numpy buffers, then replaces one binding with
a bad address (``bind``), and records what ``set_tensor_address`` and ``execute_async_v3`` returned, the errors
logged and whether ``y`` holds the right values. Run as a script (``python bad_address_cases.py``) it runs every
case in this process and prints one JSON line per case, so a case that crashed the process shows up as the missing
line after the last "start" line; test_arguments.py runs it in a subprocess and checks ``EXPECTED``.
"""
from __future__ import annotations

import ctypes
import json
import mmap
import sys

import numpy as np

PAGE = mmap.PAGESIZE
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_PROT_READ, _PROT_WRITE = 1, 2
_MAP_PRIVATE, _MAP_ANONYMOUS = 0x02, 0x20


def map_pages(n: int, prot: int = _PROT_READ | _PROT_WRITE) -> int:
    p = _libc.mmap(None, n * PAGE, prot, _MAP_PRIVATE | _MAP_ANONYMOUS, -1, 0)
    assert p not in (None, ctypes.c_void_p(-1).value), "mmap failed"
    return p


def unmap(p: int, n: int = 1) -> None:
    assert _libc.munmap(p, n * PAGE) == 0


def unmapped_page() -> int:
    p = map_pages(1)
    unmap(p)
    return p


def read_only_copy(a: np.ndarray) -> int:
    """A PROT_READ page holding ``a``'s bytes (written while writable, then protected)."""
    p = map_pages(1)
    ctypes.memmove(p, a.ctypes.data, a.nbytes)
    _libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    assert _libc.mprotect(p, PAGE, _PROT_READ) == 0
    return p


def page_end_minus(nbytes: int) -> int:
    """An address ``nbytes`` before the end of a mapped page whose next page is unmapped."""
    p = map_pages(2)
    unmap(p + PAGE)
    return p + PAGE - nbytes


# case name: (tensor, how to get the bad address from the good buffers, set expected?, exec expected?, words)
#   set/exec: True, False, or None (not called: the set was refused, or execute_v2 binds); words: in the last
#   logged error
CASES = {
    "unmapped":            ("x", lambda b: unmapped_page(), False, None, ["'x'", "not readable memory"]),
    "unmapped_output":     ("y", lambda b: unmapped_page(), False, None, ["'y'", "not readable and writable"]),
    "freed_after_binding": ("y", "freed", True, False, ["'y'", "unmapped or freed"]),
    "execute_v2_unmapped": ("s", "execute_v2", None, False, ["'s'", "not readable memory"]),
    "negative":            ("x", lambda b: -4096, False, None, ["'x'", "not an address"]),
    "beyond_2_64":         ("y", lambda b: 2 ** 64 + 4096, False, None, ["'y'", "not an address"]),
    "null":                ("y", lambda b: 0, True, False, ["'y'", "no address", "set_tensor_address"]),
    "low_page":            ("s", lambda b: 0x1000, False, None, ["'s'", "not readable memory"]),
    "misaligned":          ("x", lambda b: b["x"].ctypes.data + 1, False, None, ["'x'", "not aligned", "FLOAT"]),
    "read_only_output":    ("y", lambda b: read_only_copy(b["y"]), False, None, ["'y'", "read-only"]),
    "too_small_output":    ("y", lambda b: page_end_minus(8), True, False, ["'y'", "too small", "32 bytes"]),
    "too_small_input":     ("x", lambda b: page_end_minus(16), True, False, ["'x'", "too small", "64 bytes"]),
    "float":               ("x", lambda b: float(b["x"].ctypes.data), False, None, ["'x'", "must be an integer"]),
    "string":              ("x", lambda b: "0x1000", False, None, ["'x'", "must be an integer"]),
    "none":                ("y", lambda b: None, False, None, ["'y'", "must be an integer"]),
}

#: a read-only input is fine: inputs are only read
GOOD_CASES = {
    "read_only_input": ("x", lambda b: read_only_copy(b["x"])),
}


def _run_case(name, tensor, make, engine, logger, x, s):
    from rt_tools import reference

    bufs = {"x": x.copy(), "s": s.copy(), "y": np.full((2, 4), np.nan, np.float32)}
    ctx = engine.create_execution_context()
    ctx.set_input_shape("x", (2, 8))
    ctx.set_input_shape("s", (2, 4))
    for n, a in bufs.items():
        assert ctx.set_tensor_address(n, a.ctypes.data)
    if make == "freed":
        p = map_pages(1)
        ok_set = ctx.set_tensor_address(tensor, p)
        unmap(p)
    elif make == "execute_v2":   # bindings checked when used, not when set
        ptrs = {n: a.ctypes.data for n, a in bufs.items()}
        ptrs[tensor] = unmapped_page()
        ok_exec = ctx.execute_v2([ptrs["x"], ptrs["s"], ptrs["y"]])
        errors = logger.errors()
        return {"case": name, "set": None, "exec": ok_exec, "error": errors[-1] if errors else "",
                "correct": bool(np.allclose(bufs["y"], reference(x, s), rtol=1e-4, atol=1e-5))}
    else:
        ok_set = ctx.set_tensor_address(tensor, make(bufs))
    ok_exec = ctx.execute_async_v3(0) if ok_set else None
    errors = logger.errors()
    return {"case": name, "set": ok_set, "exec": ok_exec, "error": errors[-1] if errors else "",
            "correct": bool(np.allclose(bufs["y"], reference(x, s), rtol=1e-4, atol=1e-5))}


def main() -> None:
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [here, os.path.dirname(here)]
    from rt_tools import ListLogger, build_engine, inputs

    logger = ListLogger()
    engine = build_engine("cpu", runtime_logger=logger)
    x, s = inputs(2)
    table = [(n, t, m) for n, (t, m, *_rest) in CASES.items()] + [(n, t, m) for n, (t, m) in GOOD_CASES.items()]
    for name, tensor, make in table:
        print(json.dumps({"start": name}), flush=True)
        print(json.dumps(_run_case(name, tensor, make, engine, logger, x, s)), flush=True)


if __name__ == "__main__":
    main()
