"""Index-driven layers: Gather (DEFAULT / ELEMENT / ND), Scatter (ELEMENT / ND, with reductions), OneHot,
NonZero (data-dependent output shape), ReverseSequence, and the ONNX-only ``compress`` (Compress, data-dependent
output size) and ``tensor_scatter`` (TensorScatter: write updates into a cache along one axis).

Indices follow ONNX semantics: negative values count from the end of the indexed axis. Out-of-range indices raise
an error on the CPU; on CUDA they are clamped instead, because a device-side bounds check would either need a host
synchronization (no CUDA-graph capture) or abort the whole CUDA context.
"""
from __future__ import annotations

import numpy as np
import torch

from ..enums import DataType, GatherMode, LayerType, ScatterMode
from .base import DTYPE, INT, Choice, Enum, OpDef, OpError, Spec, norm_axis, register

INDEX_TYPES = (DataType.INT32, DataType.INT64)
#: Scatter reductions (inferrt extension for ONNX ScatterND/ScatterElements) -> torch reduce names
REDUCTIONS = {"none": None, "add": "sum", "mul": "prod", "max": "amax", "min": "amin"}


def opt(ins, i):
    """Input ``i`` or None when absent (lowered graphs drop trailing absent inputs)."""
    return ins[i] if len(ins) > i else None


def check_index_type(s: Spec, what: str):
    if s.dtype not in INDEX_TYPES:
        raise OpError(f"{what} must be INT32 or INT64, got {s.dtype.name}; add a cast layer")


def check_known_range(s: Spec, n: int, what: str):
    """Build-time bounds check when the index values are known (constants)."""
    if s.value is None or n < 0 or s.value.size == 0:
        return
    lo, hi = int(s.value.min()), int(s.value.max())
    if lo < -n or hi >= n:
        raise OpError(f"{what} hold values in [{lo}, {hi}] but the indexed axis has size {n}; "
                      f"valid indices are in [{-n}, {n - 1}]")


def execution_error(msg: str) -> Exception:
    """The runtime's ExecutionError (imported lazily: the runtime imports the ops, not the other way round)."""
    from ..runtime.executor import ExecutionError

    return ExecutionError(msg)


def wrap_index(idx: torch.Tensor, n: int, what: str) -> torch.Tensor:
    """Negative indices count from the end; out-of-range ones raise (CPU) or are clamped (CUDA)."""
    idx = idx.to(torch.int64)
    idx = torch.where(idx < 0, idx + n, idx)
    if idx.numel() == 0:
        return idx
    if idx.device.type == "cpu":
        if n == 0 or bool(((idx < 0) | (idx >= n)).any()):
            bad = idx[(idx < 0) | (idx >= n)][0].item() if n else idx.flatten()[0].item()
            raise execution_error(f"{what}: index {bad if bad >= 0 else bad - n} is out of range for an axis of size "
                               f"{n} (valid: {-n}..{n - 1})")
        return idx
    return idx.clamp(0, max(n - 1, 0))


def _dim_match(a: int, b: int) -> bool:
    return a < 0 or b < 0 or a == b


# ----------------------------------------------------------------------------------------------- Gather
@register
class Gather(OpDef):
    kind = "gather"
    layer_type = LayerType.GATHER
    attrs = {"axis": (INT, 0), "num_elementwise_dims": (INT, 0), "mode": (Enum(GatherMode), GatherMode.DEFAULT)}
    inputs = ("input", "indices")
    min_inputs = 2

    def infer(self, a, ins):
        x, idx = ins[0], ins[1]
        check_index_type(idx, "gather indices")
        e = a.num_elementwise_dims
        xs, js = tuple(x.shape), tuple(idx.shape)
        if a.mode == GatherMode.DEFAULT:
            if e not in (0, 1):
                raise OpError(f"num_elementwise_dims must be 0 or 1 in DEFAULT mode, got {e}")
            if not xs:
                raise OpError("cannot gather from a 0-D tensor; reshape it to 1-D first")
            axis = norm_axis(a.axis, len(xs), "gather axis")
            if axis < e:
                raise OpError(f"gather axis {axis} must be >= num_elementwise_dims ({e})")
            if e:
                if not js or not _dim_match(xs[0], js[0]):
                    raise OpError(f"with num_elementwise_dims=1 the indices {js} and the data {xs} must share "
                                  f"their first dimension")
            check_known_range(idx, xs[axis], "gather indices")
            return [Spec(x.dtype, xs[:axis] + js[e:] + xs[axis + 1:])]
        if a.mode == GatherMode.ELEMENT:
            if e != 0:
                raise OpError(f"num_elementwise_dims must be 0 in ELEMENT mode, got {e}")
            axis = norm_axis(a.axis, len(xs), "gather axis")
            if len(js) != len(xs):
                raise OpError(f"ELEMENT mode needs indices of the same rank as the data: indices {js}, data {xs}")
            for d, (n, m) in enumerate(zip(xs, js)):
                if d != axis and n >= 0 and m > n:
                    raise OpError(f"indices dimension {d} ({m}) exceeds the data's ({n}) in ELEMENT mode")
            check_known_range(idx, xs[axis], "gather indices")
            return [Spec(x.dtype, js)]
        # ND
        if not js:
            raise OpError("ND mode needs indices of rank >= 1 (the last dimension indexes the data)")
        k = js[-1]
        if k < 0:
            raise OpError("the last dimension of the indices must be known at build time in ND mode")
        if e < 0 or e >= len(js) or e + k > len(xs):
            raise OpError(f"ND mode: num_elementwise_dims {e} + indices.shape[-1] {k} must not exceed the data rank "
                          f"{len(xs)}, and num_elementwise_dims must be < the indices rank {len(js)}")
        for d in range(e):
            if not _dim_match(xs[d], js[d]):
                raise OpError(f"ND mode: batch dimension {d} differs between data {xs} and indices {js}")
        return [Spec(x.dtype, js[:-1] + xs[e + k:])]

    #: a constant single index arrives as a CPU tensor (see ``host_input_wanted``), so the gather is a view
    host_inputs = (1,)

    def host_input_wanted(self, k, value) -> bool:
        return np.size(value) == 1

    def run(self, a, ins, outs):
        x, idx = ins[0], ins[1]
        if a.mode == GatherMode.DEFAULT:
            axis = a.axis % x.dim()
            if idx.device.type == "cpu" and idx.numel() == 1 and a.num_elementwise_dims == 0:
                n = x.shape[axis]
                j = int(idx.reshape(()).item())  # a CPU tensor: no device synchronization
                if not -n <= j < n:
                    raise execution_error(f"gather indices: index {j} is out of range for an axis of size {n} "
                                          f"(valid: {-n}..{n - 1})")
                return [x.narrow(axis, j % n, 1).reshape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])]
            i = wrap_index(idx, x.shape[axis], "gather indices")
            if a.num_elementwise_dims == 0:
                return [x.index_select(axis, i.reshape(-1)).reshape(
                    x.shape[:axis] + idx.shape + x.shape[axis + 1:])]
            b = x.shape[0]
            pre, post = x.shape[1:axis], x.shape[axis + 1:]
            xt = x.movedim(axis, 1).reshape(b, x.shape[axis], -1)
            flat = i.reshape(b, -1)
            res = xt[torch.arange(b, device=x.device)[:, None], flat]            # (B, M, R)
            res = res.reshape((b, flat.shape[1]) + pre + post).movedim(1, axis)
            return [res.reshape(x.shape[:axis] + idx.shape[1:] + post)]
        if a.mode == GatherMode.ELEMENT:
            axis = a.axis % x.dim()
            return [torch.gather(x, axis, wrap_index(idx, x.shape[axis], "gather indices"))]
        e, k = a.num_elementwise_dims, idx.shape[-1]
        lin = linear_index(idx, x.shape[e:e + k], "gather indices")            # (..batch, ..., )
        b = int(np.prod(x.shape[:e], dtype=np.int64))
        xt = x.reshape((b, -1) + x.shape[e + k:])
        flat = lin.reshape(b, -1)
        res = xt[torch.arange(b, device=x.device)[:, None], flat]
        return [res.reshape(idx.shape[:-1] + x.shape[e + k:])]


def linear_index(idx: torch.Tensor, dims, what: str) -> torch.Tensor:
    """ND indices (..., k) into dims (k values) -> flat int64 index (...), wrapping negatives per dimension."""
    lin = torch.zeros(idx.shape[:-1], dtype=torch.int64, device=idx.device)
    for j, n in enumerate(dims):
        lin = lin * n + wrap_index(idx[..., j], n, f"{what} (component {j})")
    return lin


# ----------------------------------------------------------------------------------------------- Scatter
@register
class Scatter(OpDef):
    kind = "scatter"
    layer_type = LayerType.SCATTER
    attrs = {"axis": (INT, 0), "mode": (Enum(ScatterMode), ScatterMode.ELEMENT),
             "reduction": (Choice(*REDUCTIONS), "none")}
    inputs = ("data", "indices", "updates")
    min_inputs = 3

    def infer(self, a, ins):
        x, idx, upd = ins
        check_index_type(idx, "scatter indices")
        if a.reduction not in REDUCTIONS:
            raise OpError(f"reduction {a.reduction!r} is not one of {sorted(REDUCTIONS)}")
        if upd.dtype != x.dtype:
            raise OpError(f"updates have type {upd.dtype.name} but the data has {x.dtype.name}; add a cast layer")
        if a.reduction != "none" and x.dtype == DataType.BOOL:
            raise OpError(f"reduction {a.reduction!r} does not accept BOOL data")
        xs, js, us = tuple(x.shape), tuple(idx.shape), tuple(upd.shape)
        if a.mode == ScatterMode.ELEMENT:
            axis = norm_axis(a.axis, len(xs), "scatter axis")
            if len(js) != len(xs) or len(us) != len(js) or not all(_dim_match(p, q) for p, q in zip(js, us)):
                raise OpError(f"ELEMENT mode needs indices and updates of one shape and of the data's rank: "
                              f"data {xs}, indices {js}, updates {us}")
            for d, (n, m) in enumerate(zip(xs, js)):
                if d != axis and n >= 0 and m > n:
                    raise OpError(f"indices dimension {d} ({m}) exceeds the data's ({n}) in ELEMENT mode")
            check_known_range(idx, xs[axis], "scatter indices")
        else:
            if not js or js[-1] < 0:
                raise OpError(f"ND mode needs indices of rank >= 1 whose last dimension is known, got {js}")
            k = js[-1]
            if k > len(xs):
                raise OpError(f"ND mode: indices.shape[-1] = {k} exceeds the data rank {len(xs)}")
            want = js[:-1] + xs[k:]
            if len(us) != len(want) or not all(_dim_match(p, q) for p, q in zip(us, want)):
                raise OpError(f"ND mode: updates must have shape indices.shape[:-1] + data.shape[{k}:] = {want}, "
                              f"got {us}")
        return [Spec(x.dtype, xs)]

    def run(self, a, ins, outs):
        x, idx, upd = ins
        red = REDUCTIONS[a.reduction]
        if a.mode == ScatterMode.ELEMENT:
            axis = a.axis % x.dim()
            i = wrap_index(idx, x.shape[axis], "scatter indices")
            if red is None:
                return [torch.scatter(x, axis, i, upd)]
            return [torch.scatter_reduce(x, axis, i, upd, red, include_self=True)]
        k = idx.shape[-1]
        lin = linear_index(idx, x.shape[:k], "scatter indices").reshape(-1)
        out = x.reshape((-1,) + x.shape[k:]).clone()
        src = upd.reshape((lin.numel(),) + x.shape[k:])
        if red is None:
            out.index_copy_(0, lin, src)
        else:
            rows = out.reshape(out.shape[0], -1)
            rows.scatter_reduce_(0, lin[:, None].expand(-1, rows.shape[1]), src.reshape(lin.numel(), -1), red,
                                 include_self=True)
        return [out.reshape(x.shape)]


# ----------------------------------------------------------------------------------------------- OneHot
@register
class OneHot(OpDef):
    kind = "one_hot"
    layer_type = LayerType.ONE_HOT
    attrs = {"axis": (INT, -1)}
    inputs = ("indices", "values", "depth")
    min_inputs = 3

    def infer(self, a, ins):
        idx, vals, depth = ins
        check_index_type(idx, "one-hot indices")
        if tuple(vals.shape) not in ((2,), (-1,)):
            raise OpError(f"values must be a 1-D tensor of 2 elements [off_value, on_value], got shape {vals.shape}")
        if depth.dtype not in INDEX_TYPES or depth.shape not in ((), (1,)):
            raise OpError(f"depth must be a 0-D INT32/INT64 tensor, got {depth.dtype.name} of shape {depth.shape}")
        r = len(idx.shape)
        if not -(r + 1) <= a.axis <= r:
            raise OpError(f"axis {a.axis} is out of range for an output of rank {r + 1}")
        axis = a.axis % (r + 1)
        d = -1
        if depth.value is not None:
            d = int(np.asarray(depth.value).reshape(()))
            if d < 1:
                raise OpError(f"depth must be positive, got {d}")
        shape = tuple(idx.shape[:axis]) + (d,) + tuple(idx.shape[axis:])
        return [Spec(vals.dtype, shape)]

    def run(self, a, ins, outs):
        idx, vals, depth = ins
        axis = a.axis % (idx.dim() + 1)
        d = outs[0].shape[axis] if outs and outs[0] is not None else int(depth.reshape(()).item())
        i = idx.to(torch.int64)
        i = torch.where(i < 0, i + d, i)
        hot = i.unsqueeze(-1) == torch.arange(d, device=idx.device, dtype=torch.int64)   # out of range: all off
        res = torch.where(hot, vals[1], vals[0])
        return [res.movedim(-1, axis)]


# ----------------------------------------------------------------------------------------------- NonZero
@register
class NonZero(OpDef):
    kind = "non_zero"
    layer_type = LayerType.NON_ZERO
    attrs = {"indices_type": (DTYPE, DataType.INT64)}
    data_dependent = True

    def infer(self, a, ins):
        x = ins[0]
        if a.indices_type not in INDEX_TYPES:
            raise OpError(f"indices_type must be INT32 or INT64, got {a.indices_type.name}")
        r = len(x.shape)
        if x.value is not None:   # known values (constants, or the eager path on integer data): exact shape
            v = np.asarray(x.value).reshape(x.shape)
            val = np.stack(np.nonzero(v)).reshape(r, -1) if r else np.zeros((0, int(v != 0)), np.int64)
            return [Spec(a.indices_type, val.shape, val.astype(np.int64 if a.indices_type == DataType.INT64
                                                              else np.int32))]
        return [Spec(a.indices_type, (r, -1))]

    def run(self, a, ins, outs):
        x = ins[0]
        res = torch.nonzero(x).t()                                           # (rank, N); (0, N) for 0-D
        dt = torch.int64 if a.indices_type == DataType.INT64 else torch.int32
        return [res.to(dt).contiguous()]


# ----------------------------------------------------------------------------------------------- ReverseSequence
@register
class ReverseSequence(OpDef):
    kind = "reverse_sequence"
    layer_type = LayerType.REVERSE_SEQUENCE
    attrs = {"batch_axis": (INT, 1), "sequence_axis": (INT, 0)}
    inputs = ("input", "sequence_lens")
    min_inputs = 2

    def infer(self, a, ins):
        x, lens = ins
        check_index_type(lens, "sequence_lens")
        r = len(x.shape)
        if r < 2:
            raise OpError(f"input must have rank >= 2 (a batch and a sequence axis), got shape {x.shape}")
        b = norm_axis(a.batch_axis, r, "batch_axis")
        s = norm_axis(a.sequence_axis, r, "sequence_axis")
        if b == s:
            raise OpError(f"batch_axis and sequence_axis must differ (both are {b})")
        if len(lens.shape) != 1 or not _dim_match(lens.shape[0], x.shape[b]):
            raise OpError(f"sequence_lens must be 1-D with one length per batch entry ({x.shape[b]}), "
                          f"got shape {lens.shape}")
        return [Spec(x.dtype, tuple(x.shape))]

    def run(self, a, ins, outs):
        x, lens = ins
        b, s = a.batch_axis % x.dim(), a.sequence_axis % x.dim()
        t = x.shape[s]
        ln = lens.to(torch.int64).clamp(0, t)[:, None]                      # (B, 1)
        pos = torch.arange(t, device=x.device)[None, :]                      # (1, T)
        src = torch.where(pos < ln, ln - 1 - pos, pos)                      # (B, T)
        shape = [1] * x.dim()
        shape[b], shape[s] = x.shape[b], t
        if b > s:
            src = src.t()
        return [torch.gather(x, s, src.reshape(shape).expand(x.shape))]


def scalar_like(s: Spec) -> bool:
    return s.shape is not None and all(d == 1 for d in s.shape)


@register
class Compress(OpDef):
    """ONNX Compress: keep the slices along ``axis`` (or the flattened elements) where ``condition`` is true;
    condition may be shorter than the axis (the rest is dropped)."""

    kind = "compress"
    attrs = {"axis": (INT, None)}
    inputs = ("input", "condition")
    min_inputs = 2
    data_dependent = True

    def infer(self, a, ins):
        x, c = ins
        if c.dtype != DataType.BOOL or c.shape is None or len(c.shape) != 1:
            raise OpError(f"condition must be a 1-D BOOL tensor, got {c.dtype.name} of shape {c.shape}")
        n = -1 if c.value is None else int(np.count_nonzero(c.value))
        if a.axis is None:
            return [Spec(x.dtype, (n,))]
        ax = norm_axis(a.axis, x.rank)
        if c.shape[0] >= 0 and x.shape[ax] >= 0 and c.shape[0] > x.shape[ax]:
            raise OpError(f"condition has {c.shape[0]} entries but axis {ax} has only {x.shape[ax]}")
        shape = list(x.shape)
        shape[ax] = n
        return [Spec(x.dtype, tuple(shape))]

    def run(self, a, ins, outs):
        x, c = ins
        idx = torch.nonzero(c.to(torch.bool)).reshape(-1)
        if a.axis is None:
            return [x.reshape(-1).index_select(0, idx)]
        return [x.index_select(norm_axis(a.axis, x.dim()), idx)]


@register
class TensorScatter(OpDef):
    """ONNX TensorScatter (KV-cache update): write ``update`` into a copy of ``past_cache`` along ``axis`` starting at
    ``write_indices[batch]`` (0 when absent), wrapping in ``circular`` mode; out-of-range writes are dropped."""

    kind = "tensor_scatter"
    attrs = {"axis": (INT, -2), "mode": (Choice("linear", "circular"), "linear")}
    inputs = ("past_cache", "update", "write_indices")
    min_inputs = 2

    def infer(self, a, ins):
        past, upd = ins[:2]
        if a.mode not in ("linear", "circular"):
            raise OpError(f"mode {a.mode!r} must be 'linear' or 'circular'")
        ax = norm_axis(a.axis, past.rank, "TensorScatter axis")
        if ax == 0 or upd.rank != past.rank:
            raise OpError(f"axis {a.axis} must not be the batch axis, and update {upd.shape} must have the rank of "
                          f"past_cache {past.shape}")
        for i, (p, u) in enumerate(zip(past.shape, upd.shape)):
            if p >= 0 and u >= 0 and (u > p if i == ax else u != p):
                raise OpError(f"update {upd.shape} does not fit past_cache {past.shape} (dim {i})")
        return [Spec(past.dtype, past.shape)]

    def run(self, a, ins, outs):
        past, upd = ins[:2]
        wi = ins[2] if len(ins) > 2 else None
        ax = norm_axis(a.axis, past.dim())
        n_max, seq = past.shape[ax], upd.shape[ax]
        start = torch.zeros(past.shape[0], dtype=torch.int64, device=past.device) if wi is None else wi.to(torch.int64)
        pos = start[:, None] + torch.arange(seq, device=past.device)[None]                     # [batch, seq]
        pos = pos % n_max if a.mode == "circular" else torch.where((pos >= 0) & (pos < n_max), pos, n_max)
        shape = [1] * past.dim()
        shape[0], shape[ax] = pos.shape[0], seq
        idx = pos.reshape(shape).expand(upd.shape)
        pad = list(past.shape)
        pad[ax] = 1                                                # a spare slot that takes the dropped writes
        out = torch.cat([past, torch.zeros(pad, dtype=past.dtype, device=past.device)], dim=ax)
        out.scatter_(ax, idx, upd.to(past.dtype))
        return [out.narrow(ax, 0, n_max)]
