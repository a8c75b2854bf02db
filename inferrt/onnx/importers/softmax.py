"""Importers for Softmax, LogSoftmax and Hardmax: before opset 13 the input is coerced to 2-D at ``axis``
(default 1) and normalized over the flattened trailing block; from opset 13 over the single ``axis`` (default -1)."""
from __future__ import annotations

import numpy as np

from ...dtypes import FLOAT_TYPES as _FLOATS
from ...enums import ParserErrorCode as E, ReduceOperation as R
from ...ir.kinds import Kind
from ..registry import importer


def _apply(ctx, kind, x, axis):
    net = ctx.network
    if kind == Kind.SOFTMAX:
        layer = net.add_softmax(x)
        layer.axes = 1 << axis
    elif kind == Kind.LOG_SOFTMAX:
        layer = net.internal.add_layer(Kind.LOG_SOFTMAX, [x], {"axes": 1 << axis})
    else:
        layer = net.add_hardmax(x, axis)
    return layer.get_output(0)


def _input(ctx, node, kind):
    x = ctx.tensor(node.inputs[0])
    if kind != Kind.ONNX_HARDMAX and x.dtype not in _FLOATS:
        ctx.fail(f"{node.op_type} needs a floating-point input, got {x.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
    return x, ctx.rank(x)


def _norm(ctx, axis, rank):
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


def make(kind):
    def legacy(ctx, node):
        x, rank = _input(ctx, node, kind)
        if rank == 0:
            ctx.fail("needs an input of rank >= 1", E.INVALID_NODE)
        axis = _norm(ctx, int(node.attr("axis", 1)), rank)
        if axis == rank - 1:
            return [_apply(ctx, kind, x, axis)]
        flat = _flatten_2d(ctx, x, axis, rank)
        y = _apply(ctx, kind, flat, 1)
        return [ctx.reshape(y, ctx.shape_of(x), zero_copies=False)]

    def modern(ctx, node):
        x, rank = _input(ctx, node, kind)
        if rank == 0:
            ctx.fail("needs an input of rank >= 1", E.INVALID_NODE)
        return [_apply(ctx, kind, x, _norm(ctx, int(node.attr("axis", -1)), rank))]

    return legacy, modern


for _op, _kind in (("Softmax", Kind.SOFTMAX), ("LogSoftmax", Kind.LOG_SOFTMAX), ("Hardmax", Kind.ONNX_HARDMAX)):
    _legacy, _modern = make(_kind)
    importer(_op, since=1)(_legacy)
    importer(_op, since=13)(_modern)
