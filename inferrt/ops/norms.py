"""Fused normalizations: LayerNorm, InstanceNorm, RMSNorm, GroupNorm, L2 norm (LogSoftmax is in reduce.py).

These kinds are produced by the reduction fusions in ``passes/`` from primitive layer chains (reduce, elementwise,
unary); each generic implementation computes exactly the math of the chain it replaces, with torch ops.
``scale`` / ``bias`` inputs are optional and broadcast against the normalized tensor (numpy rules).
"""
from __future__ import annotations

import torch

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..enums import LayerType
from .base import FLOAT, INT, STR, OpDef, OpError, Spec, axes_from_mask, broadcast_shapes, register


def mask_axes(a, rank, kind):
    if a.axes <= 0 or a.axes >> rank:
        raise OpError(f"{kind}: axes bitmask {a.axes:#b} must name at least one axis of a rank-{rank} tensor")
    return axes_from_mask(a.axes, rank)


def _affine_shape(kind, x, ins):
    if x.dtype not in _FLOATS:
        raise OpError(f"{kind} needs a floating-point input, got {x.dtype.name}")
    shape = x.shape
    for i, s in enumerate(ins[1:], 1):
        if s is not None:
            if s.dtype != x.dtype:
                raise OpError(f"{kind}: input {i} has type {s.dtype.name} but the data has {x.dtype.name}")
            shape = broadcast_shapes(shape, s.shape, where=f" ({kind} input {i})")
    return [Spec(x.dtype, tuple(shape))]


def _affine(y, ins):
    if len(ins) > 1 and ins[1] is not None:
        y = y * ins[1]
    if len(ins) > 2 and ins[2] is not None:
        y = y + ins[2]
    return y


class _MeanVarNorm(OpDef):
    """(x - mean) / sqrt(var + eps) over ``axes`` (population variance), then * scale + bias."""

    layer_type = LayerType.NORMALIZATION
    attrs = {"axes": (INT, 0), "epsilon": (FLOAT, 1e-5)}
    inputs = ("input", "scale", "bias")

    def infer(self, a, ins):
        mask_axes(a, ins[0].rank, self.kind)
        return _affine_shape(self.kind, ins[0], ins)

    def run(self, a, ins, outs):
        x = ins[0]
        axes = axes_from_mask(a.axes, x.dim())
        var, mean = torch.var_mean(x, dim=axes, keepdim=True, correction=0)
        return [_affine((x - mean) / torch.sqrt(var + a.epsilon), ins)]


@register
class LayerNorm(_MeanVarNorm):
    """Normalization over the trailing ``axes``."""

    kind = "layer_norm"


@register
class InstanceNorm(_MeanVarNorm):
    """Normalization over the spatial axes of an N, C, spatial... tensor, per sample and channel."""

    kind = "instance_norm"


@register
class RMSNorm(OpDef):
    """x / sqrt(mean(x^2 over axes) + eps) * scale."""

    kind = "rms_norm"
    layer_type = LayerType.NORMALIZATION
    attrs = {"axes": (INT, 0), "epsilon": (FLOAT, 1e-6)}
    inputs = ("input", "scale")

    def infer(self, a, ins):
        mask_axes(a, ins[0].rank, self.kind)
        return _affine_shape(self.kind, ins[0], ins)

    def run(self, a, ins, outs):
        x = ins[0]
        axes = axes_from_mask(a.axes, x.dim())
        ms = torch.mean(x * x, dim=axes, keepdim=True)
        return [_affine(x / torch.sqrt(ms + a.epsilon), ins)]


@register
class GroupNorm(OpDef):
    """Normalization of an N, C, spatial... tensor over groups of C / num_groups channels and all spatial dims."""

    kind = "group_norm"
    layer_type = LayerType.NORMALIZATION
    attrs = {"num_groups": (INT, 1), "epsilon": (FLOAT, 1e-5)}
    inputs = ("input", "scale", "bias")

    def infer(self, a, ins):
        x = ins[0]
        if x.rank < 2:
            raise OpError(f"group_norm needs an N, C, ... input, got rank {x.rank}")
        c = x.shape[1]
        if a.num_groups < 1 or (c >= 0 and c % a.num_groups):
            raise OpError(f"group_norm: {c} channels are not divisible by num_groups={a.num_groups}")
        return _affine_shape(self.kind, x, ins)

    def run(self, a, ins, outs):
        x = ins[0]
        n = x.shape[0]
        g = x.reshape(n, a.num_groups, -1)
        var, mean = torch.var_mean(g, dim=2, keepdim=True, correction=0)
        y = ((g - mean) / torch.sqrt(var + a.epsilon)).reshape(x.shape)
        return [_affine(y, ins)]


#: how epsilon enters the L2 norm's denominator
L2_EPS_MODES = ("none", "add", "max", "max_sqrt")


@register
class L2Norm(OpDef):
    """x / d with d = sqrt(S) | sqrt(S + eps) | sqrt(max(S, eps)) | max(sqrt(S), eps), S = sum(x^2 over axes)."""

    kind = "l2_norm"
    layer_type = LayerType.NORMALIZATION
    attrs = {"axes": (INT, 0), "epsilon": (FLOAT, 0.0), "eps_mode": (STR, "none")}

    def infer(self, a, ins):
        mask_axes(a, ins[0].rank, self.kind)
        if a.eps_mode not in L2_EPS_MODES:
            raise OpError(f"l2_norm: eps_mode {a.eps_mode!r} is not one of {L2_EPS_MODES}")
        return _affine_shape(self.kind, ins[0], ins[:1])

    def run(self, a, ins, outs):
        x = ins[0]
        s = torch.sum(x * x, dim=axes_from_mask(a.axes, x.dim()), keepdim=True)
        if a.eps_mode == "add":
            s = s + a.epsilon
        elif a.eps_mode == "max":
            s = torch.clamp_min(s, a.epsilon)
        d = torch.sqrt(s)
        if a.eps_mode == "max_sqrt":
            d = torch.clamp_min(d, a.epsilon)
        return [x / d]



