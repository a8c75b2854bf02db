"""The persistent TMA variant of the Triton GEMM template (Hopper and later): C = epilogue(A @ B).

One program per SM walks the output tiles (grouped by ``GROUP_M`` like the plain template, so concurrently running
programs share B's tiles in L2); A and B tiles arrive through tensor-memory-accelerator loads from host-built
``TensorDescriptor`` arguments (Triton's stable API: the hardware fills the ragged edges with zeros, so the K loop
needs no masks). The epilogue program is the plain template's (``triton_gemm.epilogue_lines``), run on each tile
before its masked store.

Constraints of TMA, checked by ``tma_ready`` before a launch: A row-major (K contiguous), B row-major (N contiguous) or
its transpose stored row-major (K contiguous, ``B_T``), 16-byte aligned bases and row strides. One product (no batch
axis): batched products keep the plain template.
"""
from __future__ import annotations

from ..enums import DataType
from .triton_codegen import load_kernel
from .triton_gemm import _precision, epilogue_lines


def gemm_tma_source(program, in_dtypes, out_dtype) -> str:
    """The kernel's source; ``in_dtypes[k]`` is the dtype of epilogue input k (k >= 1; bias, residuals)."""
    n = len(in_dtypes)
    args = ["a_desc", "b_desc", "out_ptr"] + [f"in{k}_ptr" for k in range(1, n)] + ["M", "N", "K", "so_m", "so_n"]
    for k in range(1, n):
        args += [f"s{k}_m", f"s{k}_n"]
    src = ["import triton", "import triton.language as tl", "", "", "@triton.jit",
           f"def gemm_tma_kernel({', '.join(args)}, NUM_SMS: tl.constexpr, BLOCK_M: tl.constexpr, "
           f"BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr, PRECISION: tl.constexpr, "
           f"B_T: tl.constexpr):",
           "    num_m = tl.cdiv(M, BLOCK_M)",
           "    num_n = tl.cdiv(N, BLOCK_N)",
           "    k_steps = tl.cdiv(K, BLOCK_K)",
           "    per_group = GROUP_M * num_n",
           "    for tile in tl.range(tl.program_id(0), num_m * num_n, NUM_SMS, flatten=True):",
           "        first_m = (tile // per_group) * GROUP_M",
           "        group_rows = tl.minimum(num_m - first_m, GROUP_M)",
           "        pid_m = first_m + (tile % per_group) % group_rows",
           "        pid_n = (tile % per_group) // group_rows",
           "        off_m = pid_m * BLOCK_M",
           "        off_n = pid_n * BLOCK_N",
           "        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)",
           "        for ks in range(0, k_steps):",
           "            a = a_desc.load([off_m, ks * BLOCK_K])",
           "            if B_T:",
           "                b = b_desc.load([off_n, ks * BLOCK_K]).T",
           "            else:",
           "                b = b_desc.load([ks * BLOCK_K, off_n])",
           "            acc = tl.dot(a, b, acc, input_precision=PRECISION)",
           "        rm = (off_m + tl.arange(0, BLOCK_M)).to(tl.int64)",
           "        rn = (off_n + tl.arange(0, BLOCK_N)).to(tl.int64)",
           "        mask = (rm[:, None] < M) & (rn[None, :] < N)"]

    def address(k):
        p = "so" if k is None else f"s{k}"
        return f"rm[:, None] * {p}_m + rn[None, :] * {p}_n"

    src += ["    " + line for line in epilogue_lines(program, in_dtypes, out_dtype, address)]
    src += ["", "", "pointwise_kernel = gemm_tma_kernel"]   # the name load_kernel hands back
    return "\n".join(src) + "\n"


def _aligned(t, contiguous_dim: int) -> bool:
    other = 1 - contiguous_dim
    es = t.element_size()
    return (t.stride(contiguous_dim) == 1 and t.stride(other) > 0 and (t.stride(other) * es) % 16 == 0
            and t.data_ptr() % 16 == 0 and t.shape[contiguous_dim] * es >= 16)


def tma_ready(a2, b2) -> bool | None:
    """Whether 2-D A (M, K) and B (K, N) suit TMA loads: None when they do not, else whether B is read through its
    transpose (stored N x K, K contiguous)."""
    if not _aligned(a2, 1):
        return None
    if _aligned(b2, 1):
        return False
    if _aligned(b2.t(), 1):
        return True
    return None


class GemmTmaLauncher:
    """Runs ``out2 = epilogue(a2 @ b2)`` (2-D tensors that passed ``tma_ready``) with ``num_sms`` persistent programs
    at one point of ``GEMM_SPACE``; epilogue inputs are (M, N) views of the output's shape."""

    def __init__(self, program, point, num_sms: int):
        self.program = program
        self.point = dict(point)
        self.num_sms = int(num_sms)
        self.cache = {}
        self.launched = {}

    def compiled_kernels(self) -> list:
        return list(self.launched.values())

    def __call__(self, out2, a2, b2, b_t: bool, extras):
        from triton.tools.tensor_descriptor import TensorDescriptor

        from ..dtypes import from_torch_dtype

        m, n = out2.shape
        k = a2.shape[1]
        if out2.numel() == 0:
            return
        key = (tuple(x.dtype for x in extras), out2.dtype)
        kern = self.cache.get(key)
        if kern is None:
            dts = [DataType.FLOAT] + [from_torch_dtype(x.dtype) for x in extras]
            kern = self.cache[key] = load_kernel(gemm_tma_source(self.program, dts, from_torch_dtype(out2.dtype)))
        p = self.point
        a_desc = TensorDescriptor(a2, list(a2.shape), list(a2.stride()), [p["BLOCK_M"], p["BLOCK_K"]])
        bs = b2.t() if b_t else b2
        b_desc = TensorDescriptor(bs, list(bs.shape), list(bs.stride()),
                                  [p["BLOCK_N"], p["BLOCK_K"]] if b_t else [p["BLOCK_K"], p["BLOCK_N"]])
        tiles = -(-m // p["BLOCK_M"]) * -(-n // p["BLOCK_N"])
        strides = []
        for x in extras:
            strides += list(x.stride())
        compiled = kern[(min(self.num_sms, tiles),)](
            a_desc, b_desc, out2, *extras, m, n, k, *out2.stride(), *strides, NUM_SMS=self.num_sms,
            BLOCK_M=p["BLOCK_M"], BLOCK_N=p["BLOCK_N"], BLOCK_K=p["BLOCK_K"], GROUP_M=p["GROUP_M"],
            PRECISION=_precision(a2.dtype), B_T=b_t, num_warps=p["num_warps"], num_stages=p["num_stages"])
        if compiled is not None and hasattr(compiled, "hash"):
            self.launched[compiled.hash] = compiled
