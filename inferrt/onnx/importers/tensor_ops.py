"""Importers for ONNX data-movement ops built from slice and shuffle layers: Split, Slice, Pad, CenterCropPad (the
``center_crop_pad`` op), DepthToSpace, SpaceToDepth, and Trilu / EyeLike style masks.

ONNX Slice's clamped, negative and INT_MAX bounds and Pad's constant/reflect/edge/wrap modes map onto ISliceLayer
(``SampleMode`` STRICT_BOUNDS / FILL / REFLECT / CLAMP / WRAP). When the bounds depend on dynamic dims the same
arithmetic is written as INT64 shape-tensor layers, folded by shape inference whenever the dims are known.
"""
from __future__ import annotations

import numpy as np

from ...enums import DataType, ElementWiseOperation as EW, ParserErrorCode as E, ReduceOperation, SampleMode
from ...ir.kinds import Kind
from ..registry import importer
from ..context import INT_MAX


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


def _slice_dynamic(ctx, x, axes, starts_t, ends_t, steps):
    """(start, size) INT64 vectors for ONNX Slice when some dims or bounds are only known at run time."""
    sh = ctx.shape_of(x)
    d = ctx.network.add_gather(sh, ctx.ints(axes), 0).get_output(0) if hasattr(ctx.network, "add_gather") else \
        _concat_dims(ctx, x, axes)
    sgn = ctx.ints([1 if s > 0 else -1 for s in steps])
    zero = ctx.ints([0] * len(axes))
    one = ctx.ints([1] * len(axes))

    def wrap_neg(v):  # v + d where v < 0
        neg = ctx.cast(ctx.elementwise(v, zero, EW.LESS), DataType.INT64)
        return ctx.elementwise(v, ctx.elementwise(neg, d, EW.PROD), EW.SUM)

    # step > 0: clamp to [0, d]; step < 0: start to [0, d-1], end to [-1, d-1]
    pos = ctx.ints([1 if s > 0 else 0 for s in steps])
    hi = ctx.elementwise(d, ctx.elementwise(one, pos, EW.SUB), EW.SUB)
    s = ctx.elementwise(ctx.elementwise(wrap_neg(starts_t), zero, EW.MAX), hi, EW.MIN)
    e_lo = ctx.elementwise(pos, one, EW.SUB)  # 0 or -1
    e = ctx.elementwise(ctx.elementwise(wrap_neg(ends_t), e_lo, EW.MAX), hi, EW.MIN)
    absstep = ctx.ints([abs(v) for v in steps])
    num = ctx.elementwise(ctx.elementwise(ctx.elementwise(e, s, EW.SUB), sgn, EW.PROD),
                          ctx.elementwise(absstep, one, EW.SUB), EW.SUM)
    size = ctx.elementwise(ctx.elementwise(num, absstep, EW.FLOOR_DIV), zero, EW.MAX)
    return s, size


def _check(ctx, node, cond, what):
    """An assertion layer: execution fails with a message naming ``node`` unless every element of ``cond`` holds."""
    a = ctx.network.add_assertion(cond, f"{node.op_type} node {node.name!r}: {what}")
    a.name = f"{node.name} [check: {what}]"


def _runtime_axes(ctx, node, axes_t, r, n):
    """A run-time axes tensor as INT64 with negative axes wrapped (axis + rank); execution fails, naming the node,
    when an axis is out of range or repeated."""
    axes_t = ctx.cast(axes_t, DataType.INT64)
    neg = ctx.cast(ctx.elementwise(axes_t, ctx.ints([0] * n), EW.LESS), DataType.INT64)
    wrapped = ctx.elementwise(axes_t, ctx.elementwise(neg, ctx.ints([r] * n), EW.PROD), EW.SUM)
    what = f"axes must lie in [{-r}, {r - 1}] for an input of rank {r}"
    _check(ctx, node, ctx.elementwise(wrapped, ctx.ints([-1] * n), EW.GREATER), what)
    _check(ctx, node, ctx.elementwise(wrapped, ctx.ints([r] * n), EW.LESS), what)
    pairs = ctx.elementwise(ctx.reshape(wrapped, [n, 1], zero_copies=False),
                            ctx.reshape(wrapped, [1, n], zero_copies=False), EW.EQUAL)
    pairs = ctx.cast(pairs, DataType.INT64)
    _check(ctx, node, ctx.elementwise(ctx.reduce(pairs, ReduceOperation.SUM, [0, 1], keep_dims=False), ctx.ints([n]),
                         EW.EQUAL), "axes must not repeat")
    return wrapped


def _slice_runtime(ctx, node, x, starts_t, ends_t, axes_t, steps_t):
    """ONNX Slice whose axes or steps are known only at run time: every bound is computed in the graph (the
    axes' sizes gathered from the shape, negative axes and bounds wrapped, clamping per step sign) and handed to
    a slice layer with run-time axes and strides."""
    r = ctx.rank(x)
    n = starts_t.shape[0] if ctx.rank(starts_t) == 1 else -1
    if n < 0:
        ctx.fail("starts must be a 1-D tensor of known length", E.INVALID_NODE)
    i64 = DataType.INT64
    starts_t, ends_t = ctx.cast(starts_t, i64), ctx.cast(ends_t, i64)
    zero, one = ctx.ints([0] * n), ctx.ints([1] * n)
    axes_t = ctx.ints(list(range(n))) if axes_t is None else _runtime_axes(ctx, node, axes_t, r, n)
    steps_t = one if steps_t is None else ctx.cast(steps_t, i64)
    nonzero = ctx.elementwise(ctx.elementwise(steps_t, zero, EW.LESS), ctx.elementwise(steps_t, zero, EW.GREATER),
                              EW.OR)
    _check(ctx, node, nonzero, "steps must not be 0")
    d = ctx.network.add_gather(ctx.shape_of(x), axes_t, 0).get_output(0)
    pos = ctx.cast(ctx.elementwise(steps_t, zero, EW.GREATER), i64)          # 1 where step > 0
    sgn = ctx.elementwise(ctx.elementwise(pos, ctx.ints([2] * n), EW.PROD), one, EW.SUB)

    def wrap_neg(v):
        return ctx.elementwise(v, ctx.elementwise(ctx.cast(ctx.elementwise(v, zero, EW.LESS), i64), d, EW.PROD), EW.SUM)

    hi = ctx.elementwise(d, ctx.elementwise(one, pos, EW.SUB), EW.SUB)                # d (step > 0) or d - 1
    big = ctx.ints([INT_MAX] * n)
    st = ctx.elementwise(ctx.elementwise(starts_t, big, EW.MIN), ctx.elementwise(zero, big, EW.SUB), EW.MAX)
    st = ctx.elementwise(ctx.elementwise(wrap_neg(st), zero, EW.MAX), hi, EW.MIN)
    en = ctx.elementwise(ctx.elementwise(ends_t, big, EW.MIN), ctx.elementwise(zero, big, EW.SUB), EW.MAX)
    en = ctx.elementwise(ctx.elementwise(wrap_neg(en), ctx.elementwise(pos, one, EW.SUB), EW.MAX), hi, EW.MIN)
    absstep = ctx.elementwise(steps_t, sgn, EW.PROD)
    num = ctx.elementwise(ctx.elementwise(ctx.elementwise(en, st, EW.SUB), sgn, EW.PROD),
                          ctx.elementwise(absstep, one, EW.SUB), EW.SUM)
    size = ctx.elementwise(ctx.elementwise(num, absstep, EW.FLOOR_DIV), zero, EW.MAX)
    layer = ctx.axis_slice(x, tuple(range(n)), (0,) * n, (0,) * n)
    layer.set_input(1, st)
    layer.set_input(2, size)
    layer.set_input(3, steps_t)
    layer.set_input(5, axes_t)
    return ctx.done(layer)


def _concat_dims(ctx, x, axes):
    

    return ctx.shape_vector([ctx.dim_of(x, a) for a in axes])


def _slice(ctx, node, x, starts, ends, axes, steps, starts_t=None, ends_t=None):
    r = ctx.rank(x)
    n = len(starts) if starts is not None else starts_t.shape[0]
    axes = list(range(n)) if axes is None else ctx.norm_axes(axes, r)
    steps = [1] * n if steps is None else [int(v) for v in steps]
    if len(axes) != n or len(steps) != n or len(set(axes)) != n:
        ctx.fail(f"starts, ends, axes {axes} and steps {steps} must have the same length and distinct axes",
                 E.INVALID_NODE)
    if any(s == 0 for s in steps):
        ctx.fail("steps must not be 0", E.INVALID_NODE)
    shape = tuple(x.shape)
    if starts is not None and ends is not None and all(shape[a] >= 0 for a in axes):
        st, sz = [], []
        for a, s, e, k in zip(axes, starts, ends, steps):
            s0, n0 = _slice_static(shape[a], int(s), int(min(e, INT_MAX)), k)
            st.append(s0)
            sz.append(n0)
        return ctx.done(ctx.axis_slice(x, axes, st, sz, steps))
    st_t = starts_t if starts is None else ctx.ints(np.clip(np.asarray(starts, np.int64), -INT_MAX, INT_MAX))
    en_t = ends_t if ends is None else ctx.ints(np.clip(np.asarray(ends, np.int64), -INT_MAX, INT_MAX))
    s, size = _slice_dynamic(ctx, x, axes, ctx.cast(st_t, DataType.INT64), ctx.cast(en_t, DataType.INT64), steps)
    layer = ctx.axis_slice(x, axes, (0,) * n, (0,) * n, steps)
    layer.set_input(1, s)
    layer.set_input(2, size)
    return ctx.done(layer)


@importer("Slice", since=1)
def slice_1(ctx, node):
    x = ctx.input(node, 0)
    starts, ends = ctx.attr(node, "starts"), ctx.attr(node, "ends")
    return [_slice(ctx, node, x, starts, ends, ctx.attr(node, "axes", None), None)]


@importer("Slice", since=10)
def slice_10(ctx, node):
    x = ctx.input(node, 0)
    starts, ends = ctx.input_value(node, 1), ctx.input_value(node, 2)
    axes = ctx.input_value(node, 3) if ctx.has_input(node, 3) else None
    steps = ctx.input_value(node, 4) if ctx.has_input(node, 4) else None
    if ctx.has_input(node, 3) and axes is None or ctx.has_input(node, 4) and steps is None:
        return [_slice_runtime(ctx, node, x, *(ctx.input(node, i) if ctx.has_input(node, i) else None
                                               for i in (1, 2, 3, 4)))]
    return [_slice(ctx, node, x, None if starts is None else starts.reshape(-1).tolist(),
                   None if ends is None else ends.reshape(-1).tolist(),
                   None if axes is None else axes.reshape(-1).tolist(),
                   None if steps is None else steps.reshape(-1).tolist(),
                   ctx.input(node, 1), ctx.input(node, 2))]


# ----------------------------------------------------------------------------------------------- Split
def _split(ctx, node, x, sizes, num_outputs, ceil_chunks):
    r = ctx.rank(x)
    axis = ctx.norm_axes([int(ctx.attr(node, "axis", 0))], r)[0]
    n_out = len(node.outputs)
    d = x.shape[axis]
    if sizes is not None:
        sizes = [int(v) for v in np.asarray(sizes).reshape(-1)]
        if len(sizes) != n_out:
            ctx.fail(f"split has {len(sizes)} sizes but the node has {n_out} outputs", E.INVALID_NODE)
        if d >= 0 and sum(sizes) != d:
            ctx.fail(f"split sizes {sizes} do not add up to the axis {axis} size {d}", E.INVALID_NODE)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist()
        return [_axis_slice(ctx, x, axis, s, z) for s, z in zip(starts, sizes)]
    n = num_outputs or n_out
    if d >= 0:
        chunk = -(-d // n) if ceil_chunks else d // n
        if not ceil_chunks and d % n:
            ctx.fail(f"axis {axis} of size {d} cannot be split evenly into {n} outputs", E.INVALID_NODE)
        starts = [min(i * chunk, d) for i in range(n)]
        return [_axis_slice(ctx, x, axis, s, min(chunk, d - s)) for s in starts]
    # dynamic axis: chunk = ceil(d / n) (opset 18) or d / n
    dt = ctx.dim_of(x, axis)
    nn = ctx.ints([n])
    if ceil_chunks:
        chunk = ctx.elementwise(ctx.elementwise(ctx.elementwise(dt, nn, EW.SUM), ctx.ints([1]), EW.SUB), nn,
                                EW.FLOOR_DIV)
    else:
        chunk = ctx.elementwise(dt, nn, EW.FLOOR_DIV)
    outs = []
    for i in range(n):
        start = ctx.elementwise(ctx.elementwise(chunk, ctx.ints([i]), EW.PROD), dt, EW.MIN)
        size = ctx.elementwise(ctx.elementwise(dt, start, EW.SUB), chunk, EW.MIN)
        layer = ctx.axis_slice(x, (axis,), (0,), (0,))
        layer.set_input(1, start)
        layer.set_input(2, size)
        outs.append(ctx.done(layer))
    return outs


def _axis_slice(ctx, x, axis, start, size):
    return ctx.done(ctx.axis_slice(x, (axis,), (start,), (size,)))


@importer("Split", since=1)
def split_1(ctx, node):
    sizes = ctx.attr(node, "split", None)
    if sizes is None and ctx.has_input(node, 1):
        sizes = ctx.input_value(node, 1)
    return _split(ctx, node, ctx.input(node, 0), sizes, None, False)


def _split_runtime(ctx, node, x):
    """Split sizes known only at run time: output i is the slice [sum(sizes[:i]), + sizes[i]) of the axis, each
    start and size computed in the graph from the sizes tensor."""
    axis = ctx.norm_axes([int(ctx.attr(node, "axis", 0))], ctx.rank(x))[0]
    sizes = ctx.cast(ctx.input(node, 1), DataType.INT64)
    if ctx.rank(sizes) != 1 or sizes.shape[0] not in (-1, len(node.outputs)):
        ctx.fail(f"the split input must be a 1-D tensor of {len(node.outputs)} sizes, got shape {sizes.shape}",
                 E.INVALID_NODE)
    total = ctx.reduce(sizes, ReduceOperation.SUM, [0])
    d = ctx.dim_of(x, axis)
    _check(ctx, node, ctx.elementwise(sizes, ctx.ints([-1] * len(node.outputs)), EW.GREATER),
           "split sizes must not be negative")
    _check(ctx, node, ctx.elementwise(total, ctx.ints([d]) if isinstance(d, int) else d, EW.EQUAL),
           f"the split sizes must add up to the size of axis {axis}")
    outs = []
    for i in range(len(node.outputs)):
        size = ctx.done(ctx.axis_slice(sizes, (0,), (i,), (1,)))
        start = ctx.ints([0]) if i == 0 else ctx.reduce(ctx.done(ctx.axis_slice(sizes, (0,), (0,), (i,))),
                                                        ReduceOperation.SUM, [0])
        layer = ctx.axis_slice(x, (axis,), (0,), (0,))
        layer.set_input(1, start)
        layer.set_input(2, size)
        outs.append(ctx.done(layer))
    return outs


@importer("Split", since=13)
def split_13(ctx, node):
    sizes = None
    if ctx.has_input(node, 1):
        sizes = ctx.input_value(node, 1)
        if sizes is None:
            return _split_runtime(ctx, node, ctx.input(node, 0))
    return _split(ctx, node, ctx.input(node, 0), sizes, None, False)


@importer("Split", since=18)
def split_18(ctx, node):
    sizes = None
    if ctx.has_input(node, 1):
        sizes = ctx.input_value(node, 1)
        if sizes is None:
            return _split_runtime(ctx, node, ctx.input(node, 0))
    num = ctx.attr(node, "num_outputs", None)
    if sizes is None and num is None:
        ctx.fail("needs either the split input or the num_outputs attribute", E.INVALID_NODE)
    return _split(ctx, node, ctx.input(node, 0), sizes, None if num is None else int(num), True)


# ----------------------------------------------------------------------------------------------- Pad
_PAD_MODES = {"constant": SampleMode.FILL, "reflect": SampleMode.REFLECT, "edge": SampleMode.CLAMP,
              "wrap": SampleMode.WRAP}


def _pad(ctx, node, x, pads, pads_t, fill_t, fill_v, mode, axes, axes_t=None):
    """ONNX Pad as a slice with negative starts and a fill / reflect / edge / wrap mode. ``axes_t``: axes known
    only at run time (then every bound is computed in the graph)."""
    r = ctx.rank(x)
    if mode not in _PAD_MODES:
        ctx.fail(f"mode {mode!r} is not supported; use constant, reflect, edge or wrap", E.UNSUPPORTED_NODE_ATTR)
    if axes_t is not None:
        if ctx.rank(axes_t) != 1 or axes_t.shape[0] < 0:
            ctx.fail("the axes input must be a 1-D tensor of known length", E.INVALID_NODE)
        n = axes_t.shape[0]
        axes = list(range(n))  # placeholders: the slice layer reads the real axes at run time
    else:
        axes = list(range(r)) if axes is None else ctx.norm_axes(axes, r)
        n = len(axes)
    shape = tuple(x.shape)
    if pads is not None:
        pads = [int(v) for v in np.asarray(pads).reshape(-1)]
        if len(pads) != 2 * n:
            ctx.fail(f"pads has {len(pads)} values; expected {2 * n} (begin and end for each of {n} axes)",
                     E.INVALID_NODE)
        if not any(pads):
            return ctx.network.add_identity(x).get_output(0)
    layer = ctx.axis_slice(x, axes, (0,) * n, (0,) * n)
    layer.mode = _PAD_MODES[mode]
    if pads is not None and axes_t is None and all(shape[a] >= 0 for a in axes):
        pre, post = pads[:n], pads[n:]
        layer.start = tuple(-p for p in pre)
        layer.shape = tuple(shape[a] + p + q for a, p, q in zip(axes, pre, post))
    else:
        pt = ctx.ints(pads) if pads is not None else ctx.cast(pads_t, DataType.INT64)
        pre = ctx.network.add_slice(pt, (0,), (n,), (1,)).get_output(0)
        post = ctx.network.add_slice(pt, (n,), (n,), (1,)).get_output(0)
        ax = ctx.ints(axes) if axes_t is None else _runtime_axes(ctx, node, axes_t, r, n)
        d = ctx.network.add_gather(ctx.shape_of(x), ax, 0).get_output(0)
        layer.set_input(1, ctx.elementwise(ctx.ints([0] * n), pre, EW.SUB))
        layer.set_input(2, ctx.elementwise(ctx.elementwise(d, pre, EW.SUM), post, EW.SUM))
        layer.set_input(3, ctx.ints([1] * n))
        if axes_t is not None:
            layer.set_input(5, ax)
    if mode == "constant":
        if fill_t is not None:
            fv = fill_t if ctx.rank(fill_t) == 0 else ctx.reshape(fill_t, [], zero_copies=False)
            layer.set_input(4, ctx.cast(fv, x.dtype))
        elif fill_v:
            from ...dtypes import nptype

            layer.set_input(4, ctx.constant(np.array(fill_v, dtype=nptype(x.dtype))))
    return ctx.done(layer)


@importer("Pad", since=1)
def pad_1(ctx, node):
    pads = ctx.attr(node, "pads", None)
    if pads is None:
        pads = ctx.attr(node, "paddings", None)
    if pads is None:
        ctx.fail("the 'pads' attribute is missing", E.INVALID_NODE)
    return [_pad(ctx, node, ctx.input(node, 0), pads, None, None, float(ctx.attr(node, "value", 0.0)),
                 ctx.attr(node, "mode", "constant"), None)]


@importer("Pad", since=11)
def pad_11(ctx, node):
    x = ctx.input(node, 0)
    pads = ctx.input_value(node, 1)
    fill_t = ctx.input(node, 2) if ctx.has_input(node, 2) else None
    axes = None
    if ctx.has_input(node, 3):
        axes = ctx.input_value(node, 3)
        if axes is None:
            return [_pad(ctx, node, x, pads, ctx.input(node, 1), fill_t, 0, ctx.attr(node, "mode", "constant"), None,
                         ctx.input(node, 3))]
        axes = axes.reshape(-1).tolist()
    return [_pad(ctx, node, x, pads, ctx.input(node, 1), fill_t, 0, ctx.attr(node, "mode", "constant"), axes)]


@importer("CenterCropPad", since=18)
def center_crop_pad(ctx, node):
    x = ctx.tensor(node.inputs[0])
    return ctx.add_op(Kind.CENTER_CROP_PAD, [x, ctx.int64_input(node, 1)], {"axes": tuple(node.attr("axes", ()))})


# ----------------------------------------------------------------------------------------------- DepthToSpace & co
def _dims(ctx, x):
    return [ctx.dim_of(x, i) for i in range(ctx.rank(x))]


def _div(ctx, d, b):
    return d // b if isinstance(d, int) else ctx.elementwise(d, ctx.ints([b]), EW.FLOOR_DIV)


def _mul(ctx, d, b):
    return d * b if isinstance(d, int) else ctx.elementwise(d, ctx.ints([b]), EW.PROD)


def _depth_to_space(ctx, node, mode):
    x = ctx.input(node, 0)
    b = int(ctx.attr(node, "blocksize"))
    if ctx.rank(x) != 4:
        ctx.fail(f"input must be 4-D (N, C, H, W), got rank {ctx.rank(x)}", E.INVALID_NODE)
    n, c, h, w = _dims(ctx, x)
    if isinstance(c, int) and c % (b * b):
        ctx.fail(f"channels {c} are not divisible by blocksize^2 = {b * b}", E.INVALID_NODE)
    c2 = _div(ctx, c, b * b)
    if mode == "DCR":
        t = ctx.reshape(x, [n, b, b, c2, h, w], zero_copies=False)
        t = ctx.transpose(t, (0, 3, 4, 1, 5, 2))
    elif mode == "CRD":
        t = ctx.reshape(x, [n, c2, b, b, h, w], zero_copies=False)
        t = ctx.transpose(t, (0, 1, 4, 2, 5, 3))
    else:
        ctx.fail(f"mode {mode!r} is not DCR or CRD", E.INVALID_NODE)
    return [ctx.reshape(t, [n, c2, _mul(ctx, h, b), _mul(ctx, w, b)], zero_copies=False)]


@importer("DepthToSpace", since=1)
def depth_to_space_1(ctx, node):
    return _depth_to_space(ctx, node, "DCR")


@importer("DepthToSpace", since=11)
def depth_to_space_11(ctx, node):
    return _depth_to_space(ctx, node, ctx.attr(node, "mode", "DCR"))


@importer("SpaceToDepth", since=1)
def space_to_depth_1(ctx, node):
    x = ctx.input(node, 0)
    b = int(ctx.attr(node, "blocksize"))
    if ctx.rank(x) != 4:
        ctx.fail(f"input must be 4-D (N, C, H, W), got rank {ctx.rank(x)}", E.INVALID_NODE)
    mode = ctx.attr(node, "mode", "DCR")  # the mode attribute is newer than the op; DCR is the old behaviour
    if mode not in ("DCR", "CRD"):
        ctx.fail(f"mode {mode!r} is not DCR or CRD", E.INVALID_NODE)
    n, c, h, w = _dims(ctx, x)
    h2, w2 = _div(ctx, h, b), _div(ctx, w, b)
    t = ctx.reshape(x, [n, c, h2, b, w2, b], zero_copies=False)
    t = ctx.transpose(t, (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4))
    return [ctx.reshape(t, [n, _mul(ctx, c, b * b), h2, w2], zero_copies=False)]


# ----------------------------------------------------------------------------------------------- Trilu
@importer("Trilu", since=14)
def trilu_14(ctx, node):
    """Keeps x where j - i >= k (upper) or j - i <= k (lower) over the last two axes (row i, column j). A constant
    mask when the last two dims and k are known; otherwise the mask is computed by layers, from Range over the
    dims at run time (the form of PyTorch's causal masks with a dynamic sequence) and from the k tensor."""
    x = ctx.input(node, 0)
    r = ctx.rank(x)
    if r < 2:
        ctx.fail(f"input must have rank >= 2, got {r}", E.INVALID_NODE)
    k, k_tensor = 0, None
    if ctx.has_input(node, 1):
        kv = ctx.input_value(node, 1)
        if kv is None:  # k known only at run time: the mask is computed by layers from the k tensor
            k_tensor = ctx.input(node, 1)
        else:
            k = int(np.asarray(kv).reshape(-1)[0])
    upper = bool(ctx.attr(node, "upper", 1))
    from ...dtypes import nptype

    zero = ctx.constant(np.zeros((1,) * r, dtype=nptype(x.dtype)))
    rows, cols = x.shape[-2], x.shape[-1]
    if rows >= 0 and cols >= 0 and k_tensor is None:
        i = np.arange(rows)[:, None]
        j = np.arange(cols)[None, :]
        keep = (j - i >= k) if upper else (j - i <= k)
        v = ctx.value_of(x)
        if v is not None:
            return [ctx.constant(np.where(keep, v, np.zeros((), v.dtype)))]
        return [select(ctx, ctx.constant(keep.reshape((1,) * (r - 2) + keep.shape)), x, zero)]
    from ...enums import UnaryOperation

    diff = ctx.elementwise(_positions(ctx, node, x, r - 1, [1, -1]), _positions(ctx, node, x, r - 2, [-1, 1]),
                           EW.SUB)   # j - i, (rows, cols)
    kt = ctx.constant(np.array([[k]], np.int64)) if k_tensor is None else \
        ctx.cast(ctx.reshape(k_tensor, [1, 1], zero_copies=False), DataType.INT64)
    # upper keeps j - i >= k, i.e. not (j - i < k); lower keeps j - i <= k, i.e. not (j - i > k)
    outside = ctx.network.add_elementwise(diff, kt, EW.LESS if upper else EW.GREATER).get_output(0)
    keep_t = ctx.network.add_unary(outside, UnaryOperation.NOT).get_output(0)
    return [select(ctx, keep_t, x, zero)]


def _positions(ctx, node, x, axis, shape):
    """0, 1, … along dim ``axis`` of ``x``, as INT64 reshaped to ``shape`` (a row or a column)."""
    n = ctx.dim_of(x, axis)
    n = ctx.constant(np.array(n, np.int64)) if isinstance(n, int) else ctx.reshape(n, [], zero_copies=False)
    zero, one = ctx.constant(np.array(0, np.int64)), ctx.constant(np.array(1, np.int64))
    return ctx.reshape(ctx.onnx_op("Range", [zero, n, one])[0], shape, zero_copies=False)


def select(ctx, cond, a, b):
    """ISelectLayer with ONNX broadcasting of all three inputs to one rank."""
    r = max(ctx.rank(cond), ctx.rank(a), ctx.rank(b))
    

    cond, a, b = (ctx.unsqueeze_front(t, r - ctx.rank(t)) for t in (cond, a, b))
    return ctx.network.add_select(cond, a, b).get_output(0)
