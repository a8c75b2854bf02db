"""``cpu_addmm``: the CPU tactic of fused matrix products with 2-D weights (see the class)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..enums import MatrixOperation as MO
from ..ir.kinds import Kind
from ..ops.fused import apply_epilogue
from .registry import Tactic, register_tactic


#: activations applied in place after the product (the result is a fresh tensor of the tactic's own)
_INPLACE = {"RELU": lambda y, a, b: y.relu_(), "CLIP": lambda y, a, b: y.clamp_(a, b),
            "SIGMOID": lambda y, a, b: y.sigmoid_(), "TANH": lambda y, a, b: y.tanh_(),
            "GELU_ERF": lambda y, a, b: F.gelu(y), "GELU_TANH": lambda y, a, b: F.gelu(y, approximate="tanh")}


@register_tactic
class CpuAddmm(Tactic):
    """``cpu_addmm``: a product with a 2-D right operand (weights) + bias + epilogue as ``addmm`` (one MKL/oneDNN
    GEMM with the bias in its accumulator) on the rows of the left operand, then the activation in place; the
    remaining epilogue steps (residual adds) as in ``ops/fused.py``. The generic path runs matmul, a separate
    bias add and an out-of-place activation, each a pass over the result."""

    name = "cpu_addmm"
    kinds = (Kind.FUSED_MATMUL,)
    devices = ("cpu",)

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device) or specs is None:
            return False
        a = node.attrs
        if a.op0 != MO.NONE or a.op1 not in (MO.NONE, MO.TRANSPOSE):
            return False
        x, w, out = specs[node.inputs[0]], specs[node.inputs[1]], specs[node.outputs[0]]
        if x.shape is None or w.shape is None or out.shape is None or len(x.shape) < 2 or len(w.shape) < 2 \
                or len(w.shape) > len(x.shape) or any(d != 1 for d in w.shape[:-2]):
            return False   # weights: one matrix (leading dimensions of 1, as ONNX exports broadcast them)
        if any(s.dtype.name != "FLOAT" for s in (x, w, out)):
            return False
        if len(node.inputs) > 2 and node.inputs[2]:
            b = specs[node.inputs[2]]
            n = w.shape[-2] if a.op1 == MO.TRANSPOSE else w.shape[-1]
            if b.dtype.name != "FLOAT" or b.shape is None or any(d != 1 for d in b.shape[:-1]) \
                    or b.shape[-1] not in (1, n):
                return False
        return tuple(out.shape) == tuple(x.shape[:-1]) + (out.shape[-1],)   # no broadcast from the residual

    def runner(self, node, device, point):
        a = node.attrs
        with_bias = len(node.inputs) > 2 and bool(node.inputs[2])
        steps = [list(s) for s in a.get("epilogue", [])]
        act = None
        if steps and steps[0][0] == "act" and steps[0][1] in _INPLACE:
            act = (_INPLACE[steps[0][1]], float(steps[0][2]), float(steps[0][3]))
            steps = steps[1:]
        transpose = a.op1 == MO.TRANSPOSE

        def run(ins, outs):
            x, w = ins[0], ins[1]
            if w.dim() > 2:
                w = w.reshape(w.shape[-2:])
            if transpose:
                w = w.t()
            x2 = x.reshape(-1, x.shape[-1])
            if with_bias:   # read every call (it may be a runtime value); addmm broadcasts a single value itself
                y = torch.addmm(ins[2].reshape(-1), x2, w)
            else:
                y = torch.mm(x2, w)
            if act is not None:
                y = act[0](y, act[1], act[2])
            y = y.view(*x.shape[:-1], w.shape[1])
            return [apply_epilogue(y, steps, ins) if steps else y]

        run.launchers = []
        return run
