"""``cpu_gemm_gelu``: a float32 product with constant 2-D weights + bias + tanh-approximated GELU (GPT-2's MLP
input projection) as one oneDNN call, ``torch.ops.mkldnn._linear_pointwise`` with a ``gelu``/``tanh`` post-op on
weights reordered once (``torch.ops.mkldnn._reorder_linear_weight``, per row count of the left operand), so the
activation runs on each block of the result while it is still in cache. ``cpu_packed_gemm`` (MKL's packed GEMM)
followed by ``F.gelu(approximate="tanh")`` reads and writes the whole result once more, and PyTorch's tanh-GELU
kernel is about three times as slow as its erf one.

Measured on the 2-core machine (2 threads, 2026-12-07, medians of interleaved calls): 128 x 768 @ 768 x 3072 MKL
packed GEMM + tanh-GELU 2.44 ms against 2.09 ms here, 1024 rows 18.7 -> 17.0 ms. Whole GPT-2 s128 engines built with
and without this tactic, timed in one process in interleaved rounds: batch 8 767 -> 683 ms (onnxruntime 777 ms);
batch 1 (128 rows) no gain (95.7 against 95.0 ms in 60 rounds; inside the engine the oneDNN product is slower than
in isolation, 2.65 ms against MKL's 2.25 + 0.45 ms GELU), so from ``FUSE_MIN_ROWS`` rows only. The erf GELU (BERT) is not taken: MKL's packed GEMM + PyTorch's erf kernel is as fast or
faster (BERT-base s128 batch 8 in one process: 654 ms as now, 672 ms with the erf GELU routed here).

It registers ahead of ``cpu_packed_gemm`` and ``cpu_addmm`` (the CPU takes its first supporting fast tactic). Products
narrower than ``PACK_MIN_COLS`` columns are left to those; under ``FUSE_MIN_ROWS`` rows (batch 1 at s128), and for
row counts beyond the ``PACKS_KEPT`` reordered copies (a dynamic-shape engine), the product runs exactly as
``cpu_packed_gemm`` runs it (same runner, which keeps its own ``PACKS_KEPT`` MKL-packed copies: a dynamic-shape
engine holds at most twice that many copies of these weights). Weights bound as inputs get ``cpu_addmm``
(``constant_inputs``).
"""
from __future__ import annotations

import torch

from ..enums import MatrixOperation as MO
from ..ir.kinds import Kind
from ..ops.fused import apply_epilogue
from .registry import register_tactic_before
from .tactic_cpu_addmm import PACK_MIN_COLS, PACKS_KEPT, CpuPackedGemm


def onednn_linear_available() -> bool:
    return bool(torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
                and hasattr(torch.ops.mkldnn, "_reorder_linear_weight"))


#: epilogue activation name -> (oneDNN post-op, its algorithm)
POST_OPS = {"GELU_TANH": ("gelu", "tanh")}
#: rows of the left operand from which the oneDNN call runs; fewer run as ``cpu_packed_gemm`` does (MKL packed GEMM,
#: then the GELU): at 128 rows (batch 1) the two were level inside the engine (see the module docstring)
FUSE_MIN_ROWS = 512


@register_tactic_before("cpu_packed_gemm", "cpu_addmm")
class CpuGemmGelu(CpuPackedGemm):
    name = "cpu_gemm_gelu"
    kinds = (Kind.FUSED_MATMUL,)

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
        small = super().runner(node, device, point)     # under FUSE_MIN_ROWS rows, and past PACKS_KEPT row counts
        with_bias = len(node.inputs) > 2 and bool(node.inputs[2])
        steps = [list(s) for s in a.get("epilogue", [])]
        attr, algorithm = POST_OPS[steps[0][1]]
        steps = steps[1:]
        transpose = a.op1 == MO.TRANSPOSE
        linear = torch.ops.mkldnn._linear_pointwise.default
        reorder = torch.ops.mkldnn._reorder_linear_weight
        packs: dict = {}    # rows of the left operand -> (weight address, oneDNN-reordered (N, K) weight)

        def run(ins, outs):
            x, w = ins[0], ins[1]
            k = x.shape[-1]
            m = x.numel() // k if k else 0
            if m < FUSE_MIN_ROWS:
                return small(ins, outs)
            p = packs.get(m)
            if (p is None and len(packs) >= PACKS_KEPT):
                return small(ins, outs)
            if w.dim() > 2:
                w = w.reshape(w.shape[-2:])
            wt = w if transpose else w.t()          # (N, K), as oneDNN's linear takes it
            n = wt.shape[0]
            if p is None or p[0] != w.data_ptr():   # refitted weights: reordered again
                p = packs[m] = (w.data_ptr(), reorder(wt.contiguous(), m))
            x2 = x if x.dim() == 2 else x.reshape(-1, k)
            b = None
            if with_bias:   # read every call (it may be a runtime value); [1, n], [n] or a single value
                b = ins[2].reshape(-1)
                b = (b if b.numel() == n else b.expand(n)).contiguous()
            y = linear(x2.contiguous(), p[1], b, attr, [], algorithm)
            if x.dim() != 2:
                y = y.view(*x.shape[:-1], n)
            return [apply_epilogue(y, steps, ins) if steps else y]

        run.launchers = []
        return run
