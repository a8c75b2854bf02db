"""Activation (every ActivationType) and ParametricReLU."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..dtypes import FLOAT_TYPES
from ..enums import ActivationType as AT, DataType, LayerType
from .base import FLOAT, Enum, OpDef, OpError, register, spec_like

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)

#: ActivationType -> f(x, alpha, beta); also used by the pointwise fusion to build fused expressions.
ACTIVATIONS = {
    AT.RELU: lambda x, a, b: torch.relu(x),
    AT.SIGMOID: lambda x, a, b: torch.sigmoid(x),
    AT.TANH: lambda x, a, b: torch.tanh(x),
    AT.LEAKY_RELU: lambda x, a, b: torch.where(x >= 0, x, x * a),
    AT.ELU: lambda x, a, b: torch.where(x >= 0, x, a * torch.expm1(x)),
    AT.SELU: lambda x, a, b: b * torch.where(x >= 0, x, a * torch.expm1(x)),
    AT.SOFTSIGN: lambda x, a, b: x / (1 + torch.abs(x)),
    AT.SOFTPLUS: lambda x, a, b: a * F.softplus(x * b) if b != 0 else a * torch.log(torch.ones_like(x) * 2),
    AT.CLIP: lambda x, a, b: torch.clamp(x, a, b),
    AT.HARD_SIGMOID: lambda x, a, b: torch.clamp(x * a + b, 0.0, 1.0),
    AT.SCALED_TANH: lambda x, a, b: a * torch.tanh(x * b),
    AT.THRESHOLDED_RELU: lambda x, a, b: torch.where(x > a, x, torch.zeros_like(x)),
    AT.GELU_ERF: lambda x, a, b: F.gelu(x),
    AT.GELU_TANH: lambda x, a, b: F.gelu(x, approximate="tanh"),
}
# TensorRT's defaults for alpha / beta per type (documented in IActivationLayer)
DEFAULT_ALPHA_BETA = {
    AT.LEAKY_RELU: (0.01, 0.0), AT.ELU: (1.0, 0.0), AT.SELU: (1.6732632423543772, 1.0507009873554805),
    AT.SOFTPLUS: (1.0, 1.0), AT.CLIP: (0.0, 0.0), AT.HARD_SIGMOID: (0.2, 0.5), AT.SCALED_TANH: (1.0, 1.0),
    AT.THRESHOLDED_RELU: (1.0, 0.0),
}


@register
class Activation(OpDef):
    kind = "activation"
    layer_type = LayerType.ACTIVATION
    attrs = {"type": (Enum(AT), AT.RELU), "alpha": (FLOAT, 0.0), "beta": (FLOAT, 0.0)}
    pointwise = True

    def infer(self, a, ins):
        x = ins[0]
        if x.dtype not in (*FLOAT_TYPES, DataType.INT8) and a.type is not AT.RELU:
            raise OpError(f"activation {a.type.name} needs a floating-point input, got {x.dtype.name}")
        return [spec_like(x)]

    def run(self, a, ins, outs):
        return [ACTIVATIONS[a.type](ins[0], a.alpha, a.beta)]


@register
class ParametricReLU(OpDef):
    kind = "parametric_relu"
    layer_type = LayerType.PARAMETRIC_RELU
    inputs = ("input", "slopes")
    min_inputs = 2
    pointwise = True

    def infer(self, a, ins):
        from .base import broadcast_shapes

        x, s = ins
        if x.shape is not None and s.shape is not None:
            out = broadcast_shapes(x.shape, s.shape, where=" (slopes must broadcast to the input)")
            # unidirectional: the slopes may not make the output larger than the input
            if len(s.shape) > len(x.shape) or any(o != d and d != -1 and o != -1 for o, d in zip(out, x.shape)):
                raise OpError(f"slopes of shape {tuple(s.shape)} do not broadcast to the input's shape "
                              f"{tuple(x.shape)}: each slope dim must be 1 or equal the input's (aligned right), "
                              f"and the slopes may not have a higher rank")
        return [spec_like(x)]

    def run(self, a, ins, outs):
        x, s = ins
        return [torch.where(x >= 0, x, x * s)]
