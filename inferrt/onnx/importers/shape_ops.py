"""Importers for shape-level ONNX ops: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat,
Expand, Tile, ConstantOfShape, Constant, Range, Identity, Dropout, Cast, CastLike, BitCast, EyeLike, and the Optional
ops (when the optional's presence is known at import time).

Shape computations (Shape -> Gather -> Concat -> Reshape chains) become INT64 shape-tensor layers; the network's
shape inference folds them to constants whenever the values are known, and reshape targets that stay dynamic feed
the shuffle layer's second input.
"""
from __future__ import annotations

import numpy as np

from ...enums import DataType, ElementWiseOperation as EW, ParserErrorCode as E, ReduceOperation, SampleMode
from ...ir.kinds import Kind
from ..registry import importer


# ----------------------------------------------------------------------------------------------- Shape / Size
def _shape(ctx, node, start=0, end=None):
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    s = ctx.shape_of(x)
    start = max(0, min(r, start + r if start < 0 else start))
    end = r if end is None else max(0, min(r, end + r if end < 0 else end))
    if start == 0 and end == r:
        return [s]
    if end <= start:
        return [ctx.ints([])]
    return [out_slice(ctx, s, start, end)]


def out_slice(ctx, v, start, stop):
    return ctx.network.add_slice(v, (start,), (stop - start,), (1,)).get_output(0)


@importer("Shape", since=1)
def shape_1(ctx, node):
    return _shape(ctx, node)


@importer("Shape", since=15)
def shape_15(ctx, node):
    return _shape(ctx, node, int(ctx.attr(node, "start", 0)), ctx.attr(node, "end", None))


@importer("Size", since=1)
def size_1(ctx, node):
    x = ctx.input(node, 0)
    if ctx.rank(x) == 0:
        return [ctx.constant(np.array(1, dtype=np.int64))]
    return [ctx.reduce(ctx.shape_of(x), ReduceOperation.PROD, [0], keep_dims=False)]


# ----------------------------------------------------------------------------------------------- Reshape & co
def _reshape(ctx, node, x, target, target_t, allowzero):
    if target is not None:
        target = [int(v) for v in np.asarray(target).reshape(-1)]
        if allowzero and 0 in target and -1 in target:
            ctx.fail("allowzero=1 with both 0 and -1 in the shape is invalid (ONNX spec)", E.INVALID_NODE)
        return [ctx.reshape(x, target, zero_copies=not allowzero)]
    return [ctx.reshape(x, target_t, zero_copies=not allowzero)]


@importer("Reshape", since=1)
def reshape_1(ctx, node):
    shape = ctx.attr(node, "shape", None)
    if shape is None:
        ctx.fail("the 'shape' attribute is missing", E.INVALID_NODE)
    return _reshape(ctx, node, ctx.input(node, 0), shape, None, False)


@importer("Reshape", since=5)
def reshape_5(ctx, node):
    allowzero = bool(ctx.attr(node, "allowzero", 0))
    x = ctx.input(node, 0)
    target = ctx.input_value(node, 1)
    return _reshape(ctx, node, x, target, None if target is not None else ctx.input(node, 1), allowzero)


@importer("Flatten", since=1)
def flatten_1(ctx, node):
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    axis = int(ctx.attr(node, "axis", 1))
    if not -r <= axis <= r:
        ctx.fail(f"axis {axis} is out of range for a rank-{r} input", E.INVALID_NODE)
    axis = axis + r if axis < 0 else axis
    items = ctx.dim_items(x)
    outer, inner = items[:axis], items[axis:]
    outer_known = all(isinstance(d, int) for d in outer)
    inner_known = all(isinstance(d, int) for d in inner)
    if outer_known and not inner_known:
        return [ctx.reshape(x, [ctx.mul_dims(outer), -1], zero_copies=False)]
    if inner_known and not outer_known and ctx.mul_dims(inner) != 0:
        return [ctx.reshape(x, [-1, ctx.mul_dims(inner)], zero_copies=False)]
    return [ctx.reshape(x, [ctx.mul_dims(outer), ctx.mul_dims(inner)], zero_copies=False)]


def _squeeze(ctx, node, axes):
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    shape = tuple(x.shape)
    if axes is None:
        if any(d < 0 for d in shape):
            ctx.fail(f"squeezing every size-1 axis needs a static input shape, got {shape}; give 'axes'",
                     E.UNSUPPORTED_NODE_DYNAMIC)
        axes = [i for i, d in enumerate(shape) if d == 1]
    axes = set(ctx.norm_axes(axes, r))
    for a in axes:
        if shape[a] not in (1, -1):
            ctx.fail(f"cannot squeeze axis {a} of size {shape[a]} (input shape {shape})", E.INVALID_NODE)
    if any(d < 0 for i, d in enumerate(shape) if i not in axes):
        # a squeeze layer, not a reshape to a run-time shape vector: its output keeps the dims known at build time
        return [ctx.done(ctx.network.add_squeeze(x, sorted(axes)))]
    return [ctx.reshape(x, [d for i, d in enumerate(shape) if i not in axes], zero_copies=False)]


@importer("Squeeze", since=1)
def squeeze_1(ctx, node):
    return _squeeze(ctx, node, ctx.attr(node, "axes", None))


@importer("Squeeze", since=13)
def squeeze_13(ctx, node):
    axes = None
    if ctx.has_input(node, 1):
        axes = ctx.input_value(node, 1)
        if axes is None:  # known at run time only: the squeeze layer takes the axes tensor
            return [ctx.done(ctx.network.add_squeeze(ctx.input(node, 0), ctx.input(node, 1)))]
    return _squeeze(ctx, node, axes)


def _unsqueeze(ctx, node, axes):
    x = ctx.input(node, 0)
    axes = [int(a) for a in np.asarray(axes).reshape(-1)]
    r_out = ctx.rank(x) + len(axes)
    axes = ctx.norm_axes(axes, r_out)
    if len(set(axes)) != len(axes):
        ctx.fail(f"axes {axes} repeat an axis", E.INVALID_NODE)
    src = iter(tuple(x.shape))
    items = [1 if i in axes else next(src) for i in range(r_out)]
    v = ctx.value_of(x)
    if v is not None:
        return [ctx.constant(v.reshape([int(d) for d in items]))]
    if any(d < 0 for d in items):
        # an unsqueeze layer, not a reshape to a run-time shape vector: its output keeps the known dims (the new 1s
        # included), which later layers need at build time (GatherND's index depth, Concat's axis sizes)
        return [ctx.done(ctx.network.add_unsqueeze(x, axes))]
    return [ctx.reshape(x, items, zero_copies=False)]


@importer("Unsqueeze", since=1)
def unsqueeze_1(ctx, node):
    return _unsqueeze(ctx, node, ctx.attr(node, "axes", []))


@importer("Unsqueeze", since=13)
def unsqueeze_13(ctx, node):
    axes = ctx.input_value(node, 1)
    if axes is None:  # known at run time only: the unsqueeze layer takes the axes tensor
        return [ctx.done(ctx.network.add_unsqueeze(ctx.input(node, 0), ctx.input(node, 1)))]
    return _unsqueeze(ctx, node, axes)


@importer("Transpose", since=1)
def transpose_1(ctx, node):
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    perm = ctx.attr(node, "perm", None)
    perm = list(range(r))[::-1] if perm is None else [int(p) for p in perm]
    if sorted(perm) != list(range(r)):
        ctx.fail(f"perm {perm} is not a permutation of the {r} input axes", E.INVALID_NODE)
    if r <= 1:
        return [ctx.identity(x)]
    return [ctx.transpose(x, perm)]


@importer("Concat", since=1)
def concat_1(ctx, node):
    ts = [ctx.input(node, i) for i in range(len(node.inputs)) if ctx.has_input(node, i)]
    r = ctx.rank(ts[0])
    axis = int(ctx.attr(node, "axis", 1))
    axis = ctx.norm_axes([axis], r)[0]
    if r == 0:
        ctx.fail("cannot concatenate scalars", E.INVALID_NODE)
    dt = ts[0].dtype
    ts = [ctx.cast(t, dt) for t in ts]
    # empty 1-D pieces (common in shape computations) are dropped
    ts = [t for t in ts if not (ctx.rank(t) == 1 and t.shape[0] == 0)] or ts[:1]
    vals = [ctx.value_of(t) for t in ts]
    if all(v is not None for v in vals):
        return [ctx.constant(np.concatenate(vals, axis))]
    return [ctx.concat(ts, axis) if len(ts) > 1 else ctx.identity(ts[0])]


# ----------------------------------------------------------------------------------------------- broadcast
@importer("Expand", since=8)
def expand_8(ctx, node):
    x = ctx.input(node, 0)
    shape_v = ctx.input_value(node, 1)
    n = len(shape_v) if shape_v is not None else ctx.input(node, 1).shape[0]
    if n < 0:
        ctx.fail("the shape input must have a known length", E.UNSUPPORTED_NODE_DYNAMIC)
    r = max(ctx.rank(x), n)
    x = ctx.unsqueeze_front(x, r - ctx.rank(x))
    xs = tuple(x.shape)
    if shape_v is not None and all(d >= 0 for d in xs):
        sv = [1] * (r - n) + [int(d) for d in shape_v]
        try:
            target = np.broadcast_shapes(xs, tuple(sv))
        except ValueError:
            ctx.fail(f"input shape {xs} cannot be expanded to {tuple(shape_v)}", E.INVALID_NODE)
        if tuple(target) == xs:
            return [ctx.identity(x)]
        return [ctx.expand_to(x, ctx.ints(target))]
    st = ctx.cast(ctx.input(node, 1), DataType.INT64) if shape_v is None else ctx.ints(shape_v)
    st = unsqueeze_pad_vector(ctx, st, r - n)
    target = ctx.elementwise(ctx.shape_of(x), st, EW.MAX)
    return [ctx.expand_to(x, target)]


def unsqueeze_pad_vector(ctx, v, k):
    """Prepend ``k`` ones to a 1-D INT64 vector."""
    return v if k <= 0 else ctx.concat([ctx.ints([1] * k), v], 0)


@importer("Tile", since=6)
def tile_6(ctx, node):
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    reps = ctx.input_value(node, 1)
    layer = ctx.network.add_slice(x, (0,) * r, tuple(max(d, 0) for d in x.shape), (1,) * r)
    layer.mode = SampleMode.WRAP
    if reps is not None and all(d >= 0 for d in x.shape):
        reps = [int(v) for v in reps.reshape(-1)]
        if len(reps) != r:
            ctx.fail(f"repeats has {len(reps)} values but the input has rank {r}", E.INVALID_NODE)
        layer.shape = tuple(d * k for d, k in zip(x.shape, reps))
        return [ctx.done(layer)]
    rt = ctx.cast(ctx.input(node, 1), DataType.INT64)
    layer.set_input(1, ctx.ints([0] * r))
    layer.set_input(2, ctx.elementwise(ctx.shape_of(x), rt, EW.PROD))
    layer.set_input(3, ctx.ints([1] * r))
    return [ctx.done(layer)]


# ----------------------------------------------------------------------------------------------- constants
def _const_value(ctx, node):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        v = node.attr(key, None)
        if v is None:
            continue
        if key == "value":
            return ctx.attr_array(v)
        if key == "value_float":
            return np.array(v, dtype=np.float32)
        if key == "value_floats":
            return np.array(list(v), dtype=np.float32)
        if key == "value_int":
            return np.array(v, dtype=np.int64)
        return np.array(list(v), dtype=np.int64)
    for key in ("sparse_value", "value_string", "value_strings"):
        if node.attr(key, None) is not None:
            ctx.fail(f"attribute {key!r} is not supported (sparse and string constants have no tensor type)",
                     E.UNSUPPORTED_NODE_ATTR)
    ctx.fail("has no value attribute", E.INVALID_NODE)


@importer("Constant", since=1)
def constant_1(ctx, node):
    v = _const_value(ctx, node)
    if v.dtype == np.float64:
        v = v.astype(np.float32)
    return [ctx.constant(v)]


def fill_like_shape(ctx, fill_value, shape_t, n):
    """A tensor of ``fill_value`` (a numpy scalar array) with the runtime shape given by 1-D ``shape_t``."""
    base = ctx.constant(np.asarray(fill_value).reshape((1,) * n))
    return ctx.expand_to(base, ctx.cast(shape_t, DataType.INT64))


@importer("ConstantOfShape", since=9)
def constant_of_shape_9(ctx, node):
    fill = ctx.attr_array(node.attr("value", None))
    fill = np.zeros((1,), np.float32) if fill is None else fill.reshape(-1)[:1]
    if fill.dtype == np.float64:
        fill = fill.astype(np.float32)
    shape_v = ctx.input_value(node, 0)
    if shape_v is not None:
        return [ctx.constant(np.full(tuple(int(d) for d in shape_v.reshape(-1)), fill[0], dtype=fill.dtype))]
    st = ctx.input(node, 0)
    n = st.shape[0]
    if n < 0:
        ctx.fail("the shape input must have a known length", E.UNSUPPORTED_NODE_DYNAMIC)
    return [fill_like_shape(ctx, fill[0], st, n)]


@importer("Range", since=11)
def range_11(ctx, node):
    start, limit, delta = (ctx.input_value(node, i) for i in range(3))
    if start is not None and limit is not None and delta is not None:
        x = ctx.input(node, 0)
        dt = {DataType.FLOAT: np.float32, DataType.INT32: np.int32, DataType.INT64: np.int64,
              DataType.HALF: np.float16}.get(x.dtype, np.float32)
        s, l, d = (np.asarray(v).reshape(()).item() for v in (start, limit, delta))
        if d == 0:
            ctx.fail("delta is 0", E.INVALID_NODE)
        n = max(int(np.ceil((l - s) / d)), 0)
        return [ctx.constant((s + np.arange(n) * d).astype(dt))]
    if not hasattr(ctx.network, "add_fill"):
        ctx.fail("Range with non-constant inputs needs IFillLayer (add_fill), which this build lacks",
                 E.UNSUPPORTED_NODE_INPUT)
    from ...enums import FillOperation

    ts = [ctx.input(node, i) for i in range(3)]
    dt = ts[0].dtype
    f = [ctx.cast(t, DataType.FLOAT) for t in ts]
    # n = max(ceil((limit - start) / delta), 0)
    n = ctx.elementwise(ctx.elementwise(f[1], f[0], EW.SUB), f[2], EW.DIV)
    n = ctx.network.add_unary(n, "CEIL").get_output(0)
    n = ctx.elementwise(ctx.cast(n, DataType.INT64), ctx.constant(np.array(0, np.int64)), EW.MAX)
    n = ctx.reshape(n, [1], zero_copies=False)
    layer = ctx.network.add_fill((0,), FillOperation.LINSPACE, dt)
    layer.set_input(0, n)
    layer.set_input(1, ts[0] if ctx.rank(ts[0]) == 0 else ctx.reshape(ts[0], [], zero_copies=False))
    layer.set_input(2, ctx.reshape(ts[2], [1], zero_copies=False))
    return [ctx.done(layer)]


@importer("EyeLike", since=9)
def eye_like_9(ctx, node):
    x = ctx.input(node, 0)
    if ctx.rank(x) != 2 or any(d < 0 for d in x.shape):
        ctx.fail(f"EyeLike needs a 2-D input of static shape, got {tuple(x.shape)}", E.UNSUPPORTED_NODE_DYNAMIC)
    dt_attr = ctx.attr(node, "dtype", None)
    dt = ctx.dtype(int(dt_attr)) if dt_attr is not None else x.dtype
    from ...dtypes import nptype

    k = int(ctx.attr(node, "k", 0))
    return [ctx.constant(np.eye(x.shape[0], x.shape[1], k, dtype=nptype(dt)))]


# ----------------------------------------------------------------------------------------------- pass-through & casts
@importer("Identity", since=1)
def identity_1(ctx, node):
    return [ctx.identity(ctx.input(node, 0))]


@importer("Dropout", since=1)
def dropout_1(ctx, node):
    x = ctx.input(node, 0)
    if ctx.has_input(node, 2):
        mode = ctx.input_value(node, 2)
        if mode is None or bool(np.asarray(mode).reshape(-1)[0]):
            ctx.fail("training_mode must be a constant false for inference", E.UNSUPPORTED_NODE_INPUT)
    outs = [ctx.identity(x)]
    if len(node.outputs) > 1 and node.outputs[1]:
        if all(d >= 0 for d in x.shape):
            outs.append(ctx.constant(np.ones(tuple(x.shape), dtype=np.bool_)))
        else:
            outs.append(fill_like_shape(ctx, np.bool_(True), ctx.shape_of(x), ctx.rank(x)))
    return outs


# ----------------------------------------------------------------------------------------------- Optional
def _bound(ctx, name):
    return bool(name) and ctx.has(name)


@importer("Optional", since=15)
def optional(ctx, node):
    """An optional holding its input, or an empty optional (its output stays unbound) when there is none."""
    name = node.input(0)
    return [ctx.tensor(name) if name else None]


@importer("OptionalHasElement", since=15)
def optional_has_element(ctx, node):
    return [ctx.constant(np.array(_bound(ctx, node.input(0)), dtype=np.bool_))]


@importer("OptionalGetElement", since=15)
def optional_get_element(ctx, node):
    name = node.input(0)
    if not _bound(ctx, name):
        ctx.fail(f"optional {name!r} is empty here, so it has no element to get; guard it with OptionalHasElement "
                 f"and If, or give it a value", E.INVALID_NODE)
    return [ctx.tensor(name)]


def _cast(ctx, node, x, dt):
    """A cast layer with ONNX's ``saturate`` (opset 19+: float8 targets) and ``round_mode`` (opset 24+: E8M0)."""
    if x.dtype == dt:
        return ctx.identity(x)
    saturate = bool(ctx.attr(node, "saturate", 1)) if ctx.opset() >= 19 else True
    round_mode = ctx.attr(node, "round_mode", "up") if ctx.opset() >= 24 else "up"
    if round_mode not in ("up", "down", "nearest"):
        ctx.fail(f"round_mode {round_mode!r} is not 'up', 'down' or 'nearest'", E.UNSUPPORTED_NODE_ATTR)
    layer = ctx.network.internal.add_layer(Kind.CAST, [x], {"to_type": dt, "saturate": saturate,
                                                            "round_mode": round_mode})
    return ctx.out(layer)


@importer("Cast", since=1)
def cast_1(ctx, node):
    to = ctx.attr(node, "to", None)
    if to is None:
        ctx.fail("the 'to' attribute is missing", E.INVALID_NODE)
    if isinstance(to, str):
        ctx.fail(f"string type names ({to!r}) from opset 1-5 are not supported", E.UNSUPPORTED_NODE_ATTR)
    return [_cast(ctx, node, ctx.input(node, 0), ctx.dtype(int(to)))]


@importer("CastLike", since=15)
def cast_like_15(ctx, node):
    return [_cast(ctx, node, ctx.input(node, 0), ctx.input(node, 1).dtype)]


@importer("BitCast", since=26)
def bit_cast(ctx, node):
    return ctx.add_op(Kind.BITCAST, [ctx.tensor(node.inputs[0])], {"to_type": ctx.dtype(int(node.attr("to")))})
