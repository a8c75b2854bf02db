"""Importers for ONNX logic and comparison ops: And Or Xor Not, Equal Greater(OrEqual) Less(OrEqual), IsInf, IsNaN,
BitwiseAnd/Or/Xor/Not."""
from __future__ import annotations

from ...dtypes import FLOAT_TYPES as _FLOATS
from ...enums import DataType, ElementWiseOperation as EW, ParserErrorCode as E, UnaryOperation as U
from ..registry import importer


def _pair(ctx, node):
    a, b = ctx.tensor(node.inputs[0]), ctx.tensor(node.inputs[1])
    if a.dtype != b.dtype:
        ctx.fail(f"inputs have different types ({a.dtype.name} and {b.dtype.name}); ONNX requires one type",
                 E.UNSUPPORTED_NODE_DATATYPE)
    return a, b


def _logical(op):
    def fn(ctx, node):
        a, b = _pair(ctx, node)
        if a.dtype != DataType.BOOL:
            ctx.fail(f"{node.op_type} needs BOOL inputs, got {a.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
        return [ctx.elementwise(a, b, op)]
    return fn


importer("And", since=7)(_logical(EW.AND))
importer("Or", since=7)(_logical(EW.OR))
importer("Xor", since=7)(_logical(EW.XOR))


@importer("Not", since=1)
def not_(ctx, node):
    x = ctx.tensor(node.inputs[0])
    if x.dtype != DataType.BOOL:
        ctx.fail(f"Not needs a BOOL input, got {x.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
    return [ctx.unary(x, U.NOT)]


def _compare(ctx, a, b, op):
    if a.dtype == DataType.BOOL and op != EW.EQUAL:
        a, b = ctx.cast(a, DataType.INT32), ctx.cast(b, DataType.INT32)
    return ctx.elementwise(a, b, op)


def _comparison(op, or_equal=False):
    def fn(ctx, node):
        a, b = _pair(ctx, node)
        out = _compare(ctx, a, b, op)
        if or_equal:  # a >= b as (a > b) or (a == b), which keeps NaN comparisons false
            out = ctx.elementwise(out, _compare(ctx, a, b, EW.EQUAL), EW.OR)
        return [out]
    return fn


importer("Equal", since=7)(_comparison(EW.EQUAL))
importer("Greater", since=7)(_comparison(EW.GREATER))
importer("Less", since=7)(_comparison(EW.LESS))
importer("GreaterOrEqual", since=12)(_comparison(EW.GREATER, or_equal=True))
importer("LessOrEqual", since=12)(_comparison(EW.LESS, or_equal=True))


@importer("IsNaN", since=9)
def is_nan(ctx, node):
    x = ctx.tensor(node.inputs[0])
    if x.dtype not in _FLOATS:
        ctx.fail(f"IsNaN needs a floating-point input, got {x.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
    return [ctx.unary(x, U.ISNAN)]


@importer("IsInf", since=10)
def is_inf(ctx, node):
    x = ctx.tensor(node.inputs[0])
    if x.dtype not in _FLOATS:
        ctx.fail(f"IsInf needs a floating-point input, got {x.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
    neg, pos = int(node.attr("detect_negative", 1)), int(node.attr("detect_positive", 1))
    inf = ctx.unary(x, U.ISINF)
    if neg and pos:
        return [inf]
    if not neg and not pos:  # nothing to detect: all false
        return [ctx.elementwise(inf, ctx.unary(inf, U.NOT), EW.AND)]
    sign = ctx.elementwise(x, ctx.scalar(0, x.dtype), EW.GREATER if pos else EW.LESS)
    return [ctx.elementwise(inf, sign, EW.AND)]


def _bitwise(op):
    def fn(ctx, node):
        a, b = _pair(ctx, node)
        a, b = ctx.broadcast_pair(a, b)
        return [ctx.network.add_onnx_binary(a, b, op).get_output(0)]
    return fn


importer("BitwiseAnd", since=18)(_bitwise("BITWISE_AND"))
importer("BitwiseOr", since=18)(_bitwise("BITWISE_OR"))
importer("BitwiseXor", since=18)(_bitwise("BITWISE_XOR"))


@importer("BitwiseNot", since=18)
def bitwise_not(ctx, node):
    return [ctx.network.add_onnx_unary(ctx.tensor(node.inputs[0]), "BITWISE_NOT").get_output(0)]
