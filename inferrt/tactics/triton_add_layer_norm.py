"""A Triton kernel for ``add_layer_norm``: s = x + r, y = LayerNorm(s) · scale + bias, one program per row.

A row is the normalized tail of D elements (at most ``MAX_BLOCK``, held in registers in one block of the next power of
two); the leading dims are folded into three row coordinates, so every operand (a broadcast residual such as a
position embedding included) is addressed through its own strides, without a copy. The sum is rounded to the data's
type (as the unfused add stores it), stored when the layer hands it out, and normalized from that rounded value with
FP32 statistics (mean, then the centred variance: no cancellation).

Imported only when the tactic runs (it imports Triton at module level).
"""
from __future__ import annotations

import triton
import triton.language as tl

#: the widest row a program holds: 16K elements (64 KiB of FP32 registers across at most 16 warps)
MAX_BLOCK = 16384


@triton.jit
def add_layer_norm_kernel(x_ptr, r_ptr, w_ptr, b_ptr, y_ptr, s_ptr, L1, L2, D, eps,
                          sx0, sx1, sx2, sxd, sr0, sr1, sr2, srd, sy0, sy1, sy2, syd, ss0, ss1, ss2, ssd, swd, sbd,
                          HAS_W: tl.constexpr, HAS_B: tl.constexpr, STORE_SUM: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    i2 = row % L2
    i1 = (row // L2) % L1
    i0 = row // (L2 * L1)
    cols = tl.arange(0, BLOCK).to(tl.int64)
    m = cols < D
    x = tl.load(x_ptr + i0 * sx0 + i1 * sx1 + i2 * sx2 + cols * sxd, mask=m, other=0.0).to(tl.float32)
    r = tl.load(r_ptr + i0 * sr0 + i1 * sr1 + i2 * sr2 + cols * srd, mask=m, other=0.0).to(tl.float32)
    s = (x + r).to(y_ptr.dtype.element_ty)
    if STORE_SUM:
        tl.store(s_ptr + i0 * ss0 + i1 * ss1 + i2 * ss2 + cols * ssd, s, mask=m)
    s = s.to(tl.float32)
    mean = tl.sum(s, axis=0) / D
    d = tl.where(m, s - mean, 0.0)
    var = tl.sum(d * d, axis=0) / D
    y = d * (1.0 / tl.sqrt(var + eps))
    if HAS_W:
        y = y * tl.load(w_ptr + cols * swd, mask=m, other=0.0).to(tl.float32)
    if HAS_B:
        y = y + tl.load(b_ptr + cols * sbd, mask=m, other=0.0).to(tl.float32)
    tl.store(y_ptr + i0 * sy0 + i1 * sy1 + i2 * sy2 + cols * syd, y.to(y_ptr.dtype.element_ty), mask=m)


def rows4(t, shape4):
    """``t`` as (L0, L1, L2, D): a view when its strides allow, else a contiguous copy."""
    try:
        return t.view(shape4)
    except RuntimeError:
        return t.reshape(shape4)


class AddLayerNormLauncher:
    """Runs the kernel with ``num_warps`` warps (a point of ``ADD_LN_SPACE``), recording Triton's compiled
    variants for the plan."""

    def __init__(self, num_warps: int):
        self.num_warps = int(num_warps)
        self.launched = {}

    def compiled_kernels(self) -> list:
        return list(self.launched.values())

    def __call__(self, x4, r4, w, b, y4, s4, d, eps):
        """Operands as (L0, L1, L2, D) tensors; ``w`` / ``b``: (D,) or None; ``s4`` None: the sum is not stored."""
        rows = x4.shape[0] * x4.shape[1] * x4.shape[2]
        if rows == 0 or d == 0:
            return
        block = triton.next_power_of_2(d)
        w_arg = w if w is not None else y4
        b_arg = b if b is not None else y4
        s_arg = s4 if s4 is not None else y4
        compiled = add_layer_norm_kernel[(rows,)](
            x4, r4, w_arg, b_arg, y4, s_arg, x4.shape[1], x4.shape[2], d, float(eps),
            *x4.stride(), *r4.stride(), *y4.stride(), *s_arg.stride(),
            w.stride(0) if w is not None else 0, b.stride(0) if b is not None else 0,
            HAS_W=w is not None, HAS_B=b is not None, STORE_SUM=s4 is not None, BLOCK=block,
            num_warps=self.num_warps)
        if compiled is not None and hasattr(compiled, "hash"):
            self.launched[compiled.hash] = compiled
