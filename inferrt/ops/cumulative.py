"""Scans along one axis: Cumulative (TensorRT's ICumulativeLayer, SUM) and the ONNX-only ``cumprod``."""
from __future__ import annotations

import numpy as np
import torch

from ..enums import CumulativeOperation, DataType, LayerType
from .base import BOOL, INT, Enum, OpDef, OpError, Spec, norm_axis, register
from .indexing import INDEX_TYPES, opt, scalar_like


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
        if t.dtype not in INDEX_TYPES or not scalar_like(t):
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


# ----------------------------------------------------------------------------------------------- CumProd, BitCast
@register
class CumProd(OpDef):
    """ONNX CumProd along ``axis`` (the optional input 1 overrides the attribute at run time; ``exclusive``: shifted
    by one, starting at 1; ``reverse``: from the end)."""

    kind = "cumprod"
    attrs = {"axis": (INT, 0), "exclusive": (BOOL, False), "reverse": (BOOL, False)}
    inputs = ("input", "axis")

    def infer(self, a, ins):
        x = ins[0]
        if x.dtype == DataType.BOOL:
            raise OpError("input must be numeric, got BOOL")
        axis_in = ins[1] if len(ins) > 1 else None
        if axis_in is not None and axis_in.value is not None:
            norm_axis(int(np.asarray(axis_in.value).reshape(-1)[0]), x.rank, "CumProd axis")
        elif axis_in is None:
            norm_axis(a.axis, x.rank, "CumProd axis")
        return [Spec(x.dtype, x.shape)]

    def run(self, a, ins, outs):
        x = ins[0]
        axis = int(ins[1].reshape(-1)[0].item()) if len(ins) > 1 and ins[1] is not None else a.axis
        ax = norm_axis(axis, x.dim())
        if a.reverse:
            x = x.flip(ax)
        y = torch.cumprod(x, dim=ax, dtype=x.dtype)
        if a.exclusive:
            first = torch.ones_like(y.narrow(ax, 0, 1))
            y = torch.cat([first, y.narrow(ax, 0, y.shape[ax] - 1)], dim=ax)
        return [y.flip(ax) if a.reverse else y]
