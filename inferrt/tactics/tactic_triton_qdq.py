"""``triton_qdq``: standalone quantize and dequantize layers on the GPU by one Triton pass each
(``triton_quantize.py``), for the common form: a per-tensor scale, no zero point, INT8 or FP8 E4M3 values, a float
activation in a dense layout (contiguous or channels-last, kept). A Q/DQ model leaves such pairs wherever a
quantized value is not the input of a fused product, e.g. on ResNet's residual branches, where PyTorch ran them as
5 + 3 elementwise passes (about 54 bytes moved per element against 3 + 3 here). Same values as the generic
implementation (the quantize layer's IEEE division, saturation and rounding; the dequantize's FP32 product); any
other layout runs the generic implementation inside the runner. Competes with the generic tactic in the autotuner.
"""
from __future__ import annotations

import math

from ..dtypes import FLOAT_TYPES
from ..enums import DataType
from ..ir.kinds import Kind
from .registry import Tactic, register_tactic
from .tactic_triton_pointwise import triton_available
from .tactic_triton_quantized import _fp8_ok
from .triton_quantize import DequantizeLauncher, QuantizeLauncher, dense

_VALUES = (DataType.INT8, DataType.FP8)


@register_tactic
class TritonQuantizeDequantize(Tactic):
    name = "triton_qdq"
    kinds = (Kind.QUANTIZE, Kind.DEQUANTIZE)
    devices = ("cuda",)
    constant_inputs = (1,)

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device) or specs is None or not triton_available():
            return False
        a = node.attrs
        if (len(node.inputs) > 2 and node.inputs[2]) or a.block_shape:
            return False          # zero points and block scales: the generic implementation
        x, scale, out = specs[node.inputs[0]], specs[node.inputs[1]], specs[node.outputs[0]]
        if scale.shape is None or math.prod(scale.shape) != 1 or scale.dtype not in FLOAT_TYPES:
            return False
        values = a.to_type if node.kind == Kind.QUANTIZE else x.dtype
        floats = x.dtype if node.kind == Kind.QUANTIZE else out.dtype
        if values not in _VALUES or floats not in FLOAT_TYPES or (values == DataType.FP8 and not _fp8_ok()):
            return False
        return True

    def runner(self, node, device, point):
        import torch

        a, op = node.attrs, node.op
        quantize = node.kind == Kind.QUANTIZE
        launch = QuantizeLauncher() if quantize else DequantizeLauncher()
        scales: dict = {}

        def run(ins, outs):
            x, s = ins[0], ins[1]
            if not dense(x):
                return op.run(a, ins, outs)
            scale = scales.get(s.data_ptr())
            if scale is None:      # prepared in the first (un-captured) execution
                scale = scales[s.data_ptr()] = s.to(device=x.device, dtype=torch.float32).reshape(1).contiguous()
            if quantize:
                dtype = torch.int8 if a.to_type == DataType.INT8 else torch.float8_e4m3fn
                return [launch(x, scale, dtype, lambda: op.run(a, ins, outs)[0])]
            return [launch(x, scale, outs[0].dtype)]

        run.launchers = [launch]
        return run
