"""Importers for ONNX elementwise math: arithmetic, variadic Max/Min/Sum/Mean, Mod, BitShift, unary math."""
from __future__ import annotations

from ...dtypes import FLOAT_TYPES as _FLOATS
from ...enums import DataType, ElementWiseOperation as EW, ParserErrorCode as E, UnaryOperation as U
from ..registry import importer


def inputs(ctx, node):
    return [ctx.tensor(n) for n in node.inputs if n]


def binary(ctx, node, op):
    a, b = inputs(ctx, node)[:2]
    if a.dtype != b.dtype:
        ctx.fail(f"inputs have different types ({a.dtype.name} and {b.dtype.name}); ONNX requires one type",
                 E.UNSUPPORTED_NODE_DATATYPE)
    return [ctx.elementwise(a, b, op)]


def _register_binary(op_type, op, since_list=(7,)):
    for since in since_list:
        importer(op_type, since=since)(lambda ctx, node, _op=op: binary(ctx, node, _op))


_register_binary("Add", EW.SUM)
_register_binary("Sub", EW.SUB)
_register_binary("Mul", EW.PROD)
_register_binary("Div", EW.DIV)


@importer("Pow", since=7)
def pow_(ctx, node):
    a, b = inputs(ctx, node)
    if b.dtype != a.dtype:  # opset 12+: the exponent may have another type; the result has the base's type
        if a.dtype in _FLOATS or b.dtype not in _FLOATS:
            b = ctx.cast(b, a.dtype)
        else:  # integer base, float exponent: compute in float, then truncate like a C cast
            out = ctx.elementwise(ctx.cast(a, b.dtype), b, EW.POW)
            return [ctx.cast(out, a.dtype)]
    return [ctx.elementwise(a, b, EW.POW)]


def variadic(ctx, node, op):
    ts = inputs(ctx, node)
    if not ts:
        ctx.fail("needs at least one input", E.INVALID_NODE)
    out = ts[0]
    if len(ts) == 1:
        return [ctx.network.add_identity(out).get_output(0)]
    for t in ts[1:]:
        out = ctx.elementwise(out, t, op)
    return [out]


@importer("Max", since=6)
def max_(ctx, node):
    return variadic(ctx, node, EW.MAX)


@importer("Min", since=6)
def min_(ctx, node):
    return variadic(ctx, node, EW.MIN)


@importer("Sum", since=6)
def sum_(ctx, node):
    return variadic(ctx, node, EW.SUM)


@importer("Mean", since=6)
def mean(ctx, node):
    ts = inputs(ctx, node)
    total = variadic(ctx, node, EW.SUM)[0]
    if len(ts) == 1:
        return [total]
    return [ctx.elementwise(total, ctx.scalar(len(ts), total.dtype), EW.DIV)]


@importer("Mod", since=10)
def mod(ctx, node):
    a, b = inputs(ctx, node)
    fmod = int(node.attr("fmod", 0))
    a, b = ctx.broadcast_pair(a, b)
    return [ctx.network.add_onnx_binary(a, b, "FMOD" if fmod else "MOD").get_output(0)]


@importer("BitShift", since=11)
def bitshift(ctx, node):
    a, b = inputs(ctx, node)
    direction = node.attr("direction")
    if direction not in ("LEFT", "RIGHT"):
        ctx.fail(f"direction must be LEFT or RIGHT, got {direction!r}", E.UNSUPPORTED_NODE_ATTR)
    a, b = ctx.broadcast_pair(a, b)
    return [ctx.network.add_onnx_binary(a, b, f"BITSHIFT_{direction}").get_output(0)]


_UNARY = {
    "Abs": U.ABS, "Acos": U.ACOS, "Acosh": U.ACOSH, "Asin": U.ASIN, "Asinh": U.ASINH, "Atan": U.ATAN,
    "Atanh": U.ATANH, "Ceil": U.CEIL, "Cos": U.COS, "Cosh": U.COSH, "Erf": U.ERF, "Exp": U.EXP, "Floor": U.FLOOR,
    "Log": U.LOG, "Neg": U.NEG, "Reciprocal": U.RECIP, "Round": U.ROUND, "Sign": U.SIGN, "Sin": U.SIN,
    "Sinh": U.SINH, "Sqrt": U.SQRT, "Tan": U.TAN,
}
#: ops whose unary layer takes integer inputs as they are
_INT_OK = {"Abs", "Neg", "Sign", "Ceil", "Floor", "Round"}


def unary(ctx, node, op_type):
    x = ctx.tensor(node.inputs[0])
    if x.dtype in _FLOATS or op_type in _INT_OK:
        if x.dtype == DataType.BOOL:
            ctx.fail(f"{op_type} does not accept BOOL inputs", E.UNSUPPORTED_NODE_DATATYPE)
        if op_type == "Abs" and x.dtype == DataType.UINT8:
            return [ctx.network.add_identity(x).get_output(0)]
        return [ctx.unary(x, _UNARY[op_type])]
    if x.dtype in (DataType.INT32, DataType.INT64, DataType.INT8, DataType.UINT8):
        # integer inputs of float-only math (e.g. Reciprocal on int): compute in float and cast back
        out = ctx.unary(ctx.cast(x, DataType.FLOAT), _UNARY[op_type])
        return [ctx.cast(out, x.dtype)]
    ctx.fail(f"{op_type} does not accept {x.dtype.name} inputs", E.UNSUPPORTED_NODE_DATATYPE)


for _op in _UNARY:
    importer(_op, since=6)(lambda ctx, node, _t=_op: unary(ctx, node, _t))
