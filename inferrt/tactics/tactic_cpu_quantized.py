"""``cpu_quantized``: the CPU tactic of quantized products with INT8 or FP8 inputs (``quantized_conv`` /
``quantized_matmul``, ``ops/quantized.py``).

The kernel's quantized values are held once as float32 (exact: 8-bit values), with the per-output-channel
dequantize vector ``sx * sw[c]``; per call the input is quantized as the Q layer did and kept as float32 values, the
convolution / product runs in float32 (MKL / oneDNN), then the dequantize, the bias and the epilogue. INT8 products
qualify when the generic implementation accumulates them in float32 too (every partial sum is an integer below
2**24, so the library's summation order cannot change the result); FP8 products always (float32 accumulation is
their definition). The generic path converts the kernel at every call and computes the epilogue in float64.
"""
from __future__ import annotations

import math

import torch

from ..enums import DataType, MatrixOperation as MO
from ..ir.kinds import Kind
from ..ops import get_op
from ..ops.fused import apply_epilogue
from ..ops.quantized import accumulation_dtype, matmul_output_axis, output_channel_scale, quantized_input
from .registry import Tactic, register_tactic


def _reduction(node, specs) -> int:
    """The number of products each output sums (-1 when unknown)."""
    w = specs[node.inputs[1]].shape
    if w is None or any(d < 0 for d in w):
        return -1
    if node.kind == Kind.QUANTIZED_CONV:
        return (w[1] if len(w) > 1 else 1) * math.prod(node.attrs.kernel_size_nd)
    return w[-1] if node.attrs.op1 == MO.TRANSPOSE else w[-2]


@register_tactic
class CpuQuantized(Tactic):
    name = "cpu_quantized"
    constant_inputs = (1, 4, 5)
    kinds = (Kind.QUANTIZED_CONV, Kind.QUANTIZED_MATMUL)
    devices = ("cpu",)

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device) or specs is None:
            return False
        a = node.attrs
        if a.input_type not in (DataType.INT8, DataType.FP8) or specs[node.inputs[0]].dtype != DataType.FLOAT:
            return False
        k = _reduction(node, specs)
        return k > 0 and accumulation_dtype(a.input_type, k) == torch.float32

    def runner(self, node, device, point):
        a = node.attrs
        conv = node.kind == Kind.QUANTIZED_CONV
        base = get_op(Kind.CONVOLUTION if conv else Kind.MATRIX_MULTIPLY)
        prepared: dict = {}

        def run(ins, outs):
            x, w = ins[0], ins[1]
            key = (w.data_ptr(), ins[4].data_ptr(), ins[5].data_ptr())
            prep = prepared.get(key)
            if prep is None:
                n = a.num_output_maps if conv else w.shape[matmul_output_axis(a, w.dim())]
                scale = (output_channel_scale(ins[4], n) * float(ins[5].reshape(()))).to(torch.float32)
                prep = prepared[key] = (w.to(torch.float32).contiguous(),
                                        scale.reshape((1, -1) + (1,) * (x.dim() - 2)) if conv else scale)
            wf, scale = prep
            xq = quantized_input(a, x, ins[5]).to(torch.float32)
            (y,) = base.run(a, [xq, wf] + ([None] if conv else []), outs)
            y = y.mul_(scale)
            b = ins[2] if len(ins) > 2 else None
            if b is not None:   # a product's bias may broadcast the result wider: not in place there
                y = y.add_(b.reshape((1, -1) + (1,) * (x.dim() - 2))) if conv else y + b
            return [apply_epilogue(y, a.epilogue, ins)]

        run.launchers = []
        return run
