"""Network API for the elementwise family (ops/elementwise.py) beyond the core ``add_elementwise`` / ``add_unary``:
``add_select`` (TensorRT 10) and the inferrt extensions ``add_onnx_binary`` / ``add_onnx_unary`` (ONNX Mod,
BitShift, Bitwise*)."""
from __future__ import annotations

from .layer import layer_class
from .network import network_method


IOnnxBinaryLayer = layer_class("IOnnxBinaryLayer", "onnx_binary")
IOnnxUnaryLayer = layer_class("IOnnxUnaryLayer", "onnx_unary")
ISelectLayer = layer_class("ISelectLayer", "select")


@network_method
def add_onnx_binary(self, input1, input2, op: str):
    """MOD, FMOD, BITSHIFT_LEFT, BITSHIFT_RIGHT, BITWISE_AND, BITWISE_OR or BITWISE_XOR of two same-rank tensors."""
    return self._add("onnx_binary", [input1, input2], {"op": str(op).upper()})


@network_method
def add_onnx_unary(self, input, op: str):  # noqa: A002
    """BITWISE_NOT of an integer or BOOL tensor."""
    return self._add("onnx_unary", [input], {"op": str(op).upper()})


@network_method
def add_select(self, condition, then_input, else_input):
    """Elementwise ``condition ? then_input : else_input`` with broadcasting of size-1 dimensions."""
    return self._add("select", [condition, then_input, else_input])
