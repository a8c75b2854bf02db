"""``cpu_gemm_gelu``: a float32 product with constant 2-D weights + bias + tanh-approximated GELU (GPT-2's MLP
input projection) as one oneDNN call, ``torch.ops.mkldnn._linear_pointwise`` with a ``gelu``/``tanh`` post-op on
weights reordered once (``torch.ops.mkldnn._reorder_linear_weight``, per row count of the left operand), so the
activation runs on each block of the result while it is still in cache. ``cpu_packed_gemm`` (MKL's packed GEMM)
followed by ``F.gelu(approximate="tanh")`` reads and writes the whole result once more, and PyTorch's tanh-GELU
kernel is about three times as slow as its erf one.

Measured on the 2-core machine (2 threads, 2026-12-07, p10 of interleaved calls): 128 x 768 @ 768 x 3072 MKL
packed GEMM + tanh-GELU 2.44 ms against 2.09 ms here; 1024 rows 18.7 -> 17.0 ms. The erf GELU (BERT) is not
taken: PyTorch's erf kernel is fast enough that MKL's packed GEMM + it ties the oneDNN call (2.13 against 2.07 ms at
128 rows, 16.3 against 16.6 ms at 1024), so those stay on ``cpu_packed_gemm``.

It registers ahead of ``cpu_packed_gemm`` and ``cpu_addmm`` (the CPU takes its first supporting fast tactic). Products
narrower than ``PACK_MIN_COLS`` columns are left to those; under ``PACK_MIN_ROWS`` rows, and for row counts beyond
the ``PACKS_KEPT`` reordered copies (a dynamic-shape engine), the product runs as ``addmm`` + GELU.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..enums import MatrixOperation as MO
from ..ir.kinds import Kind
from ..ops.fused import apply_epilogue
from .registry import register_tactic_before
from .tactic_cpu_addmm import PACK_MIN_COLS, PACK_MIN_ROWS, PACKS_KEPT, CpuAddmm


def onednn_linear_available() -> bool:
    return bool(torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
                and hasattr(torch.ops.mkldnn, "_reorder_linear_weight"))


#: epilogue activation name -> (oneDNN post-op, its algorithm, the PyTorch fallback)
POST_OPS = {"GELU_TANH": ("gelu", "tanh", lambda y: F.gelu(y, approximate="tanh"))}


@register_tactic_before("cpu_packed_gemm", "cpu_addmm")
class CpuGemmGelu(CpuAddmm):
    name = "cpu_gemm_gelu"
    kinds = (Kind.FUSED_MATMUL,)
    devices = ("cpu",)
    constant_inputs = (1,)

    def supports(self, node, specs, device):
        if not onednn_linear_available() or not super().supports(node, specs, device):
            return False
        steps = node.attrs.get("epilogue", [])
        if not steps or steps[0][0] != "act" or steps[0][1] not in POST_OPS:
            return False
        w = specs[node.inputs[1]]
        n = w.shape[-2] if node.attrs.op1 == MO.TRANSPOSE else w.shape[-1]
        return n >= PACK_MIN_COLS

    def runner(self, node, device, point):
        a = node.attrs
        with_bias = len(node.inputs) > 2 and bool(node.inputs[2])
        steps = [list(s) for s in a.get("epilogue", [])]
        attr, algorithm, fallback = POST_OPS[steps[0][1]]
        steps = steps[1:]
        transpose = a.op1 == MO.TRANSPOSE
        linear = torch.ops.mkldnn._linear_pointwise.default
        reorder = torch.ops.mkldnn._reorder_linear_weight
        packs: dict = {}    # rows of the left operand -> (weight address, oneDNN-reordered (N, K) weight)

        def run(ins, outs):
            x, w = ins[0], ins[1]
            if w.dim() > 2:
                w = w.reshape(w.shape[-2:])
            wt = w if transpose else w.t()          # (N, K), as oneDNN's linear takes it
            n, k = wt.shape
            x2 = x if x.dim() == 2 else x.reshape(-1, k)
            m = x2.shape[0]
            b = None
            if with_bias:   # read every call (it may be a runtime value); [1, n], [n] or a single value
                b = ins[2].reshape(-1)
                if b.numel() != n:
                    b = b.expand(n)
            p = packs.get(m) if m >= PACK_MIN_ROWS else None
            if m >= PACK_MIN_ROWS and ((p is None and len(packs) < PACKS_KEPT)
                                       or (p is not None and p[0] != w.data_ptr())):
                p = packs[m] = (w.data_ptr(), reorder(wt.contiguous(), m))   # refitted weights: packed again
            if p is not None:
                y = linear(x2.contiguous(), p[1], None if b is None else b.contiguous(), attr, [], algorithm)
            else:
                y = fallback(torch.addmm(b, x2, wt.t()) if b is not None else torch.mm(x2, wt.t()))
            if x.dim() != 2:
                y = y.view(*x.shape[:-1], n)
            return [apply_epilogue(y, steps, ins) if steps else y]

        run.launchers = []
        return run
