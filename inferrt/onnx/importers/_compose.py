"""Building blocks shared by the tensor, shape, NN and matrix importers.

Each helper adds ordinary network layers (TensorRT's API) and returns ITensors. Shape arithmetic is written as
layers on INT64 shape tensors; when the values are known the network's shape inference folds them, so the same
code serves static and dynamic shapes. Helpers never run math on data.
"""
from __future__ import annotations

import numpy as np

from ...enums import DataType, ElementWiseOperation as EW, ParserErrorCode as E, ReduceOperation
from ..registry import ImportFailure

INT_MAX = np.iinfo(np.int64).max


# ----------------------------------------------------------------------------------------------- node access
def fail(node, msg, code=E.UNSUPPORTED_NODE_ATTR):
    raise ImportFailure(code, f"{node.op_type} node {node.name!r}: {msg}")


def attr(node, name, default=None):
    v = node.attr(name, default)
    if isinstance(v, bytes):
        v = v.decode()
    return v


def has_input(node, i) -> bool:
    return i < len(node.inputs) and bool(node.inputs[i])


def inp(ctx, node, i):
    """The ITensor of input ``i`` or None when absent."""
    return ctx.tensor(node.inputs[i]) if has_input(node, i) else None


def value(ctx, node, i):
    """The known (constant) value of input ``i`` as numpy, or None."""
    if not has_input(node, i):
        return None
    name = node.inputs[i]
    v = None
    try:
        v = ctx.value(name)
    except (KeyError, LookupError, ValueError):
        v = None
    if v is None:
        v = tensor_value(ctx.tensor(name))
    return None if v is None else np.asarray(v)


def tensor_value(t):
    return t._value() if hasattr(t, "_value") else None


def to_dtype(onnx_type: int, node=None) -> DataType:
    """ONNX TensorProto element type -> DataType (ImportFailure naming the node for types inferrt cannot hold)."""
    from ..context import onnx_dtype

    return onnx_dtype(int(onnx_type), f"{node.op_type} node {node.name!r}: " if node is not None else "")


def attr_array(v):
    """An attribute holding a TensorProto (or an array already) as numpy."""
    if v is None:
        return None
    if hasattr(v, "dims") and hasattr(v, "data_type"):
        from onnx import numpy_helper

        return numpy_helper.to_array(v)
    return np.asarray(v)


# ----------------------------------------------------------------------------------------------- layers
def out(layer, i=0):
    if layer is None:
        raise ImportFailure(E.INVALID_NODE, "a network layer could not be created (see the log)")
    return layer.get_output(i)


def const(ctx, arr, dtype=None):
    arr = np.asarray(arr)
    if dtype is not None:
        arr = arr.astype(dtype)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return out(ctx.network.add_constant(arr.shape, np.ascontiguousarray(arr)))


def ints(ctx, vals):
    return const(ctx, np.asarray(vals, dtype=np.int64).reshape(-1))


def rank(t) -> int:
    return len(t.shape)


def cast(ctx, t, dt: DataType):
    if t.dtype == dt:
        return t
    return out(ctx.network.add_cast(t, dt))


def identity(ctx, t):
    return out(ctx.network.add_identity(t))


def unsqueeze_front(ctx, t, k):
    """Prepend ``k`` dims of size 1 (works on dynamic shapes: reshape then transpose)."""
    if k <= 0:
        return t
    r = rank(t)
    v = tensor_value(t)
    if v is not None:
        return const(ctx, v.reshape((1,) * k + v.shape))
    layer = ctx.network.add_shuffle(t)
    layer.reshape_dims = (0,) * r + (1,) * k
    if r:
        layer.second_transpose = tuple(range(r, r + k)) + tuple(range(r))
    return out(layer)


def broadcast_pair(a, b, ctx):
    ra, rb = rank(a), rank(b)
    return unsqueeze_front(ctx, a, rb - ra), unsqueeze_front(ctx, b, ra - rb)


def ew(ctx, a, b, op):
    a, b = broadcast_pair(a, b, ctx)
    return out(ctx.network.add_elementwise(a, b, op))


def unary(ctx, t, op):
    return out(ctx.network.add_unary(t, op))


def scalar_like(ctx, v, t):
    """A constant of ``t``'s dtype and rank with every dim 1."""
    from ...dtypes import nptype

    return const(ctx, np.full((1,) * rank(t), v, dtype=nptype(t.dtype)))


def reduce(ctx, t, op: ReduceOperation, axes, keep_dims=True):
    mask = 0
    for a in axes:
        mask |= 1 << a
    return out(ctx.network.add_reduce(t, op, mask, keep_dims))


def transpose(ctx, t, perm):
    perm = tuple(int(p) for p in perm)
    if perm == tuple(range(len(perm))):
        return t
    layer = ctx.network.add_shuffle(t)
    layer.first_transpose = perm
    return out(layer)


def concat(ctx, ts, axis=0):
    if len(ts) == 1:
        return ts[0]
    layer = ctx.network.add_concatenation(list(ts))
    layer.axis = axis
    return done(layer)


# ----------------------------------------------------------------------------------------------- shape tensors
def shape_of(ctx, t):
    return out(ctx.network.add_shape(t))


def dim_of(ctx, t, i):
    """Dim ``i`` of ``t``: an int when known, else a 1-element INT64 tensor."""
    d = t.shape[i]
    if d >= 0:
        return int(d)
    layer = ctx.network.add_slice(shape_of(ctx, t), (i,), (1,), (1,))
    return out(layer)


def mul_dims(ctx, items):
    """Product of ints and 1-element tensors (int when all are ints)."""
    known = int(np.prod([d for d in items if isinstance(d, int)], dtype=np.int64))
    tens = [d for d in items if not isinstance(d, int)]
    if not tens:
        return known
    acc = tens[0]
    for t in tens[1:]:
        acc = out(ctx.network.add_elementwise(acc, t, EW.PROD))
    if known != 1:
        acc = out(ctx.network.add_elementwise(acc, ints(ctx, [known]), EW.PROD))
    return acc


def shape_vector(ctx, items):
    """A 1-D INT64 tensor from ints and 1-element INT64 tensors (a constant when all are ints)."""
    if all(isinstance(d, (int, np.integer)) for d in items):
        return ints(ctx, [int(d) for d in items])
    parts, run = [], []
    for d in items:
        if isinstance(d, (int, np.integer)):
            run.append(int(d))
            continue
        if run:
            parts.append(ints(ctx, run))
            run = []
        parts.append(cast(ctx, d, DataType.INT64))
    if run:
        parts.append(ints(ctx, run))
    return concat(ctx, parts, 0)


def reshape(ctx, t, items, zero_is_placeholder=False):
    """Reshape to ``items`` (ints, -1, or 1-element tensors); static when every item is an int."""
    layer = ctx.network.add_shuffle(t)
    if all(isinstance(d, (int, np.integer)) for d in items):
        layer.zero_is_placeholder = zero_is_placeholder
        layer.reshape_dims = tuple(int(d) for d in items)
        return out(layer)
    layer.zero_is_placeholder = zero_is_placeholder
    layer.set_input(1, shape_vector(ctx, items))
    return out(layer)


def reshape_to(ctx, t, shape_t, zero_is_placeholder=False):
    """Reshape to the values of a 1-D shape tensor (folded to a static reshape when the values are known)."""
    v = tensor_value(shape_t)
    layer = ctx.network.add_shuffle(t)
    layer.zero_is_placeholder = zero_is_placeholder
    if v is not None:
        layer.reshape_dims = tuple(int(x) for x in v)
    else:
        layer.set_input(1, cast(ctx, shape_t, DataType.INT64))
    return out(layer)


def dim_items(ctx, t):
    return [dim_of(ctx, t, i) for i in range(rank(t))]


def norm_axes(node, axes, r, what="axis"):
    res = []
    for a in np.asarray(axes, dtype=np.int64).reshape(-1).tolist():
        if not -r <= a < max(r, 1):
            fail(node, f"{what} {a} is out of range for a tensor of rank {r}", E.INVALID_NODE)
        res.append(a % r if r else 0)
    return res


def to_float(ctx, t):
    return t if t.dtype in (DataType.FLOAT, DataType.HALF, DataType.BF16) else cast(ctx, t, DataType.FLOAT)


def expand_to(ctx, t, shape_t):
    """Broadcast ``t`` (already at the target rank) to the 1-D INT64 ``shape_t`` with a stride-0 slice."""
    r = rank(t)
    tshape = shape_of(ctx, t)
    one = ints(ctx, [1] * r)
    stride = ew(ctx, ew(ctx, tshape, one, EW.SUB), one, EW.MIN)  # 0 where the dim is 1 (or 0), else 1
    stride = ew(ctx, stride, ints(ctx, [0] * r), EW.MAX)
    layer = ctx.network.add_slice(t, (0,) * r, (1,) * r, (1,) * r)
    layer.set_input(1, ints(ctx, [0] * r))
    layer.set_input(2, shape_t)
    layer.set_input(3, stride)
    return out(layer)


def axis_slice(ctx, x, axes, start, size, stride=None):
    """An ISliceLayer over ``axes`` only (created full-rank and valid, then narrowed to the axes)."""
    r = rank(x)
    layer = ctx.network.add_slice(x, (0,) * r, (0,) * r, (1,) * r)
    layer.axes = tuple(axes)
    layer.start = tuple(int(v) for v in start)
    layer.shape = tuple(int(v) for v in size)
    layer.stride = tuple(int(v) for v in (stride if stride is not None else [1] * len(axes)))
    return layer


def done(layer, i=0):
    """Output ``i`` of a layer configured after creation; re-runs shape inference so that errors from the
    layer's initial (default) attributes do not linger."""
    t = layer.get_output(i)
    _ = t.shape
    return t


# ----------------------------------------------------------------------------------------------- ops by importer
def onnx_op(ctx, node, op_type, inputs, n_out=1, opset=21, **attrs):
    """Import one ai.onnx ``op_type`` node on ITensors through its registered importer (contrib ops decompose into
    standard ones this way). ``inputs``: ITensors, or None for an absent input; ``attrs``: ONNX attributes.
    Returns the ``n_out`` output ITensors. Errors name ``node`` (the contrib node being imported)."""
    from onnx import helper

    from ..context import NodeView
    from ..registry import lookup

    fn = lookup("", op_type, opset)
    if fn is None:
        raise ImportFailure(E.INTERNAL_ERROR, f"{node.op_type} node {node.name!r}: no importer for {op_type}")
    stem = f"{node.name}/{op_type}#{len(ctx.network._layers)}"
    names = []
    for k, t in enumerate(inputs):
        if t is None:
            names.append("")
            continue
        names.append(f"{stem}:in{k}")
        ctx.bind(names[-1], t)
    outs = [f"{stem}:out{k}" for k in range(n_out)]
    proto = helper.make_node(op_type, names, outs, name=node.name, **attrs)
    view = NodeView(proto, node.index, {**node.opsets, "": opset}, ctx.base_dir, node.function_stack)
    saved = ctx.node
    ctx.node = view
    try:
        res = fn(ctx, view)
    finally:
        ctx.node = saved
        for nm in names:
            ctx._tensors.pop(nm, None)
    return list(res)[:n_out]
