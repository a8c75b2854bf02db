"""Elementwise ops: ElementWise (every op, numpy broadcasting), Unary (every op), Select, and the ONNX-only
integer/bitwise ops.

* ``onnx_binary`` (op = MOD | FMOD | BITSHIFT_LEFT | BITSHIFT_RIGHT | BITWISE_AND | BITWISE_OR | BITWISE_XOR):
  same-rank inputs of one dtype, broadcast over size-1 dims (as the elementwise layer).
  MOD takes the sign of the divisor (Python ``%``), FMOD the sign of the dividend (C ``fmod``).
* ``onnx_unary`` (op = BITWISE_NOT).
"""
from __future__ import annotations

import torch

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..enums import DataType, ElementWiseOperation as EW, LayerType, UnaryOperation as U
from .base import Choice, Enum, OpDef, OpError, Spec, broadcast_shapes, register, spec_like


def _div(a, b):
    if a.is_floating_point():
        return torch.div(a, b)
    return torch.div(a, b, rounding_mode="trunc")


def _pow(a, b):
    if not a.is_floating_point():
        return torch.pow(a, b).to(a.dtype)
    return torch.pow(a, b)


#: ElementWiseOperation -> f(a, b); shared with the pointwise fusion.
BINARY = {
    EW.SUM: torch.add, EW.PROD: torch.mul, EW.MAX: torch.maximum, EW.MIN: torch.minimum, EW.SUB: torch.sub,
    EW.DIV: _div, EW.POW: _pow, EW.FLOOR_DIV: lambda a, b: torch.div(a, b, rounding_mode="floor"),
    EW.AND: torch.logical_and, EW.OR: torch.logical_or, EW.XOR: torch.logical_xor, EW.EQUAL: torch.eq,
    EW.GREATER: torch.gt, EW.LESS: torch.lt,
}
_BOOL_OUT = {EW.AND, EW.OR, EW.XOR, EW.EQUAL, EW.GREATER, EW.LESS}
_BOOL_IN = {EW.AND, EW.OR, EW.XOR}


@register
class ElementWise(OpDef):
    kind = "elementwise"
    layer_type = LayerType.ELEMENTWISE
    attrs = {"op": (Enum(EW), EW.SUM)}
    inputs = ("input1", "input2")
    min_inputs = 2
    pointwise = True

    def infer(self, a, ins):
        x, y = ins
        if x.dtype != y.dtype:
            raise OpError(f"inputs have different types ({x.dtype.name} and {y.dtype.name}); "
                          f"add a cast layer so both have the same type")
        if a.op in _BOOL_IN and x.dtype != DataType.BOOL:
            raise OpError(f"{a.op.name} needs BOOL inputs, got {x.dtype.name}")
        if a.op not in _BOOL_IN and x.dtype == DataType.BOOL and a.op not in (EW.EQUAL,):
            raise OpError(f"{a.op.name} does not accept BOOL inputs")
        if x.shape is None or y.shape is None:
            return [Spec(DataType.BOOL if a.op in _BOOL_OUT else x.dtype, None)]
        if len(x.shape) != len(y.shape):
            raise OpError(f"inputs have different ranks ({len(x.shape)} and {len(y.shape)}); TensorRT's "
                          f"elementwise layer broadcasts only dimensions of size 1: unsqueeze the smaller input")
        shape = broadcast_shapes(x.shape, y.shape)
        return [Spec(DataType.BOOL if a.op in _BOOL_OUT else x.dtype, shape)]

    def run(self, a, ins, outs):
        x, y = ins
        f = BINARY[a.op]
        if f in (torch.add, torch.mul, torch.sub, torch.maximum, torch.minimum) and outs[0].dtype == x.dtype:
            f(x, y, out=outs[0])
            return None
        return [f(x, y)]


def _round(x):
    return torch.round(x) if x.is_floating_point() else x


#: UnaryOperation -> f(x); shared with the pointwise fusion.
UNARY = {
    U.EXP: torch.exp, U.LOG: torch.log, U.SQRT: torch.sqrt, U.RECIP: torch.reciprocal, U.ABS: torch.abs,
    U.NEG: torch.neg, U.SIN: torch.sin, U.COS: torch.cos, U.TAN: torch.tan, U.SINH: torch.sinh,
    U.COSH: torch.cosh, U.ASIN: torch.asin, U.ACOS: torch.acos, U.ATAN: torch.atan, U.ASINH: torch.asinh,
    U.ACOSH: torch.acosh, U.ATANH: torch.atanh, U.CEIL: lambda x: torch.ceil(x) if x.is_floating_point() else x,
    U.FLOOR: lambda x: torch.floor(x) if x.is_floating_point() else x, U.ERF: torch.erf,
    U.NOT: torch.logical_not, U.SIGN: torch.sign, U.ROUND: _round, U.ISINF: torch.isinf, U.ISNAN: torch.isnan,
}
_FLOAT_ONLY = set(UNARY) - {U.ABS, U.NEG, U.SIGN, U.NOT, U.ISINF, U.ISNAN, U.CEIL, U.FLOOR, U.ROUND}


@register
class Unary(OpDef):
    kind = "unary"
    layer_type = LayerType.UNARY
    attrs = {"op": (Enum(U), U.EXP)}
    pointwise = True

    def infer(self, a, ins):
        x = ins[0]
        if a.op is U.NOT and x.dtype != DataType.BOOL:
            raise OpError(f"NOT needs a BOOL input, got {x.dtype.name}")
        if a.op in _FLOAT_ONLY and x.dtype not in _FLOATS:
            raise OpError(f"{a.op.name} needs a floating-point input, got {x.dtype.name}; add a cast layer")
        dt = DataType.BOOL if a.op in (U.ISINF, U.ISNAN) else x.dtype
        return [spec_like(x, dtype=dt)]

    def run(self, a, ins, outs):
        return [UNARY[a.op](ins[0])]


_INTS = (DataType.INT8, DataType.UINT8, DataType.INT32, DataType.INT64)


def _mod(a, b):
    if a.is_floating_point():
        return torch.remainder(a, b)
    safe = torch.where(b == 0, torch.ones_like(b), b)
    return torch.remainder(a, safe)


def _fmod(a, b):
    if a.is_floating_point():
        return torch.fmod(a, b)
    safe = torch.where(b == 0, torch.ones_like(b), b)
    return torch.fmod(a, safe)


def _shift(a, b, left):
    if a.dtype == torch.uint8:  # logical shifts on unsigned bytes; counts >= 8 give 0
        wide = a.to(torch.int32)
        out = wide << b.to(torch.int32) if left else wide >> b.to(torch.int32)
        return torch.where(b.to(torch.int32) >= 8, torch.zeros_like(wide), out & 0xFF).to(torch.uint8)
    return torch.bitwise_left_shift(a, b) if left else torch.bitwise_right_shift(a, b)


ONNX_BINARY = {
    "MOD": _mod,
    "FMOD": _fmod,
    "BITSHIFT_LEFT": lambda a, b: _shift(a, b, True),
    "BITSHIFT_RIGHT": lambda a, b: _shift(a, b, False),
    "BITWISE_AND": torch.bitwise_and,
    "BITWISE_OR": torch.bitwise_or,
    "BITWISE_XOR": torch.bitwise_xor,
}


ONNX_UNARY = {"BITWISE_NOT": torch.bitwise_not}


@register
class OnnxBinary(OpDef):
    kind = "onnx_binary"
    layer_type = LayerType.GENERIC_OP
    attrs = {"op": (Choice(*ONNX_BINARY), "MOD")}
    inputs = ("input1", "input2")
    min_inputs = 2

    def infer(self, a, ins):
        x, y = ins
        if a.op not in ONNX_BINARY:
            raise OpError(f"op {a.op!r} is not one of {', '.join(ONNX_BINARY)}")
        if x.dtype != y.dtype:
            raise OpError(f"inputs have different types ({x.dtype.name} and {y.dtype.name}); cast one of them")
        allowed = _INTS + _FLOATS if a.op in ("MOD", "FMOD") else _INTS
        if a.op.startswith("BITWISE") and x.dtype == DataType.BOOL:
            allowed = allowed + (DataType.BOOL,)
        if x.dtype not in allowed:
            raise OpError(f"{a.op} does not accept {x.dtype.name} inputs (accepted: "
                          f"{', '.join(d.name for d in allowed)})")
        if x.shape is None or y.shape is None:
            return [Spec(x.dtype, None)]
        if len(x.shape) != len(y.shape):
            raise OpError(f"inputs have different ranks ({len(x.shape)} and {len(y.shape)}); unsqueeze the smaller")
        return [Spec(x.dtype, broadcast_shapes(x.shape, y.shape))]

    def run(self, a, ins, outs):
        return [ONNX_BINARY[a.op](ins[0], ins[1])]


@register
class OnnxUnary(OpDef):
    kind = "onnx_unary"
    layer_type = LayerType.GENERIC_OP
    attrs = {"op": (Choice(*ONNX_UNARY), "BITWISE_NOT")}

    def infer(self, a, ins):
        x = ins[0]
        if a.op not in ONNX_UNARY:
            raise OpError(f"op {a.op!r} is not one of {', '.join(ONNX_UNARY)}")
        if x.dtype not in _INTS + (DataType.BOOL,):
            raise OpError(f"{a.op} needs an integer input, got {x.dtype.name}")
        return [spec_like(x)]

    def run(self, a, ins, outs):
        return [ONNX_UNARY[a.op](ins[0])]


# ----------------------------------------------------------------------------------------------- Select
@register
class Select(OpDef):
    kind = "select"
    layer_type = LayerType.SELECT
    inputs = ("condition", "then_input", "else_input")
    min_inputs = 3

    def infer(self, a, ins):
        c, t, e = ins
        if c.dtype != DataType.BOOL:
            raise OpError(f"the condition must be BOOL, got {c.dtype.name}")
        if t.dtype != e.dtype:
            raise OpError(f"then_input ({t.dtype.name}) and else_input ({e.dtype.name}) must have the same type")
        ranks = {len(c.shape), len(t.shape), len(e.shape)}
        if len(ranks) != 1:
            raise OpError(f"condition {tuple(c.shape)}, then_input {tuple(t.shape)} and else_input "
                          f"{tuple(e.shape)} must have the same rank (only size-1 dimensions broadcast); "
                          f"unsqueeze the smaller ones")
        return [Spec(t.dtype, broadcast_shapes(c.shape, t.shape, e.shape))]

    def run(self, a, ins, outs):
        return [torch.where(ins[0], ins[1], ins[2])]
