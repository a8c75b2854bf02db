"""com.microsoft element-wise and fused ops written by onnxruntime's transformer optimizer: Gelu, BiasGelu,
FastGelu, QuickGelu, BiasAdd, FusedConv, FusedGemm, FusedMatMul.

Each decomposes into standard layers (the ai.onnx importers through ``onnx_op``, or activation / element-wise
layers); the builder's fusion passes put the bias and activation back into the convolution or matrix multiply.
"""
from __future__ import annotations

from ...enums import ActivationType as A, ElementWiseOperation as EW, ParserErrorCode as E
from ..registry import importer
from ._compose import attr, ew, fail, has_input, inp, onnx_op, rank, scalar_like, transpose

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
        return onnx_op(ctx, node, "LeakyRelu", [y], alpha=p(0, alpha, 0.01))[0]
    if name == "Elu":
        return onnx_op(ctx, node, "Elu", [y], alpha=p(0, alpha, 1.0))[0]
    if name == "HardSigmoid":
        return onnx_op(ctx, node, "HardSigmoid", [y], alpha=p(0, alpha, 0.2), beta=p(1, beta, 0.5))[0]
    if name == "Clip" and params:
        if len(params) != 2:
            fail(node, f"activation Clip needs activation_params [min, max], got {params}")
        return ctx.activation(y, A.CLIP, params[0], params[1])
    fail(node, f"attribute activation={name!r} is not supported (Relu, Tanh, Sigmoid, LeakyRelu, Elu, HardSigmoid"
               f"{', Clip' if node.op_type == 'FusedConv' else ''})")


# ----------------------------------------------------------------------------------------------- GELU family
@importer("Gelu", since=1, domain=MS)
def gelu(ctx, node):
    return [ctx.activation(inp(ctx, node, 0), A.GELU_ERF)]


@importer("BiasGelu", since=1, domain=MS)
def bias_gelu(ctx, node):
    return [ctx.activation(ew(ctx, inp(ctx, node, 0), inp(ctx, node, 1), EW.SUM), A.GELU_ERF)]


@importer("FastGelu", since=1, domain=MS)
def fast_gelu(ctx, node):
    x = inp(ctx, node, 0)
    if has_input(node, 1):
        x = ew(ctx, x, inp(ctx, node, 1), EW.SUM)
    return [ctx.activation(x, A.GELU_TANH)]


@importer("QuickGelu", since=1, domain=MS)
def quick_gelu(ctx, node):
    x = inp(ctx, node, 0)
    alpha = float(attr(node, "alpha", 1.702))
    s = ctx.activation(ew(ctx, x, scalar_like(ctx, alpha, x), EW.PROD), A.SIGMOID)
    return [ew(ctx, x, s, EW.PROD)]


@importer("BiasAdd", since=1, domain=MS)
def bias_add(ctx, node):
    x, bias, skip = inp(ctx, node, 0), inp(ctx, node, 1), inp(ctx, node, 2)
    if rank(x) != 3 or rank(bias) != 1:
        fail(node, f"X must be 3-D (N, S, C) and bias 1-D (C), got ranks {rank(x)} and {rank(bias)}",
             E.INVALID_NODE)
    return [ew(ctx, ew(ctx, x, bias, EW.SUM), skip, EW.SUM)]


# ----------------------------------------------------------------------------------------------- fused
_CONV_ATTRS = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")


@importer("FusedConv", since=1, domain=MS)
def fused_conv(ctx, node):
    ins = [inp(ctx, node, i) for i in range(3)]
    conv_attrs = {k: attr(node, k) for k in _CONV_ATTRS if node.has_attr(k)}
    y = onnx_op(ctx, node, "Conv", ins if ins[2] is not None else ins[:2], **conv_attrs)[0]
    if has_input(node, 3):  # Z: a residual added before the activation
        y = ew(ctx, y, inp(ctx, node, 3), EW.SUM)
    name = attr(node, "activation", None)
    if name is None:
        return [y]
    return [_activation(ctx, node, y, name, params=attr(node, "activation_params", None))]


@importer("FusedGemm", since=1, domain=MS)
def fused_gemm(ctx, node):
    ins = [inp(ctx, node, i) for i in range(3)]
    gemm_attrs = {k: attr(node, k) for k in ("alpha", "beta", "transA", "transB") if node.has_attr(k)}
    y = onnx_op(ctx, node, "Gemm", ins if ins[2] is not None else ins[:2], **gemm_attrs)[0]
    name = attr(node, "activation", None)
    if name is None:
        return [y]
    if node.has_attr("activation_gamma"):
        fail(node, f"attribute activation_gamma is not used by activation {name!r}; remove it")
    return [_activation(ctx, node, y, name, attr(node, "activation_alpha", None), attr(node, "activation_beta", None))]


def _batch_first_to_middle(ctx, t):
    """FusedMatMul's transBatch: (d0, d1, ..., d[r-2], d[r-1]) -> (d1, ..., d[r-2], d0, d[r-1])."""
    r = rank(t)
    return transpose(ctx, t, list(range(1, r - 1)) + [0, r - 1])


@importer("FusedMatMul", since=1, domain=MS)
def fused_matmul(ctx, node):
    from .matrix import matmul

    a, b = inp(ctx, node, 0), inp(ctx, node, 1)
    ta, tb = bool(attr(node, "transA", 0)), bool(attr(node, "transB", 0))
    for flag, t, what in (("transBatchA", a, "A"), ("transBatchB", b, "B")):
        if attr(node, flag, 0) and rank(t) < 3:
            fail(node, f"attribute {flag}=1 needs {what} of rank >= 3, got rank {rank(t)}")
    if attr(node, "transBatchA", 0):
        a = _batch_first_to_middle(ctx, a)
    if attr(node, "transBatchB", 0):
        b = _batch_first_to_middle(ctx, b)
    if (ta and rank(a) < 2) or (tb and rank(b) < 2):
        fail(node, "transA / transB need operands of rank >= 2")
    y = matmul(ctx, a, b, ta, tb)
    alpha = float(attr(node, "alpha", 1.0))
    if alpha != 1.0:
        y = ew(ctx, y, scalar_like(ctx, alpha, y), EW.PROD)
    return [y]
