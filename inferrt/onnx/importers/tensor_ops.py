"""Importers for ONNX data-movement ops built from slice and shuffle layers: Split, Slice, Pad, DepthToSpace,
SpaceToDepth, and Trilu / EyeLike style masks.

ONNX Slice's clamped, negative and INT_MAX bounds and Pad's constant/reflect/edge/wrap modes map onto ISliceLayer
(``SampleMode`` STRICT_BOUNDS / FILL / REFLECT / CLAMP / WRAP). When the bounds depend on dynamic dims the same
arithmetic is written as INT64 shape-tensor layers, folded by shape inference whenever the dims are known.
"""
from __future__ import annotations

import numpy as np

from ...enums import DataType, ElementWiseOperation as EW, ParserErrorCode as E, ReduceOperation, SampleMode
from ..registry import importer
from ._compose import (INT_MAX, attr, axis_slice, cast, const, dim_of, done, ew, fail, has_input, inp, ints,
                       norm_axes, rank, reduce, reshape, shape_of, tensor_value, transpose, value)


# ----------------------------------------------------------------------------------------------- Slice
def _slice_static(d, s, e, st):
    """Clamped (start, size) of ONNX Slice on a dim of size ``d``."""
    if s < 0:
        s += d
    if e < 0:
        e += d
    if st > 0:
        s, e = min(max(s, 0), d), min(max(e, 0), d)
        n = max(0, -(-(e - s) // st))
    else:
        s, e = min(max(s, 0), d - 1), min(max(e, -1), d - 1)
        n = max(0, -(-(s - e) // -st))
    return s, n


def _vec(ctx, vals):
    return ints(ctx, np.asarray(vals, dtype=np.int64))


def _slice_dynamic(ctx, x, axes, starts_t, ends_t, steps):
    """(start, size) INT64 vectors for ONNX Slice when some dims or bounds are only known at run time."""
    sh = shape_of(ctx, x)
    d = ctx.network.add_gather(sh, _vec(ctx, axes), 0).get_output(0) if hasattr(ctx.network, "add_gather") else \
        _concat_dims(ctx, x, axes)
    sgn = _vec(ctx, [1 if s > 0 else -1 for s in steps])
    zero = _vec(ctx, [0] * len(axes))
    one = _vec(ctx, [1] * len(axes))

    def wrap_neg(v):  # v + d where v < 0
        neg = cast(ctx, ew(ctx, v, zero, EW.LESS), DataType.INT64)
        return ew(ctx, v, ew(ctx, neg, d, EW.PROD), EW.SUM)

    # step > 0: clamp to [0, d]; step < 0: start to [0, d-1], end to [-1, d-1]
    pos = _vec(ctx, [1 if s > 0 else 0 for s in steps])
    hi = ew(ctx, d, ew(ctx, one, pos, EW.SUB), EW.SUB)
    s = ew(ctx, ew(ctx, wrap_neg(starts_t), zero, EW.MAX), hi, EW.MIN)
    e_lo = ew(ctx, pos, one, EW.SUB)  # 0 or -1
    e = ew(ctx, ew(ctx, wrap_neg(ends_t), e_lo, EW.MAX), hi, EW.MIN)
    absstep = _vec(ctx, [abs(v) for v in steps])
    num = ew(ctx, ew(ctx, ew(ctx, e, s, EW.SUB), sgn, EW.PROD), ew(ctx, absstep, one, EW.SUB), EW.SUM)
    size = ew(ctx, ew(ctx, num, absstep, EW.FLOOR_DIV), zero, EW.MAX)
    return s, size


def _check(ctx, node, cond, what):
    """An assertion layer: execution fails with a message naming ``node`` unless every element of ``cond`` holds."""
    a = ctx.network.add_assertion(cond, f"{node.op_type} node {node.name!r}: {what}")
    a.name = f"{node.name} [check: {what}]"


def _runtime_axes(ctx, node, axes_t, r, n):
    """A run-time axes tensor as INT64 with negative axes wrapped (axis + rank); execution fails, naming the node,
    when an axis is out of range or repeated."""
    axes_t = cast(ctx, axes_t, DataType.INT64)
    neg = cast(ctx, ew(ctx, axes_t, _vec(ctx, [0] * n), EW.LESS), DataType.INT64)
    wrapped = ew(ctx, axes_t, ew(ctx, neg, _vec(ctx, [r] * n), EW.PROD), EW.SUM)
    what = f"axes must lie in [{-r}, {r - 1}] for an input of rank {r}"
    _check(ctx, node, ew(ctx, wrapped, _vec(ctx, [-1] * n), EW.GREATER), what)
    _check(ctx, node, ew(ctx, wrapped, _vec(ctx, [r] * n), EW.LESS), what)
    pairs = cast(ctx, ew(ctx, reshape(ctx, wrapped, [n, 1]), reshape(ctx, wrapped, [1, n]), EW.EQUAL), DataType.INT64)
    _check(ctx, node, ew(ctx, reduce(ctx, pairs, ReduceOperation.SUM, [0, 1], keep_dims=False), ints(ctx, [n]),
                         EW.EQUAL), "axes must not repeat")
    return wrapped


def _slice_runtime(ctx, node, x, starts_t, ends_t, axes_t, steps_t):
    """ONNX Slice whose axes or steps are known only at run time: every bound is computed in the graph (the
    axes' sizes gathered from the shape, negative axes and bounds wrapped, clamping per step sign) and handed to
    a slice layer with run-time axes and strides."""
    r = rank(x)
    n = starts_t.shape[0] if rank(starts_t) == 1 else -1
    if n < 0:
        fail(node, "starts must be a 1-D tensor of known length", E.INVALID_NODE)
    i64 = DataType.INT64
    starts_t, ends_t = cast(ctx, starts_t, i64), cast(ctx, ends_t, i64)
    zero, one = _vec(ctx, [0] * n), _vec(ctx, [1] * n)
    axes_t = _vec(ctx, list(range(n))) if axes_t is None else _runtime_axes(ctx, node, axes_t, r, n)
    steps_t = one if steps_t is None else cast(ctx, steps_t, i64)
    _check(ctx, node, ew(ctx, ew(ctx, steps_t, zero, EW.LESS), ew(ctx, steps_t, zero, EW.GREATER), EW.OR),
           "steps must not be 0")
    d = ctx.network.add_gather(shape_of(ctx, x), axes_t, 0).get_output(0)
    pos = cast(ctx, ew(ctx, steps_t, zero, EW.GREATER), i64)          # 1 where step > 0
    sgn = ew(ctx, ew(ctx, pos, _vec(ctx, [2] * n), EW.PROD), one, EW.SUB)

    def wrap_neg(v):
        return ew(ctx, v, ew(ctx, cast(ctx, ew(ctx, v, zero, EW.LESS), i64), d, EW.PROD), EW.SUM)

    hi = ew(ctx, d, ew(ctx, one, pos, EW.SUB), EW.SUB)                # d (step > 0) or d - 1
    big = _vec(ctx, [INT_MAX] * n)
    st = ew(ctx, ew(ctx, wrap_neg(ew(ctx, ew(ctx, starts_t, big, EW.MIN), ew(ctx, zero, big, EW.SUB), EW.MAX)),
                    zero, EW.MAX), hi, EW.MIN)
    en = ew(ctx, ew(ctx, ends_t, big, EW.MIN), ew(ctx, zero, big, EW.SUB), EW.MAX)
    en = ew(ctx, ew(ctx, wrap_neg(en), ew(ctx, pos, one, EW.SUB), EW.MAX), hi, EW.MIN)
    absstep = ew(ctx, steps_t, sgn, EW.PROD)
    num = ew(ctx, ew(ctx, ew(ctx, en, st, EW.SUB), sgn, EW.PROD), ew(ctx, absstep, one, EW.SUB), EW.SUM)
    size = ew(ctx, ew(ctx, num, absstep, EW.FLOOR_DIV), zero, EW.MAX)
    layer = axis_slice(ctx, x, tuple(range(n)), (0,) * n, (0,) * n)
    layer.set_input(1, st)
    layer.set_input(2, size)
    layer.set_input(3, steps_t)
    layer.set_input(5, axes_t)
    return done(layer)


def _concat_dims(ctx, x, axes):
    from ._compose import shape_vector

    return shape_vector(ctx, [dim_of(ctx, x, a) for a in axes])


def _slice(ctx, node, x, starts, ends, axes, steps, starts_t=None, ends_t=None):
    r = rank(x)
    n = len(starts) if starts is not None else starts_t.shape[0]
    axes = list(range(n)) if axes is None else norm_axes(node, axes, r)
    steps = [1] * n if steps is None else [int(v) for v in steps]
    if len(axes) != n or len(steps) != n or len(set(axes)) != n:
        fail(node, f"starts, ends, axes {axes} and steps {steps} must have the same length and distinct axes",
             E.INVALID_NODE)
    if any(s == 0 for s in steps):
        fail(node, "steps must not be 0", E.INVALID_NODE)
    shape = tuple(x.shape)
    if starts is not None and ends is not None and all(shape[a] >= 0 for a in axes):
        st, sz = [], []
        for a, s, e, k in zip(axes, starts, ends, steps):
            s0, n0 = _slice_static(shape[a], int(s), int(min(e, INT_MAX)), k)
            st.append(s0)
            sz.append(n0)
        return done(axis_slice(ctx, x, axes, st, sz, steps))
    st_t = starts_t if starts is None else _vec(ctx, np.clip(np.asarray(starts, np.int64), -INT_MAX, INT_MAX))
    en_t = ends_t if ends is None else _vec(ctx, np.clip(np.asarray(ends, np.int64), -INT_MAX, INT_MAX))
    s, size = _slice_dynamic(ctx, x, axes, cast(ctx, st_t, DataType.INT64), cast(ctx, en_t, DataType.INT64), steps)
    layer = axis_slice(ctx, x, axes, (0,) * n, (0,) * n, steps)
    layer.set_input(1, s)
    layer.set_input(2, size)
    return done(layer)


@importer("Slice", since=1)
def slice_1(ctx, node):
    x = inp(ctx, node, 0)
    starts, ends = attr(node, "starts"), attr(node, "ends")
    return [_slice(ctx, node, x, starts, ends, attr(node, "axes", None), None)]


@importer("Slice", since=10)
def slice_10(ctx, node):
    x = inp(ctx, node, 0)
    starts, ends = value(ctx, node, 1), value(ctx, node, 2)
    axes = value(ctx, node, 3) if has_input(node, 3) else None
    steps = value(ctx, node, 4) if has_input(node, 4) else None
    if has_input(node, 3) and axes is None or has_input(node, 4) and steps is None:
        return [_slice_runtime(ctx, node, x, *(inp(ctx, node, i) if has_input(node, i) else None
                                               for i in (1, 2, 3, 4)))]
    return [_slice(ctx, node, x, None if starts is None else starts.reshape(-1).tolist(),
                   None if ends is None else ends.reshape(-1).tolist(),
                   None if axes is None else axes.reshape(-1).tolist(),
                   None if steps is None else steps.reshape(-1).tolist(),
                   inp(ctx, node, 1), inp(ctx, node, 2))]


# ----------------------------------------------------------------------------------------------- Split
def _split(ctx, node, x, sizes, num_outputs, ceil_chunks):
    r = rank(x)
    axis = norm_axes(node, [int(attr(node, "axis", 0))], r)[0]
    n_out = len(node.outputs)
    d = x.shape[axis]
    if sizes is not None:
        sizes = [int(v) for v in np.asarray(sizes).reshape(-1)]
        if len(sizes) != n_out:
            fail(node, f"split has {len(sizes)} sizes but the node has {n_out} outputs", E.INVALID_NODE)
        if d >= 0 and sum(sizes) != d:
            fail(node, f"split sizes {sizes} do not add up to the axis {axis} size {d}", E.INVALID_NODE)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist()
        return [_axis_slice(ctx, x, axis, s, z) for s, z in zip(starts, sizes)]
    n = num_outputs or n_out
    if d >= 0:
        chunk = -(-d // n) if ceil_chunks else d // n
        if not ceil_chunks and d % n:
            fail(node, f"axis {axis} of size {d} cannot be split evenly into {n} outputs", E.INVALID_NODE)
        starts = [min(i * chunk, d) for i in range(n)]
        return [_axis_slice(ctx, x, axis, s, min(chunk, d - s)) for s in starts]
    # dynamic axis: chunk = ceil(d / n) (opset 18) or d / n
    dt = dim_of(ctx, x, axis)
    nn = ints(ctx, [n])
    chunk = ew(ctx, ew(ctx, ew(ctx, dt, nn, EW.SUM), ints(ctx, [1]), EW.SUB), nn, EW.FLOOR_DIV) if ceil_chunks \
        else ew(ctx, dt, nn, EW.FLOOR_DIV)
    outs = []
    for i in range(n):
        start = ew(ctx, ew(ctx, chunk, ints(ctx, [i]), EW.PROD), dt, EW.MIN)
        size = ew(ctx, ew(ctx, dt, start, EW.SUB), chunk, EW.MIN)
        layer = axis_slice(ctx, x, (axis,), (0,), (0,))
        layer.set_input(1, start)
        layer.set_input(2, size)
        outs.append(done(layer))
    return outs


def _axis_slice(ctx, x, axis, start, size):
    return done(axis_slice(ctx, x, (axis,), (start,), (size,)))


@importer("Split", since=1)
def split_1(ctx, node):
    sizes = attr(node, "split", None)
    if sizes is None and has_input(node, 1):
        sizes = value(ctx, node, 1)
    return _split(ctx, node, inp(ctx, node, 0), sizes, None, False)


def _split_runtime(ctx, node, x):
    """Split sizes known only at run time: output i is the slice [sum(sizes[:i]), + sizes[i]) of the axis, each
    start and size computed in the graph from the sizes tensor."""
    axis = norm_axes(node, [int(attr(node, "axis", 0))], rank(x))[0]
    sizes = cast(ctx, inp(ctx, node, 1), DataType.INT64)
    if rank(sizes) != 1 or sizes.shape[0] not in (-1, len(node.outputs)):
        fail(node, f"the split input must be a 1-D tensor of {len(node.outputs)} sizes, got shape {sizes.shape}",
             E.INVALID_NODE)
    total = reduce(ctx, sizes, ReduceOperation.SUM, [0])
    d = dim_of(ctx, x, axis)
    _check(ctx, node, ew(ctx, sizes, _vec(ctx, [-1] * len(node.outputs)), EW.GREATER), "split sizes must not be negative")
    _check(ctx, node, ew(ctx, total, ints(ctx, [d]) if isinstance(d, int) else d, EW.EQUAL),
           f"the split sizes must add up to the size of axis {axis}")
    outs = []
    for i in range(len(node.outputs)):
        size = done(axis_slice(ctx, sizes, (0,), (i,), (1,)))
        start = ints(ctx, [0]) if i == 0 else reduce(ctx, done(axis_slice(ctx, sizes, (0,), (0,), (i,))),
                                                     ReduceOperation.SUM, [0])
        layer = axis_slice(ctx, x, (axis,), (0,), (0,))
        layer.set_input(1, start)
        layer.set_input(2, size)
        outs.append(done(layer))
    return outs


@importer("Split", since=13)
def split_13(ctx, node):
    sizes = None
    if has_input(node, 1):
        sizes = value(ctx, node, 1)
        if sizes is None:
            return _split_runtime(ctx, node, inp(ctx, node, 0))
    return _split(ctx, node, inp(ctx, node, 0), sizes, None, False)


@importer("Split", since=18)
def split_18(ctx, node):
    sizes = None
    if has_input(node, 1):
        sizes = value(ctx, node, 1)
        if sizes is None:
            return _split_runtime(ctx, node, inp(ctx, node, 0))
    num = attr(node, "num_outputs", None)
    if sizes is None and num is None:
        fail(node, "needs either the split input or the num_outputs attribute", E.INVALID_NODE)
    return _split(ctx, node, inp(ctx, node, 0), sizes, None if num is None else int(num), True)


# ----------------------------------------------------------------------------------------------- Pad
_PAD_MODES = {"constant": SampleMode.FILL, "reflect": SampleMode.REFLECT, "edge": SampleMode.CLAMP,
              "wrap": SampleMode.WRAP}


def _pad(ctx, node, x, pads, pads_t, fill_t, fill_v, mode, axes, axes_t=None):
    """ONNX Pad as a slice with negative starts and a fill / reflect / edge / wrap mode. ``axes_t``: axes known
    only at run time (then every bound is computed in the graph)."""
    r = rank(x)
    if mode not in _PAD_MODES:
        fail(node, f"mode {mode!r} is not supported; use constant, reflect, edge or wrap")
    if axes_t is not None:
        if rank(axes_t) != 1 or axes_t.shape[0] < 0:
            fail(node, "the axes input must be a 1-D tensor of known length", E.INVALID_NODE)
        n = axes_t.shape[0]
        axes = list(range(n))  # placeholders: the slice layer reads the real axes at run time
    else:
        axes = list(range(r)) if axes is None else norm_axes(node, axes, r)
        n = len(axes)
    shape = tuple(x.shape)
    if pads is not None:
        pads = [int(v) for v in np.asarray(pads).reshape(-1)]
        if len(pads) != 2 * n:
            fail(node, f"pads has {len(pads)} values; expected {2 * n} (begin and end for each of {n} axes)",
                 E.INVALID_NODE)
        if not any(pads):
            return ctx.network.add_identity(x).get_output(0)
    layer = axis_slice(ctx, x, axes, (0,) * n, (0,) * n)
    layer.mode = _PAD_MODES[mode]
    if pads is not None and axes_t is None and all(shape[a] >= 0 for a in axes):
        pre, post = pads[:n], pads[n:]
        layer.start = tuple(-p for p in pre)
        layer.shape = tuple(shape[a] + p + q for a, p, q in zip(axes, pre, post))
    else:
        pt = ints(ctx, pads) if pads is not None else cast(ctx, pads_t, DataType.INT64)
        pre = ctx.network.add_slice(pt, (0,), (n,), (1,)).get_output(0)
        post = ctx.network.add_slice(pt, (n,), (n,), (1,)).get_output(0)
        ax = ints(ctx, axes) if axes_t is None else _runtime_axes(ctx, node, axes_t, r, n)
        d = ctx.network.add_gather(shape_of(ctx, x), ax, 0).get_output(0)
        layer.set_input(1, ew(ctx, ints(ctx, [0] * n), pre, EW.SUB))
        layer.set_input(2, ew(ctx, ew(ctx, d, pre, EW.SUM), post, EW.SUM))
        layer.set_input(3, ints(ctx, [1] * n))
        if axes_t is not None:
            layer.set_input(5, ax)
    if mode == "constant":
        if fill_t is not None:
            fv = fill_t if rank(fill_t) == 0 else reshape(ctx, fill_t, [])
            layer.set_input(4, cast(ctx, fv, x.dtype))
        elif fill_v:
            from ...dtypes import nptype

            layer.set_input(4, const(ctx, np.array(fill_v, dtype=nptype(x.dtype))))
    return done(layer)


@importer("Pad", since=1)
def pad_1(ctx, node):
    pads = attr(node, "pads", None)
    if pads is None:
        pads = attr(node, "paddings", None)
    if pads is None:
        fail(node, "the 'pads' attribute is missing", E.INVALID_NODE)
    return [_pad(ctx, node, inp(ctx, node, 0), pads, None, None, float(attr(node, "value", 0.0)),
                 attr(node, "mode", "constant"), None)]


@importer("Pad", since=11)
def pad_11(ctx, node):
    x = inp(ctx, node, 0)
    pads = value(ctx, node, 1)
    fill_t = inp(ctx, node, 2) if has_input(node, 2) else None
    axes = None
    if has_input(node, 3):
        axes = value(ctx, node, 3)
        if axes is None:
            return [_pad(ctx, node, x, pads, inp(ctx, node, 1), fill_t, 0, attr(node, "mode", "constant"), None,
                         inp(ctx, node, 3))]
        axes = axes.reshape(-1).tolist()
    return [_pad(ctx, node, x, pads, inp(ctx, node, 1), fill_t, 0, attr(node, "mode", "constant"), axes)]


# ----------------------------------------------------------------------------------------------- DepthToSpace & co
def _dims(ctx, x):
    return [dim_of(ctx, x, i) for i in range(rank(x))]


def _div(ctx, d, b):
    return d // b if isinstance(d, int) else ew(ctx, d, ints(ctx, [b]), EW.FLOOR_DIV)


def _mul(ctx, d, b):
    return d * b if isinstance(d, int) else ew(ctx, d, ints(ctx, [b]), EW.PROD)


def _depth_to_space(ctx, node, mode):
    x = inp(ctx, node, 0)
    b = int(attr(node, "blocksize"))
    if rank(x) != 4:
        fail(node, f"input must be 4-D (N, C, H, W), got rank {rank(x)}", E.INVALID_NODE)
    n, c, h, w = _dims(ctx, x)
    if isinstance(c, int) and c % (b * b):
        fail(node, f"channels {c} are not divisible by blocksize^2 = {b * b}", E.INVALID_NODE)
    c2 = _div(ctx, c, b * b)
    if mode == "DCR":
        t = reshape(ctx, x, [n, b, b, c2, h, w])
        t = transpose(ctx, t, (0, 3, 4, 1, 5, 2))
    elif mode == "CRD":
        t = reshape(ctx, x, [n, c2, b, b, h, w])
        t = transpose(ctx, t, (0, 1, 4, 2, 5, 3))
    else:
        fail(node, f"mode {mode!r} is not DCR or CRD", E.INVALID_NODE)
    return [reshape(ctx, t, [n, c2, _mul(ctx, h, b), _mul(ctx, w, b)])]


@importer("DepthToSpace", since=1)
def depth_to_space_1(ctx, node):
    return _depth_to_space(ctx, node, "DCR")


@importer("DepthToSpace", since=11)
def depth_to_space_11(ctx, node):
    return _depth_to_space(ctx, node, attr(node, "mode", "DCR"))


@importer("SpaceToDepth", since=1)
def space_to_depth_1(ctx, node):
    x = inp(ctx, node, 0)
    b = int(attr(node, "blocksize"))
    if rank(x) != 4:
        fail(node, f"input must be 4-D (N, C, H, W), got rank {rank(x)}", E.INVALID_NODE)
    mode = attr(node, "mode", "DCR")  # the mode attribute is newer than the op; DCR is the old behaviour
    if mode not in ("DCR", "CRD"):
        fail(node, f"mode {mode!r} is not DCR or CRD", E.INVALID_NODE)
    n, c, h, w = _dims(ctx, x)
    h2, w2 = _div(ctx, h, b), _div(ctx, w, b)
    t = reshape(ctx, x, [n, c, h2, b, w2, b])
    t = transpose(ctx, t, (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4))
    return [reshape(ctx, t, [n, _mul(ctx, c, b * b), h2, w2])]


# ----------------------------------------------------------------------------------------------- Trilu
@importer("Trilu", since=14)
def trilu_14(ctx, node):
    x = inp(ctx, node, 0)
    r = rank(x)
    if r < 2:
        fail(node, f"input must have rank >= 2, got {r}", E.INVALID_NODE)
    k, k_tensor = 0, None
    if has_input(node, 1):
        kv = value(ctx, node, 1)
        if kv is None:  # k known only at run time: the mask is computed by layers from the k tensor
            k_tensor = inp(ctx, node, 1)
        else:
            k = int(np.asarray(kv).reshape(-1)[0])
    upper = bool(attr(node, "upper", 1))
    rows, cols = x.shape[-2], x.shape[-1]
    if rows < 0 or cols < 0:
        fail(node, f"the last two dims must be static, got {tuple(x.shape)}", E.UNSUPPORTED_NODE_DYNAMIC)
    i = np.arange(rows)[:, None]
    j = np.arange(cols)[None, :]
    if k_tensor is not None:
        from ...enums import UnaryOperation

        kt = cast(ctx, reshape(ctx, k_tensor, [1, 1]), DataType.INT64)
        diff = const(ctx, (j - i).astype(np.int64))
        # upper keeps j - i >= k, i.e. not (j - i < k); lower keeps j - i <= k, i.e. not (j - i > k)
        outside = ctx.network.add_elementwise(diff, kt, EW.LESS if upper else EW.GREATER).get_output(0)
        keep_t = ctx.network.add_unary(outside, UnaryOperation.NOT).get_output(0)
        mask = reshape(ctx, keep_t, [1] * (r - 2) + [rows, cols])
        from ...dtypes import nptype

        zero = const(ctx, np.zeros((1,) * r, dtype=nptype(x.dtype)))
        return [select(ctx, mask, x, zero)]
    keep = (j - i >= k) if upper else (j - i <= k)
    mask = const(ctx, keep.reshape((1,) * (r - 2) + keep.shape))
    v = tensor_value(x)
    if v is not None:
        return [const(ctx, np.where(keep, v, np.zeros((), v.dtype)))]
    from ...dtypes import nptype

    zero = const(ctx, np.zeros((1,) * r, dtype=nptype(x.dtype)))
    return [select(ctx, mask, x, zero)]


def select(ctx, cond, a, b):
    """ISelectLayer with ONNX broadcasting of all three inputs to one rank."""
    r = max(rank(cond), rank(a), rank(b))
    from ._compose import unsqueeze_front

    cond, a, b = (unsqueeze_front(ctx, t, r - rank(t)) for t in (cond, a, b))
    return ctx.network.add_select(cond, a, b).get_output(0)
