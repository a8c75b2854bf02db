"""Importers for ONNX activations: Relu family, sigmoid family, Swish, Gelu, Mish, Shrink, Clip (opset 6 vs 11+)."""
from __future__ import annotations

import numpy as np

from ...dtypes import FLOAT_TYPES as _FLOATS
from ...enums import ActivationType as A, DataType, ElementWiseOperation as EW, ParserErrorCode as E
from ..registry import importer


def _x(ctx, node, float_only=True):
    x = ctx.tensor(node.inputs[0])
    if float_only and x.dtype not in _FLOATS:
        ctx.fail(f"{node.op_type} needs a floating-point input, got {x.dtype.name}", E.UNSUPPORTED_NODE_DATATYPE)
    return x


@importer("Relu", since=6)
def relu(ctx, node):
    x = _x(ctx, node, float_only=False)
    if x.dtype in _FLOATS:
        return [ctx.activation(x, A.RELU)]
    return [ctx.elementwise(x, ctx.scalar(0, x.dtype), EW.MAX)]


@importer("LeakyRelu", since=6)
def leaky_relu(ctx, node):
    return [ctx.activation(_x(ctx, node), A.LEAKY_RELU, node.attr("alpha", 0.01))]


@importer("PRelu", since=7)
def prelu(ctx, node):
    x = _x(ctx, node, float_only=False)
    slope = ctx.tensor(node.inputs[1])
    if slope.dtype != x.dtype:
        ctx.fail(f"slope type {slope.dtype.name} differs from input type {x.dtype.name}", E.INVALID_NODE)
    x, slope = ctx.broadcast_pair(x, slope)
    if x.dtype in _FLOATS:
        return [ctx.network.add_parametric_relu(x, slope).get_output(0)]
    zero = ctx.scalar(0, x.dtype, rank=len(x.shape))
    pos = ctx.elementwise(x, zero, EW.MAX)
    neg = ctx.elementwise(ctx.elementwise(x, zero, EW.MIN), slope, EW.PROD)
    return [ctx.elementwise(pos, neg, EW.SUM)]


@importer("Elu", since=6)
def elu(ctx, node):
    return [ctx.activation(_x(ctx, node), A.ELU, node.attr("alpha", 1.0))]


@importer("Selu", since=6)
def selu(ctx, node):
    return [ctx.activation(_x(ctx, node), A.SELU, node.attr("alpha", 1.67326319217681884765625),
                           node.attr("gamma", 1.05070102214813232421875))]


@importer("Celu", since=12)
def celu(ctx, node):
    # celu(x) = alpha * elu(x / alpha) with elu's alpha = 1
    x = _x(ctx, node)
    alpha = float(node.attr("alpha", 1.0))
    if alpha == 0:
        ctx.fail("alpha must not be 0", E.INVALID_NODE)
    scaled = ctx.elementwise(x, ctx.scalar(alpha, x.dtype), EW.DIV)
    return [ctx.elementwise(ctx.activation(scaled, A.ELU, 1.0), ctx.scalar(alpha, x.dtype), EW.PROD)]


@importer("Sigmoid", since=6)
def sigmoid(ctx, node):
    return [ctx.activation(_x(ctx, node), A.SIGMOID)]


@importer("HardSigmoid", since=6)
def hard_sigmoid(ctx, node):
    return [ctx.activation(_x(ctx, node), A.HARD_SIGMOID, node.attr("alpha", 0.2), node.attr("beta", 0.5))]


@importer("HardSwish", since=14)
def hard_swish(ctx, node):
    x = _x(ctx, node)
    return [ctx.elementwise(x, ctx.activation(x, A.HARD_SIGMOID, 1.0 / 6.0, 0.5), EW.PROD)]


@importer("Swish", since=24)
def swish(ctx, node):
    """x * sigmoid(alpha * x)."""
    x = ctx.float_input(node, 0)
    alpha = float(node.attr("alpha", 1.0))
    scaled = x
    if alpha != 1.0:
        scaled = ctx.elementwise(x, ctx.cast(ctx.constant(np.array(alpha, np.float32)), x.dtype), EW.PROD)
    return [ctx.elementwise(x, ctx.activation(scaled, A.SIGMOID), EW.PROD)]


@importer("Tanh", since=6)
def tanh(ctx, node):
    return [ctx.activation(_x(ctx, node), A.TANH)]


@importer("Softplus", since=1)
def softplus(ctx, node):
    return [ctx.activation(_x(ctx, node), A.SOFTPLUS, 1.0, 1.0)]


@importer("Softsign", since=1)
def softsign(ctx, node):
    return [ctx.activation(_x(ctx, node), A.SOFTSIGN)]


@importer("ThresholdedRelu", since=10)
def thresholded_relu(ctx, node):
    return [ctx.activation(_x(ctx, node), A.THRESHOLDED_RELU, node.attr("alpha", 1.0))]


@importer("Gelu", since=20)
def gelu(ctx, node):
    approx = node.attr("approximate", "none")
    if approx not in ("none", "tanh"):
        ctx.fail(f"approximate must be 'none' or 'tanh', got {approx!r}", E.UNSUPPORTED_NODE_ATTR)
    return [ctx.activation(_x(ctx, node), A.GELU_TANH if approx == "tanh" else A.GELU_ERF)]


@importer("Mish", since=18)
def mish(ctx, node):
    x = _x(ctx, node)
    sp = ctx.activation(x, A.SOFTPLUS, 1.0, 1.0)
    return [ctx.elementwise(x, ctx.activation(sp, A.TANH), EW.PROD)]


@importer("Shrink", since=9)
def shrink(ctx, node):
    # y = x - bias if x > lambd; x + bias if x < -lambd; else 0
    x = _x(ctx, node, float_only=False)
    bias, lambd = float(node.attr("bias", 0.0)), float(node.attr("lambd", 0.5))
    work = x if x.dtype in _FLOATS else ctx.cast(x, DataType.FLOAT)
    dt = work.dtype
    hi = ctx.cast(ctx.elementwise(work, ctx.scalar(lambd, dt), EW.GREATER), dt)
    lo = ctx.cast(ctx.elementwise(work, ctx.scalar(-lambd, dt), EW.LESS), dt)
    up = ctx.elementwise(ctx.elementwise(work, ctx.scalar(bias, dt), EW.SUB), hi, EW.PROD)
    down = ctx.elementwise(ctx.elementwise(work, ctx.scalar(bias, dt), EW.SUM), lo, EW.PROD)
    out = ctx.elementwise(up, down, EW.SUM)
    return [out if out.dtype == x.dtype else ctx.cast(out, x.dtype)]


@importer("Clip", since=6)
def clip_6(ctx, node):
    x = _x(ctx, node, float_only=False)
    lo = float(node.attr("min", -3.4028234663852886e38))
    hi = float(node.attr("max", 3.4028234663852886e38))
    return [_clip(ctx, x, lo, hi, None, None)]


@importer("Clip", since=11)
def clip_11(ctx, node):
    x = _x(ctx, node, float_only=False)
    bounds = []
    for i in (1, 2):
        name = node.input(i)
        if not name:
            bounds.append((None, None))
            continue
        v = ctx.value(name)
        if v is not None and np.asarray(v).size == 1:
            bounds.append((np.asarray(v).reshape(()).item(), None))
        else:
            t = ctx.tensor(name)
            bounds.append((None, t if t.dtype == x.dtype else ctx.cast(t, x.dtype)))
    (lo, lo_t), (hi, hi_t) = bounds
    return [_clip(ctx, x, lo, hi, lo_t, hi_t)]


def _clip(ctx, x, lo, hi, lo_t, hi_t):
    if x.dtype in _FLOATS and lo_t is None and hi_t is None:
        lo = -np.inf if lo is None else float(lo)
        hi = np.inf if hi is None else float(hi)
        if lo > hi:  # ONNX: all values become max when min > max
            return ctx.elementwise(ctx.elementwise(x, ctx.scalar(0, x.dtype), EW.PROD),
                                   ctx.scalar(hi, x.dtype), EW.SUM)
        return ctx.activation(x, A.CLIP, lo, hi)
    out = x
    if lo_t is not None or lo is not None:
        out = ctx.elementwise(out, lo_t if lo_t is not None else ctx.scalar(lo, x.dtype), EW.MAX)
    if hi_t is not None or hi is not None:
        out = ctx.elementwise(out, hi_t if hi_t is not None else ctx.scalar(hi, x.dtype), EW.MIN)
    if out is x:
        out = ctx.network.add_identity(x).get_output(0)
    return out


# experimental ONNX ops (removed from the standard; still exported by old tools and accepted by TensorRT)
@importer("ScaledTanh", since=1)
def scaled_tanh(ctx, node):
    return [ctx.activation(_x(ctx, node), A.SCALED_TANH, node.attr("alpha", 1.0), node.attr("beta", 1.0))]


@importer("ParametricSoftplus", since=1)
def parametric_softplus(ctx, node):
    return [ctx.activation(_x(ctx, node), A.SOFTPLUS, node.attr("alpha", 1.0), node.attr("beta", 1.0))]
