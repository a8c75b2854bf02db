"""Importers for ONNX indexing ops: Gather, GatherElements, GatherND, Scatter, ScatterElements, ScatterND,
TensorScatter, Where, OneHot, TopK, CumSum, CumProd, ReverseSequence.

They map onto IGatherLayer (DEFAULT / ELEMENT / ND), IScatterLayer (ELEMENT / ND, with reduction), ISelectLayer,
IOneHotLayer, ITopKLayer, ICumulativeLayer and IReverseSequenceLayer; TensorScatter and CumProd onto the ONNX-only
``tensor_scatter`` and ``cumprod`` kinds. Negative indices count from the end in inferrt's indexing layers, as in
ONNX.
"""
from __future__ import annotations

import numpy as np

from ...enums import (DataType, GatherMode, ParserErrorCode as E, ScatterMode,
                      TopKOperation)
from ...ir.kinds import Kind
from ..registry import importer

from .tensor_ops import select


def _require(ctx, node, method):
    if not hasattr(ctx.network, method):
        ctx.fail(f"needs INetworkDefinition.{method}, which this build lacks", E.UNSUPPORTED_NODE)


def _index_tensor(ctx, node, i):
    idx = ctx.input(node, i)
    if idx.dtype not in (DataType.INT32, DataType.INT64):
        ctx.fail(f"indices must be INT32 or INT64, got {idx.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
    return idx


def _gather_operands(ctx, node, method):
    """(data, axis made non-negative, indices) of a Gather / GatherElements node that ``method`` of the network
    builds."""
    _require(ctx, node, method)
    x = ctx.input(node, 0)
    axis = ctx.norm_axes([int(ctx.attr(node, "axis", 0))], ctx.rank(x))[0]
    return x, axis, _index_tensor(ctx, node, 1)


@importer("Gather", since=1)
def gather_1(ctx, node):
    x, axis, idx = _gather_operands(ctx, node, "add_gather")
    layer = ctx.network.add_gather(x, idx, axis)
    return [ctx.done(layer)]


@importer("GatherElements", since=11)
def gather_elements_11(ctx, node):
    x, axis, idx = _gather_operands(ctx, node, "add_gather_v2")
    if ctx.rank(idx) != ctx.rank(x):
        ctx.fail(f"indices rank {ctx.rank(idx)} differs from data rank {ctx.rank(x)}", E.INVALID_NODE)
    layer = ctx.network.add_gather_v2(x, idx, GatherMode.ELEMENT)
    layer.axis = axis
    return [ctx.done(layer)]


@importer("GatherND", since=11)
def gather_nd_11(ctx, node):
    _require(ctx, node, "add_gather_v2")
    x = ctx.input(node, 0)
    idx = _index_tensor(ctx, node, 1)
    layer = ctx.network.add_gather_v2(x, idx, GatherMode.ND)
    layer.num_elementwise_dims = int(ctx.attr(node, "batch_dims", 0))
    return [ctx.done(layer)]


_REDUCTIONS = ("none", "add", "mul", "max", "min")


def _scatter(ctx, node, mode, axis=None):
    _require(ctx, node, "add_scatter")
    data, upd = ctx.input(node, 0), ctx.input(node, 2)
    idx = _index_tensor(ctx, node, 1)
    red = ctx.attr(node, "reduction", "none")
    if red not in _REDUCTIONS:
        ctx.fail(f"reduction {red!r} is not one of {', '.join(_REDUCTIONS)}", E.UNSUPPORTED_NODE_ATTR)
    if mode == ScatterMode.ELEMENT:
        axis = ctx.norm_axes([axis], ctx.rank(data))[0]
    layer = ctx.network.add_scatter(data, idx, ctx.cast(upd, data.dtype), mode)
    if mode == ScatterMode.ELEMENT:
        layer.axis = axis
    if red != "none":
        layer.reduction = red
    return [ctx.done(layer)]


@importer("Scatter", since=9)
def scatter_9(ctx, node):
    return _scatter(ctx, node, ScatterMode.ELEMENT, int(ctx.attr(node, "axis", 0)))


@importer("ScatterElements", since=11)
def scatter_elements_11(ctx, node):
    return _scatter(ctx, node, ScatterMode.ELEMENT, int(ctx.attr(node, "axis", 0)))


@importer("ScatterND", since=11)
def scatter_nd_11(ctx, node):
    return _scatter(ctx, node, ScatterMode.ND)


@importer("TensorScatter", since=24)
def tensor_scatter(ctx, node):
    past, upd = ctx.tensor(node.inputs[0]), ctx.tensor(node.inputs[1])
    wi = ctx.int64_input(node, 2) if node.input(2) else None
    mode = node.attr("mode", "linear")
    if mode not in ("linear", "circular"):
        ctx.fail(f"mode {mode!r} must be 'linear' or 'circular'", E.UNSUPPORTED_NODE_ATTR)
    return ctx.add_op(Kind.TENSOR_SCATTER, [past, ctx.cast(upd, past.dtype), wi],
                      {"axis": int(node.attr("axis", -2)), "mode": mode})


# ----------------------------------------------------------------------------------------------- Where
@importer("Where", since=9)
def where_9(ctx, node):
    _require(ctx, node, "add_select")
    cond, a, b = (ctx.input(node, i) for i in range(3))
    if cond.dtype != DataType.BOOL:
        cond = ctx.cast(cond, DataType.BOOL)
    if a.dtype != b.dtype:
        ctx.fail(f"X ({a.dtype.name}) and Y ({b.dtype.name}) must have the same type", E.INVALID_NODE)
    return [select(ctx, cond, a, b)]


# ----------------------------------------------------------------------------------------------- OneHot
@importer("OneHot", since=9)
def one_hot_9(ctx, node):
    _require(ctx, node, "add_one_hot")
    idx, depth, values = (ctx.input(node, i) for i in range(3))
    axis = int(ctx.attr(node, "axis", -1))
    r_out = ctx.rank(idx) + 1
    axis = ctx.norm_axes([axis], r_out)[0]
    dv = ctx.input_value(node, 1)
    if dv is not None:
        depth_i = int(np.asarray(dv).reshape(-1)[0])
        depth = ctx.constant(np.array(depth_i, dtype=np.int32))
    else:
        depth = ctx.cast(depth if ctx.rank(depth) == 0 else ctx.reshape(depth, [], zero_copies=False), DataType.INT32)
    if idx.dtype not in (DataType.INT32, DataType.INT64):
        idx = ctx.cast(idx, DataType.INT64)  # float indices are truncated, as ONNX does
    if ctx.rank(values) != 1:
        values = ctx.reshape(values, [2], zero_copies=False)
    layer = ctx.network.add_one_hot(idx, values, depth, axis)
    return [ctx.done(layer)]


# ----------------------------------------------------------------------------------------------- TopK
def _topk(ctx, node, k_value, k_tensor, largest=True):
    _require(ctx, node, "add_topk")
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    axis = ctx.norm_axes([int(ctx.attr(node, "axis", -1))], r)[0]
    op = TopKOperation.MAX if largest else TopKOperation.MIN
    layer = ctx.network.add_topk(x, op, int(k_value) if k_value is not None else 1, 1 << axis, DataType.INT64)
    if k_value is None:
        kt = ctx.cast(k_tensor, DataType.INT32)
        layer.set_input(1, kt if ctx.rank(kt) == 0 else ctx.reshape(kt, [], zero_copies=False))
    values, indices = layer.get_output(0), layer.get_output(1)
    return [values, indices]


@importer("TopK", since=1)
def topk_1(ctx, node):
    return _topk(ctx, node, int(ctx.attr(node, "k")), None)


@importer("TopK", since=10)
def topk_10(ctx, node):
    kv = ctx.input_value(node, 1)
    largest = bool(ctx.attr(node, "largest", 1))
    return _topk(ctx, node, None if kv is None else int(np.asarray(kv).reshape(-1)[0]), ctx.input(node, 1), largest)


# ----------------------------------------------------------------------------------------------- CumSum & co
@importer("CumSum", since=11)
def cumsum_11(ctx, node):
    _require(ctx, node, "add_cumulative")
    from ...enums import CumulativeOperation

    x = ctx.input(node, 0)
    av = ctx.input_value(node, 1)
    if av is None:  # known at run time only: pass the tensor (0-D) through
        sh = ctx.network.add_shuffle(ctx.input(node, 1))
        sh.reshape_dims = ()
        axis_t = sh.get_output(0)
    else:
        axis = ctx.norm_axes([int(np.asarray(av).reshape(-1)[0])], ctx.rank(x))[0]
        axis_t = ctx.constant(np.array(axis, dtype=np.int32))
    layer = ctx.network.add_cumulative(x, axis_t, CumulativeOperation.SUM, bool(ctx.attr(node, "exclusive", 0)),
                                       bool(ctx.attr(node, "reverse", 0)))
    return [ctx.done(layer)]


@importer("CumProd", since=26)
def cum_prod(ctx, node):
    x = ctx.tensor(node.inputs[0])
    attrs = {"exclusive": bool(node.attr("exclusive", 0)), "reverse": bool(node.attr("reverse", 0))}
    v = ctx.value(node.inputs[1])
    if v is None:                        # a run-time axis: the op reads it when it runs
        return ctx.add_op(Kind.CUMPROD, [x, ctx.int64_input(node, 1)], attrs)
    axis = int(np.asarray(v).reshape(-1)[0])
    rank = ctx.rank(x)
    if not -rank <= axis < max(rank, 1):
        ctx.fail(f"axis {axis} is out of range for input {x.name!r} of rank {rank}", E.INVALID_NODE)
    return ctx.add_op(Kind.CUMPROD, [x], dict(attrs, axis=axis))


@importer("ReverseSequence", since=10)
def reverse_sequence_10(ctx, node):
    _require(ctx, node, "add_reverse_sequence")
    x, lens = ctx.input(node, 0), ctx.input(node, 1)
    layer = ctx.network.add_reverse_sequence(x, lens)
    layer.batch_axis = int(ctx.attr(node, "batch_axis", 1))
    layer.sequence_axis = int(ctx.attr(node, "time_axis", 0))
    return [ctx.done(layer)]
