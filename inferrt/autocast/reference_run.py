"""Run the FP32 model in onnxruntime on the calibration feeds and record each value's largest magnitude, shape and
element type (the run itself is ``inferrt.calibration.capture``, shared with the quantizer).

Only statistics are kept between feeds, so memory stays near one inference with all its intermediates.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from onnx import helper

from ..calibration.capture import OrtRunner, capture


@dataclasses.dataclass
class ValueStats:
    max_abs: float          # largest |x| over every feed (inf when a value overflowed; NaNs ignored)
    shape: tuple            # the shape in the first feed
    elem_type: int          # TensorProto elem type


def _stats(arr: np.ndarray) -> float:
    if arr.size == 0 or arr.dtype.kind != "f":
        return 0.0
    a = np.abs(arr.astype(np.float64, copy=False))
    a = a[~np.isnan(a)]
    return float(a.max()) if a.size else 0.0


def _merge(stats: dict, name: str, arr: np.ndarray) -> None:
    m = _stats(arr)
    old = stats.get(name)
    if old is None:
        try:
            elem = helper.np_dtype_to_tensor_dtype(arr.dtype)
        except (KeyError, TypeError, ValueError):
            elem = 0   # strings and other non-numeric values: no range to check
        stats[name] = ValueStats(m, tuple(arr.shape), elem)
    else:
        old.max_abs = max(old.max_abs, m)


def measure(model, feeds: list) -> dict:
    """value name -> ValueStats for every graph input and top-level node output onnxruntime computes."""
    runner = OrtRunner(model, None, tool="autocast")
    stats: dict = {}
    for values in capture(runner, feeds):
        for name, arr in values.items():
            if isinstance(arr, np.ndarray):
                _merge(stats, name, arr)
    return stats
