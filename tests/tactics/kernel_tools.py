"""Test tools for plan kernel entries: a well-formed entry like the ones ``kernel_store.collect`` writes, a blob table
for it, and an isolated file system (private cache, Triton cache, home) whose every file can be listed."""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from inferrt.tactics import kernel_store

NAME = "pointwise_kernel"


def fake_hash(seed: str = "k") -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def metadata(h: str, name: str = NAME, **extra) -> dict:
    """Launch metadata shaped like what Triton 3.x writes for a CUDA kernel (paths already cut to base names)."""
    meta = {"hash": h, "name": name, "target": {"backend": "cuda", "arch": 90, "warp_size": 32}, "num_warps": 4,
            "num_ctas": 1, "num_stages": 3, "shared": 0, "tmem_size": 0, "global_scratch_size": 0,
            "global_scratch_align": 1, "profile_scratch_size": 0, "profile_scratch_align": 1,
            "launch_cooperative_grid": False, "launch_pdl": False, "debug": False, "sanitize_overflow": True,
            "extern_libs": [["libdevice", "libdevice.10.bc"]], "ir_override": None, "tensordesc_meta": None,
            "supported_fp8_dtypes": ["fp8e4nv", "fp8e5"], "ptx_version": None, "cluster_dims": [1, 1, 1],
            "enable_fp_fusion": True, "max_num_imprecise_acc_default": 0, "instrumentation_mode": "",
            "triton_version": "3.6.0"}
    meta.update(extra)
    return meta


CUBIN = b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 4


class Blobs:
    """The ``get`` of a plan's BlobReader over a plain list of byte strings."""

    def __init__(self, items):
        self.items = list(items)

    def get(self, i):
        return self.items[i]


def entry(blobs: list, h: str | None = None, name: str = NAME, meta: dict | None = None, cubin: bytes = CUBIN,
          files: list | None = None) -> dict:
    """A manifest kernel entry whose files are appended to ``blobs``."""
    h = h or (meta["hash"] if meta is not None else fake_hash(str(len(blobs))))
    meta = metadata(h, name) if meta is None else meta
    if files is None:
        files = [(f"{name}.json", json.dumps(meta).encode()), (f"{name}.cubin", cubin)]
    out = []
    for fname, data in files:
        blobs.append(data)
        out.append([fname, len(blobs) - 1])
    return {"hash": h, "name": name, "files": out}


JUNK = [None, True, False, 0, -1, 7, 1 << 64, 1.5, "", "x", "../x", "a.so", "\u00e9", [], [0], [[0, 1]], {}, {"a": 0}]


def mutate_json(rng, value):
    """One random structural change somewhere in a JSON-like tree (returns the new tree)."""
    if isinstance(value, (dict, list)) and value and rng.random() < 0.75:
        keys = list(value) if isinstance(value, dict) else list(range(len(value)))
        k = rng.choice(keys)
        out = dict(value) if isinstance(value, dict) else list(value)
        r = rng.random()
        if r < 0.1:
            del out[k]
        elif r < 0.2 and isinstance(out, list):
            out.append(out[k])
        else:
            out[k] = mutate_json(rng, out[k])
        return out
    if isinstance(value, bytes):
        b = bytearray(value)
        for _ in range(rng.randint(1, 4)):
            if b:
                b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b[:rng.randrange(len(b) + 1)] if rng.random() < 0.2 else b)
    return rng.choice(JUNK)


def all_files(root) -> list[str]:
    """Every file, link and directory under ``root`` (relative paths, sorted)."""
    out = []
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(d, n), root))
    return sorted(out)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """INFERRT_CACHE, TRITON_CACHE_DIR, HOME and an 'outside' directory under tmp_path; the registry of installed
    kernels and Triton's cache manager class are restored afterwards."""
    dirs = {k: tmp_path / k for k in ("irt", "triton", "home", "outside")}
    for k in ("home", "outside"):
        dirs[k].mkdir()
    monkeypatch.setenv("INFERRT_CACHE", str(dirs["irt"]))
    monkeypatch.setenv("TRITON_CACHE_DIR", str(dirs["triton"]))
    monkeypatch.setenv("HOME", str(dirs["home"]))
    saved = dict(kernel_store._REGISTRY)
    try:
        from triton import knobs

        had = knobs.cache.__dict__.get("manager_class", None)
    except ImportError:
        knobs = None
    yield dirs
    kernel_store._REGISTRY.clear()
    kernel_store._REGISTRY.update(saved)
    if knobs is not None:
        if had is None:
            knobs.cache.__dict__.pop("manager_class", None)
        else:
            knobs.cache.manager_class = had
