"""Run the FP32 model in onnxruntime on the calibration feeds and record each value's largest magnitude, shape and
element type.

Every top-level node output becomes a graph output of a copy of the model, so one run per feed returns them all
(onnxruntime's graph optimizations are off: each value is computed as the model writes it). Only statistics are
kept between feeds, so memory stays near one inference with all its intermediates.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from onnx import helper

from ..errors import BuildError
from ..onnx.model_tools import first_line


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
    try:
        import onnxruntime as ort
    except ImportError:
        raise BuildError("autocast measures value ranges with onnxruntime, which is not installed; "
                         "pip install onnxruntime") from None
    import onnx

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    have = {o.name for o in probe.graph.output}
    inputs = {i.name for i in probe.graph.input}
    for n in probe.graph.node:
        for name in n.output:
            if name and name not in have and name not in inputs:
                probe.graph.output.append(onnx.ValueInfoProto(name=name))   # onnxruntime types it
                have.add(name)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    try:
        session = ort.InferenceSession(probe.SerializeToString(), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise BuildError(f"onnxruntime cannot load the FP32 model to measure its value ranges: {first_line(e)}; "
                         f"the model must run in onnxruntime for autocast to calibrate it") from None
    names = [o.name for o in session.get_outputs()]
    stats: dict = {}
    for k, feed in enumerate(feeds):
        try:
            outs = session.run(names, feed)
        except Exception as e:  # noqa: BLE001
            raise BuildError(f"onnxruntime failed to run the FP32 model on calibration feed {k}: {first_line(e)}; "
                             f"check the calibration data's shapes and values") from None
        for name, arr in feed.items():
            _merge(stats, name, np.asarray(arr))
        for name, arr in zip(names, outs):
            if isinstance(arr, np.ndarray):
                _merge(stats, name, arr)
    return stats
