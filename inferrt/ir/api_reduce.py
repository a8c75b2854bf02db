"""Network API for the reduction family (ops/reduce.py) beyond the core ``add_reduce`` / ``add_softmax``: the
inferrt extensions ``add_arg_reduce`` (ArgMax/ArgMin), ``add_hardmax`` and ``add_onnx_reduce``."""
from __future__ import annotations

from .layer import layer_class
from .network import network_method


IArgReduceLayer = layer_class("IArgReduceLayer", "onnx_arg_reduce")
IHardmaxLayer = layer_class("IHardmaxLayer", "onnx_hardmax")
IOnnxReduceLayer = layer_class("IOnnxReduceLayer", "onnx_reduce")


@network_method
def add_arg_reduce(self, input, op: str, axis: int, keep_dims: bool = True,  # noqa: A002
                   select_last_index: bool = False):
    """INT64 index of the MAX or MIN along ``axis`` (first occurrence unless ``select_last_index``)."""
    return self._add("onnx_arg_reduce", [input], {"op": str(op).upper(), "axis": int(axis),
                                                   "keep_dims": bool(keep_dims),
                                                   "select_last_index": bool(select_last_index)})


@network_method
def add_hardmax(self, input, axis: int = -1):  # noqa: A002
    """One-hot of the first maximum along ``axis``."""
    return self._add("onnx_hardmax", [input], {"axis": int(axis)})


@network_method
def add_onnx_reduce(self, input, op: str, axes=None, keep_dims: bool = True,  # noqa: A002
                    noop_with_empty_axes: bool = False):
    """ONNX reduction (SUM PROD MAX MIN AVG L1 L2 LOG_SUM LOG_SUM_EXP SUM_SQUARE). ``axes``: a list of ints or a 1-D
    INT64 ITensor (runtime axes)."""
    attrs = {"op": str(op).upper(), "keep_dims": bool(keep_dims), "noop_with_empty_axes": bool(noop_with_empty_axes)}
    inputs = [input]
    if axes is not None and hasattr(axes, "_network"):
        inputs.append(axes)
    else:
        attrs["axes"] = tuple(int(v) for v in (axes or ()))
    return self._add("onnx_reduce", inputs, attrs)
