"""Plan file layout (all integers little-endian)::

    offset  size  field
    0       8     magic b"INFERRT\\x00"
    8       4     format version (u32)
    12      4     header size (u32) = 96
    16      8     manifest offset (u64)     24  8  manifest length (u64)
    32      8     blob section offset (u64) 40  8  blob section length (u64)
    48      8     total file length (u64)
    56      32    SHA-256 of bytes [0, 56) + [96, total)
    88      8     reserved (zero)
    96      ...   manifest (UTF-8 JSON), then zero padding, then the blob section (each blob 256-byte aligned)

The manifest lists every blob (offset within the blob section, length, dtype, shape); the reader checks magic,
version, lengths, checksum, then each blob's bounds, before any JSON is trusted. JSON is data, never code.
"""
from __future__ import annotations

import hashlib
import json
import math
import struct

import numpy as np

from ..errors import PlanError
from . import limits, schema

MAGIC = b"INFERRT\x00"
FORMAT_VERSION = 1
HEADER = struct.Struct("<8sII5Q32s8s")
HEADER_SIZE = HEADER.size  # 96
BLOB_ALIGN = 256
MAX_MANIFEST = limits.MAX_MANIFEST
_DTYPES = {"float32", "float16", "int8", "int32", "int64", "bool", "uint8", "bfloat16", "float8_e4m3fn", "bytes",
           "float8_e5m2", "float8_e8m0fnu", "int4", "uint4", "float4_e2m1fn"}
#: blob dtypes numpy lacks, read back as torch tensors (torch has the type) ...
_TORCH_BLOBS = ("bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e8m0fnu")
#: ... or as ml_dtypes arrays (4-bit types: one element a byte, as dtypes.py holds them)
_ML_BLOBS = ("int4", "uint4", "float4_e2m1fn")


def _digest(head: bytes, body) -> bytes:
    h = hashlib.sha256()
    h.update(head)
    h.update(body)
    return h.digest()


class BlobWriter:
    """Collects arrays (and raw byte strings) for the blob section; ``add`` returns the blob's index."""

    def __init__(self):
        self.items: list = []
        self._ids: dict[int, int] = {}

    def add(self, arr) -> int:
        key = id(arr)
        if key in self._ids and self.items[self._ids[key]] is arr:
            return self._ids[key]
        self.items.append(arr)
        self._ids[key] = len(self.items) - 1
        return len(self.items) - 1


def _dtype_name(arr) -> str:
    if isinstance(arr, (bytes, bytearray)):
        return "bytes"
    name = str(arr.dtype).removeprefix("torch.")
    if name not in _DTYPES:
        raise TypeError(f"cannot store arrays of dtype {name} in a plan")
    return name


def write_plan(manifest: dict, blobs: BlobWriter) -> bytes:
    """Lay the file out first, then copy every blob once into one preallocated buffer."""
    table, raws, pos = [], [], 0
    for arr in blobs.items:
        if isinstance(arr, (bytes, bytearray)):
            raw = memoryview(arr).cast("B")
        elif hasattr(arr, "numpy") and not isinstance(arr, np.ndarray):  # torch tensor (bfloat16 weights)
            raw = memoryview(arr.contiguous().reshape(-1).view(__import__("torch").uint8).numpy())
        else:
            raw = memoryview(np.ascontiguousarray(arr).reshape(-1).view(np.uint8))  # also for zero-size arrays
        pos += (-pos) % BLOB_ALIGN
        table.append({"offset": pos, "nbytes": raw.nbytes, "dtype": _dtype_name(arr),
                      "shape": [] if isinstance(arr, (bytes, bytearray)) else [int(d) for d in arr.shape]})
        raws.append((pos, raw))
        pos += raw.nbytes
    manifest = {**manifest, schema.BLOBS: table}
    mbytes = json.dumps(manifest, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()
    m_off = HEADER_SIZE
    b_off = m_off + len(mbytes)
    b_off += (-b_off) % BLOB_ALIGN
    total = b_off + pos
    out = bytearray(total)
    out[m_off:m_off + len(mbytes)] = mbytes
    for off, raw in raws:
        out[b_off + off:b_off + off + raw.nbytes] = raw
    head = HEADER.pack(MAGIC, FORMAT_VERSION, HEADER_SIZE, m_off, len(mbytes), b_off, pos, total, b"\x00" * 32,
                       b"\x00" * 8)
    out[:HEADER_SIZE] = head
    out[56:88] = _digest(head[:56], memoryview(out)[HEADER_SIZE:])
    return bytes(out)


class BlobReader:
    """Read-only views of the blobs of a verified plan."""

    def __init__(self, data: memoryview, base: int, table: list, section_bytes: int = 0):
        self._data = data
        self._base = base
        self._table = table
        self._budget = limits.BlobBudget(section_bytes)

    def __len__(self):
        return len(self._table)

    def get(self, index):
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(self._table):
            raise PlanError(f"corrupt plan: blob reference {index!r} is out of range (plan has {len(self._table)})")
        e = self._table[index]
        self._budget.take(e["nbytes"])
        raw = self._data[self._base + e["offset"]: self._base + e["offset"] + e["nbytes"]]
        if e["dtype"] == "bytes":
            return bytes(raw)
        import torch

        if e["dtype"] in _ML_BLOBS:
            import ml_dtypes

            return np.frombuffer(raw, dtype=getattr(ml_dtypes, e["dtype"])).reshape(e["shape"]).copy()
        if e["dtype"] in _TORCH_BLOBS:
            t = torch.frombuffer(bytearray(raw), dtype=getattr(torch, e["dtype"])) if e["nbytes"] else \
                torch.empty(0, dtype=getattr(torch, e["dtype"]))
            return t.reshape(e["shape"])
        arr = np.frombuffer(raw, dtype=np.dtype(e["dtype"])).reshape(e["shape"])
        return arr.copy()


def read_plan(data) -> tuple[dict, BlobReader]:
    """Verify a plan's framing and checksum and return its manifest and blobs. Raises PlanError."""
    try:
        mv = memoryview(data).cast("B")
    except TypeError:
        raise PlanError(f"a plan must be bytes-like (bytes, bytearray, memoryview, IHostMemory), "
                        f"got {type(data).__name__}") from None
    n = len(mv)
    if n < HEADER_SIZE:
        raise PlanError(f"not an inferrt plan: {n} bytes is shorter than the {HEADER_SIZE}-byte header "
                        f"(the file is truncated or empty)")
    magic, version, hsize, m_off, m_len, b_off, b_len, total, digest, reserved = HEADER.unpack(
        bytes(mv[:HEADER_SIZE]))
    if magic != MAGIC:
        raise PlanError(f"not an inferrt plan: magic is {magic!r}, expected {MAGIC!r} "
                        f"(is this an ONNX model or a TensorRT engine? build a plan with inferrt first)")
    if version != FORMAT_VERSION:
        raise PlanError(f"plan format version {version} is not supported: this inferrt reads format "
                        f"version {FORMAT_VERSION}; rebuild the plan with this inferrt")
    if hsize != HEADER_SIZE:
        raise PlanError(f"corrupt plan: header size {hsize}, expected {HEADER_SIZE}")
    if reserved != b"\x00" * 8:
        raise PlanError("corrupt plan: the reserved header bytes 88..95 are not zero (the header was damaged)")
    if total != n:
        raise PlanError(f"corrupt plan: header says {total} bytes but {n} were given "
                        f"({'truncated' if n < total else 'trailing bytes'}); copy the plan again")
    if not (m_off == HEADER_SIZE and 0 < m_len and m_off + m_len <= b_off
            and b_off % BLOB_ALIGN == 0 and b_off + b_len == n):
        raise PlanError("corrupt plan: section offsets and lengths are inconsistent")
    if _digest(bytes(mv[:56]), mv[HEADER_SIZE:]) != digest:
        raise PlanError("corrupt plan: checksum mismatch (the file was modified or damaged); rebuild or copy it again")
    limits.check_manifest_size(m_len)
    try:
        manifest = json.loads(bytes(mv[m_off:m_off + m_len]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise PlanError(f"corrupt plan: manifest is not valid JSON ({type(e).__name__}: {e})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get(schema.BLOBS), list):
        raise PlanError("corrupt plan: manifest must be an object with a 'blobs' list")
    limits.check_manifest(manifest, n)
    table = manifest[schema.BLOBS]
    for i, e in enumerate(table):
        if not (isinstance(e, dict) and isinstance(e.get("offset"), int) and isinstance(e.get("nbytes"), int)
                and isinstance(e.get("dtype"), str) and e["dtype"] in _DTYPES and isinstance(e.get("shape"), list)
                and all(isinstance(d, int) and d >= 0 for d in e["shape"])):
            raise PlanError(f"corrupt plan: blob {i} entry is malformed")
        if e["offset"] < 0 or e["nbytes"] < 0 or e["offset"] + e["nbytes"] > b_len:
            raise PlanError(f"corrupt plan: blob {i} lies outside the blob section")
        if e["dtype"] != "bytes":
            item = 2 if e["dtype"] in ("bfloat16", "float16") else 1 if e["dtype"] in (
                "int8", "uint8", "bool", *_TORCH_BLOBS[1:], *_ML_BLOBS) else np.dtype(e["dtype"]).itemsize
            if math.prod(e["shape"]) * item != e["nbytes"]:
                raise PlanError(f"corrupt plan: blob {i} shape {e['shape']} does not match its {e['nbytes']} bytes")
    return manifest, BlobReader(mv, b_off, table, b_len)
