"""Compiled Triton kernels inside the plan.

At build time the kernels of the chosen Triton tactics are compiled at the opt shapes; their entries in Triton's
on-disk cache (one directory per compiled kernel: the binary, its IR and metadata) are stored in the plan. Loading
a plan writes them back into this machine's Triton cache (index paths rewritten), so the first inference finds
the binary and compiles nothing. Entries are data files read by Triton's own cache; no code from the plan runs.
"""
from __future__ import annotations

import base64
import json
import os

_SKIP = ("lock",)


def _cache_dir() -> str:
    from triton import knobs

    return knobs.cache.dir


def _entry_dir_name(compiled) -> str:
    return base64.b32encode(bytes.fromhex(compiled.hash)).decode().rstrip("=")


def collect(jit_fns) -> list[dict]:
    """Cache entries ({"dir": name, "files": {filename: bytes}}) of every compiled variant of ``jit_fns``."""
    root = _cache_dir()
    entries = {}
    for fn in jit_fns:
        for caches in getattr(fn, "device_caches", {}).values():
            for compiled in caches[0].values():
                name = _entry_dir_name(compiled)
                d = os.path.join(root, name)
                if name in entries or not os.path.isdir(d):
                    continue
                files = {}
                for f in sorted(os.listdir(d)):
                    if f in _SKIP or ".tmp." in f:
                        continue
                    with open(os.path.join(d, f), "rb") as fh:
                        files[f] = fh.read()
                entries[name] = {"dir": name, "files": files}
    return [entries[k] for k in sorted(entries)]


def install(entries) -> int:
    """Write cache entries into this machine's Triton cache; returns how many were new."""
    try:
        root = _cache_dir()
    except ImportError:
        return 0
    new = 0
    for e in entries:
        name = e["dir"]
        if not isinstance(name, str) or not name.isalnum():
            raise ValueError(f"bad kernel cache entry name {name!r}")
        d = os.path.join(root, name)
        os.makedirs(d, exist_ok=True)
        for fname, data in e["files"].items():
            if os.sep in fname or fname.startswith(".") or "/" in fname:
                raise ValueError(f"bad kernel cache file name {fname!r}")
            path = os.path.join(d, fname)
            if fname.startswith("__grp__"):  # index of the group: child paths point into this directory
                grp = json.loads(data.decode())
                grp["child_paths"] = {c: os.path.join(d, os.path.basename(p)) for c, p in grp["child_paths"].items()}
                data = json.dumps(grp).encode()
            if not os.path.exists(path):
                tmp = f"{path}.{os.getpid()}.inferrt"
                with open(tmp, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
                new += 1
    return new
