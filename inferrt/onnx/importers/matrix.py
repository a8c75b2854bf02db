"""Importers for ONNX matrix ops: MatMul (N-D broadcasting, 1-D operands), Gemm (alpha, beta, transA/B, C
broadcast), Einsum and Det (the ``det`` op).

MatMul and Gemm map onto IMatrixMultiplyLayer (MatrixOperation NONE / TRANSPOSE / VECTOR); Gemm's scaling and
bias are elementwise layers that the builder's fusion passes fold into the matrix multiply.
"""
from __future__ import annotations

from ...dtypes import FLOAT_TYPES
from ...enums import DataType, ElementWiseOperation as EW, MatrixOperation as MO, ParserErrorCode as E
from ...ir.kinds import Kind
from ..registry import importer


_MM_TYPES = (*FLOAT_TYPES, DataType.INT32, DataType.INT64)


def _check_types(ctx, node, a, b):
    if a.dtype != b.dtype:
        ctx.fail(f"A ({a.dtype.name}) and B ({b.dtype.name}) must have the same type", E.INVALID_NODE)
    if a.dtype not in _MM_TYPES:
        ctx.fail(f"type {a.dtype.name} is not supported (FLOAT, FLOAT16, BFLOAT16, INT32, INT64)",
                 E.UNSUPPORTED_NODE_DATATYPE)


def matmul(ctx, a, b, ta=False, tb=False):
    """ONNX/numpy matmul of ``a`` and ``b``: 1-D operands use VECTOR, batch dims broadcast (ranks aligned first)."""
    ra, rb = ctx.rank(a), ctx.rank(b)
    op0 = MO.VECTOR if ra == 1 else (MO.TRANSPOSE if ta else MO.NONE)
    op1 = MO.VECTOR if rb == 1 else (MO.TRANSPOSE if tb else MO.NONE)
    if ra >= 2 and rb >= 2 and ra != rb:
        a, b = ctx.unsqueeze_front(a, rb - ra), ctx.unsqueeze_front(b, ra - rb)
    return ctx.network.add_matrix_multiply(a, op0, b, op1).get_output(0)


@importer("MatMul", since=1)
def matmul_1(ctx, node):
    a, b = ctx.input(node, 0), ctx.input(node, 1)
    _check_types(ctx, node, a, b)
    if ctx.rank(a) == 0 or ctx.rank(b) == 0:
        ctx.fail("MatMul operands must have rank >= 1", E.INVALID_NODE)
    return [matmul(ctx, a, b)]


def _gemm(ctx, node, c_required):
    a, b = ctx.input(node, 0), ctx.input(node, 1)
    _check_types(ctx, node, a, b)
    if ctx.rank(a) != 2 or ctx.rank(b) != 2:
        ctx.fail(f"A and B must be 2-D, got ranks {ctx.rank(a)} and {ctx.rank(b)}", E.INVALID_NODE)
    alpha = float(ctx.attr(node, "alpha", 1.0))
    beta = float(ctx.attr(node, "beta", 1.0))
    y = matmul(ctx, a, b, bool(ctx.attr(node, "transA", 0)), bool(ctx.attr(node, "transB", 0)))
    if alpha != 1.0:
        y = ctx.elementwise(y, ctx.scalar_like(alpha, y), EW.PROD)
    if ctx.has_input(node, 2) and beta != 0.0:
        c = ctx.cast(ctx.input(node, 2), y.dtype)
        if beta != 1.0:
            c = ctx.elementwise(c, ctx.scalar_like(beta, c), EW.PROD)
        y = ctx.elementwise(y, c, EW.SUM)
    elif c_required and not ctx.has_input(node, 2):
        ctx.fail("input C is required before opset 11", E.INVALID_NODE)
    return [y]


@importer("Gemm", since=1)
def gemm_1(ctx, node):
    return _gemm(ctx, node, True)


@importer("Gemm", since=11)
def gemm_11(ctx, node):
    return _gemm(ctx, node, False)


@importer("Einsum", since=12)
def einsum_12(ctx, node):
    ts = [ctx.input(node, i) for i in range(len(node.inputs)) if ctx.has_input(node, i)]
    eq = ctx.attr(node, "equation")
    dt = ts[0].dtype
    if any(t.dtype != dt for t in ts):
        ctx.fail("all Einsum inputs must have the same type", E.INVALID_NODE)
    return [ctx.network.add_einsum(ts, eq).get_output(0)]


@importer("Det", since=11)
def det(ctx, node):
    return ctx.add_op(Kind.DET, [ctx.float_input(node, 0)])
