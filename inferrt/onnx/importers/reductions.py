"""Importers for ONNX reductions (the reduce family, ``inferrt/ops/reduce.py``): ReduceSum/Mean/Max/Min/Prod/L1/L2/
LogSum/LogSumExp/SumSquare, ArgMax/ArgMin, and Softmax, LogSoftmax and Hardmax.

Axes come from the ``axes`` attribute before opset 13 (ReduceSum) / 18 (the others) and from a constant input after;
``noop_with_empty_axes`` turns empty axes into an identity instead of a full reduction.

Softmax, LogSoftmax and Hardmax: before opset 13 the input is coerced to 2-D at ``axis`` (default 1) and normalized over
the flattened trailing block; from opset 13 over the single ``axis`` (default -1).
"""
from __future__ import annotations

import numpy as np

from ...dtypes import FLOAT_TYPES as _FLOATS
from ...enums import DataType, ElementWiseOperation as EW, ParserErrorCode as E, ReduceOperation as R, \
    UnaryOperation as U
from ...ir.kinds import Kind
from ...ir.tensor import ITensor
from ..registry import importer


def _axes(ctx, node, from_input: bool):
    """(input tensor, axes bitmask | None for identity | ITensor of runtime axes, keepdims, axes list)."""
    x = ctx.tensor(node.inputs[0])
    rank = ctx.rank(x)
    keep = bool(node.attr("keepdims", 1))
    noop = bool(node.attr("noop_with_empty_axes", 0))
    if from_input:
        name = node.input(1)
        axes = None
        if name:
            v = ctx.value(name)
            if v is None:
                return x, ctx.tensor(name), keep, None
            axes = [int(a) for a in np.asarray(v).reshape(-1)]
    else:
        axes = node.attr("axes", None)
    if not axes:
        if noop:
            return x, None, keep, []
        axes = list(range(rank))
    mask = 0
    for a in axes:
        if not -rank <= a < max(rank, 1):
            ctx.fail(f"axis {a} is out of range for an input of rank {rank}", E.INVALID_NODE)
        mask |= 1 << (a % rank if rank else 0)
    return x, (mask if rank else 0), keep, [a % rank for a in axes] if rank else []


def _reduce(ctx, x, op, mask, keep):
    return ctx.network.add_reduce(x, op, mask, keep).get_output(0)


def _as_float(ctx, x):
    return x if x.dtype in _FLOATS else ctx.cast(x, DataType.FLOAT)


def _back(ctx, out, x):
    return out if out.dtype == x.dtype else ctx.cast(out, x.dtype)


def make_reduce(kind):
    def fn(ctx, node, from_input):
        x, mask, keep, axes = _axes(ctx, node, from_input)
        if mask is None:
            return [ctx.network.add_identity(x).get_output(0)]
        shape = tuple(x.shape)
        if isinstance(mask, ITensor) or any(shape[a] <= 0 for a in axes):
            # runtime axes, or a reduction over an empty (or unknown-size) axis: ONNX's own reduction layer
            layer = ctx.network.add_onnx_reduce(x, "AVG" if kind == "MEAN" else kind,
                                                mask if isinstance(mask, ITensor) else axes, keep,
                                                bool(node.attr("noop_with_empty_axes", 0)))
            return [layer.get_output(0)]
        if kind in ("SUM", "PROD", "MAX", "MIN"):
            op = R[kind]
            if x.dtype == DataType.BOOL:
                return [ctx.cast(_reduce(ctx, ctx.cast(x, DataType.INT32), op, mask, keep), DataType.BOOL)]
            return [_reduce(ctx, x, op, mask, keep)]
        if kind == "MEAN":
            return [_back(ctx, _reduce(ctx, _as_float(ctx, x), R.AVG, mask, keep), x)]
        if kind == "L1":
            ax = ctx.unary(x, U.ABS) if x.dtype != DataType.UINT8 else x
            return [_reduce(ctx, ax, R.SUM, mask, keep)]
        if kind == "SUM_SQUARE":
            return [_reduce(ctx, ctx.elementwise(x, x, EW.PROD), R.SUM, mask, keep)]
        if kind == "L2":
            f = _as_float(ctx, x)
            s = _reduce(ctx, ctx.elementwise(f, f, EW.PROD), R.SUM, mask, keep)
            return [_back(ctx, ctx.unary(s, U.SQRT), x)]
        if kind == "LOG_SUM":
            return [_back(ctx, ctx.unary(_reduce(ctx, _as_float(ctx, x), R.SUM, mask, keep), U.LOG), x)]
        if kind == "LOG_SUM_EXP":  # max + log(sum(exp(x - max))) for stability
            f = _as_float(ctx, x)
            m_keep = _reduce(ctx, f, R.MAX, mask, True)
            s = _reduce(ctx, ctx.unary(ctx.elementwise(f, m_keep, EW.SUB), U.EXP), R.SUM, mask, keep)
            m = m_keep if keep else _reduce(ctx, f, R.MAX, mask, False)
            return [_back(ctx, ctx.elementwise(ctx.unary(s, U.LOG), m, EW.SUM), x)]
        raise AssertionError(kind)
    return fn


_REDUCES = {"ReduceSum": ("SUM", 13), "ReduceMean": ("MEAN", 18), "ReduceMax": ("MAX", 18),
            "ReduceMin": ("MIN", 18), "ReduceProd": ("PROD", 18), "ReduceL1": ("L1", 18), "ReduceL2": ("L2", 18),
            "ReduceLogSum": ("LOG_SUM", 18), "ReduceLogSumExp": ("LOG_SUM_EXP", 18),
            "ReduceSumSquare": ("SUM_SQUARE", 18)}

for _op, (_kind, _since) in _REDUCES.items():
    _fn = make_reduce(_kind)
    importer(_op, since=1)(lambda ctx, node, _f=_fn: _f(ctx, node, False))
    importer(_op, since=_since)(lambda ctx, node, _f=_fn: _f(ctx, node, True))


def _arg(op):
    def fn(ctx, node):
        x = ctx.tensor(node.inputs[0])
        if x.dtype == DataType.BOOL:
            x = ctx.cast(x, DataType.INT32)
        layer = ctx.network.add_arg_reduce(x, op, int(node.attr("axis", 0)), bool(node.attr("keepdims", 1)),
                                           bool(node.attr("select_last_index", 0)))
        return [layer.get_output(0)]
    return fn


importer("ArgMax", since=1)(_arg("MAX"))
importer("ArgMin", since=1)(_arg("MIN"))


# ----------------------------------------------------------------------------------------------- Softmax & co
def _apply_softmax(ctx, kind, x, axis):
    net = ctx.network
    if kind == Kind.SOFTMAX:
        layer = net.add_softmax(x)
        layer.axes = 1 << axis
    elif kind == Kind.LOG_SOFTMAX:
        layer = net.internal.add_layer(Kind.LOG_SOFTMAX, [x], {"axes": 1 << axis})
    else:
        layer = net.add_hardmax(x, axis)
    return layer.get_output(0)


def _softmax_input(ctx, node, kind):
    x = ctx.tensor(node.inputs[0])
    if kind != Kind.ONNX_HARDMAX and x.dtype not in _FLOATS:
        ctx.fail(f"{node.op_type} needs a floating-point input, got {x.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
    return x, ctx.rank(x)


def _softmax_axis(ctx, axis, rank):
    if not -rank <= axis < max(rank, 1):
        ctx.fail(f"axis {axis} is out of range for an input of rank {rank}", E.INVALID_NODE)
    return axis % rank if rank else 0


def _flatten_2d(ctx, x, axis, rank):
    """x reshaped to [prod(dims[:axis]), prod(dims[axis:])] (works with dynamic dims)."""
    shape = tuple(x.shape)
    if all(d >= 0 for d in shape):
        lead = 1
        for d in shape[:axis]:
            lead *= d
        tail = 1
        for d in shape[axis:]:
            tail *= d
        return ctx.reshape(x, (lead, tail), zero_copies=False)
    net = ctx.network
    s = ctx.shape_of(x)

    def prod(start, length):
        if length == 0:
            return ctx.constant(np.ones(1, dtype=np.int64))
        part = net.add_slice(s, (start,), (length,), (1,)).get_output(0)
        return net.add_reduce(part, R.PROD, 1, True).get_output(0)

    dims = net.add_concatenation([prod(0, axis), prod(axis, rank - axis)])
    dims.axis = 0
    return ctx.reshape(x, dims.get_output(0), zero_copies=False)


def make_softmax(kind):
    def legacy(ctx, node):
        x, rank = _softmax_input(ctx, node, kind)
        if rank == 0:
            ctx.fail("needs an input of rank >= 1", E.INVALID_NODE)
        axis = _softmax_axis(ctx, int(node.attr("axis", 1)), rank)
        if axis == rank - 1:
            return [_apply_softmax(ctx, kind, x, axis)]
        flat = _flatten_2d(ctx, x, axis, rank)
        y = _apply_softmax(ctx, kind, flat, 1)
        return [ctx.reshape(y, ctx.shape_of(x), zero_copies=False)]

    def modern(ctx, node):
        x, rank = _softmax_input(ctx, node, kind)
        if rank == 0:
            ctx.fail("needs an input of rank >= 1", E.INVALID_NODE)
        return [_apply_softmax(ctx, kind, x, _softmax_axis(ctx, int(node.attr("axis", -1)), rank))]

    return legacy, modern


for _op, _kind in (("Softmax", Kind.SOFTMAX), ("LogSoftmax", Kind.LOG_SOFTMAX), ("Hardmax", Kind.ONNX_HARDMAX)):
    _legacy, _modern = make_softmax(_kind)
    importer(_op, since=1)(_legacy)
    importer(_op, since=13)(_modern)
