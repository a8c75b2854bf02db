"""Shape-changing layers: Padding (constant / reflect / edge / wrap, negative = crop), Squeeze, Unsqueeze and the
ONNX-only ``center_crop_pad`` (CenterCropPad; its ``shape`` input must be known when shapes are computed).

Shape-tensor inputs (squeeze/unsqueeze axes, dynamic pads) are read with ``value_of`` when known at build time;
otherwise the output dims they control are -1 and get resolved when the values are known (run time).
"""
from __future__ import annotations

import numpy as np
import torch

from ..enums import LayerType
from .base import INTS, Choice, OpDef, OpError, Spec, host_ints, known_ints, norm_axis, register
from .indexing import INDEX_TYPES, opt

PAD_MODES = ("constant", "reflect", "edge", "wrap")


def pad_source_index(n: int, pre: int, post: int, mode: str, device) -> torch.Tensor:
    """Source positions (into an axis of size ``n``) of every output position of a padded axis (pre/post >= 0)."""
    i = torch.arange(-pre, n + post, device=device, dtype=torch.int64)
    if mode == "edge":
        return i.clamp(0, n - 1)
    if mode == "wrap":
        return i % n
    if n == 1:  # reflect
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    m = i.abs() % period
    return torch.where(m >= n, period - m, m)


@register
class Padding(OpDef):
    kind = "padding"
    host_inputs = (2,)
    layer_type = LayerType.PADDING
    attrs = {"pre_padding_nd": (INTS, ()), "post_padding_nd": (INTS, ()), "mode": (Choice(*PAD_MODES), "constant")}
    #: input 1: fill value (0-D, constant mode); input 2 (inferrt extension): pads as a 1-D INT32/INT64 tensor
    #: [pre_0, ..., pre_{n-1}, post_0, ..., post_{n-1}] for the n innermost dimensions (ONNX Pad layout)
    inputs = ("input", "fill_value", "pads")

    def _pads(self, a, ins, rank):
        """(pre, post) tuples; None when the pads are a tensor whose value is unknown."""
        p = opt(ins, 2)
        if p is not None:
            if p.dtype not in INDEX_TYPES or len(p.shape) != 1 or p.shape[0] < 0 or p.shape[0] % 2:
                raise OpError(f"the pads input must be a 1-D INT32/INT64 tensor of even, known length, got "
                              f"{p.dtype.name} of shape {p.shape}")
            if p.value is None:
                return None, p.shape[0] // 2
            v = [int(x) for x in np.asarray(p.value).reshape(-1)]
            pre, post = tuple(v[:len(v) // 2]), tuple(v[len(v) // 2:])
        else:
            pre, post = tuple(a.pre_padding_nd), tuple(a.post_padding_nd)
        if len(pre) != len(post):
            raise OpError(f"pre_padding_nd {pre} and post_padding_nd {post} must have the same length")
        if len(pre) > rank:
            raise OpError(f"padding has {len(pre)} dimensions but the input has rank {rank}; padding applies to "
                          f"the innermost dimensions, so it cannot have more than the rank")
        return (pre, post), len(pre)

    def infer(self, a, ins):
        x = ins[0]
        if a.mode not in PAD_MODES:
            raise OpError(f"padding mode {a.mode!r} is not one of {PAD_MODES}")
        fill = opt(ins, 1)
        if fill is not None:
            if a.mode != "constant":
                raise OpError(f"a fill value input only applies to mode 'constant', not {a.mode!r}")
            if fill.shape is not None and int(np.prod([max(d, 1) for d in fill.shape])) != 1:
                raise OpError(f"the fill value must hold one element, got shape {fill.shape}")
            if fill.dtype != x.dtype:
                raise OpError(f"the fill value has type {fill.dtype.name} but the input has {x.dtype.name}")
        rank = len(x.shape)
        pads, n = self._pads(a, ins, rank)
        shape = list(x.shape)
        if pads is None:
            return [Spec(x.dtype, tuple(shape[:rank - n]) + (-1,) * n)]
        for j, (p, q) in enumerate(zip(*pads)):
            ax = rank - n + j
            d = shape[ax]
            if d < 0:
                continue
            kept = d + min(p, 0) + min(q, 0)
            if kept < 0 or d + p + q < 0:
                raise OpError(f"padding ({p}, {q}) on axis {ax} crops more than its {d} elements")
            if a.mode != "constant" and kept == 0 and (p > 0 or q > 0):
                raise OpError(f"mode {a.mode!r} cannot pad axis {ax}: no elements remain after cropping")
            shape[ax] = d + p + q
        return [Spec(x.dtype, tuple(shape))]

    def run(self, a, ins, outs):
        x = ins[0]
        rank = x.dim()
        if opt(ins, 2) is not None:
            v = [int(t) for t in ins[2].reshape(-1).tolist()]
            pre, post = v[:len(v) // 2], v[len(v) // 2:]
        else:
            pre, post = a.pre_padding_nd, a.post_padding_nd
        n = len(pre)
        axes = range(rank - n, rank)
        for ax, p, q in zip(axes, pre, post):   # negative pads crop first
            lo, hi = max(-p, 0), max(-q, 0)
            if lo or hi:
                x = x.narrow(ax, lo, x.shape[ax] - lo - hi)
        pre = [max(p, 0) for p in pre]
        post = [max(q, 0) for q in post]
        if a.mode != "constant":
            for ax, p, q in zip(axes, pre, post):
                if p or q:
                    x = x.index_select(ax, pad_source_index(x.shape[ax], p, q, a.mode, x.device))
            return [x]
        shape = tuple(d + (pre[ax - rank + n] + post[ax - rank + n] if ax >= rank - n else 0)
                      for ax, d in enumerate(x.shape))
        out = outs[0] if outs and outs[0] is not None and tuple(outs[0].shape) == shape else \
            torch.empty(shape, dtype=x.dtype, device=x.device)
        fill = opt(ins, 1)
        if fill is not None:
            out.copy_(fill.reshape(()).to(x.dtype).expand(shape))
        else:
            out.zero_()
        inner = out
        for ax, p in zip(axes, pre):
            inner = inner.narrow(ax, p, x.shape[ax])
        inner.copy_(x)
        return None if out is (outs[0] if outs else None) else [out]


# ----------------------------------------------------------------------------------------------- Squeeze / Unsqueeze
def _axes(a, ins, what):
    """Axes from input 1 (value or None + count) or from the ``axes`` attribute."""
    t = opt(ins, 1)
    if t is None:
        return [int(v) for v in a.axes], len(a.axes)
    if t.dtype not in INDEX_TYPES or len(t.shape) > 1 or (t.shape and t.shape[0] < 0):
        raise OpError(f"the {what} axes input must be a 0-D or 1-D INT32/INT64 tensor of known length, got "
                      f"{t.dtype.name} of shape {t.shape}")
    count = t.shape[0] if t.shape else 1
    if t.value is None:
        return None, count
    return [int(v) for v in np.asarray(t.value).reshape(-1)], count


def _normalize(axes, rank, what):
    out = []
    for ax in axes:
        if not -rank <= ax < rank:
            raise OpError(f"{what} axis {ax} is out of range for rank {rank} (valid: {-rank}..{rank - 1})")
        out.append(ax % rank)
    if len(set(out)) != len(out):
        raise OpError(f"{what} axes {tuple(axes)} name the same dimension twice")
    return sorted(out)


@register
class Squeeze(OpDef):
    kind = "squeeze"
    host_inputs = (1,)
    layer_type = LayerType.SQUEEZE
    attrs = {"axes": (INTS, ())}
    inputs = ("input", "axes")

    def infer(self, a, ins):
        x = ins[0]
        rank = len(x.shape)
        axes, count = _axes(a, ins, "squeeze")
        if axes is None:
            if count > rank:
                raise OpError(f"cannot squeeze {count} axes from a tensor of rank {rank}")
            return [Spec(x.dtype, (-1,) * (rank - count))]
        axes = _normalize(axes, rank, "squeeze")
        for ax in axes:
            if x.shape[ax] not in (1, -1):
                raise OpError(f"cannot squeeze axis {ax} of shape {tuple(x.shape)}: its size is {x.shape[ax]}, "
                              f"not 1")
        val = None if x.value is None else np.asarray(x.value).reshape(
            tuple(d for i, d in enumerate(x.shape) if i not in axes))
        return [Spec(x.dtype, tuple(d for i, d in enumerate(x.shape) if i not in axes), val)]

    def run(self, a, ins, outs):
        x = ins[0]
        if outs and outs[0] is not None:
            return [x.reshape(outs[0].shape)]
        t = opt(ins, 1)
        axes = _normalize([int(v) for v in t.reshape(-1).tolist()] if t is not None else a.axes, x.dim(), "squeeze")
        return [x.reshape(tuple(d for i, d in enumerate(x.shape) if i not in axes))]


@register
class Unsqueeze(OpDef):
    kind = "unsqueeze"
    host_inputs = (1,)
    layer_type = LayerType.UNSQUEEZE
    attrs = {"axes": (INTS, ())}
    inputs = ("input", "axes")

    @staticmethod
    def _shape(shape, axes):
        out, it = [], iter(shape)
        for i in range(len(shape) + len(axes)):
            out.append(1 if i in axes else next(it))
        return tuple(out)

    def infer(self, a, ins):
        x = ins[0]
        rank = len(x.shape)
        axes, count = _axes(a, ins, "unsqueeze")
        if axes is None:
            return [Spec(x.dtype, (-1,) * (rank + count))]
        axes = _normalize(axes, rank + len(axes), "unsqueeze")
        shape = self._shape(tuple(x.shape), axes)
        return [Spec(x.dtype, shape, None if x.value is None else np.asarray(x.value).reshape(shape))]

    def run(self, a, ins, outs):
        x = ins[0]
        if outs and outs[0] is not None:
            return [x.reshape(outs[0].shape)]
        t = opt(ins, 1)
        axes = [int(v) for v in t.reshape(-1).tolist()] if t is not None else list(a.axes)
        return [x.reshape(self._shape(tuple(x.shape), _normalize(axes, x.dim() + len(axes), "unsqueeze")))]


# ----------------------------------------------------------------------------------------------- CenterCropPad
@register
class CenterCropPad(OpDef):
    """CenterCropPad: crop (centered window) or zero-pad (centered input) each of ``axes`` to ``shape``."""

    kind = "center_crop_pad"
    host_inputs = (1,)
    attrs = {"axes": (INTS, ())}
    inputs = ("input", "shape")
    min_inputs = 2

    def _axes(self, a, rank, n):
        axes = [norm_axis(x, rank, "CenterCropPad axis") for x in a.axes] if a.axes else list(range(rank))
        if len(axes) != n:
            raise OpError(f"shape has {n} values but there are {len(axes)} axes {tuple(axes)}")
        return axes

    def infer(self, a, ins):
        x = ins[0]
        shp = known_ints(ins[1], "shape")
        rank = x.rank
        out = list(x.shape)
        if shp is None:
            n = ins[1].shape[0] if ins[1].shape else -1
            for ax in self._axes(a, rank, n if n >= 0 else len(a.axes) or rank):
                out[ax] = -1
            return [Spec(x.dtype, tuple(out))]
        if any(v < 0 for v in shp):
            raise OpError(f"shape {shp} must be non-negative")
        for ax, v in zip(self._axes(a, rank, len(shp)), shp):
            out[ax] = v
        return [Spec(x.dtype, tuple(out))]

    def run(self, a, ins, outs):
        x = ins[0]
        shp = host_ints(ins[1])
        for ax, want in zip(self._axes(a, x.dim(), len(shp)), shp):
            have = x.shape[ax]
            if want < have:
                x = x.narrow(ax, (have - want) // 2, want)
            elif want > have:
                before = (want - have) // 2
                zeros_shape = list(x.shape)
                parts = []
                for n in (before, want - have - before):
                    zeros_shape[ax] = n
                    parts.append(torch.zeros(zeros_shape, dtype=x.dtype, device=x.device))
                x = torch.cat([parts[0], x, parts[1]], dim=ax)
        return [x]
