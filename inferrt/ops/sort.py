"""Sorting and selection by value: TopK and the ONNX-only ``unique`` (its output sizes depend on values, so it runs
through the executor's eager path)."""
from __future__ import annotations

import numpy as np
import torch

from ..dtypes import torch_dtype
from ..enums import DataType, LayerType, TopKOperation
from .base import BOOL, DTYPE, INT, Enum, OpDef, OpError, Spec, axes_from_mask, norm_axis, register
from .indexing import INDEX_TYPES, opt, scalar_like


# ----------------------------------------------------------------------------------------------- TopK
@register
class TopK(OpDef):
    kind = "topk"
    host_inputs = (1,)
    layer_type = LayerType.TOPK
    attrs = {"op": (Enum(TopKOperation), TopKOperation.MAX), "k": (INT, 1), "axes": (INT, 1),
             "indices_type": (DTYPE, DataType.INT32)}
    inputs = ("input", "k")
    num_outputs = 2

    @staticmethod
    def _axis(a, rank):
        axes = axes_from_mask(a.axes, rank)
        if len(axes) != 1 or a.axes >> rank:
            raise OpError(f"axes must be a bitmask with exactly one bit set below the rank {rank} "
                          f"(e.g. 1 << axis), got {a.axes}")
        return axes[0]

    def infer(self, a, ins):
        x = ins[0]
        if x.dtype == DataType.BOOL:
            raise OpError("TopK does not accept BOOL input; cast it to INT32 first")
        if a.indices_type not in INDEX_TYPES:
            raise OpError(f"indices_type must be INT32 or INT64, got {a.indices_type.name}")
        rank = len(x.shape)
        if rank == 0:
            raise OpError("TopK needs an input of rank >= 1")
        ax = self._axis(a, rank)
        kt = opt(ins, 1)
        if kt is not None:
            if kt.dtype not in INDEX_TYPES or not scalar_like(kt):
                raise OpError(f"the k input must be a 0-D INT32/INT64 tensor, got {kt.dtype.name} {kt.shape}")
            k = -1 if kt.value is None else int(np.asarray(kt.value).reshape(()))
        else:
            k = a.k
        n = x.shape[ax]
        if kt is None or k != -1:
            if k < 0:
                raise OpError(f"k must be >= 0, got {k}")
            if n >= 0 and k > n:
                raise OpError(f"k = {k} exceeds the size {n} of axis {ax} (input shape {tuple(x.shape)})")
        shape = tuple(k if i == ax else d for i, d in enumerate(x.shape))
        return [Spec(x.dtype, shape), Spec(a.indices_type, shape)]

    def run(self, a, ins, outs):
        x = ins[0]
        ax = self._axis(a, x.dim())
        if outs and outs[0] is not None:
            k = outs[0].shape[ax]
        else:
            k = int(ins[1].reshape(()).item()) if opt(ins, 1) is not None else a.k
        # a stable sort keeps equal values in index order: ties resolve to the lower index first
        vals, idx = torch.sort(x, dim=ax, descending=a.op == TopKOperation.MAX, stable=True)
        return [vals.narrow(ax, 0, k), idx.narrow(ax, 0, k).to(torch_dtype(a.indices_type))]


# ----------------------------------------------------------------------------------------------- data-dependent
@register
class Unique(OpDef):
    """ONNX Unique: unique values (or slices along ``axis``), first-occurrence indices, inverse indices, counts."""

    kind = "unique"
    attrs = {"axis": (INT, None), "sorted": (BOOL, True)}
    num_outputs = 4
    data_dependent = True

    def infer(self, a, ins):
        x = ins[0]
        if a.axis is None:
            n = -1 if x.value is None else len(np.unique(x.value))
            return [Spec(x.dtype, (n,)), Spec(DataType.INT64, (n,)),
                    Spec(DataType.INT64, (-1 if x.shape is None or -1 in x.shape else int(np.prod(x.shape)),)),
                    Spec(DataType.INT64, (n,))]
        ax = norm_axis(a.axis, x.rank)
        shape = list(x.shape)
        shape[ax] = -1
        return [Spec(x.dtype, tuple(shape)), Spec(DataType.INT64, (-1,)), Spec(DataType.INT64, (x.shape[ax],)),
                Spec(DataType.INT64, (-1,))]

    def run(self, a, ins, outs):
        x = ins[0]
        if a.axis is None:
            flat = x.reshape(-1)
            keys = flat.reshape(-1, 1)
        else:
            ax = norm_axis(a.axis, x.dim())
            moved = x.movedim(ax, 0)
            keys = moved.reshape(moved.shape[0], -1)
        vals, inverse, counts = torch.unique(keys, sorted=True, return_inverse=True, return_counts=True, dim=0)
        n = vals.shape[0]
        pos = torch.arange(keys.shape[0], device=x.device, dtype=torch.int64)
        first = torch.full((n,), keys.shape[0], dtype=torch.int64, device=x.device).scatter_reduce(
            0, inverse, pos, reduce="amin")
        order = torch.argsort(first) if not a.sorted else torch.arange(n, device=x.device)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(n, device=x.device)
        vals, first, counts, inverse = vals[order], first[order], counts[order], rank[inverse]
        if a.axis is None:
            y = vals.reshape(-1)
        else:
            y = vals.reshape((n,) + tuple(moved.shape[1:])).movedim(0, ax)
        return [y, first, inverse.to(torch.int64), counts.to(torch.int64)]
