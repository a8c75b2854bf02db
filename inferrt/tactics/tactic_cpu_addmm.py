"""``cpu_addmm`` and ``cpu_packed_gemm``: the CPU tactics of matrix products with 2-D weights (see the classes)."""
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


#: row counts one cpu_packed_gemm layer keeps packed weights for (each a copy of the weights); other row counts
#: (a dynamic-shape engine's further shapes) run as cpu_addmm does
PACKS_KEPT = 2
#: the packed GEMM's wrapper costs a few microseconds more than addmm per call, so it pays only from this many rows
#: of the left operand and columns of the result (2 threads, 2026-12-07: 1 x 1568 @ 1568 x 128 addmm 11 us, packed
#: 20 us; 8 rows 35 -> 30 us; 128 x 128 @ 128 x 10 7.5 -> 17 us; 8 x 768 @ 768 x 768 95 -> 63 us)
PACK_MIN_ROWS = 8
PACK_MIN_COLS = 128


def mkl_packed_available() -> bool:
    return bool(torch.backends.mkl.is_available() and hasattr(torch.ops.mkl, "_mkl_linear")
                and hasattr(torch.ops.mkl, "_mkl_reorder_linear_weight"))


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

    #: cpu_packed_gemm: the weights packed once into MKL's GEMM layout (see CpuPackedGemm)
    packed = False

    def runner(self, node, device, point):
        a = node.attrs
        with_bias = len(node.inputs) > 2 and bool(node.inputs[2])
        packs: dict = {}    # rows of the left operand -> (weight address, MKL-packed weight, the (N, K) weight view)
        packed = self.packed and mkl_packed_available()
        # the overload itself, not the packet (which resolves it on every call: ~8 us of ~45 for 8 x 1568 @ 1568 x 128)
        mkl_linear = torch.ops.mkl._mkl_linear.default if packed else None
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
            # (views are made only where needed: each costs a PyTorch call, ~1.5 us, as much as a tiny GEMM's share)
            x2 = x if x.dim() == 2 else x.reshape(-1, x.shape[-1])
            m = x2.shape[0]
            p = None
            if packed and m >= PACK_MIN_ROWS and w.shape[1] >= PACK_MIN_COLS:
                p = packs.get(m)
                if (p is None and len(packs) < PACKS_KEPT) or (p is not None and p[0] != w.data_ptr()):
                    # (K, N) weights as the (N, K) matrix MKL packs; refitted weights come with new kernels
                    p = packs[m] = (w.data_ptr(), torch.ops.mkl._mkl_reorder_linear_weight(w.t().float(), m), w.t())
            if p is not None:
                b = ins[2].reshape(-1).expand(w.shape[1]) if with_bias else None
                y = mkl_linear(x2, p[1], p[2], b, m)
            elif with_bias:   # read every call (it may be a runtime value); addmm broadcasts a [1, n] or [1, 1] bias
                b = ins[2]
                y = torch.addmm(b if b.dim() <= 2 else b.reshape(-1), x2, w)
            else:
                y = torch.mm(x2, w)
            if act is not None:
                y = act[0](y, act[1], act[2])
            if x.dim() != 2:
                y = y.view(*x.shape[:-1], w.shape[1])
            return [apply_epilogue(y, steps, ins) if steps else y]

        run.launchers = []
        return run


@register_tactic
class CpuPackedGemm(CpuAddmm):
    """``cpu_packed_gemm``: ``cpu_addmm`` with the weights packed once (per row count of the left operand) into
    MKL's GEMM layout (``torch.ops.mkl._mkl_linear``, the packed path PyTorch's own CPU linear fusion uses), for
    fused products and plain ones (BERT's merged QKV projection) whose weights are constants. Measured on the 2-core
    machine (2 threads, 2026-12-07): 128x768 @ 768x2304 1.75 -> 1.49 ms, 128x768 @ 768x3072 2.29 -> 1.90 ms,
    128x3072 @ 3072x768 2.22 -> 1.94 ms against ``addmm``; at 1024 rows within a few %. Costs one copy of the
    weights per packed row count (at most ``PACKS_KEPT``); products under ``PACK_MIN_ROWS`` rows or
    ``PACK_MIN_COLS`` columns run as ``cpu_addmm`` (the wrapper's cost outweighs the gain there). Registered before ``cpu_addmm`` so the CPU picks it
    where it applies; weights that are runtime values get ``cpu_addmm`` (``constant_inputs``)."""

    name = "cpu_packed_gemm"
    kinds = (Kind.FUSED_MATMUL, Kind.MATRIX_MULTIPLY)
    constant_inputs = (1,)
    packed = True

    def supports(self, node, specs, device):
        return mkl_packed_available() and super().supports(node, specs, device)


register_tactic(CpuAddmm)
