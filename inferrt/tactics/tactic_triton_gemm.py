"""GPU tactic ``triton_gemm``: matrix products (plain ``matrix_multiply`` and ``fused_matmul`` with bias and epilogue)
through the Triton GEMM template of ``triton_gemm.py``, the epilogue applied before the single store. It competes
with ``cublas_matmul_epilogue`` and ``cublaslt_bias_act`` in the autotuner, tuned over ``GEMM_SPACE``.

Operands: FP16 / BF16 / FP32 of one type (the output's), ``MatrixOperation`` NONE or TRANSPOSE on either side
(transposition is a stride swap), constant or runtime B. When B has no batch (2-D, or leading dims of 1) the batch of
A folds into the rows (one tall product, B's tiles reused across the whole batch); otherwise the batch dims are one
grid axis and both operands are addressed through their batch strides (broadcast batch dims have stride 0; a
broadcast that does not fold into one batch stride is materialized for the call).

``triton_gemm_tma``: the persistent variant of ``triton_gemm_tma.py`` whose operands arrive through TMA loads, on
Hopper and later GPUs (compute capability 9.0+) where Triton offers host-side tensor descriptors; it is timed
against the others like any tactic.

A residual add that widens the product's rows or columns (a one-row or one-column product broadcast by its
residual): not supported when the shapes say so at build time; when dynamic shapes turn out that way at run time,
the call runs the layer's generic implementation.
"""
from __future__ import annotations

import math

from ..enums import DataType, MatrixOperation as MO
from ..ir.kinds import Kind
from .registry import Tactic, register_tactic
from .tactic_cuda_fused import epilogue_program
from .tactic_triton_pointwise import triton_available
from .triton_gemm import GEMM_DTYPES, GEMM_SPACE, GemmLauncher, epilogue_supported, view3


def _known(d) -> bool:
    return isinstance(d, int) and d >= 0


def problem_dims(node, specs):
    """((M, N, K), operand dtype) of a product node at ``specs``; M counts the rows of every batch when B has no
    batch (they fold into one product); -1 where unknown."""
    a = node.attrs
    x, w = specs[node.inputs[0]], specs[node.inputs[1]]
    if x.shape is None or w.shape is None or len(x.shape) < 2 or len(w.shape) < 2:
        return (-1, -1, -1), x.dtype
    m, k = x.shape[-2:] if a.op0 != MO.TRANSPOSE else x.shape[-2:][::-1]
    n = w.shape[-1] if a.op1 != MO.TRANSPOSE else w.shape[-2]
    if all(d == 1 for d in w.shape[:-2]) and _known(m):
        lead = x.shape[:-2]
        m = m * math.prod(lead) if all(_known(d) for d in lead) else -1
    return (m, n, k), x.dtype


def _inputs_plan(node):
    with_bias = len(node.inputs) > 2 and bool(node.inputs[2])
    return epilogue_program(node.attrs.get("epilogue", []), with_bias)


def _operands(a, plan, ins, out):
    """(a3, b3, out3, extras, copy_back) for one call: the product as (batch, rows, cols) tensors (batch 1 when B
    has no batch), the output's (batch, rows, cols) view or a dense temporary (``copy_back``) and the epilogue
    inputs as views of the output's shape; None when the epilogue broadcasts the product's rows or columns."""
    import torch

    x, w = ins[0], ins[1]
    if a.op0 == MO.TRANSPOSE:
        x = x.transpose(-1, -2)
    if a.op1 == MO.TRANSPOSE:
        w = w.transpose(-1, -2)
    m, k = x.shape[-2:]
    n = w.shape[-1]
    shape = tuple(out.shape)
    if shape[-2:] != (m, n):
        return None
    lead = shape[:-2]
    xe = x.expand(*lead, m, k)
    a3 = None
    if all(d == 1 for d in w.shape[:-2]):   # B without batch: the batch folds into the rows
        try:
            a3 = xe.view(1, -1, k)
        except RuntimeError:
            a3 = None
    if a3 is not None:
        shape3 = (1, a3.shape[1], n)
        b3 = w.reshape(1, k, n)
    else:
        bt = math.prod(lead)
        shape3 = (bt, m, n)
        a3 = view3(xe, (bt, m, k))
        b3 = view3(w.expand(*lead, k, n), (bt, k, n))
    try:
        out3, copy_back = out.view(shape3), False
    except RuntimeError:   # e.g. a channels-last 4-D output: compute densely, then copy into the layout
        out3, copy_back = torch.empty(shape3, dtype=out.dtype, device=out.device), True
    extras = [view3((ins[2] if p == "bias" else ins[p]).expand(shape), shape3) for p in plan[1:]]
    return a3, b3, out3, extras, copy_back


@register_tactic
class TritonGemm(Tactic):
    name = "triton_gemm"
    kinds = (Kind.FUSED_MATMUL, Kind.MATRIX_MULTIPLY)
    devices = ("cuda",)
    space = GEMM_SPACE

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device) or specs is None or not triton_available():
            return False
        a = node.attrs
        if a.op0 == MO.VECTOR or a.op1 == MO.VECTOR:
            return False
        x, w, out = specs[node.inputs[0]], specs[node.inputs[1]], specs[node.outputs[0]]
        if any(s.shape is None or len(s.shape) < 2 for s in (x, w, out)):
            return False
        if x.dtype not in GEMM_DTYPES or w.dtype != x.dtype or out.dtype != x.dtype:
            return False
        rows = x.shape[-1] if a.op0 == MO.TRANSPOSE else x.shape[-2]
        cols = w.shape[-2] if a.op1 == MO.TRANSPOSE else w.shape[-1]
        if any(_known(p) and _known(o) and p != o for p, o in zip((rows, cols), out.shape[-2:])):
            return False   # the residual widens the product's rows or columns
        prog, plan = _inputs_plan(node)
        dts = [DataType.FLOAT] + [specs[node.inputs[2 if p == "bias" else p]].dtype for p in plan[1:]]
        return epilogue_supported(prog, dts)

    def launch(self, node, device, point, prog):
        """``launch(a3, b3, out3, extras)`` for one call."""
        gemm = GemmLauncher(prog, point)
        return gemm, [gemm]

    def runner(self, node, device, point):
        a = node.attrs
        prog, plan = _inputs_plan(node)
        launch, launchers = self.launch(node, device, point, prog)
        generic = node.op

        def run(ins, outs):
            out = outs[0]
            ops = _operands(a, plan, ins, out)
            if ops is None:   # the epilogue broadcasts the product's rows / columns
                (y,) = generic.run(a, ins, outs)
                out.copy_(y)
                return None
            a3, b3, out3, extras, copy_back = ops
            launch(out3, a3, b3, extras)
            if copy_back:
                out.copy_(out3.view(out.shape))
            return None

        run.launchers = launchers
        return run


def hopper_or_later(device=None) -> bool:
    """A CUDA device of compute capability 9.0 or later, with Triton's host-side tensor descriptors."""
    import torch

    try:
        from triton.tools.tensor_descriptor import TensorDescriptor  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 9


@register_tactic
class TritonGemmTma(TritonGemm):
    """``triton_gemm_tma``: the persistent TMA variant (``triton_gemm_tma.py``) on Hopper and later, for products
    whose B has no batch (the batch folds into the rows) and A is not transposed. A call whose operands miss TMA's
    alignment (16-byte rows and bases) runs the plain template at the same point."""

    name = "triton_gemm_tma"

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device) or not hopper_or_later():
            return False
        w = specs[node.inputs[1]]
        return node.attrs.op0 == MO.NONE and all(d == 1 for d in w.shape[:-2])

    def launch(self, node, device, point, prog):
        import torch

        from .triton_gemm_tma import GemmTmaLauncher, tma_ready

        dev = torch.device(device)
        sms = torch.cuda.get_device_properties(dev).multi_processor_count if dev.type == "cuda" else 4
        tma = GemmTmaLauncher(prog, point, sms)
        plain = GemmLauncher(prog, point)

        def launch(out3, a3, b3, extras):
            b_t = tma_ready(a3[0], b3[0]) if a3.shape[0] == 1 else None
            if b_t is None:
                plain(out3, a3, b3, extras)
            else:
                tma(out3[0], a3[0], b3[0], b_t, [x[0] for x in extras])

        return launch, [tma, plain]
