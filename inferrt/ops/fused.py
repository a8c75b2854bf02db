"""Vertically fused layers: convolution / deconvolution / matrix multiply with an epilogue.

``fused_conv`` and ``fused_matmul`` compute the main op (with an optional bias input) and then apply the steps
of the ``epilogue`` attribute in order, each a small JSON list:

* ``["add", k]``: add input ``k`` (a residual tensor, numpy broadcasting, same rank as the output);
* ``["act", "RELU", alpha, beta]``: an ``ActivationType`` with its alpha / beta (CLIP is a clip to [alpha, beta]).

Produced by ``passes/fuse_conv_matmul_epilogue.py``; the generic implementation below is the reference that the
fast GPU tactics must match.
"""
from __future__ import annotations

from ..enums import ActivationType as AT, LayerType, MatrixOperation as MO
from ..ir.kinds import Kind
from .activation import ACTIVATIONS
from .base import BOOL, INTS, JSON, Enum, OpDef, OpError, Spec, broadcast_shapes, get_op, register
from .conv import _ConvBase


def check_epilogue(steps, num_inputs: int, where: str) -> None:
    """Validate an epilogue program; raises OpError naming the bad step."""
    if not isinstance(steps, (list, tuple)):
        raise OpError(f"{where}: epilogue must be a list of steps, got {type(steps).__name__}")
    for i, s in enumerate(steps):
        if not isinstance(s, (list, tuple)) or not s:
            raise OpError(f"{where}: epilogue step {i} must be a non-empty list, got {s!r}")
        if s[0] == "add":
            if len(s) != 2 or not isinstance(s[1], int) or not 0 <= s[1] < num_inputs:
                raise OpError(f"{where}: epilogue step {i} {s!r} must name an existing input index "
                              f"(the node has {num_inputs} inputs)")
        elif s[0] == "act":
            if len(s) != 4 or s[1] not in AT.__members__:
                raise OpError(f"{where}: epilogue step {i} {s!r} must be ['act', ActivationType name, alpha, beta]")
        else:
            raise OpError(f"{where}: epilogue step {i} has unknown operation {s[0]!r} (known: add, act)")


def epilogue_shape(shape, steps, ins, where):
    for s in steps:
        if s[0] == "add":
            r = ins[s[1]]
            if r is None:
                raise OpError(f"{where}: epilogue adds input {s[1]}, which is absent")
            if r.shape is None or shape is None:
                return None
            if len(r.shape) != len(shape):
                raise OpError(f"{where}: residual input {s[1]} has rank {len(r.shape)} but the output has rank "
                              f"{len(shape)}")
            shape = broadcast_shapes(shape, r.shape, where=f" ({where} residual add)")
    return shape


def apply_epilogue(y, steps, ins):
    for s in steps:
        if s[0] == "add":
            y = y + ins[s[1]].to(y.dtype)
        else:
            y = ACTIVATIONS[AT[s[1]]](y, float(s[2]), float(s[3]))
    return y


@register
class FusedConv(_ConvBase):
    """Convolution (``transposed=False``) or deconvolution (``transposed=True``) + bias + epilogue."""

    kind = "fused_conv"
    layer_type = LayerType.CONVOLUTION
    inputs = ("input", "kernel", "bias", "residual")
    min_inputs = 2
    weight_inputs = {}
    attrs = dict(_ConvBase.attrs, output_padding=(INTS, ()),
                 transposed=(BOOL, False), epilogue=(JSON, list))

    def _base(self, a):
        return get_op("deconvolution" if a.transposed else "convolution")

    def infer(self, a, ins):
        check_epilogue(a.epilogue, len(ins), "fused_conv")
        base = self._base(a)
        (out,) = base.infer(a, ins[:3])
        return [Spec(out.dtype, epilogue_shape(out.shape, a.epilogue, ins, "fused_conv"))]

    def run(self, a, ins, outs):
        (y,) = self._base(a).run(a, list(ins[:3]), outs)
        return [apply_epilogue(y, a.epilogue, ins)]


@register
class FusedMatmul(OpDef):
    """Matrix multiply (TensorRT MatrixOperation semantics) + bias (broadcast add) + epilogue."""

    kind = "fused_matmul"
    layer_type = LayerType.MATRIX_MULTIPLY
    inputs = ("input0", "input1", "bias", "residual")
    min_inputs = 2
    attrs = {"op0": (Enum(MO), MO.NONE), "op1": (Enum(MO), MO.NONE), "epilogue": (JSON, list)}

    def infer(self, a, ins):
        check_epilogue(a.epilogue, len(ins), "fused_matmul")
        (out,) = get_op(Kind.MATRIX_MULTIPLY).infer(a, ins[:2])
        shape = out.shape
        b = ins[2] if len(ins) > 2 else None
        if b is not None:
            if len(b.shape) != len(shape):
                raise OpError(f"fused_matmul: bias has rank {len(b.shape)} but the product has rank {len(shape)}")
            shape = broadcast_shapes(shape, b.shape, where=" (fused_matmul bias)")
        return [Spec(out.dtype, epilogue_shape(shape, a.epilogue, ins, "fused_matmul"))]

    def run(self, a, ins, outs):
        (y,) = get_op(Kind.MATRIX_MULTIPLY).run(a, list(ins[:2]), outs)
        if len(ins) > 2 and ins[2] is not None:
            y = y + ins[2].to(y.dtype)
        return [apply_epilogue(y, a.epilogue, ins)]
