"""Matrix aten ops: linear, addmm, mm, bmm, matmul (IMatrixMultiplyLayer; bias as an elementwise sum, which the
builder fuses into the GEMM epilogue)."""
from __future__ import annotations

import torch

from inferrt.enums import ElementWiseOperation as EW, MatrixOperation as M
from inferrt.torch.converters import converter

aten = torch.ops.aten


def matmul_of(ctx, a, b, transpose_b=False):
    ra, rb = ctx.rank(a), ctx.rank(b)
    if ra == 1 or rb == 1:
        op_a = M.VECTOR if ra == 1 else M.NONE
        op_b = M.VECTOR if rb == 1 else (M.TRANSPOSE if transpose_b else M.NONE)
        return ctx.out(ctx.network.add_matrix_multiply(a, op_a, b, op_b))
    a, b = ctx.broadcast_pair(a, b)
    return ctx.out(ctx.network.add_matrix_multiply(a, M.NONE, b, M.TRANSPOSE if transpose_b else M.NONE))


@converter(aten.linear.default)
def linear(ctx, node):
    x = ctx.tensor(ctx.arg(node, 0))
    w = ctx.cast(ctx.tensor(ctx.arg(node, 1)), x.dtype)
    y = matmul_of(ctx, x, w, transpose_b=True)
    b = ctx.arg(node, 2)
    if b is not None:
        y = ctx.elementwise(y, ctx.cast(ctx.tensor(b), x.dtype), EW.SUM)
    return y


@converter(aten.addmm.default)
def addmm(ctx, node):
    bias, a, b = (ctx.tensor(ctx.arg(node, i)) for i in range(3))
    beta, alpha = node.kwargs.get("beta", 1), node.kwargs.get("alpha", 1)
    y = matmul_of(ctx, a, b)
    if alpha != 1:
        y = ctx.elementwise(y, ctx.scalar_like(alpha, y), EW.PROD)
    if beta != 0:
        if beta != 1:
            bias = ctx.elementwise(bias, ctx.scalar_like(beta, bias), EW.PROD)
        y = ctx.elementwise(y, bias, EW.SUM)
    return y


@converter(aten.mm.default, aten.bmm.default, aten.matmul.default)
def matmul(ctx, node):
    return matmul_of(ctx, ctx.tensor(ctx.arg(node, 0)), ctx.tensor(ctx.arg(node, 1)))
