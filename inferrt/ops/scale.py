"""Scale: out = (x * scale + shift) ^ power with UNIFORM, CHANNEL or ELEMENTWISE coefficients (IScaleLayer)."""
from __future__ import annotations

import math

import torch

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..enums import LayerType, ScaleMode
from .base import ARRAY, INT, Enum, OpDef, OpError, Spec, norm_axis, register

_ROLES = ("shift", "scale", "power")


def coefficient_shape(mode, in_shape, channel_axis):
    """Shape the coefficients broadcast as; entries -1 where the input dim is unknown."""
    rank = len(in_shape)
    if mode == ScaleMode.UNIFORM:
        return (1,) * rank
    ax = norm_axis(channel_axis, rank, "channel_axis")
    if mode == ScaleMode.CHANNEL:
        return tuple(in_shape[ax] if i == ax else 1 for i in range(rank))
    return tuple(in_shape[i] if i >= ax else 1 for i in range(rank))


@register
class Scale(OpDef):
    kind = "scale"
    layer_type = LayerType.SCALE
    attrs = {"mode": (Enum(ScaleMode), ScaleMode.UNIFORM), "shift": (ARRAY, None), "scale": (ARRAY, None),
             "power": (ARRAY, None), "channel_axis": (INT, 1)}
    inputs = ("input", "shift", "scale", "power")
    weight_inputs = {1: "shift", 2: "scale", 3: "power"}
    pointwise = True

    def infer(self, a, ins):
        x = ins[0]
        if x.shape is None:
            raise OpError("input rank must be known")
        if x.dtype not in _FLOATS:
            raise OpError(f"input type {x.dtype.name} is not supported; cast the input to FLOAT or HALF")
        if a.mode != ScaleMode.UNIFORM and len(x.shape) < 1:
            raise OpError(f"{a.mode.name} mode needs an input of rank >= 1")
        cshape = coefficient_shape(a.mode, x.shape, a.channel_axis)
        need = -1 if any(d < 0 for d in cshape) else math.prod(cshape)
        for slot, role in enumerate(_ROLES, start=1):
            t = ins[slot] if len(ins) > slot else None
            n = None
            if t is not None:
                n = -1 if t.shape is None or any(d < 0 for d in t.shape) else math.prod(t.shape)
            elif a[role] is not None:
                n = a[role].size
            if n is None or n < 0 or need < 0:
                continue
            if n != need:
                if a.mode == ScaleMode.UNIFORM:
                    how = "UNIFORM mode needs exactly 1 value"
                elif a.mode == ScaleMode.CHANNEL:
                    how = f"CHANNEL mode needs one value per channel (dimension {a.channel_axis}, size {need})"
                else:
                    how = f"ELEMENTWISE mode needs one value per element of dims {a.channel_axis}.. ({need} values)"
                raise OpError(f"{role} holds {n} values for input {tuple(x.shape)}; {how}")
        return [Spec(x.dtype, tuple(x.shape))]

    def run(self, a, ins, outs):
        x = ins[0]
        cshape = coefficient_shape(a.mode, x.shape, a.channel_axis)
        compute = torch.float32 if x.dtype != torch.float32 else x.dtype
        y = x.to(compute)

        def coef(slot):
            t = ins[slot] if len(ins) > slot else None
            return None if t is None else t.to(device=x.device, dtype=compute).reshape(cshape)

        shift, scale, power = coef(1), coef(2), coef(3)
        if scale is not None:
            y = y * scale
        if shift is not None:
            y = y + shift
        if power is not None:
            y = torch.pow(y, power)
        return [y.to(x.dtype)]
