"""TopK, Select, Fill (LINSPACE / RANDOM_UNIFORM / RANDOM_NORMAL), Cumulative and Assertion."""
from __future__ import annotations

import numpy as np
import torch

from ..dtypes import torch_dtype
from ..enums import CumulativeOperation, DataType, FillOperation, LayerType, TopKOperation
from .base import (BOOL, DTYPE, FLOAT, INT, INTS, STR, Enum, OpDef, OpError, Spec, axes_from_mask,
                   broadcast_shapes, norm_axis, register, value_of)
from .indexing import INDEX_TYPES, execution_error, opt


def _scalar_like(s: Spec) -> bool:
    return s.shape is not None and all(d == 1 for d in s.shape)


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
            if kt.dtype not in INDEX_TYPES or not _scalar_like(kt):
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


# ----------------------------------------------------------------------------------------------- Select
@register
class Select(OpDef):
    kind = "select"
    layer_type = LayerType.SELECT
    inputs = ("condition", "then_input", "else_input")
    min_inputs = 3

    def infer(self, a, ins):
        c, t, e = ins
        if c.dtype != DataType.BOOL:
            raise OpError(f"the condition must be BOOL, got {c.dtype.name}")
        if t.dtype != e.dtype:
            raise OpError(f"then_input ({t.dtype.name}) and else_input ({e.dtype.name}) must have the same type")
        ranks = {len(c.shape), len(t.shape), len(e.shape)}
        if len(ranks) != 1:
            raise OpError(f"condition {tuple(c.shape)}, then_input {tuple(t.shape)} and else_input "
                          f"{tuple(e.shape)} must have the same rank (only size-1 dimensions broadcast); "
                          f"unsqueeze the smaller ones")
        return [Spec(t.dtype, broadcast_shapes(c.shape, t.shape, e.shape))]

    def run(self, a, ins, outs):
        return [torch.where(ins[0], ins[1], ins[2])]


# ----------------------------------------------------------------------------------------------- Fill
_LINSPACE_TYPES = (DataType.FLOAT, DataType.HALF, DataType.BF16, DataType.INT32, DataType.INT64)
_RANDOM_TYPES = (DataType.FLOAT, DataType.HALF, DataType.BF16)


@register
class Fill(OpDef):
    kind = "fill"
    host_inputs = (0,)
    layer_type = LayerType.FILL
    attrs = {"shape": (INTS, ()), "operation": (Enum(FillOperation), FillOperation.LINSPACE),
             "alpha": (FLOAT, 0.0), "beta": (FLOAT, 1.0), "to_type": (DTYPE, DataType.FLOAT),
             "seed": (INT, 0)}   # seed: inferrt extension, makes RANDOM_* reproducible
    inputs = ("shape", "alpha", "beta")
    min_inputs = 0

    def infer(self, a, ins):
        s, al, be = opt(ins, 0), opt(ins, 1), opt(ins, 2)
        lin = a.operation == FillOperation.LINSPACE
        allowed = _LINSPACE_TYPES if lin else _RANDOM_TYPES
        if a.to_type not in allowed:
            raise OpError(f"{a.operation.name} cannot produce {a.to_type.name}; use one of "
                          f"{[t.name for t in allowed]}")
        if s is not None:
            if s.dtype not in INDEX_TYPES or len(s.shape) != 1 or s.shape[0] < 0:
                raise OpError(f"the shape input must be a 1-D INT32/INT64 tensor of known length, got "
                              f"{s.dtype.name} {s.shape}")
            shape = (-1,) * s.shape[0] if s.value is None else tuple(int(v) for v in np.asarray(s.value))
        else:
            shape = tuple(a.shape)
        if any(d < -1 for d in shape) or (s is None and any(d < 0 for d in shape)):
            raise OpError(f"the output shape {shape} has negative dimensions")
        if (al is None) != (be is None):
            raise OpError("alpha and beta must both be static or both be inputs (set_input(1) and set_input(2))")
        if al is not None:
            if not _scalar_like(al):
                raise OpError(f"the alpha input must be a scalar, got shape {al.shape}")
            want_vec = lin and len(shape) > 1
            if want_vec and tuple(be.shape) not in ((len(shape),), (-1,)):
                raise OpError(f"for LINSPACE the beta input must have shape [{len(shape)}] (one delta per output "
                              f"dimension), got {tuple(be.shape)}")
            if not want_vec and not (_scalar_like(be) or tuple(be.shape) == (len(shape),)):
                raise OpError(f"the beta input must be a scalar, got shape {be.shape}")
        elif lin and len(shape) > 1:
            raise OpError(f"a static beta is one delta, which only defines LINSPACE for 1-D outputs; for the "
                          f"{len(shape)}-D shape {shape} give a beta tensor of shape [{len(shape)}] with "
                          f"set_input(2) (and alpha with set_input(1))")
        return [Spec(a.to_type, shape)]

    def foldable(self, a):
        return a.operation == FillOperation.LINSPACE

    def run(self, a, ins, outs):
        s, al, be = opt(ins, 0), opt(ins, 1), opt(ins, 2)
        if outs and outs[0] is not None:
            shape = tuple(outs[0].shape)
            dev = outs[0].device
        else:
            shape = tuple(int(v) for v in s.tolist()) if s is not None else tuple(a.shape)
            dev = s.device if s is not None else torch.device("cpu")
        dt = torch_dtype(a.to_type)
        if a.operation == FillOperation.LINSPACE:
            ints = a.to_type in (DataType.INT32, DataType.INT64) and (
                (al is None and float(a.alpha).is_integer() and float(a.beta).is_integer())
                or (al is not None and not al.is_floating_point() and not be.is_floating_point()))
            acc = torch.int64 if ints else torch.float64
            alpha = al.reshape(()).to(acc) if al is not None else torch.tensor(a.alpha, dtype=acc, device=dev)
            beta = be.reshape(-1).to(acc) if be is not None else torch.tensor([a.beta], dtype=acc, device=dev)
            res = alpha.expand(shape).clone()
            for k, n in enumerate(shape):
                view = [1] * len(shape)
                view[k] = n
                step = beta[k] if beta.numel() > 1 else beta[0]
                res = res + step * torch.arange(n, dtype=acc, device=dev).reshape(view)
            return [res.to(dt)]
        gen = torch.Generator().manual_seed(a.seed)
        alpha = al.reshape(()).double() if al is not None else a.alpha
        beta = be.reshape(()).double() if be is not None else a.beta
        if a.operation == FillOperation.RANDOM_UNIFORM:
            r = torch.rand(shape, generator=gen, dtype=torch.float64).to(dev)
            res = alpha + (beta - alpha) * r
        else:
            r = torch.randn(shape, generator=gen, dtype=torch.float64).to(dev)
            res = alpha + beta * r
        return [res.to(dt)]


# ----------------------------------------------------------------------------------------------- Cumulative
@register
class Cumulative(OpDef):
    kind = "cumulative"
    host_inputs = (1,)
    layer_type = LayerType.CUMULATIVE
    attrs = {"op": (Enum(CumulativeOperation), CumulativeOperation.SUM), "exclusive": (BOOL, False),
             "reverse": (BOOL, False), "axis": (INT, 0)}   # axis attr: used when input 1 is absent
    inputs = ("input", "axis")

    def _axis_value(self, a, ins):
        t = opt(ins, 1)
        if t is None:
            return a.axis
        if t.dtype not in INDEX_TYPES or not _scalar_like(t):
            raise OpError(f"the axis input must be a 0-D INT32/INT64 tensor, got {t.dtype.name} {t.shape}")
        if t.value is None:
            return None  # known only at run time: the output shape does not depend on it
        return int(np.asarray(t.value).reshape(()))

    def infer(self, a, ins):
        x = ins[0]
        if x.dtype == DataType.BOOL:
            raise OpError("cumulative sums need numbers, not BOOL; cast the input first")
        if not x.shape:
            raise OpError("the input must have rank >= 1")
        axis = self._axis_value(a, ins)
        if axis is not None:
            norm_axis(axis, len(x.shape), "cumulative axis")
        return [Spec(x.dtype, tuple(x.shape))]

    def run(self, a, ins, outs):
        x = ins[0]
        t = opt(ins, 1)  # a CPU copy when the axis is known when shapes are planned (host_inputs)
        axis = int(t.reshape(()).item()) if t is not None else a.axis
        ax = norm_axis(axis, x.dim(), "cumulative axis") if isinstance(axis, int) else axis
        y = x.flip(ax) if a.reverse else x
        c = torch.cumsum(y, ax, dtype=y.dtype)
        if a.exclusive:
            n = y.shape[ax]
            c = torch.cat([torch.zeros_like(y.narrow(ax, 0, min(n, 1))), c.narrow(ax, 0, max(n - 1, 0))], ax)
        return [c.flip(ax) if a.reverse else c]


# ----------------------------------------------------------------------------------------------- Assertion
@register
class Assertion(OpDef):
    """Fails execution (or the build, when the condition is known then) if any element of the condition is false.
    It has no outputs; the builder and the executor keep nodes without outputs."""

    kind = "assertion"
    layer_type = LayerType.ASSERTION
    attrs = {"message": (STR, ""), "layer_name": (STR, "")}   # layer_name: for run-time error messages
    inputs = ("condition",)
    num_outputs = 0

    def _fail_msg(self, a):
        who = f"assertion layer {a.layer_name!r}" if a.layer_name else "assertion"
        return f"{who} failed: {a.message or '(no message)'}"

    def infer(self, a, ins):
        c = ins[0]
        if c.dtype != DataType.BOOL:
            raise OpError(f"the condition must be BOOL, got {c.dtype.name}")
        if c.value is not None and not np.all(c.value):
            raise OpError(self._fail_msg(a))
        return []

    def foldable(self, a):
        return False

    def run(self, a, ins, outs):
        if not bool(ins[0].all()):
            raise execution_error(self._fail_msg(a))
        return None
