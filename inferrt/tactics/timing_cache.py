"""ITimingCache: tactic timings keyed by layer signature, shapes, dtypes, memory layouts, device, tactic versions and
the versions of the libraries whose kernels were timed (``library_versions``).

Serialized as a small framed JSON document (magic, version, JSON); a cache whose device differs is refused
unless ``ignore_mismatch`` is set. Entries recorded under other library versions are kept but never match: their
keys differ, so a rebuild under a new PyTorch, cuDNN, CUDA, cuBLAS or Triton times again instead of replaying.

An entry is ``{"tactic": name, "ms": time, "config": point}``: ``config`` is the chosen point of the tactic's
tuning space (``{name: value}``, tactics/tuning.py), null for a tactic without tunable parameters. Caches written
before tuning spaces have null everywhere and load unchanged; a ``config`` that is neither null nor an object of
named scalar values is refused as corrupt, naming the entry.
"""
from __future__ import annotations

import functools
import json
import threading

from ..interface import ContextManaged

MAGIC = b"IRTTC1\x00\x00"


@functools.lru_cache(maxsize=1)
def library_versions() -> str:
    """The versions of the kernel libraries a timing depends on, once per process: PyTorch, cuDNN, the CUDA
    toolkit PyTorch was built with, cuBLAS (``cublas_version``), Triton; ``none`` for one that is absent."""
    import torch

    try:
        import triton
        triton_version = getattr(triton, "__version__", None)
    except ImportError:
        triton_version = None
    parts = {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(), "cuda": torch.version.cuda,
             "cublas": cublas_version(torch.version.cuda), "triton": triton_version}
    return ";".join(f"{k}={'none' if v is None else v}" for k, v in parts.items())


def cublas_version(cuda: str | None) -> str | None:
    """The version of the cuBLAS wheel a pip-installed PyTorch built for CUDA ``cuda`` loads (``nvidia-cublas-cu11``,
    ``nvidia-cublas-cu12``, ``nvidia-cublas`` from CUDA 13): it is installed and upgraded apart from PyTorch, so
    the toolkit version alone does not tell it. None without CUDA or without the wheel (a PyTorch that uses the
    toolkit's own cuBLAS, whose version ``cuda`` gives)."""
    from importlib import metadata

    if not cuda:
        return None
    major = int(cuda.split(".")[0])
    try:
        return metadata.version("nvidia-cublas" if major >= 13 else f"nvidia-cublas-cu{major}")
    except metadata.PackageNotFoundError:
        return None


def _point(key, config):
    """A deserialized entry's tuning point: null or {name: bool/int/float/str}; anything else raises TypeError."""
    if config is None:
        return None
    if not (isinstance(config, dict) and all(isinstance(k, str) and isinstance(v, (bool, int, float, str))
                                             for k, v in config.items())):
        raise TypeError(f"entry {key}: its tuning point (config) must be null or an object of named bool/int/float/"
                        f"string values, got {json.dumps(config)[:200]}")
    return config


class TimingCacheKey(str):
    @classmethod
    def parse(cls, s: str):
        return cls(s)


class TimingCacheValue:
    def __init__(self, tacticHash: str = "", timingMSec: float = 0.0):  # noqa: N803 - TensorRT's names
        self.tacticHash = tacticHash
        self.timingMSec = float(timingMSec)


class ITimingCache(ContextManaged):
    def __init__(self, entries=None, device=None):
        self._entries: dict[str, dict] = dict(entries or {})
        self.device = device
        self._lock = threading.Lock()

    @classmethod
    def deserialize(cls, data: bytes) -> "ITimingCache":
        if not data:
            return cls()
        if not data.startswith(MAGIC):
            raise ValueError("not an inferrt timing cache (bad magic); pass b'' to start an empty cache")
        try:
            j = json.loads(data[len(MAGIC):].decode())
            entries = {str(k): {"tactic": str(v["tactic"]), "ms": float(v["ms"]),
                                "config": _point(k, v.get("config"))} for k, v in j["entries"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"corrupt timing cache: {e}") from None
        return cls(entries, j.get("device"))

    def serialize(self) -> bytes:
        with self._lock:
            doc = {"device": self.device, "entries": dict(sorted(self._entries.items()))}
        return MAGIC + json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    def combine(self, input_cache: "ITimingCache", ignore_mismatch: bool = False) -> bool:
        if (self.device and input_cache.device and self.device != input_cache.device) and not ignore_mismatch:
            return False
        with self._lock:
            for k, v in input_cache._entries.items():
                self._entries.setdefault(k, v)
            self.device = self.device or input_cache.device
        return True

    def reset(self) -> bool:
        with self._lock:
            self._entries.clear()
        return True

    # editable-cache API (TensorRT 10)
    def queryKeys(self):  # noqa: N802
        return [TimingCacheKey(k) for k in sorted(self._entries)]

    def query(self, key):
        e = self._entries.get(str(key))
        return TimingCacheValue(e["tactic"], e["ms"]) if e else TimingCacheValue()

    def update(self, key, value: TimingCacheValue) -> bool:
        """Replace an entry; its tuning point is kept while the tactic stays the same (TimingCacheValue has no
        field for it), otherwise the new tactic runs at its first point."""
        with self._lock:
            old = self._entries.get(str(key))
            point = old["config"] if old is not None and old["tactic"] == value.tacticHash else None
            self._entries[str(key)] = {"tactic": value.tacticHash, "ms": value.timingMSec, "config": point}
        return True

    # inferrt's own accessors used by the autotuner
    def lookup(self, key: str):
        return self._entries.get(key)

    def record(self, key: str, tactic: str, ms: float, config: dict | None = None) -> None:
        """Remember ``tactic`` at tuning point ``config`` (None: a tactic without tunable parameters)."""
        with self._lock:
            point = None if config is None else dict(config)
            self._entries[key] = {"tactic": tactic, "ms": float(ms), "config": point}

    def __len__(self):
        return len(self._entries)
