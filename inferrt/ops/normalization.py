"""Normalizations: Normalization (layer / instance / group norm, INormalizationLayer), LRN (cross-channel,
ILRNLayer), and the fused kinds LayerNorm, InstanceNorm, RMSNorm, GroupNorm, L2 norm and AddLayerNorm (a LayerNorm
of the sum that feeds it, which also hands out that sum).

The fused kinds are produced by the reduction fusions in ``passes/`` from primitive layer chains (reduce,
elementwise, unary); each generic implementation computes exactly the math of the chain it replaces, with torch
ops. ``scale`` / ``bias`` inputs are optional and broadcast against the normalized tensor (numpy rules).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..enums import DataType, LayerType
from .base import DTYPE, FLOAT, INT, Choice, OpDef, OpError, Spec, axes_from_mask, broadcast_shapes, register


@register
class Normalization(OpDef):
    """y = (x - mean) / sqrt(var + epsilon) * scale + bias, statistics over ``axes`` (a bitmask).

    With ``num_groups`` > 1 (group norm) the input is N, C, spatial...; the channels are split into groups and
    each group is normalized over its channels and the ``axes`` (the spatial dims); scale and bias are per channel
    ([1, C, 1, ...]); per-group coefficients ([1, G, 1, ...], ONNX GroupNormalization-18) are accepted too.
    """

    kind = "normalization"
    layer_type = LayerType.NORMALIZATION
    attrs = {"epsilon": (FLOAT, 1e-5), "axes": (INT, 0), "num_groups": (INT, 1),
             "compute_precision": (DTYPE, DataType.FLOAT)}
    inputs = ("input", "scale", "bias")
    min_inputs = 3

    def infer(self, a, ins):
        x, scale, bias = ins[:3]
        rank = x.rank
        if x.dtype not in _FLOATS:
            raise OpError(f"input type {x.dtype.name} is not supported; cast the input to FLOAT or HALF")
        if a.axes <= 0 or a.axes >> rank:
            raise OpError(f"axes bitmask {a.axes:#b} must name at least one axis of the rank-{rank} input")
        if a.epsilon < 0:
            raise OpError(f"epsilon {a.epsilon} must not be negative")
        g = a.num_groups
        if g < 1:
            raise OpError(f"num_groups {g} must be >= 1")
        for name, t in (("scale", scale), ("bias", bias)):
            if t.shape is None:
                continue
            if len(t.shape) != rank:
                raise OpError(f"{name} has rank {len(t.shape)} but the input has rank {rank}; reshape it to the "
                              f"input's rank with 1 in the dimensions it does not vary over")
            if g > 1:
                bad = [i for i, d in enumerate(t.shape) if i != 1 and d not in (1, -1)]
                if bad or (t.shape[1] not in (1, -1, g) and x.shape[1] >= 0 and t.shape[1] != x.shape[1]):
                    raise OpError(f"with num_groups={g}, {name} must be per channel (shape [1, C, 1, ...]) or per "
                                  f"group ([1, {g}, 1, ...]); got {tuple(t.shape)} for input {tuple(x.shape)}")
                continue
            broadcast_shapes(x.shape, t.shape, where=f" ({name} must broadcast to the input)")
        if g > 1:
            if rank < 2:
                raise OpError("group normalization needs an input laid out as N, C, ...")
            if a.axes & 0b11:
                raise OpError(f"with num_groups={g}, axes {a.axes:#b} must name only dims after the channel dim 1")
            c = x.shape[1]
            if c >= 0 and c % g:
                raise OpError(f"channels {c} are not divisible by num_groups {g}")
        return [Spec(x.dtype, tuple(x.shape))]

    @staticmethod
    def _fused(a, ins):
        if ins[0].dtype == torch.float64 or len(ins) < 3 or ins[1] is None or ins[2] is None:
            return None
        return _fused_layer_norm(a, ins) if a.num_groups == 1 and _trailing(
            axes_from_mask(a.axes, ins[0].dim()), ins[0].dim()) else _fused_group_norm(a, ins)

    def run(self, a, ins, outs):
        fast = self._fused(a, ins)
        if fast is not None:
            return [fast]
        x, scale, bias = ins[:3]
        compute = torch.float64 if x.dtype == torch.float64 else torch.float32
        y = x.to(compute)
        axes = axes_from_mask(a.axes, x.dim())
        g = a.num_groups
        if g > 1:
            n, c = x.shape[0], x.shape[1]
            grouped = y.reshape(n, g, c // g, *x.shape[2:])
            red = [2] + [ax + 1 for ax in axes]
            mean = grouped.mean(dim=red, keepdim=True)
            var = (grouped - mean).square().mean(dim=red, keepdim=True)
            y = ((grouped - mean) * torch.rsqrt(var + a.epsilon)).reshape(x.shape)
        else:
            mean = y.mean(dim=axes, keepdim=True)
            var = (y - mean).square().mean(dim=axes, keepdim=True)
            y = (y - mean) * torch.rsqrt(var + a.epsilon)
        if g > 1:  # per-group coefficients (ONNX GroupNormalization-18) apply to each channel of their group
            scale, bias = (t.repeat_interleave(x.shape[1] // g, dim=1) if t.shape[1] == g != x.shape[1] else t
                           for t in (scale, bias))
        y = y * scale.to(compute) + bias.to(compute)
        return [y.to(x.dtype)]


def _trailing(axes, rank) -> bool:
    return bool(axes) and axes == list(range(rank - len(axes), rank))


def _fused_layer_norm(a, ins):
    """One fused kernel (statistics in float32 inside) when the normalized axes are the trailing ones and scale /
    bias cover exactly those axes (LayerNorm); None otherwise."""
    x, scale, bias = ins[:3]
    axes = axes_from_mask(a.axes, x.dim())
    if a.num_groups != 1 or not _trailing(axes, x.dim()):
        return None
    tail = tuple(x.shape[axes[0]:])
    if any(tuple(t.shape[-len(tail):]) != tail or any(d != 1 for d in t.shape[:-len(tail)]) for t in (scale, bias)):
        return None
    w, b = scale.reshape(tail).to(x.dtype), bias.reshape(tail).to(x.dtype)
    if x.dtype == torch.float16 and x.device.type == "cpu":
        return F.layer_norm(x.float(), tail, w.float(), b.float(), a.epsilon).to(x.dtype)
    return F.layer_norm(x, tail, w, b, a.epsilon)


def _fused_group_norm(a, ins):
    """torch's group norm (one kernel) for NC... inputs normalized over the spatial axes per group of channels, with
    per-channel scale and bias; None otherwise."""
    x, scale, bias = ins[:3]
    axes = axes_from_mask(a.axes, x.dim())
    g = a.num_groups
    if x.dim() < 3 or axes != list(range(2, x.dim())) or x.shape[1] % g:
        return None
    c = x.shape[1]
    if any(t.numel() != c or t.shape[1] != c for t in (scale, bias)):
        return None
    xc = x.float() if x.device.type == "cpu" and x.dtype == torch.float16 else x
    y = F.group_norm(xc, g, scale.reshape(c).to(xc.dtype), bias.reshape(c).to(xc.dtype), a.epsilon)
    return y.to(x.dtype)


@register
class LRN(OpDef):
    """Local response normalization across channels (dim 1), as ONNX LRN:
    y = x / (k + alpha / window * sum(x^2 over the channel window)) ^ beta."""

    kind = "lrn"
    layer_type = LayerType.LRN
    attrs = {"window_size": (INT, 1), "alpha": (FLOAT, 1e-4), "beta": (FLOAT, 0.75), "k": (FLOAT, 1.0)}

    def infer(self, a, ins):
        x = ins[0]
        if x.rank < 2:
            raise OpError(f"input of rank {x.rank} has no channel dimension; LRN needs N, C, ... (rank >= 2)")
        if x.dtype not in _FLOATS:
            raise OpError(f"input type {x.dtype.name} is not supported; cast the input to FLOAT or HALF")
        if a.window_size < 1:
            raise OpError(f"window_size {a.window_size} must be >= 1")
        return [Spec(x.dtype, tuple(x.shape))]

    def run(self, a, ins, outs):
        x = ins[0]
        y = x.to(torch.float32) if x.dtype != torch.float64 else x
        sq = y.square()
        w = a.window_size
        before, after = (w - 1) // 2, w - 1 - (w - 1) // 2
        shape = sq.shape
        flat = sq.reshape(shape[0], 1, shape[1], -1)  # N, 1, C, rest: sum over a window along C
        flat = F.pad(flat, (0, 0, before, after))
        total = F.avg_pool2d(flat, (w, 1), stride=1) * w
        total = total.reshape(shape)
        return [(y / torch.pow(a.k + a.alpha / w * total, a.beta)).to(x.dtype)]


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


class _AxesAffineNorm(OpDef):
    """A normalization over the ``axes`` bitmask followed by the optional scale (and bias) inputs."""

    layer_type = LayerType.NORMALIZATION

    def infer(self, a, ins):
        mask_axes(a, ins[0].rank, self.kind)
        return _affine_shape(self.kind, ins[0], ins)


class _MeanVarNorm(_AxesAffineNorm):
    """(x - mean) / sqrt(var + eps) over ``axes`` (population variance), then * scale + bias."""

    attrs = {"axes": (INT, 0), "epsilon": (FLOAT, 1e-5)}
    inputs = ("input", "scale", "bias")

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
class RMSNorm(_AxesAffineNorm):
    """x / sqrt(mean(x^2 over axes) + eps) * scale."""

    kind = "rms_norm"
    attrs = {"axes": (INT, 0), "epsilon": (FLOAT, 1e-6)}
    inputs = ("input", "scale")

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
    attrs = {"axes": (INT, 0), "epsilon": (FLOAT, 0.0), "eps_mode": (Choice(*L2_EPS_MODES), "none")}

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


@register
class AddLayerNorm(OpDef):
    """s = input + residual (numpy broadcasting); y = (s - mean) / sqrt(var + epsilon) * scale + bias over the
    trailing ``axes`` (population variance, statistics in FLOAT, FLOAT64 for FLOAT64 data). Outputs: y, then s
    (a node lists s only when something else reads it). ``scale`` / ``bias`` are optional and broadcast into s's
    shape without widening it. Produced by ``passes/fuse_add_layer_norm.py``."""

    kind = "add_layer_norm"
    layer_type = LayerType.NORMALIZATION
    attrs = {"axes": (INT, 0), "epsilon": (FLOAT, 1e-5)}
    inputs = ("input", "residual", "scale", "bias")
    min_inputs = 2
    num_outputs = 2

    def infer(self, a, ins):
        x, r = ins[0], ins[1]
        if x.dtype not in _FLOATS or r.dtype != x.dtype:
            raise OpError(f"add_layer_norm: input and residual must share one floating-point type, got "
                          f"{x.dtype.name} and {r.dtype.name}")
        if a.epsilon < 0:
            raise OpError(f"add_layer_norm: epsilon {a.epsilon} must not be negative")
        shape = broadcast_shapes(x.shape, r.shape, where=" (add_layer_norm input + residual)")
        axes = mask_axes(a, len(shape), self.kind)
        if not _trailing(axes, len(shape)):
            raise OpError(f"add_layer_norm: axes {axes} must be the trailing axes of the rank-{len(shape)} sum")
        for i in (2, 3):
            t = ins[i] if len(ins) > i else None
            if t is None:
                continue
            if t.dtype != x.dtype:
                raise OpError(f"add_layer_norm: {self.inputs[i]} has type {t.dtype.name} but the data has "
                              f"{x.dtype.name}")
            if tuple(broadcast_shapes(shape, t.shape, where=f" (add_layer_norm {self.inputs[i]})")) != tuple(shape):
                raise OpError(f"add_layer_norm: {self.inputs[i]} of shape {tuple(t.shape)} would widen the sum's "
                              f"shape {tuple(shape)}; it must broadcast into it")
        return [Spec(x.dtype, tuple(shape)), Spec(x.dtype, tuple(shape))]

    def run(self, a, ins, outs):
        s = ins[0] + ins[1]
        scale = ins[2] if len(ins) > 2 else None
        bias = ins[3] if len(ins) > 3 else None
        compute = torch.float64 if s.dtype == torch.float64 else torch.float32
        axes = axes_from_mask(a.axes, s.dim())
        tail = tuple(s.shape[axes[0]:])
        y = s.to(compute)
        coeffs = [t for t in (scale, bias) if t is not None]
        if all(t.numel() == math.prod(tail) and tuple(t.shape[t.dim() - len(tail):]) == tail for t in coeffs):
            w, b = (None if t is None else t.reshape(tail).to(compute) for t in (scale, bias))
            y = F.layer_norm(y, tail, w, b, a.epsilon)
        else:
            var, mean = torch.var_mean(y, dim=axes, keepdim=True, correction=0)
            y = (y - mean) * torch.rsqrt(var + a.epsilon)
            if scale is not None:
                y = y * scale.to(compute)
            if bias is not None:
                y = y + bias.to(compute)
        return [y.to(s.dtype), s]
