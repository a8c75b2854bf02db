"""Shape and layout aten ops: view/reshape/flatten/unflatten, (un)squeeze, permute/transpose, expand, cat, split, slice,
select, casts (``to``, ``_to_copy``), identities (clone, contiguous, dropout in eval), ``sym_size`` and
``getitem``, and constant factories with static shapes (arange, full, ones, zeros, scalar_tensor).

Reshape targets may hold symbolic sizes (SymDims): they become INT64 shape tensors (static when known)."""
from __future__ import annotations

import operator

import numpy as np
import torch

from inferrt.dtypes import from_torch_dtype, nptype
from inferrt.enums import DataType, FillOperation
from inferrt.onnx.context_compose import INT_MAX
from inferrt.torch.converters import converter
from inferrt.torch.converters.context import SymDim

aten = torch.ops.aten


def _symbolic_args(node):
    for a in _flat(node.args, node.kwargs):
        if isinstance(a, torch.fx.Node) and isinstance(a.meta.get("val"), (torch.SymInt, torch.SymFloat)):
            return f"argument {a.name!r} is a symbolic size; this op converts with static sizes only"
    return None


def _flat(args, kwargs):
    out = []
    for a in list(args) + list(kwargs.values()):
        out.extend(a if isinstance(a, (list, tuple)) else [a])
    return out


def _static_out(node):
    val = node.meta.get("val")
    if isinstance(val, torch.Tensor) and any(not isinstance(d, int) for d in val.shape):
        return "the output shape is symbolic; this op converts with static shapes only"
    return _symbolic_args(node)


def _passthrough(ctx, node):
    return ctx.arg(node, 0)


converter(aten.clone.default, aten.contiguous.default, aten.detach.default, aten.alias.default,
          aten.lift_fresh_copy.default, aten.detach_.default)(_passthrough)


def _dropout_supports(node):
    train = node.args[2] if len(node.args) > 2 else node.kwargs.get("train", False)
    return "dropout in training mode (call module.eval() before compiling)" if train else None


converter(aten.dropout.default, aten.feature_dropout.default, supports=_dropout_supports)(_passthrough)


@converter(aten._assert_tensor_metadata.default, aten._assert_scalar.default, aten.sym_constrain_range_for_size.default)
def no_value(ctx, node):
    """Checks that PyTorch already made while tracing; nothing to compute."""
    return None


def _cast_supports(node):
    val = node.meta.get("val")
    if isinstance(val, torch.Tensor):
        try:
            from_torch_dtype(val.dtype)
        except (KeyError, ValueError, TypeError):
            return f"casts to {val.dtype} have no converter"
    return None


@converter(aten.to.dtype, aten.to.dtype_layout, aten._to_copy.default, aten.to.device, aten.type_as.default,
           aten.to.other, supports=_cast_supports)
def to(ctx, node):
    return ctx.as_out_dtype(ctx.tensor(ctx.arg(node, 0)))


@converter(aten.view.default, aten.reshape.default, aten._unsafe_view.default)
def view(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    dims = ctx.dims(ctx.arg(node, 1))
    if all(isinstance(d, int) for d in dims) and tuple(dims) == tuple(x.shape):
        return x
    return ctx.reshape(x, dims, zero_copies=False)


@converter(aten.flatten.using_ints)
def flatten(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    r = ctx.rank(x)
    if r == 0:
        return ctx.reshape(x, [1], zero_copies=False)
    s, e = ctx.norm_dim(ctx.arg(node, 1, 0), r), ctx.norm_dim(ctx.arg(node, 2, -1), r)
    items = ctx.dim_items(x)
    return ctx.reshape(x, items[:s] + [ctx.mul_dims(items[s:e + 1])] + items[e + 1:], zero_copies=False)


@converter(aten.unflatten.int)
def unflatten(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    r = ctx.rank(x)
    d = ctx.norm_dim(ctx.arg(node, 1), r)
    items = ctx.dim_items(x)
    return ctx.reshape(x, items[:d] + ctx.dims(ctx.arg(node, 2)) + items[d + 1:], zero_copies=False)


@converter(aten.unsqueeze.default)
def unsqueeze(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    r = ctx.rank(x)
    d = ctx.norm_dim(ctx.arg(node, 1), r + 1)
    items = ctx.dim_items(x)
    return ctx.reshape(x, items[:d] + [1] + items[d:], zero_copies=False)


@converter(aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default)
def squeeze(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    r = ctx.rank(x)
    dims = ctx.arg(node, 1, None)
    dims = range(r) if dims is None else ([dims] if isinstance(dims, int) else dims)
    drop = {ctx.norm_dim(d, r) for d in dims if x.shape[ctx.norm_dim(d, r)] == 1}
    items = [d for i, d in enumerate(ctx.dim_items(x)) if i not in drop]
    return ctx.reshape(x, items, zero_copies=False) if drop else x


@converter(aten.permute.default)
def permute(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    r = ctx.rank(x)
    return ctx.transpose(x, [ctx.norm_dim(p, r) for p in ctx.arg(node, 1)])


@converter(aten.transpose.int)
def transpose(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    r = ctx.rank(x)
    a, b = ctx.norm_dim(ctx.arg(node, 1), r), ctx.norm_dim(ctx.arg(node, 2), r)
    perm = list(range(r))
    perm[a], perm[b] = perm[b], perm[a]
    return ctx.transpose(x, perm)


@converter(aten.t.default, aten.numpy_T.default)
def t(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    return ctx.transpose(x, list(range(ctx.rank(x)))[::-1])


def expand_to(ctx, x, sizes):
    """``x`` broadcast to ``sizes`` (ints, -1 to keep a dim, SymDims)."""
    r = len(sizes)
    x = ctx.expand_rank(x, r)
    items = ctx.dim_items(x)
    target = [items[i] if (isinstance(s, int) and s == -1) else s for i, s in enumerate(ctx.dims(sizes))]
    if all(isinstance(d, int) for d in target) and tuple(target) == tuple(x.shape):
        return x
    return ctx.expand_to(x, ctx.shape_vector(target))


@converter(aten.expand.default)
def expand(ctx, node):
    return expand_to(ctx, ctx.tensor(ctx.arg(node, 0)), list(ctx.arg(node, 1)))


@converter(aten.expand_as.default)
def expand_as(ctx, node):
    x, other = ctx.tensor(ctx.arg(node, 0)), ctx.tensor(ctx.arg(node, 1))
    return ctx.expand_to(ctx.expand_rank(x, ctx.rank(other)), ctx.shape_of(other))


@converter(aten.cat.default, aten.concat.default)
def cat(ctx, node):
    ts = [ctx.tensor(v) for v in ctx.arg(node, 0)]
    dt = ctx.out_dtype()
    ts = [ctx.cast(v, dt) for v in ts if not (len(v.shape) == 1 and v.shape[0] == 0)]
    return ctx.concat(ts, ctx.norm_dim(ctx.arg(node, 1, 0, "dim"), ctx.rank(ts[0])))


def _static_dim(node, dim_arg=2, default_dim=0):
    val = node.args[0].meta.get("val") if isinstance(node.args[0], torch.fx.Node) else None
    if not isinstance(val, torch.Tensor):
        return "the input has no shape metadata"
    dim = node.args[dim_arg] if len(node.args) > dim_arg else node.kwargs.get("dim", default_dim)
    if not isinstance(val.shape[dim], int):
        return f"dim {dim} is symbolic; splitting converts along static dims only"
    return None


def _pieces(ctx, x, dim, sizes):
    outs, start = [], 0
    for s in sizes:
        outs.append(ctx.out(ctx.axis_slice(x, [dim], [start], [s])))
        start += s
    return outs


@converter(aten.split.Tensor, aten.split_with_sizes.default, supports=_static_dim)
def split(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    dim = ctx.norm_dim(ctx.arg(node, 2, 0, "dim"), ctx.rank(x))
    n = int(node.args[0].meta["val"].shape[dim])  # static (see _static_dim), even where the network's is not folded
    size = ctx.arg(node, 1)
    sizes = list(size) if isinstance(size, (list, tuple)) else [min(size, n - i) for i in range(0, n, size)]
    return _pieces(ctx, x, dim, sizes)


@converter(aten.chunk.default, supports=_static_dim)
def chunk(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    dim = ctx.norm_dim(ctx.arg(node, 2, 0, "dim"), ctx.rank(x))
    n, k = int(node.args[0].meta["val"].shape[dim]), ctx.arg(node, 1)
    step = -(-n // k)
    return _pieces(ctx, x, dim, [min(step, n - i) for i in range(0, n, step)])


@converter(aten.unbind.int, supports=_static_dim)
def unbind(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    dim = ctx.norm_dim(ctx.arg(node, 1, 0, "dim"), ctx.rank(x))
    return [ctx.out(ctx.network.add_gather(x, ctx.constant(np.array(i, np.int64)), dim))
            for i in range(x.shape[dim])]


def _slice_supports(node):
    for a in node.args[2:]:
        if isinstance(a, torch.fx.Node):
            return "slice bounds are symbolic; slices convert with constant bounds"
    return None


@converter(aten.slice.Tensor, supports=_slice_supports)
def slice_(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    r = ctx.rank(x)
    dim = ctx.norm_dim(ctx.arg(node, 1, 0), r)
    start, end, step = ctx.arg(node, 2, None), ctx.arg(node, 3, None), ctx.arg(node, 4, 1)
    start = 0 if start is None else start
    end = INT_MAX if end is None else end
    n = x.shape[dim]
    if n >= 0:
        s = max(0, min(n, start + n if start < 0 else start))
        e = max(s, min(n, end + n if end < 0 else end))
        if s == 0 and e == n and step == 1:
            return x
        return ctx.out(ctx.axis_slice(x, [dim], [s], [-(-(e - s) // step)], [step]))
    if start < 0 or end < 0 or step != 1:
        ctx.fail("a slice of a dynamic dim converts with step 1 and non-negative bounds only")
    items = ctx.dim_items(x)
    size = items[dim] if end >= INT_MAX // 2 else end
    if not isinstance(size, int):
        size = ctx.elementwise(size, ctx.ints([start]), "SUB") if start else size
    else:
        size = size - start
    layer = ctx.network.add_slice(x, (0,) * r, (1,) * r, (1,) * r)
    layer.set_input(1, ctx.ints([start if i == dim else 0 for i in range(r)]))
    layer.set_input(2, ctx.shape_vector([size if i == dim else d for i, d in enumerate(items)]))
    return ctx.out(layer)


@converter(aten.select.int)
def select(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    r = ctx.rank(x)
    dim, index = ctx.norm_dim(ctx.arg(node, 1), r), ctx.arg(node, 2)
    if isinstance(index, int) and index < 0:
        if x.shape[dim] < 0:
            ctx.fail("select with a negative index on a dynamic dim is not supported")
        index += x.shape[dim]
    idx = ctx.constant(np.array(index, np.int64)) if isinstance(index, int) else ctx.reshape(
        ctx.tensor(index), [], zero_copies=False)
    return ctx.out(ctx.network.add_gather(x, idx, dim))


@converter(aten.sym_size.int)
def sym_size(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    d = ctx.dim_of(x, ctx.norm_dim(ctx.arg(node, 1), ctx.rank(x)))
    return d if isinstance(d, int) else SymDim(d)


@converter(operator.getitem)
def getitem(ctx, node):
    seq, i = ctx.arg(node, 0), ctx.arg(node, 1)
    return seq[i]


# ------------------------------------------------------------------ constant factories (static shapes)
def _factory(ctx, node, fill_fn):
    val = node.meta["val"]
    arr = fill_fn(tuple(int(d) for d in val.shape))
    dt = from_torch_dtype(val.dtype)
    t = ctx.constant(arr.astype(np.float32 if dt in (DataType.HALF, DataType.BF16) else nptype(dt)))
    return ctx.cast(t, dt)


def _arange_supports(node):
    args = list(node.args) + [node.kwargs.get(k) for k in ("start", "end", "step") if k in node.kwargs]
    for a in args:
        v = a.meta.get("val") if isinstance(a, torch.fx.Node) else a
        if isinstance(v, (float, torch.SymFloat)) and not float(v).is_integer():
            return "arange with fractional bounds has no converter"
    return None


@converter(aten.arange.default, aten.arange.start, aten.arange.start_step, supports=_arange_supports)
def arange(ctx, node):
    args = [ctx.evaluate(a) for a in node.args]
    if len(args) == 1:
        args = [0, args[0]]
    start, end, step = (args + [1])[:3]
    if not any(isinstance(v, SymDim) for v in (start, end, step)):
        return _factory(ctx, node, lambda shape: np.arange(start, end, step, dtype=np.float64)[: shape[0]])
    if not isinstance(start, int) or not isinstance(step, int) or step <= 0:
        ctx.fail("arange with a symbolic end converts with constant integer start and positive step only")
    n = end.tensor if start == 0 else ctx.elementwise(end.tensor, ctx.ints([start]), "SUB")
    if step != 1:
        n = ctx.elementwise(ctx.elementwise(n, ctx.ints([step - 1]), "SUM"), ctx.ints([step]), "FLOOR_DIV")
    dt = ctx.out_dtype()
    layer = ctx.network.add_fill((0,), FillOperation.LINSPACE, dt)
    layer.set_input(0, ctx.reshape(n, [1], zero_copies=False))
    layer.set_input(1, ctx.constant(np.array(start, dtype=nptype(dt))))
    layer.set_input(2, ctx.constant(np.array([step], dtype=nptype(dt))))
    return ctx.done(layer)


@converter(aten.full.default, aten.new_full.default, aten.full_like.default, supports=_static_out)
def full(ctx, node):
    value = node.args[1] if node.target is aten.full.default or node.target is aten.full_like.default \
        else node.args[2]
    return _factory(ctx, node, lambda shape: np.full(shape, value, dtype=np.float64))


@converter(aten.ones.default, aten.new_ones.default, aten.ones_like.default, supports=_static_out)
def ones(ctx, node):
    return _factory(ctx, node, lambda shape: np.ones(shape))


@converter(aten.zeros.default, aten.new_zeros.default, aten.zeros_like.default, supports=_static_out)
def zeros(ctx, node):
    return _factory(ctx, node, lambda shape: np.zeros(shape))


@converter(aten.scalar_tensor.default)
def scalar_tensor(ctx, node):
    return _factory(ctx, node, lambda shape: np.asarray(node.args[0], dtype=np.float64))
