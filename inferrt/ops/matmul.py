"""MatrixMultiply with MatrixOperation NONE / TRANSPOSE / VECTOR and batch broadcasting."""
from __future__ import annotations

import torch

from ..enums import DataType, LayerType, MatrixOperation as MO
from .base import Enum, OpDef, OpError, Spec, broadcast_shapes, register


def _mat_shape(shape, op, which):
    if op == MO.VECTOR:
        if len(shape) < 1:
            raise OpError(f"input {which} is a scalar; VECTOR needs rank >= 1")
        return shape[:-1], shape[-1:], True
    if len(shape) < 2:
        raise OpError(f"input {which} has rank {len(shape)}; use MatrixOperation.VECTOR for a vector operand")
    m = shape[-2:]
    if op == MO.TRANSPOSE:
        m = m[::-1]
    return shape[:-2], m, False


@register
class MatrixMultiply(OpDef):
    kind = "matrix_multiply"
    layer_type = LayerType.MATRIX_MULTIPLY
    attrs = {"op0": (Enum(MO), MO.NONE), "op1": (Enum(MO), MO.NONE)}
    inputs = ("input0", "input1")
    min_inputs = 2

    def infer(self, a, ins):
        x, y = ins
        if x.dtype != y.dtype:
            raise OpError(f"inputs have different types ({x.dtype.name} and {y.dtype.name}); add a cast layer")
        if x.dtype not in (DataType.FLOAT, DataType.HALF, DataType.BF16, DataType.INT32, DataType.INT64, DataType.INT8):
            raise OpError(f"type {x.dtype.name} is not supported")
        bx, mx, vx = _mat_shape(x.shape, a.op0, 0)
        by, my, vy = _mat_shape(y.shape, a.op1, 1)
        kx = mx[-1]
        ky = my[0]
        if kx >= 0 and ky >= 0 and kx != ky:
            raise OpError(f"inner dimensions differ: input 0 {x.shape} (op {a.op0.name}) has K={kx}, "
                          f"input 1 {y.shape} (op {a.op1.name}) has K={ky}")
        batch = broadcast_shapes(bx, by, where=" (batch dimensions)")
        out = batch + (() if vx else (mx[0],)) + (() if vy else (my[1],))
        return [Spec(x.dtype, out)]

    def run(self, a, ins, outs):
        x, y = ins
        if a.op0 == MO.TRANSPOSE:
            x = x.transpose(-1, -2)
        if a.op1 == MO.TRANSPOSE:
            y = y.transpose(-1, -2)
        if a.op0 == MO.VECTOR:
            x = x.unsqueeze(-2)
        if a.op1 == MO.VECTOR:
            y = y.unsqueeze(-1)
        if not x.is_floating_point():
            r = torch.matmul(x.to(torch.int64), y.to(torch.int64)).to(x.dtype)
        else:
            r = torch.matmul(x, y)
        if a.op0 == MO.VECTOR:
            r = r.squeeze(-2)
        if a.op1 == MO.VECTOR:
            r = r.squeeze(-1)
        return [r]
