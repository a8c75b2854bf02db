"""GPU tactics for vertically fused layers.

``cudnn_conv_epilogue``: cuDNN convolution through PyTorch (channels-last when the output is, so the NHWC
tensor-core kernels run), then ONE generated Triton kernel applying bias + residual adds + activation and writing
the output slot: the convolution's result is read once and the output written once. The epilogue kernel is tuned
over ``POINTWISE_SPACE`` (its block size and warps).

``cublas_matmul_epilogue``: 2-D-reshapable products with constant weights: ``addmm`` (cuBLASLt, bias in its
epilogue) writes straight into the output when there is nothing else to do; otherwise one Triton kernel applies
activation and residual adds, tuned like the convolution's; a product without epilogue runs no kernel of inferrt's
and has only the default point.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..enums import MatrixOperation as MO
from ..ir.kinds import Kind
from ..ops.conv import resolve_padding, spatial_params
from .registry import Tactic, register_tactic
from .tactic_triton_pointwise import triton_available
from .triton_codegen import POINTWISE_SPACE, PointwiseLauncher, supported
from .tuning import TuningSpace


def epilogue_program(steps, with_bias: bool, scaled: bool = False):
    """(program, kernel input plan): kernel inputs are y, then (``scaled``: a quantized layer's per-output-channel
    dequantize scale "scale", multiplied in first) the bias (if any), then residuals in step order."""
    prog = [["input", 0], ["input", 1], ["binary", "PROD", 0, 1]] if scaled else [["input", 0]]
    plan = ["y", "scale"] if scaled else ["y"]
    cur = len(prog) - 1
    if with_bias:
        prog.append(["input", len(plan)])
        plan.append("bias")
        prog.append(["binary", "SUM", cur, len(prog) - 1])
        cur = len(prog) - 1
    for s in steps:
        if s[0] == "add":
            prog.append(["input", len(plan)])
            plan.append(s[1])
            prog.append(["binary", "SUM", cur, len(prog) - 1])
        else:
            prog.append(["act", s[1], float(s[2]), float(s[3]), cur])
        cur = len(prog) - 1
    return prog, plan


def _epilogue_supported(node, specs, with_bias):
    prog, plan = epilogue_program(node.attrs.get("epilogue", []), with_bias)
    dts = [specs[node.outputs[0]].dtype] + [specs[node.inputs[2]].dtype if p == "bias" else
                                            specs[node.outputs[0]].dtype if p == "y" else specs[node.inputs[p]].dtype
                                            for p in plan[1:]]
    return supported(prog, dts)


def conv_operands(a, ins, channels_last: bool, weights: dict):
    """(input, weight, stride, padding, dilation) ready for a cuDNN call: the weight reshaped to the layer's dtype
    (and channels-last for NHWC outputs, cached in ``weights`` by address), asymmetric padding applied to the
    input."""
    x, w = ins[0], ins[1]
    nsp = x.dim() - 2
    k, s, d, pre, post = spatial_params(a, nsp)
    pre, post = resolve_padding(a.padding_mode, x.shape[2:], k, s, d, pre, post)
    key = w.data_ptr()
    wp = weights.get(key)
    if wp is None:
        wp = w.reshape(a.num_output_maps, x.shape[1] // a.num_groups, *k).to(x.dtype)
        if nsp == 2 and channels_last:
            wp = wp.contiguous(memory_format=torch.channels_last)
        weights[key] = wp
    if nsp == 2 and channels_last and x.is_contiguous():
        x = x.contiguous(memory_format=torch.channels_last)
    if pre != post:
        x = F.pad(x, [p for i in reversed(range(nsp)) for p in (pre[i], post[i])])
        return x, wp, s, 0, d
    return x, wp, s, pre, d


@register_tactic
class CudnnConvEpilogue(Tactic):
    name = "cudnn_conv_epilogue"
    constant_inputs = (1,)
    kinds = (Kind.FUSED_CONV, Kind.CONVOLUTION)  # a plain convolution is one with an empty epilogue
    devices = ("cuda",)
    space = POINTWISE_SPACE

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device) or specs is None or not triton_available():
            return False
        a = node.attrs
        if a.get("transposed") or len(a.kernel_size_nd) not in (1, 2, 3):
            return False
        with_bias = len(node.inputs) > 2 and bool(node.inputs[2])
        return _epilogue_supported(node, specs, with_bias)

    def runner(self, node, device, point):
        a = node.attrs
        with_bias = len(node.inputs) > 2 and bool(node.inputs[2])
        prog, plan = epilogue_program(a.get("epilogue", []), with_bias)
        epi = PointwiseLauncher(prog, point["BLOCK"], point["num_warps"])
        weights = {}

        def run(ins, outs):
            out = outs[0]
            x, wp, s, pad, d = conv_operands(a, ins, not out.is_contiguous(), weights)
            nsp = x.dim() - 2
            conv = (F.conv1d, F.conv2d, F.conv3d)[nsp - 1]
            y = conv(x, wp, None, s, pad, d, a.num_groups)
            kins = []
            for p in plan:
                if p == "y":
                    kins.append(y)
                elif p == "bias":
                    kins.append(ins[2].reshape(1, -1, *([1] * nsp)))
                else:
                    kins.append(ins[p])
            epi(out, kins)
            return None

        run.launchers = [epi]
        return run


def _matmul_epilogue_point(point, node, specs) -> bool:
    """With an epilogue, the pointwise kernel's points; without one there is no kernel to tune: the default only."""
    if node.attrs.get("epilogue", []):
        return POINTWISE_SPACE.constraint(point, node, specs)
    return point == POINTWISE_SPACE.default


@register_tactic
class CublasMatmulEpilogue(Tactic):
    name = "cublas_matmul_epilogue"
    kinds = (Kind.FUSED_MATMUL, Kind.MATRIX_MULTIPLY)  # a plain product is one without bias or epilogue
    devices = ("cuda",)
    space = TuningSpace(POINTWISE_SPACE.params, _matmul_epilogue_point)

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device) or specs is None or not triton_available():
            return False
        a = node.attrs
        x, w = specs[node.inputs[0]], specs[node.inputs[1]]
        if a.op0 != MO.NONE or a.op1 == MO.VECTOR or w.shape is None or len(w.shape) < 2 or x.shape is None \
                or len(x.shape) < 2 or any(d != 1 for d in w.shape[:-2]) or len(w.shape) > len(x.shape):
            return False
        if len(node.inputs) > 2 and node.inputs[2]:
            b = specs[node.inputs[2]]
            if b.shape is None or any(d != 1 for d in b.shape[:-1]):
                return False
        return _epilogue_supported(node, specs, False)

    def runner(self, node, device, point):
        a = node.attrs
        with_bias = len(node.inputs) > 2 and bool(node.inputs[2])
        epilogue = a.get("epilogue", [])
        prog, plan = epilogue_program(epilogue, False)
        epi = PointwiseLauncher(prog, point["BLOCK"], point["num_warps"]) if epilogue else None

        def run(ins, outs):
            x, w = ins[0], ins[1]
            out = outs[0]
            w = w.reshape(w.shape[-2:])  # leading broadcast dims of size 1 (importers unsqueeze weights)
            if a.op1 == MO.TRANSPOSE:
                w = w.t()
            k = x.shape[-1]
            x2 = x.reshape(-1, k)
            n = w.shape[-1]
            direct = epi is None and out.is_contiguous()
            o2 = out.view(-1, n) if direct else None
            if with_bias:
                b = ins[2].reshape(-1).to(x.dtype)
                y = torch.addmm(b, x2, w, out=o2) if direct else torch.addmm(b, x2, w)
            else:
                y = torch.mm(x2, w, out=o2) if direct else torch.mm(x2, w)
            if direct:
                return None
            y = y.view(*x.shape[:-1], n)
            if epi is None:
                return [y]
            epi(out, [y if p == "y" else ins[p] for p in plan])
            return None

        run.launchers = [epi] if epi is not None else []
        return run
