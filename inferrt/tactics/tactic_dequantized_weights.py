"""``dequantized_weights``: the tactic of weight-only quantized layers (``quantized_conv`` / ``quantized_matmul``
with ``input_type`` FLOAT, see ``ops/quantized.py``) that dequantizes the low-bit kernel once per weight tensor, to
the input's type, and then runs the float convolution / product as the generic implementation does, instead of
dequantizing at every call. CPU and CUDA; it competes with the generic implementation in the autotuner.
"""
from __future__ import annotations

from ..enums import DataType
from ..ir.kinds import Kind
from ..ops import get_op
from ..ops.fused import apply_epilogue
from ..ops.quantized import dequantized_kernel
from .registry import Tactic, register_tactic


@register_tactic
class DequantizedWeights(Tactic):
    """Weight-only quantized layers with their kernel dequantized once (see the module docstring)."""

    name = "dequantized_weights"
    constant_inputs = (1, 4)
    kinds = (Kind.QUANTIZED_CONV, Kind.QUANTIZED_MATMUL)

    def supports(self, node, specs, device):
        return super().supports(node, specs, device) and node.attrs.input_type == DataType.FLOAT

    def runner(self, node, device, point):
        a = node.attrs
        base = get_op(Kind.CONVOLUTION if node.kind == Kind.QUANTIZED_CONV else Kind.MATRIX_MULTIPLY)
        weights: dict = {}

        def run(ins, outs):
            x, w = ins[0], ins[1]
            key = (w.data_ptr(), ins[4].data_ptr(), x.dtype)
            wf = weights.get(key)
            if wf is None:
                wf = weights[key] = dequantized_kernel(a, w, ins[4], x.dtype).contiguous()
            b = ins[2] if len(ins) > 2 else None
            if node.kind == Kind.QUANTIZED_CONV:
                (y,) = base.run(a, [x, wf, b], outs)
            else:
                (y,) = base.run(a, [x, wf], outs)
                if b is not None:
                    y = y + b.to(y.dtype)
            return [apply_epilogue(y, a.epilogue, ins)]

        run.launchers = []
        return run
