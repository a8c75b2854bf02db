"""Network API for the ONNX math layers TensorRT lacks (see ``inferrt/ops/onnx_math.py``).

These are inferrt extensions (not TensorRT names); the ONNX importers use them for Mod, BitShift, Bitwise*,
ArgMax/ArgMin and Hardmax.
"""
from __future__ import annotations

from .layer import layer_class
from .network import network_method

IOnnxBinaryLayer = layer_class("IOnnxBinaryLayer", "onnx_binary")
IOnnxUnaryLayer = layer_class("IOnnxUnaryLayer", "onnx_unary")
IArgReduceLayer = layer_class("IArgReduceLayer", "onnx_arg_reduce")
IHardmaxLayer = layer_class("IHardmaxLayer", "onnx_hardmax")


@network_method
def add_onnx_binary(self, input1, input2, op: str):
    """MOD, FMOD, BITSHIFT_LEFT, BITSHIFT_RIGHT, BITWISE_AND, BITWISE_OR or BITWISE_XOR of two same-rank tensors."""
    return self._add("onnx_binary", [input1, input2], {"op": str(op).upper()})


@network_method
def add_onnx_unary(self, input, op: str):  # noqa: A002
    """BITWISE_NOT of an integer or BOOL tensor."""
    return self._add("onnx_unary", [input], {"op": str(op).upper()})


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


IOnnxReduceLayer = layer_class("IOnnxReduceLayer", "onnx_reduce")


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
