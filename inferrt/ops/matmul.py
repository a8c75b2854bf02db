"""Matrix products: MatrixMultiply (MatrixOperation NONE / TRANSPOSE / VECTOR, batch broadcasting), the ONNX-only
``integer_matmul`` (MatMulInteger) and ``det``.

``integer_matmul`` is exact integer math: products of 8-bit values are summed in float64, which holds every integer
below 2**53 exactly, so the result equals an int64 accumulation on every device (CUDA has no integer GEMM in
PyTorch) before it is stored as INT32.
"""
from __future__ import annotations

import torch

from ..dtypes import FLOAT_TYPES
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
        if x.dtype not in (*FLOAT_TYPES, DataType.INT32, DataType.INT64, DataType.INT8):
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


def as_f64(t):
    return t.to(torch.float64)


# ----------------------------------------------------------------------------------------------- integer math
def _matmul_shape(a, b):
    if a is None or b is None:
        return None
    if len(a) == 0 or len(b) == 0:
        raise OpError("matrix multiplication needs inputs of rank >= 1")
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    if a2[-1] >= 0 and b2[-2] >= 0 and a2[-1] != b2[-2]:
        raise OpError(f"inner dimensions differ: A has shape {tuple(a)} and B has shape {tuple(b)}")
    batch = broadcast_shapes(a2[:-2], b2[:-2], where=" (matmul batch dims)")
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


@register
class IntegerMatMul(OpDef):
    """MatMulInteger: (A - a_zero_point) @ (B - b_zero_point) as INT32; A's zero point may be per row (M,),
    B's per column (N,)."""

    kind = "integer_matmul"
    inputs = ("a", "b", "a_zero_point", "b_zero_point")
    min_inputs = 2

    def infer(self, a, ins):
        for i in range(2):
            if ins[i].dtype not in (DataType.INT8, DataType.UINT8):
                raise OpError(f"input {self.inputs[i]} must be INT8 or UINT8, got {ins[i].dtype.name}")
        return [Spec(DataType.INT32, _matmul_shape(ins[0].shape, ins[1].shape))]

    def run(self, a, ins, outs):
        x, w = as_f64(ins[0]), as_f64(ins[1])
        if len(ins) > 2 and ins[2] is not None:
            zp = as_f64(ins[2])
            x = x - (zp.reshape(-1, 1) if zp.dim() == 1 and x.dim() >= 2 and zp.numel() > 1 else zp)
        if len(ins) > 3 and ins[3] is not None:
            w = w - as_f64(ins[3])
        return [torch.matmul(x, w).to(torch.int32)]


# ----------------------------------------------------------------------------------------------- linear algebra
@register
class Det(OpDef):
    """Det: determinant of the trailing [M, M] matrices."""

    kind = "det"

    def infer(self, a, ins):
        x = ins[0]
        if x.dtype not in FLOAT_TYPES:
            raise OpError(f"input must be floating point, got {x.dtype.name}")
        if x.rank < 2 or (x.shape[-1] >= 0 and x.shape[-2] >= 0 and x.shape[-1] != x.shape[-2]):
            raise OpError(f"input must be [..., M, M] square matrices, got shape {x.shape}")
        return [Spec(x.dtype, tuple(x.shape[:-2]))]

    def run(self, a, ins, outs):
        x = ins[0]
        return [torch.linalg.det(x.to(torch.float64 if x.device.type == "cpu" else torch.float32)).to(x.dtype)]
