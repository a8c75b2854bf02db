"""Compiled GPU kernels inside a plan: binaries and launch metadata, which the host never runs as code.

Build (``collect_compiled``): for every compiled variant the chosen Triton tactics ran at the opt shapes and their
chosen tuning points (tactics/tuning.py), the plan stores Triton's cache key (``hash``), the kernel's name, its
launch metadata (Triton's JSON, with any file path cut to its base name) and its binary (cubin for CUDA, hsaco for
ROCm). No shared object, Python file, IR or group index is ever stored.

Plan entry: ``{"hash": "<64 hex digits>", "name": "<kernel>", "files": [["<kernel>.json", blob], ["<kernel>.cubin",
blob]]}``, where ``<kernel>`` is the name Triton files the kernel under (its source function's name).

Load (``validate`` then ``install``): every field is checked before anything is written: ASCII identifier names,
the suffixes ``.json`` / ``.cubin`` / ``.hsaco`` / ``.ptx`` only (exactly one metadata file and one binary of the
metadata's backend), a binary that is an ELF image, metadata that is plain JSON data of bounded size and depth whose
``hash`` matches the entry, whose kernel name is an identifier and whose strings name no file or module, each blob used by at most one file,
and the bytes of all kernels together within the plan's size. The files are then written into inferrt's private
cache (``private_cache.py``: ``kernels-<uid>``, mode 0700, no link followed), in a directory named by inferrt from
the SHA-256 of the entry's content, as ``kernel.json`` / ``kernel.cubin`` (names never taken from the plan).

Triton finds them through ``PlanKernelCache``, installed as Triton's cache manager class: for the cache keys of
kernels loaded from plans in this process it returns exactly those files (the launch metadata and the binary, which
Triton loads through the CUDA driver); every other lookup, and every write, goes to the cache manager that was
configured before (Triton's own ``FileCacheManager`` by default). Nothing from a plan lands in Triton's shared cache
directory, and a planted entry can never answer for Triton's host modules (``cuda_utils``, launchers).
"""
from __future__ import annotations

import base64
import hashlib
import json
import keyword
import os
import re
import threading

from ..errors import PlanError
from . import private_cache

AREA = "kernels"
MAX_KERNELS = 4096
MAX_FILE_BYTES = 64 << 20
MAX_METADATA_BYTES = 256 << 10
MAX_METADATA_DEPTH = 8
MAX_METADATA_STRING = 4096
_HASH = re.compile(r"[0-9a-f]{64}\Z")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,149}\Z")
_BINARY = {"cuda": "cubin", "hip": "hsaco"}
_TEXT = ("ptx",)
_SUFFIXES = ("json", "cubin", "hsaco", "ptx")
_CODE_SUFFIXES = (".so", ".py", ".pyc", ".pyd", ".pyo", ".dll", ".dylib", ".exe", ".sh", ".pth", ".egg", ".whl")


# ---------------------------------------------------------------------------------------------------------- build
def _strip_paths(v):
    if isinstance(v, str):
        return v.replace("\\", "/").rsplit("/", 1)[-1] if ("/" in v or "\\" in v) else v
    if isinstance(v, list):
        return [_strip_paths(x) for x in v]
    if isinstance(v, dict):
        return {k: _strip_paths(x) for k, x in v.items()}
    return v


def _entry_of(compiled) -> dict | None:
    group = getattr(compiled, "metadata_group", None) or {}
    meta_key = next((c for c in group if c.endswith(".json") and not c.startswith("__grp__")), None)
    if meta_key is None:
        return None
    name = meta_key[:-len(".json")]   # the file name Triton looks the kernel up by (its source's name)
    with open(group[meta_key], "rb") as fh:
        meta = json.loads(fh.read().decode())
    backend = (meta.get("target") or {}).get("backend")
    ext = _BINARY.get(backend)
    binary = next((p for c, p in group.items() if ext and c.endswith(f".{ext}")), None)
    if binary is None or not _NAME.match(name):
        return None
    with open(binary, "rb") as fh:
        data = fh.read()
    meta = _strip_paths(meta)  # e.g. extern_libs' libdevice path: only read when compiling, never on a cache hit
    files = {"json": json.dumps(meta, sort_keys=True).encode(), ext: data}
    try:   # a kernel the loader would refuse is left out (the engine then compiles it on first use)
        _check_files(0, compiled.hash, name, files)
    except PlanError:
        return None
    return {"hash": compiled.hash, "name": name, "files": {f"{name}.{k}": b for k, b in files.items()}}


def collect(jit_fns) -> list[dict]:
    """Plan entries of every compiled variant of the Triton JIT functions ``jit_fns``."""
    return collect_compiled(compiled for fn in jit_fns for caches in getattr(fn, "device_caches", {}).values()
                            for compiled in caches[0].values())


def collect_compiled(kernels) -> list[dict]:
    """Plan entries ({"hash", "name", "files": {filename: bytes}}) of Triton compiled kernels, one per hash, in hash
    order."""
    entries = {}
    for compiled in kernels:
        if compiled.hash in entries:
            continue
        e = _entry_of(compiled)
        if e is not None:
            entries[compiled.hash] = e
    return [entries[k] for k in sorted(entries)]


def to_manifest(entries, blobs) -> list[dict]:
    """Manifest form of ``collect``'s entries, the file contents added to the plan's blobs."""
    return [{"hash": e["hash"], "name": e["name"], "files": [[f, blobs.add(b)] for f, b in sorted(e["files"].items())]}
            for e in entries]


# ---------------------------------------------------------------------------------------------------------- load
def _bad(i, msg):
    raise PlanError(f"corrupt plan: kernel entry {i}: {msg}; rebuild the plan with this inferrt")


def _check_metadata(i, meta, depth=0):
    if depth > MAX_METADATA_DEPTH:
        _bad(i, f"its launch metadata nests deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(meta, dict):
        for k, v in meta.items():
            if depth == 0 and not (k.isascii() and k.isidentifier() and not keyword.iskeyword(k)
                                   and not k.startswith("_")):
                _bad(i, f"launch metadata field {k[:40]!r} is not a plain identifier")
            if depth > 0 and not (isinstance(k, str) and len(k) <= 128 and k.isascii()):
                _bad(i, f"launch metadata key {k[:40]!r} is not a short ASCII string")
            _check_metadata(i, v, depth + 1)
    elif isinstance(meta, list):
        for v in meta:
            _check_metadata(i, v, depth + 1)
    elif isinstance(meta, str):
        if len(meta) > MAX_METADATA_STRING or not meta.isascii() or not meta.isprintable():
            _bad(i, f"launch metadata string {meta[:40]!r} is not short printable ASCII")
        if "/" in meta or "\\" in meta or meta.lower().endswith(_CODE_SUFFIXES):
            _bad(i, f"launch metadata string {meta[:60]!r} names a file or module (a plan carries kernel data only)")
    elif not (meta is None or isinstance(meta, (bool, int, float))):
        _bad(i, f"launch metadata holds a {type(meta).__name__}")


def _check_entry(i, e, blobs, used: set) -> tuple[str, str, dict[str, bytes]]:
    if not isinstance(e, dict) or set(e) != {"hash", "name", "files"}:
        _bad(i, "it must be an object with exactly the fields hash, name and files"
                + (" (this entry has the old 'dir' form)" if isinstance(e, dict) and "dir" in e else ""))
    h, name, files = e["hash"], e["name"], e["files"]
    if not (isinstance(h, str) and _HASH.match(h)):
        _bad(i, f"hash {str(h)[:80]!r} is not 64 lowercase hex digits")
    if not (isinstance(name, str) and _NAME.match(name)):
        _bad(i, f"kernel name {str(name)[:80]!r} is not an ASCII identifier of at most 150 characters")
    if not isinstance(files, list) or not 2 <= len(files) <= 3:
        _bad(i, "files must list the launch metadata, the binary and optionally the PTX")
    out: dict[str, bytes] = {}
    for f in files:
        if not (isinstance(f, list) and len(f) == 2 and isinstance(f[0], str)):
            _bad(i, f"file item {str(f)[:80]} must be [name, blob index]")
        fname, ref = f
        stem, dot, ext = fname.rpartition(".")
        if stem != name or not dot or ext not in _SUFFIXES:
            _bad(i, f"file name {fname[:80]!r} is not {name}.<{'|'.join(_SUFFIXES)}> (a plan carries kernel "
                    f"binaries and their metadata only)")
        if ext in out:
            _bad(i, f"file {fname!r} is listed twice")
        if not isinstance(ref, int) or isinstance(ref, bool) or ref in used:
            _bad(i, f"file {fname!r}: blob reference {str(ref)[:40]} is not an unused blob index (kernel files "
                    f"cannot share blobs)")
        used.add(ref)
        data = blobs.get(ref)
        if not isinstance(data, bytes):
            _bad(i, f"file {fname!r}: blob {ref} is a tensor, not raw bytes")
        limit = MAX_METADATA_BYTES if ext == "json" else MAX_FILE_BYTES
        if len(data) > limit:
            _bad(i, f"file {fname!r} has {len(data)} bytes, more than the {limit} allowed")
        out[ext] = data
    _check_files(i, h, name, out)
    return h, name, out


def _check_files(i, h: str, name: str, out: dict[str, bytes]) -> None:
    """The contents of one kernel's files ({suffix: bytes}) against its hash and name."""
    if "json" not in out:
        _bad(i, f"it has no launch metadata file {name}.json")
    try:
        meta = json.loads(out["json"].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        _bad(i, f"its launch metadata is not JSON ({type(err).__name__})")
    if not isinstance(meta, dict):
        _bad(i, "its launch metadata is not a JSON object")
    _check_metadata(i, meta)
    if meta.get("hash") != h:
        _bad(i, "its launch metadata belongs to another kernel (its hash differs from the entry's)")
    if not (isinstance(meta.get("name"), str) and _NAME.match(meta["name"])):
        _bad(i, f"its launch metadata has no kernel name that is an ASCII identifier ({str(meta.get('name'))[:60]})")
    target = meta.get("target")
    if not (isinstance(target, dict) and isinstance(target.get("backend"), str) and target["backend"] in _BINARY
            and isinstance(target.get("warp_size"), int) and isinstance(target.get("arch"), (int, str))):
        _bad(i, f"its launch metadata has no usable target ({str(target)[:80]})")
    if meta.get("ir_override") is not None:
        _bad(i, "its launch metadata names an IR override file")
    for k in ("num_warps", "num_ctas", "shared"):
        if k in meta and not (isinstance(meta[k], int) and not isinstance(meta[k], bool) and 0 <= meta[k] < 1 << 31):
            _bad(i, f"launch metadata field {k} is {str(meta[k])[:40]}, not a non-negative integer")
    binary = _BINARY[target["backend"]]
    if set(out) - {"json", binary, *_TEXT}:
        _bad(i, f"its files {sorted(out)} do not match its {target['backend']} target (expected json and {binary})")
    if not out.get(binary, b"").startswith(b"\x7fELF"):
        _bad(i, f"its {binary} binary is missing or not an ELF image")
    for ext in _TEXT:
        if ext in out and not out[ext].isascii():
            _bad(i, f"its {ext} file is not ASCII text")


def validate(entries, blobs, plan_size: int) -> list[tuple[str, str, dict[str, bytes]]]:
    """Checked (hash, name, {suffix: bytes}) of a manifest's ``kernels`` list; PlanError naming the entry."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise PlanError("corrupt plan: manifest field 'kernels' must be a list")
    if len(entries) > MAX_KERNELS:
        raise PlanError(f"corrupt plan: {len(entries)} kernel entries, more than the limit of {MAX_KERNELS}")
    used: set = set()
    out, seen, total = [], set(), 0
    for i, e in enumerate(entries):
        h, name, files = _check_entry(i, e, blobs, used)
        if h in seen:
            _bad(i, f"kernel {h} is listed twice")
        seen.add(h)
        total += sum(len(b) for b in files.values())
        if total > plan_size:
            _bad(i, f"the kernels hold {total} bytes, more than the plan's {plan_size} (limit: kernel bytes <= "
                    f"plan size)")
        out.append((h, name, files))
    return out


# ------------------------------------------------------------------------------------- the plan kernels' registry
class _Installed:
    """One kernel of a loaded plan in the private cache: the file names Triton asks for and where they are."""

    def __init__(self, name: str, paths: dict[str, str]):
        self.name = name
        self.paths = paths  # {"<name>.json": ".../kernel.json", "<name>.cubin": ".../kernel.cubin"}

    def group(self, filename: str):
        return dict(self.paths) if filename == f"{self.name}.json" and all(map(os.path.isfile, self.paths.values())) \
            else None


_LOCK = threading.Lock()
_REGISTRY: dict[str, _Installed] = {}   # base32 Triton cache key -> kernel


def hash_b32(h: str) -> str:
    return base64.b32encode(bytes.fromhex(h)).decode().rstrip("=")


def _content_dir(h: str, name: str, files: dict[str, bytes]) -> str:
    d = hashlib.sha256(f"inferrt-kernel\0{h}\0{name}".encode())
    for ext in sorted(files):
        d.update(f"\0{ext}\0{len(files[ext])}\0".encode())
        d.update(hashlib.sha256(files[ext]).digest())
    return d.hexdigest()[:40]


def entries_of(kernels) -> list[dict]:
    """``validate``'s checked kernels in the build's entry form ({"hash", "name", "files": {filename: bytes}}), which
    ``to_manifest`` writes into a plan again (refit/reserialize.py)."""
    return [{"hash": h, "name": name, "files": {f"{name}.{ext}": data for ext, data in files.items()}}
            for h, name, files in kernels]


def install(entries, blobs, plan_size: int) -> int:
    """Check the plan's kernels, write them into the private cache and let Triton find them; returns how many
    files had to be written (the rest were already there, byte for byte)."""
    return install_checked(validate(entries, blobs, plan_size))


def install_checked(kernels) -> int:
    """``install`` of kernels ``validate`` has checked."""
    if not kernels:
        return 0
    written = 0
    try:
        area = private_cache.open_area(AREA)
        try:
            where = private_cache.area_path(AREA)
            for h, name, files in kernels:
                sub = _content_dir(h, name, files)
                fd = private_cache.open_subdir(area, sub, where)
                try:
                    paths = {}
                    for ext, data in sorted(files.items()):
                        written += private_cache.ensure_file(fd, f"kernel.{ext}", data)
                        paths[f"{name}.{ext}"] = os.path.join(where, sub, f"kernel.{ext}")
                finally:
                    os.close(fd)
                with _LOCK:
                    _REGISTRY.setdefault(hash_b32(h), _Installed(name, paths))
        finally:
            os.close(area)
    except (private_cache.CacheDirError, OSError) as e:
        raise PlanError(f"cannot install the plan's GPU kernels: {e}") from None
    _activate()
    return written


def lookup(key_b32: str):
    with _LOCK:
        return _REGISTRY.get(key_b32)


# ------------------------------------------------------------------------------------------- Triton's cache hook
def manager_class(fallback=None):
    """A Triton ``CacheManager`` class serving the kernels of loaded plans and delegating everything else to
    ``fallback`` (Triton's ``FileCacheManager`` when None)."""
    from triton.runtime.cache import CacheManager, FileCacheManager

    base = fallback or FileCacheManager

    class PlanKernelCache(CacheManager):
        inferrt_fallback = base

        def __init__(self, key, override=False, dump=False):
            self.key = key
            self._args = (key, override, dump)
            self._plan = None if (override or dump) else lookup(key)
            self._fb = None

        def _fallback(self):
            if self._fb is None:
                key, override, dump = self._args
                self._fb = base(key, override=override, dump=dump)
            return self._fb

        def get_file(self, filename):
            if self._plan is not None and filename in self._plan.paths and os.path.isfile(self._plan.paths[filename]):
                return self._plan.paths[filename]
            return self._fallback().get_file(filename)

        def get_group(self, filename):
            if self._plan is not None:
                group = self._plan.group(filename)
                if group is not None:
                    return group
            return self._fallback().get_group(filename)

        def put(self, data, filename, binary=True):
            return self._fallback().put(data, filename, binary=binary)

        def put_group(self, filename, group):
            return self._fallback().put_group(filename, group)

    PlanKernelCache.__qualname__ = PlanKernelCache.__name__
    return PlanKernelCache


def _activate() -> None:
    """Make Triton look up plan kernels through ``PlanKernelCache`` (once; the configured manager stays the
    fallback)."""
    try:
        from triton import knobs
    except ImportError:  # no Triton: nothing can launch these kernels
        return
    with _LOCK:
        current = knobs.cache.manager_class
        if getattr(current, "inferrt_fallback", None) is None:
            knobs.cache.manager_class = manager_class(current)
