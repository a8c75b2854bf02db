"""The calibration cache: what calibration measured, in JSON, so quantizing again (other output options, a rebuilt
engine) skips the calibration runs.

    {"format": "inferrt.calibration_cache", "version": 1,
     "model_sha256": "<digest of the FP32 model as given>",
     "options": {"quantize_mode": "int8", "calibration_method": "entropy", ...},   # QuantizeOptions.range_key()
     "amax": {"<activation>": 3.25, ...},             # INT8/FP8 activation ranges
     "smoothquant": {"<activation>": [s_0, ...]},     # SmoothQuant scales, when used
     "awq": {"<node>": [s_0, ...]}}                   # AWQ-lite scales, int4_awq

A cache is reused only for the model it was made from (same digest) and the same range options; otherwise it is
refused with an error that says what differs and how to recalibrate. (TensorRT 11 writes no calibration caches; its
TensorRT 10 calibrators wrote an opaque per-tensor scale file.)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os

from ..errors import BuildError

FORMAT = "inferrt.calibration_cache"
VERSION = 1


@dataclasses.dataclass
class CalibrationCache:
    model_sha256: str
    options: dict
    amax: dict = dataclasses.field(default_factory=dict)
    smoothquant: dict = dataclasses.field(default_factory=dict)
    awq: dict = dataclasses.field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "version": VERSION, "model_sha256": self.model_sha256,
                           "options": self.options, "amax": self.amax, "smoothquant": self.smoothquant,
                           "awq": self.awq}, indent=1, sort_keys=True)

    def save(self, path) -> None:
        tmp = os.fspath(path) + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.to_json())
        os.replace(tmp, path)


def model_digest(model) -> str:
    """sha256 of the model's deterministic serialization (graph, weights and opsets)."""
    return hashlib.sha256(model.SerializeToString(deterministic=True)).hexdigest()


def _floats(value, where) -> list:
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0
                                              for v in value):
        raise BuildError(f"{where} must be a list of positive numbers")
    return [float(v) for v in value]


def load(path) -> CalibrationCache:
    path = os.fspath(path)
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise BuildError(f"cannot read calibration cache {path!r} ({type(e).__name__}: {e}); delete it to "
                         f"calibrate again") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BuildError(f"{path!r} is not an inferrt calibration cache (no \"format\": \"{FORMAT}\"); pass another "
                         f"path or delete the file to calibrate again")
    if data.get("version") != VERSION:
        raise BuildError(f"calibration cache {path!r} has version {data.get('version')!r}, this inferrt reads "
                         f"version {VERSION}; delete it to calibrate again")
    amax = data.get("amax", {})
    if not isinstance(amax, dict) or not all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0
                                             for v in amax.values()):
        raise BuildError(f"calibration cache {path!r}: \"amax\" must map tensor names to finite numbers >= 0")
    sq = {k: _floats(v, f"calibration cache {path!r}: smoothquant[{k!r}]")
          for k, v in (data.get("smoothquant") or {}).items()}
    awq = {k: _floats(v, f"calibration cache {path!r}: awq[{k!r}]") for k, v in (data.get("awq") or {}).items()}
    if not isinstance(data.get("model_sha256"), str) or not isinstance(data.get("options"), dict):
        raise BuildError(f"calibration cache {path!r} lacks \"model_sha256\" or \"options\"; delete it to calibrate "
                         f"again")
    return CalibrationCache(data["model_sha256"], data["options"], {k: float(v) for k, v in amax.items()}, sq, awq)


def check(cache: CalibrationCache, path, digest: str, options: dict) -> None:
    """Refuse a cache made for another model or with other range options."""
    if cache.model_sha256 != digest:
        raise BuildError(f"calibration cache {os.fspath(path)!r} was made for a different model (sha256 "
                         f"{cache.model_sha256[:12]}..., this model is {digest[:12]}...): its ranges do not apply. "
                         f"Delete the cache or pass another calibration_cache path to calibrate this model again")
    diff = [f"{k}: cache {cache.options.get(k)!r}, now {v!r}" for k, v in options.items() if cache.options.get(k) != v]
    diff += [f"{k}: cache {v!r}, now not set" for k, v in cache.options.items() if k not in options]
    if diff:
        raise BuildError(f"calibration cache {os.fspath(path)!r} was made with other options ({'; '.join(diff)}); "
                         f"quantize with the cache's options, or delete the cache or pass another path to "
                         f"calibrate again")


def require(cache: CalibrationCache, path, field: str, names) -> None:
    table = getattr(cache, field)
    missing = [n for n in names if n not in table]
    if missing:
        raise BuildError(f"calibration cache {os.fspath(path)!r} has no {field} entry for {missing[0]!r}"
                         f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}: it was made with "
                         f"other nodes quantized (nodes_to_exclude / op_types_to_exclude); delete it or pass "
                         f"another path to calibrate again")
