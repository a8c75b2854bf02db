"""com.microsoft element-wise and fused ops written by onnxruntime's transformer optimizer: Gelu, BiasGelu,
FastGelu, QuickGelu, BiasAdd, FusedConv, FusedGemm, FusedMatMul.

Each decomposes into standard layers (the ai.onnx importers through ``onnx_op``, or activation / element-wise
layers); the builder's fusion passes put the bias and activation back into the convolution or matrix multiply.
"""
from __future__ import annotations

from ...enums import ActivationType as A, ElementWiseOperation as EW, ParserErrorCode as E
from ..registry import importer


MS = "com.microsoft"


def _activation(ctx, node, y, name, alpha=None, beta=None, gamma=None, params=None):
    """``y`` through the ONNX activation ``name`` (FusedConv gives its parameters as ``activation_params``)."""
    params = list(params or [])

    def p(i, given, default):
        return float(params[i]) if i < len(params) else (float(given) if given is not None else default)

    if name == "Relu":
        return ctx.activation(y, A.RELU)
    if name == "Tanh":
        return ctx.activation(y, A.TANH)
    if name == "Sigmoid":
        return ctx.activation(y, A.SIGMOID)
    if name == "LeakyRelu":
        return ctx.onnx_op("LeakyRelu", [y], alpha=p(0, alpha, 0.01))[0]
    if name == "Elu":
        return ctx.onnx_op("Elu", [y], alpha=p(0, alpha, 1.0))[0]
    if name == "HardSigmoid":
        return ctx.onnx_op("HardSigmoid", [y], alpha=p(0, alpha, 0.2), beta=p(1, beta, 0.5))[0]
    if name == "Clip" and params:
        if len(params) != 2:
            ctx.fail(f"activation Clip needs activation_params [min, max], got {params}", E.UNSUPPORTED_NODE_ATTR)
        return ctx.activation(y, A.CLIP, params[0], params[1])
    ctx.fail(f"attribute activation={name!r} is not supported (Relu, Tanh, Sigmoid, LeakyRelu, Elu, HardSigmoid"
             f"{', Clip' if node.op_type == 'FusedConv' else ''})", E.UNSUPPORTED_NODE_ATTR)


# ----------------------------------------------------------------------------------------------- GELU family
@importer("Gelu", since=1, domain=MS)
def gelu(ctx, node):
    return [ctx.activation(ctx.input(node, 0), A.GELU_ERF)]


@importer("BiasGelu", since=1, domain=MS)
def bias_gelu(ctx, node):
    return [ctx.activation(ctx.elementwise(ctx.input(node, 0), ctx.input(node, 1), EW.SUM), A.GELU_ERF)]


@importer("FastGelu", since=1, domain=MS)
def fast_gelu(ctx, node):
    x = ctx.input(node, 0)
    if ctx.has_input(node, 1):
        x = ctx.elementwise(x, ctx.input(node, 1), EW.SUM)
    return [ctx.activation(x, A.GELU_TANH)]


@importer("QuickGelu", since=1, domain=MS)
def quick_gelu(ctx, node):
    x = ctx.input(node, 0)
    alpha = float(ctx.attr(node, "alpha", 1.702))
    s = ctx.activation(ctx.elementwise(x, ctx.scalar_like(alpha, x), EW.PROD), A.SIGMOID)
    return [ctx.elementwise(x, s, EW.PROD)]


@importer("BiasAdd", since=1, domain=MS)
def bias_add(ctx, node):
    x, bias, skip = ctx.input(node, 0), ctx.input(node, 1), ctx.input(node, 2)
    if ctx.rank(x) != 3 or ctx.rank(bias) != 1:
        ctx.fail(f"X must be 3-D (N, S, C) and bias 1-D (C), got ranks {ctx.rank(x)} and {ctx.rank(bias)}",
                 E.INVALID_NODE)
    return [ctx.elementwise(ctx.elementwise(x, bias, EW.SUM), skip, EW.SUM)]


# ----------------------------------------------------------------------------------------------- fused
_CONV_ATTRS = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")


@importer("FusedConv", since=1, domain=MS)
def fused_conv(ctx, node):
    ins = [ctx.input(node, i) for i in range(3)]
    conv_attrs = {k: ctx.attr(node, k) for k in _CONV_ATTRS if node.has_attr(k)}
    y = ctx.onnx_op("Conv", ins if ins[2] is not None else ins[:2], **conv_attrs)[0]
    if ctx.has_input(node, 3):  # Z: a residual added before the activation
        y = ctx.elementwise(y, ctx.input(node, 3), EW.SUM)
    name = ctx.attr(node, "activation", None)
    if name is None:
        return [y]
    return [_activation(ctx, node, y, name, params=ctx.attr(node, "activation_params", None))]


@importer("FusedGemm", since=1, domain=MS)
def fused_gemm(ctx, node):
    ins = [ctx.input(node, i) for i in range(3)]
    gemm_attrs = {k: ctx.attr(node, k) for k in ("alpha", "beta", "transA", "transB") if node.has_attr(k)}
    y = ctx.onnx_op("Gemm", ins if ins[2] is not None else ins[:2], **gemm_attrs)[0]
    name = ctx.attr(node, "activation", None)
    if name is None:
        return [y]
    if node.has_attr("activation_gamma"):
        ctx.fail(f"attribute activation_gamma is not used by activation {name!r}; remove it", E.UNSUPPORTED_NODE_ATTR)
    return [_activation(ctx, node, y, name, ctx.attr(node, "activation_alpha", None),
                        ctx.attr(node, "activation_beta", None))]


def _batch_first_to_middle(ctx, t):
    """FusedMatMul's transBatch: (d0, d1, ..., d[r-2], d[r-1]) -> (d1, ..., d[r-2], d0, d[r-1])."""
    r = ctx.rank(t)
    return ctx.transpose(t, list(range(1, r - 1)) + [0, r - 1])


@importer("FusedMatMul", since=1, domain=MS)
def fused_matmul(ctx, node):
    from .matrix import matmul

    a, b = ctx.input(node, 0), ctx.input(node, 1)
    ta, tb = bool(ctx.attr(node, "transA", 0)), bool(ctx.attr(node, "transB", 0))
    for flag, t, what in (("transBatchA", a, "A"), ("transBatchB", b, "B")):
        if ctx.attr(node, flag, 0) and ctx.rank(t) < 3:
            ctx.fail(f"attribute {flag}=1 needs {what} of rank >= 3, got rank {ctx.rank(t)}", E.UNSUPPORTED_NODE_ATTR)
    if ctx.attr(node, "transBatchA", 0):
        a = _batch_first_to_middle(ctx, a)
    if ctx.attr(node, "transBatchB", 0):
        b = _batch_first_to_middle(ctx, b)
    if (ta and ctx.rank(a) < 2) or (tb and ctx.rank(b) < 2):
        ctx.fail("transA / transB need operands of rank >= 2", E.UNSUPPORTED_NODE_ATTR)
    y = matmul(ctx, a, b, ta, tb)
    alpha = float(ctx.attr(node, "alpha", 1.0))
    if alpha != 1.0:
        y = ctx.elementwise(y, ctx.scalar_like(alpha, y), EW.PROD)
    return [y]
