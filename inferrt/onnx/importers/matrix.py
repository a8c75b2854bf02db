"""Importers for ONNX matrix ops: MatMul (N-D broadcasting, 1-D operands), Gemm (alpha, beta, transA/B, C
broadcast) and Einsum.

MatMul and Gemm map onto IMatrixMultiplyLayer (MatrixOperation NONE / TRANSPOSE / VECTOR); Gemm's scaling and
bias are elementwise layers that the builder's fusion passes fold into the matrix multiply.
"""
from __future__ import annotations

from ...enums import DataType, ElementWiseOperation as EW, MatrixOperation as MO, ParserErrorCode as E
from ..registry import importer
from ._compose import attr, cast, ew, fail, has_input, inp, rank, scalar_like, unsqueeze_front

_MM_TYPES = (DataType.FLOAT, DataType.HALF, DataType.BF16, DataType.INT32, DataType.INT64)


def _check_types(node, a, b):
    if a.dtype != b.dtype:
        fail(node, f"A ({a.dtype.name}) and B ({b.dtype.name}) must have the same type", E.INVALID_NODE)
    if a.dtype not in _MM_TYPES:
        fail(node, f"type {a.dtype.name} is not supported (FLOAT, FLOAT16, BFLOAT16, INT32, INT64)",
             E.UNSUPPORTED_NODE_DATATYPE)


def matmul(ctx, a, b, ta=False, tb=False):
    """ONNX/numpy matmul of ``a`` and ``b``: 1-D operands use VECTOR, batch dims broadcast (ranks aligned first)."""
    ra, rb = rank(a), rank(b)
    op0 = MO.VECTOR if ra == 1 else (MO.TRANSPOSE if ta else MO.NONE)
    op1 = MO.VECTOR if rb == 1 else (MO.TRANSPOSE if tb else MO.NONE)
    if ra >= 2 and rb >= 2 and ra != rb:
        a, b = unsqueeze_front(ctx, a, rb - ra), unsqueeze_front(ctx, b, ra - rb)
    return ctx.network.add_matrix_multiply(a, op0, b, op1).get_output(0)


@importer("MatMul", since=1)
def matmul_1(ctx, node):
    a, b = inp(ctx, node, 0), inp(ctx, node, 1)
    _check_types(node, a, b)
    if rank(a) == 0 or rank(b) == 0:
        fail(node, "MatMul operands must have rank >= 1", E.INVALID_NODE)
    return [matmul(ctx, a, b)]


def _gemm(ctx, node, c_required):
    a, b = inp(ctx, node, 0), inp(ctx, node, 1)
    _check_types(node, a, b)
    if rank(a) != 2 or rank(b) != 2:
        fail(node, f"A and B must be 2-D, got ranks {rank(a)} and {rank(b)}", E.INVALID_NODE)
    alpha = float(attr(node, "alpha", 1.0))
    beta = float(attr(node, "beta", 1.0))
    y = matmul(ctx, a, b, bool(attr(node, "transA", 0)), bool(attr(node, "transB", 0)))
    if alpha != 1.0:
        y = ew(ctx, y, scalar_like(ctx, alpha, y), EW.PROD)
    if has_input(node, 2) and beta != 0.0:
        c = cast(ctx, inp(ctx, node, 2), y.dtype)
        if beta != 1.0:
            c = ew(ctx, c, scalar_like(ctx, beta, c), EW.PROD)
        y = ew(ctx, y, c, EW.SUM)
    elif c_required and not has_input(node, 2):
        fail(node, "input C is required before opset 11", E.INVALID_NODE)
    return [y]


@importer("Gemm", since=1)
def gemm_1(ctx, node):
    return _gemm(ctx, node, True)


@importer("Gemm", since=11)
def gemm_11(ctx, node):
    return _gemm(ctx, node, False)


@importer("Einsum", since=12)
def einsum_12(ctx, node):
    ts = [inp(ctx, node, i) for i in range(len(node.inputs)) if has_input(node, i)]
    eq = attr(node, "equation")
    dt = ts[0].dtype
    if any(t.dtype != dt for t in ts):
        fail(node, "all Einsum inputs must have the same type", E.INVALID_NODE)
    return [ctx.network.add_einsum(ts, eq).get_output(0)]
