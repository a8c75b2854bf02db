"""Fused layers done in ONE library call, whose result the executor adopts (no copy, no epilogue kernel).

``cudnn_conv_bias_relu``: a 2-D convolution + bias [+ residual add] + ReLU in one cuDNN call.

PyTorch exposes cuDNN's fused convolution-bias-activation (``torch.cudnn_convolution_relu`` and
``torch.cudnn_convolution_add_relu``, ``y = relu(conv(x, w) + alpha * z + bias)``), the runtime-fusion engine
that reads the convolution's result from registers instead of memory. It returns a new tensor, which the executor
adopts as the layer's output instead of copying it (see ``ShapePlan.run``); inside a CUDA graph that memory comes
from the graph's pool, so replays are allocation-free.

Only the patterns the library fuses qualify: ReLU as the last step, at most one residual add before it, FP16/BF16/
FP32 operands of one type. The autotuner still times it against ``cudnn_conv_epilogue`` and the generic path.

``cublaslt_bias_act``: a matrix product with constant 2-D weights + bias + ReLU or tanh-form GELU through
``torch._addmm_activation`` (cuBLASLt's ``EPILOGUE_RELU_BIAS`` / ``EPILOGUE_GELU_BIAS``; cuBLASLt's GELU is the
tanh form, so the erf form does not qualify).
"""
from __future__ import annotations

import torch

from ..dtypes import torch_dtype
from ..enums import MatrixOperation as MO
from ..ir.kinds import Kind
from .registry import Tactic, register_tactic
from .tactic_cuda_fused import conv_operands


def _pattern(epilogue):
    """The residual input index (or None) for epilogues ``[relu]`` and ``[add r, relu]``; False otherwise."""
    steps = [list(s) for s in epilogue]
    if not steps or steps[-1][0] != "act" or steps[-1][1] != "RELU":
        return False
    if len(steps) == 1:
        return None
    if len(steps) == 2 and steps[0][0] == "add":
        return int(steps[0][1])
    return False


@register_tactic
class CudnnConvBiasRelu(Tactic):
    name = "cudnn_conv_bias_relu"
    constant_inputs = (1, 2)
    kinds = (Kind.FUSED_CONV,)
    devices = ("cuda",)

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device) or specs is None:
            return False
        if not hasattr(torch, "cudnn_convolution_relu") or not torch.backends.cudnn.is_available():
            return False
        a = node.attrs
        if a.transposed or len(a.kernel_size_nd) != 2 or _pattern(a.epilogue) is False:
            return False
        out = specs[node.outputs[0]]
        x = specs[node.inputs[0]]
        res = _pattern(a.epilogue)
        same = [x] + ([specs[node.inputs[res]]] if res is not None else [])
        if out.shape is None or any(s.dtype != out.dtype or s.shape is None for s in same):
            return False
        if res is not None and tuple(specs[node.inputs[res]].shape) != tuple(out.shape):
            return False  # cuDNN adds a full tensor, not a broadcast one
        return torch_dtype(out.dtype) in (torch.float16, torch.bfloat16, torch.float32)

    def runner(self, node, device, point):
        a = node.attrs
        res = _pattern(a.epilogue)
        with_bias = len(node.inputs) > 2 and bool(node.inputs[2])
        weights: dict = {}
        biases: dict = {}

        def run(ins, outs):
            out = outs[0]
            x, wp, s, pad, d = conv_operands(a, ins, not out.is_contiguous(), weights)
            key = ins[2].data_ptr() if with_bias else None
            b = biases.get(key)
            if b is None:
                b = (ins[2].reshape(-1).to(x.dtype) if with_bias
                     else torch.zeros(a.num_output_maps, dtype=x.dtype, device=x.device))
                biases[key] = b
            if res is None:
                y = torch.cudnn_convolution_relu(x, wp, b, s, pad, d, a.num_groups)
            else:
                z = ins[res]
                if not out.is_contiguous() and z.is_contiguous():
                    z = z.contiguous(memory_format=torch.channels_last)
                y = torch.cudnn_convolution_add_relu(x, wp, z, 1.0, b, s, pad, d, a.num_groups)
            return [y]

        run.launchers = []
        return run


_MATMUL_ACTS = {"RELU": False, "GELU_TANH": True}  # activation -> use_gelu


@register_tactic
class CublasLtBiasAct(Tactic):
    name = "cublaslt_bias_act"
    constant_inputs = (2,)
    kinds = (Kind.FUSED_MATMUL,)
    devices = ("cuda",)

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device) or specs is None or not hasattr(torch, "_addmm_activation"):
            return False
        a = node.attrs
        steps = [list(s) for s in a.epilogue]
        if len(steps) != 1 or steps[0][0] != "act" or steps[0][1] not in _MATMUL_ACTS:
            return False
        if len(node.inputs) < 3 or not node.inputs[2] or a.op0 != MO.NONE or a.op1 == MO.VECTOR:
            return False
        x, w, b, out = (specs[i] for i in (node.inputs[0], node.inputs[1], node.inputs[2], node.outputs[0]))
        if any(s.shape is None for s in (x, w, b, out)) or len(x.shape) < 2 or len(w.shape) < 2:
            return False
        if any(d != 1 for d in w.shape[:-2]) or any(d != 1 for d in b.shape[:-1]) or x.dtype != out.dtype:
            return False
        return torch_dtype(out.dtype) in (torch.float16, torch.bfloat16, torch.float32)

    def runner(self, node, device, point):
        a = node.attrs
        use_gelu = _MATMUL_ACTS[list(a.epilogue[0])[1]]
        biases: dict = {}

        def run(ins, outs):
            x, w = ins[0], ins[1]
            w = w.reshape(w.shape[-2:])
            if a.op1 == MO.TRANSPOSE:
                w = w.t()
            key = ins[2].data_ptr()
            b = biases.get(key)
            if b is None:
                b = biases[key] = ins[2].reshape(-1).to(x.dtype)
            y = torch._addmm_activation(b, x.reshape(-1, x.shape[-1]), w, use_gelu=use_gelu)
            return [y.view(*x.shape[:-1], w.shape[-1])]

        run.launchers = []
        return run
