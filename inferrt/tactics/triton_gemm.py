"""A Triton GEMM template with the layer's epilogue applied in registers: C = epilogue(A @ B).

One generated kernel per (epilogue program, operand dtypes): tiles of ``BLOCK_M x BLOCK_N`` outputs, each program
walking K in steps of ``BLOCK_K`` with ``tl.dot`` (FP16 / BF16 operands; FP32 operands as TF32 when the process-wide
``torch.backends.cuda.matmul.allow_tf32`` switch is on, which the engine sets from BuilderFlag.TF32, else in full
IEEE FP32), accumulating in FP32; the quantized tactics (``tactic_triton_quantized.py``) pass INT8 operands,
accumulated exactly in INT32, and FP8 (E4M3) operands, accumulated in FP32. Programs are ordered in groups of ``GROUP_M`` row tiles so that
neighbouring programs share B's column tiles in L2. A third grid axis walks a batch; every operand is addressed
through (batch, row, column) strides, so transposed operands, broadcast bias vectors and broadcast residuals need no
copy.

The epilogue is the ``pointwise`` program vocabulary of ``triton_codegen`` (one vocabulary for every generated
kernel): ``tactic_cuda_fused.epilogue_program`` turns a fused layer's ``epilogue`` steps into a program whose input 0
is the FP32 accumulator and whose other inputs (bias, residuals) are loaded as tiles right before the single store.
Bias, GELU (erf and tanh forms), every other activation, residual adds and scalings all run before the result leaves
registers.

``GEMM_SPACE`` is the tuning space: tile sizes, warps, software-pipelining stages and the grouping; its constraint
prunes tiles larger than the problem and stage counts whose shared-memory ring would not fit.
"""
from __future__ import annotations

import math

from ..enums import DataType
from .triton_codegen import _TL, _body, load_kernel
from .tuning import TuningSpace

#: the shared memory one program's pipelined A / B tiles may take (bytes): below the 227 KiB of an H100 SM, with
#: room for the epilogue's layout conversion
SHARED_BYTES = 160 << 10
_ELEM = {DataType.HALF: 2, DataType.BF16: 2, DataType.FLOAT: 4}
#: operand dtypes the template multiplies (FP32 through TF32 or IEEE FP32 dots)
GEMM_DTYPES = tuple(_ELEM)


def epilogue_lines(program, in_dtypes, out_dtype, address, mask="mask"):
    """Source lines that load the epilogue's inputs 1.. (input 0 is the accumulator ``acc``), compute the program
    and store its result: ``address(k)`` is the offset expression of input k's tile (``address(None)``: the
    output's), ``mask`` the tile's in-bounds mask. ``in_dtypes[0]`` is ignored (the accumulator is FP32)."""
    dts = [DataType.FLOAT] + list(in_dtypes[1:])
    lines = ["    x0 = acc"]
    for k in range(1, len(dts)):
        lines.append(f"    x{k} = tl.load(in{k}_ptr + ({address(k)}), mask={mask}, other=0)")
    body, _ = _body(program, dts)
    lines += body
    lines.append(f"    tl.store(out_ptr + ({address(None)}), r{len(program) - 1}.to({_TL[out_dtype]}), mask={mask})")
    return lines


def epilogue_supported(program, in_dtypes) -> bool:
    """Whether the epilogue program compiles for these input dtypes (input 0, the accumulator, is FP32)."""
    try:
        _body(program, [DataType.FLOAT] + list(in_dtypes[1:]))
        return True
    except KeyError:
        return False


def accumulator_lines(int_operands: bool, fp8_operands: bool = False):
    """(the accumulator's initialization, the multiply-accumulate line's ``tl.dot``, the lines that make the
    accumulator FP32 for the epilogue): INT8 operands accumulate exactly in INT32, everything else in FP32.

    FP8 products: Hopper's FP8 tensor-core instructions sum into an accumulator narrower than FP32 (about 14
    mantissa bits); over a 64-wide K block that measured 1.4e-4 (GEMM) and 7.5e-4 (convolution) of the output's
    range on an H100. ``max_num_imprecise_acc=32`` has Triton add each 32-wide partial sum (one instruction's K) into
    the FP32 accumulator, as cuBLAS does without its fast-accumulation mode."""
    if int_operands:
        return ("    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)",
                "tl.dot(a, b, acc, out_dtype=tl.int32)", ["    acc = acc.to(tl.float32)"])
    if fp8_operands:
        return ("    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)",
                "tl.dot(a, b, acc, max_num_imprecise_acc=32)", [])
    return ("    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)",
            "tl.dot(a, b, acc, input_precision=PRECISION)", [])


def operand_fill(fp8_operands: bool) -> str:
    """The ``other`` of the masked A / B tile loads (the zeros past K). FP8 (E4M3) operands take a float literal:
    Triton casts ``other`` to the pointer's element type and has no int32 -> fp8e4nv cast ("cannot cast int32 to
    fp8e4nv"), while fp32 -> fp8e4nv is a plain round-to-nearest-even conversion (0.0 is exact). Every other operand
    type keeps the integer literal."""
    return "0.0" if fp8_operands else "0"


def quantize_operand_lines(fp8: bool, var: str = "a", indent: str = "        ") -> list:
    """Lines that turn the float tile ``var`` into the quantized operand, as the quantize layer does
    (``ops.quantize.quantize_values`` of ``x / scale``; the per-tensor scale is loaded into ``qs`` once per program),
    so the A operand is read in the activation's own type straight from the activation: no separate quantize pass,
    no INT8 / FP8 copy of the activation in memory.

    An IEEE division first (``div_rn``: Triton's ``/`` on FP32 is an approximate division). INT8: saturation to
    [-128, 127], then rounding half to even by adding and subtracting 1.5 * 2**23 (a float32 of magnitude below
    2**22 lands on an integer in the adder's own round-to-nearest-even; no libdevice ``rint``, which Triton's
    interpreter lacks). FP8 E4M3: saturation to +-448 (NaN kept), then the same rounding on the value divided by its
    binade's E4M3 spacing (2**(exponent - 3), 2**-9 below the normal range; powers of two, built from the exponent
    bits, so the scaling is exact), which leaves the conversion nothing to round: the result is the
    round-to-nearest-even of the direct conversion without relying on the conversion's rounding (the interpreter
    truncates and drops the carry), a negative value rounding to zero included (-0)."""
    y = f"tl.math.div_rn({var}.to(tl.float32), qs)"
    if not fp8:
        return [f"{indent}{var} = tl.minimum(tl.maximum({y}, -128.0), 127.0)",
                f"{indent}{var} = (({var} + 12582912.0) - 12582912.0).to(tl.int8)"]
    return [f"{indent}{var} = {y}",
            f"{indent}{var} = tl.where({var} != {var}, {var}, tl.minimum(tl.maximum({var}, -448.0), 448.0))",
            # biased exponent, at least that of 2**-6 (E4M3's smallest normal binade: spacing 2**-9 below it too)
            f"{indent}qe = tl.maximum(({var}.to(tl.int32, bitcast=True) >> 23) & 0xFF, 121)",
            f"{indent}qstep = ((qe - 3) << 23).to(tl.float32, bitcast=True)",
            f"{indent}qinv = ((257 - qe) << 23).to(tl.float32, bitcast=True)",
            f"{indent}qr = ((({var} * qinv) + 12582912.0) - 12582912.0) * qstep",
            # a value that rounds to zero keeps its sign (-0), as the conversion gives it
            f"{indent}{var} = tl.where(qr == 0.0, {var} * 0.0, qr).to(tl.float8e4nv)"]


def gemm_source(program, in_dtypes, out_dtype, int_operands: bool = False, fp8_operands: bool = False,
                quantize_a: bool = False) -> str:
    """The kernel's source; ``in_dtypes[k]`` is the dtype of epilogue input k (k >= 1; bias, residuals).
    ``int_operands``: A and B are INT8 (quantized values; see ``accumulator_lines``); ``fp8_operands``: A and B are
    FP8 E4M3 (``operand_fill``). ``quantize_a``: A holds float values that the kernel quantizes to the operand
    type with the per-tensor scale at ``qs_ptr`` as it loads them (``quantize_operand_lines``)."""
    init, dot, to_float = accumulator_lines(int_operands, fp8_operands)
    fill = operand_fill(fp8_operands)
    n = len(in_dtypes)
    args = ["a_ptr", "b_ptr", "out_ptr"] + [f"in{k}_ptr" for k in range(1, n)] + (["qs_ptr"] if quantize_a else [])
    args += ["M", "N", "K"]
    args += ["sa_b", "sa_m", "sa_k", "sb_b", "sb_k", "sb_n", "so_b", "so_m", "so_n"]
    for k in range(1, n):
        args += [f"s{k}_b", f"s{k}_m", f"s{k}_n"]
    src = ["import triton", "import triton.language as tl", "", "", "@triton.jit",
           f"def gemm_kernel({', '.join(args)}, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, "
           f"BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr, PRECISION: tl.constexpr):",
           "    pid = tl.program_id(0)",
           "    pid_b = tl.program_id(1).to(tl.int64)",
           "    num_m = tl.cdiv(M, BLOCK_M)",
           "    num_n = tl.cdiv(N, BLOCK_N)",
           "    per_group = GROUP_M * num_n",
           "    first_m = (pid // per_group) * GROUP_M",
           "    group_rows = tl.minimum(num_m - first_m, GROUP_M)",
           "    pid_m = first_m + (pid % per_group) % group_rows",
           "    pid_n = (pid % per_group) // group_rows",
           "    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)",
           "    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)",
           "    rk = tl.arange(0, BLOCK_K)",
           # rows / columns past the edge read a valid row / column (their results are never stored): no mask on M, N
           "    am = (rm % M).to(tl.int64)",
           "    bn = (rn % N).to(tl.int64)",
           "    a_ptrs = a_ptr + pid_b * sa_b + am[:, None] * sa_m + rk[None, :] * sa_k",
           "    b_ptrs = b_ptr + pid_b * sb_b + rk[:, None] * sb_k + bn[None, :] * sb_n",
           init,
           *(["    qs = tl.load(qs_ptr)"] if quantize_a else []),
           "    for k0 in range(0, tl.cdiv(K, BLOCK_K)):",
           "        left = K - k0 * BLOCK_K",
           f"        a = tl.load(a_ptrs, mask=rk[None, :] < left, other={'0.0' if quantize_a else fill})",
           *(quantize_operand_lines(fp8_operands) if quantize_a else []),
           f"        b = tl.load(b_ptrs, mask=rk[:, None] < left, other={fill})",
           f"        acc = {dot}",
           "        a_ptrs += BLOCK_K * sa_k",
           "        b_ptrs += BLOCK_K * sb_k",
           *to_float,
           "    rm = rm.to(tl.int64)",
           "    rn = rn.to(tl.int64)",
           "    mask = (rm[:, None] < M) & (rn[None, :] < N)"]

    def address(k):
        p = "so" if k is None else f"s{k}"
        return f"pid_b * {p}_b + rm[:, None] * {p}_m + rn[None, :] * {p}_n"

    src += epilogue_lines(program, in_dtypes, out_dtype, address)
    # load_kernel hands back the module's ``pointwise_kernel``: export the GEMM under that name too
    src += ["", "", "pointwise_kernel = gemm_kernel"]
    return "\n".join(src) + "\n"


# ---------------------------------------------------------------------------------------------- tuning space
def _covering(size, value, candidates) -> bool:
    """False when a smaller candidate already covers ``size`` (a larger tile would only add idle lanes)."""
    if not isinstance(size, int) or size < 0:
        return True
    return not any(size <= c < value for c in candidates)


def gemm_fits(point, dims, elem_bytes) -> bool:
    """Whether ``point`` is worth timing for a product of ``dims`` = (M, N, K) (-1 or None: unknown) with operands
    of ``elem_bytes`` bytes."""
    m, n, k = dims
    p = GEMM_SPACE.params
    if not (_covering(m, point["BLOCK_M"], p["BLOCK_M"]) and _covering(n, point["BLOCK_N"], p["BLOCK_N"])
            and _covering(k, point["BLOCK_K"], p["BLOCK_K"])):
        return False
    if point["num_stages"] * (point["BLOCK_M"] + point["BLOCK_N"]) * point["BLOCK_K"] * elem_bytes > SHARED_BYTES:
        return False
    if isinstance(m, int) and m >= 0 and math.ceil(m / point["BLOCK_M"]) <= 1 and point["GROUP_M"] != 8:
        return False  # one row of tiles: every grouping orders the programs alike
    return True


def _gemm_constraint(point, node, specs) -> bool:
    from .tactic_triton_gemm import problem_dims   # the node-level reading of M, N, K lives with the tactic

    dims, dt = problem_dims(node, specs)
    return gemm_fits(point, dims, _ELEM.get(dt, 4))


GEMM_SPACE = TuningSpace({"BLOCK_M": (64, 128, 32, 16), "BLOCK_N": (64, 128, 32), "BLOCK_K": (32, 64, 16),
                          "num_warps": (4, 8), "num_stages": (3, 4, 2), "GROUP_M": (8, 1)}, _gemm_constraint)


# ------------------------------------------------------------------------------------------------- launching
def _precision(dtype) -> str:
    import torch

    if dtype == torch.float32:
        return "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee"
    return "tf32"   # Triton's default; it only changes FP32 operands (FP16 / BF16 products are exact in FP32)


def view3(t, shape3):
    """``t`` as a (batch, rows, cols) tensor: a view when its strides allow, else a contiguous copy."""
    try:
        return t.view(shape3)
    except RuntimeError:
        return t.reshape(shape3)


class GemmLauncher:
    """Runs ``out3 = epilogue(a3 @ b3)`` on (batch, rows, cols) tensors, with one generated kernel per epilogue
    input dtypes, at one point of ``GEMM_SPACE``. Epilogue inputs come as (batch, rows, cols) views of the output's
    shape (stride 0 where they broadcast)."""

    def __init__(self, program, point):
        self.program = program
        self.point = dict(point)
        self.cache = {}
        self.launched = {}

    def compiled_kernels(self) -> list:
        return list(self.launched.values())

    def __call__(self, out3, a3, b3, extras, a_scale=None):
        """``a_scale``: a one-element FP32 tensor; A then holds float values that the kernel quantizes to B's type
        (INT8 or FP8) with this per-tensor scale as it loads them (``quantize_operand_lines``)."""
        import triton

        from ..dtypes import from_torch_dtype

        bsz, m, n = out3.shape
        k = a3.shape[2]
        if out3.numel() == 0:
            return
        operand = b3.dtype if a_scale is not None else a3.dtype
        key = (a3.dtype, operand, tuple(x.dtype for x in extras), out3.dtype)
        kern = self.cache.get(key)
        if kern is None:
            import torch

            dts = [DataType.FLOAT] + [from_torch_dtype(x.dtype) for x in extras]
            kern = self.cache[key] = load_kernel(gemm_source(self.program, dts, from_torch_dtype(out3.dtype),
                                                             int_operands=operand == torch.int8,
                                                             fp8_operands=operand == torch.float8_e4m3fn,
                                                             quantize_a=a_scale is not None))
        p = self.point
        strides = []
        for x in extras:
            strides += list(x.stride())
        grid = (triton.cdiv(m, p["BLOCK_M"]) * triton.cdiv(n, p["BLOCK_N"]), bsz)
        scale = [] if a_scale is None else [a_scale]
        compiled = kern[grid](a3, b3, out3, *extras, *scale, m, n, k, *a3.stride(), *b3.stride(), *out3.stride(),
                              *strides,
                              BLOCK_M=p["BLOCK_M"], BLOCK_N=p["BLOCK_N"], BLOCK_K=p["BLOCK_K"], GROUP_M=p["GROUP_M"],
                              PRECISION=_precision(a3.dtype), num_warps=p["num_warps"], num_stages=p["num_stages"])
        if compiled is not None and hasattr(compiled, "hash"):
            self.launched[compiled.hash] = compiled
