"""A Triton implicit-GEMM 2-D convolution for NHWC (channels-last) tensors, with the layer's epilogue in registers.

The convolution is the product of an (N·OH·OW) x (KH·KW·C) matrix, never built, whose row (n, oh, ow) at column
(kh, kw, c) is ``x[n, c, oh·SH - PH + kh·DH, ow·SW - PW + kw·DW]`` (0 outside the image: the padding), with the
packed (KH·KW·C) x OC weight matrix. Each program computes a ``BLOCK_M x BLOCK_N`` tile of output pixels x output
channels, walking the reduction in one loop over (kernel tap, channel block): for a channels-last input a tap's
channel block is a dense row segment per pixel, so the loads are as coalesced as a plain GEMM's. Any other input
layout works through its strides (slower). FP32 accumulation (INT32 for the INT8 operands of the quantized tactic,
``tactic_triton_quantized.py``, which hands the kernel the float input and its scale: each input tile is quantized
in registers as it is loaded, ``triton_gemm.quantize_operand_lines``); FP32 operands as TF32 when
``torch.backends.cuda.matmul.allow_tf32`` is on (the engine sets it from BuilderFlag.TF32), else IEEE FP32.

The epilogue is the same ``pointwise`` program as the GEMM template's (``triton_gemm.epilogue_lines``): bias,
residual adds (any broadcast, read through their NCHW-logical strides) and activations, applied before the single
store into the output's layout.

Weights are packed once per weight tensor into the (KH, KW, C, OC) matrix in the input's dtype (read through its
strides: the quantized tactic packs it K-major, ``pack_weight``).
"""
from __future__ import annotations

from ..enums import DataType
from .triton_codegen import load_kernel
from .triton_gemm import _precision, accumulator_lines, epilogue_lines, operand_fill, quantize_operand_lines


def conv_source(program, in_dtypes, out_dtype, int_operands: bool = False, fp8_operands: bool = False,
                quantize_x: bool = False) -> str:
    """The kernel's source; ``in_dtypes[k]`` is the dtype of epilogue input k (k >= 1; bias, residuals).
    ``int_operands``: input and weights are INT8, accumulated exactly in INT32 (``triton_gemm.accumulator_lines``);
    ``fp8_operands``: they are FP8 E4M3 (the masked loads' zero: ``triton_gemm.operand_fill``). ``quantize_x``: the
    input holds float values that the kernel quantizes to the weights' type with the per-tensor scale at
    ``qs_ptr`` as it loads them (``triton_gemm.quantize_operand_lines``; a zero of the padding quantizes to 0)."""
    init, dot, to_float = accumulator_lines(int_operands, fp8_operands)
    fill = operand_fill(fp8_operands)
    n = len(in_dtypes)
    args = ["x_ptr", "w_ptr", "out_ptr"] + [f"in{k}_ptr" for k in range(1, n)] + (["qs_ptr"] if quantize_x else [])
    args += ["NB", "C", "H", "W", "OC", "OH", "OW", "KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW",
             "sx_n", "sx_c", "sx_h", "sx_w", "sw_k", "sw_n", "so_n", "so_c", "so_h", "so_w"]
    for k in range(1, n):
        args += [f"s{k}_n", f"s{k}_c", f"s{k}_h", f"s{k}_w"]
    src = ["import triton", "import triton.language as tl", "", "", "@triton.jit",
           f"def conv_kernel({', '.join(args)}, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, "
           f"BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr, PRECISION: tl.constexpr):",
           "    M = NB * OH * OW",
           "    pid = tl.program_id(0)",
           "    num_m = tl.cdiv(M, BLOCK_M)",
           "    num_n = tl.cdiv(OC, BLOCK_N)",
           "    per_group = GROUP_M * num_n",
           "    first_m = (pid // per_group) * GROUP_M",
           "    group_rows = tl.minimum(num_m - first_m, GROUP_M)",
           "    pid_m = first_m + (pid % per_group) % group_rows",
           "    pid_n = (pid % per_group) // group_rows",
           "    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)",
           "    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)",
           "    rk = tl.arange(0, BLOCK_K)",
           "    pix = rm % M",   # rows past the edge compute a valid pixel again; their results are never stored
           "    ow = pix % OW",
           "    oh = (pix // OW) % OH",
           "    nb = (pix // (OW * OH)).to(tl.int64)",
           "    ih0 = oh * SH - PH",
           "    iw0 = ow * SW - PW",
           "    wn = (rn % OC).to(tl.int64)",
           "    cblocks = tl.cdiv(C, BLOCK_K)",
           init,
           *(["    qs = tl.load(qs_ptr)"] if quantize_x else []),
           "    for step in range(0, KH * KW * cblocks):",
           "        tap = step // cblocks",
           "        c0 = (step % cblocks) * BLOCK_K",
           "        kh = tap // KW",
           "        kw = tap % KW",
           "        ih = ih0 + kh * DH",
           "        iw = iw0 + kw * DW",
           "        inside = (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)",
           "        cc = c0 + rk",
           "        xoff = nb * sx_n + ih.to(tl.int64) * sx_h + iw.to(tl.int64) * sx_w",
           "        a = tl.load(x_ptr + xoff[:, None] + cc[None, :].to(tl.int64) * sx_c,",
           f"                    mask=inside[:, None] & (cc[None, :] < C), other={'0.0' if quantize_x else fill})",
           *(quantize_operand_lines(fp8_operands) if quantize_x else []),
           "        wrow = (tap * C + cc).to(tl.int64)",
           "        b = tl.load(w_ptr + wrow[:, None] * sw_k + wn[None, :] * sw_n, mask=cc[:, None] < C,",
           f"                    other={fill})",
           f"        acc = {dot}",
           *to_float,
           "    ohl = oh.to(tl.int64)",
           "    owl = ow.to(tl.int64)",
           "    rn = rn.to(tl.int64)",
           "    mask = (rm[:, None] < M) & (rn[None, :] < OC)"]

    def address(k):
        p = "so" if k is None else f"s{k}"
        return f"(nb * {p}_n + ohl * {p}_h + owl * {p}_w)[:, None] + rn[None, :] * {p}_c"

    src += epilogue_lines(program, in_dtypes, out_dtype, address)
    src += ["", "", "pointwise_kernel = conv_kernel"]   # the name load_kernel hands back
    return "\n".join(src) + "\n"


def pack_weight(w, oc, c, kernel, dtype, k_major: bool = False):
    """The (KH·KW·C) x OC weight matrix of an (OC, C, KH, KW) kernel in ``dtype``: contiguous (output channels
    adjacent), or with ``k_major`` the transposed view of a contiguous OC x (KH·KW·C) matrix (reduction adjacent).
    8-bit tensor-core products (Hopper's wgmma on INT8 / FP8) take both operands K-major from shared memory: with
    K-major weights Triton streams the weight tiles into shared memory asynchronously (cp.async, pipelined over
    ``num_stages``) instead of loading them into registers and transposing them there (sm_90 PTX of the
    quantized template: the weight loads become cp.async, the register round trip through shared memory halves)."""
    w = w.reshape(oc, c, *kernel)
    if k_major:
        return w.permute(0, 2, 3, 1).contiguous().to(dtype).reshape(oc, -1).t()
    return w.permute(2, 3, 1, 0).contiguous().to(dtype).reshape(-1, oc)


class ConvLauncher:
    """Runs ``out = epilogue(conv2d(x, w))`` with one generated kernel per epilogue input dtypes, at one point of
    ``tactic_triton_conv.CONV_SPACE`` (tiles of output pixels x output channels; BLOCK_K channels per tap step).
    ``geometry``: (stride, pre-padding, dilation) pairs; extras are epilogue inputs expanded to the output's NCHW
    shape."""

    def __init__(self, program, point):
        self.program = program
        self.point = dict(point)
        self.cache = {}
        self.launched = {}

    def compiled_kernels(self) -> list:
        return list(self.launched.values())

    def __call__(self, out, x, wmat, kernel, geometry, extras, x_scale=None):
        """``x_scale``: a one-element FP32 tensor; ``x`` then holds float values that the kernel quantizes to the
        weights' type (INT8 or FP8) with this per-tensor scale as it loads them."""
        import triton

        from ..dtypes import from_torch_dtype

        if out.numel() == 0:
            return
        operand = wmat.dtype if x_scale is not None else x.dtype
        key = (x.dtype, operand, tuple(t.dtype for t in extras), out.dtype)
        kern = self.cache.get(key)
        if kern is None:
            import torch

            dts = [DataType.FLOAT] + [from_torch_dtype(t.dtype) for t in extras]
            kern = self.cache[key] = load_kernel(conv_source(self.program, dts, from_torch_dtype(out.dtype),
                                                             int_operands=operand == torch.int8,
                                                             fp8_operands=operand == torch.float8_e4m3fn,
                                                             quantize_x=x_scale is not None))
        (sh, sw), (ph, pw), (dh, dw) = geometry
        nb, c, h, w = x.shape
        _, oc, oh, ow = out.shape
        strides = []
        for t in extras:
            strides += list(t.stride())
        p = self.point
        grid = (triton.cdiv(nb * oh * ow, p["BLOCK_M"]) * triton.cdiv(oc, p["BLOCK_N"]),)
        scale = [] if x_scale is None else [x_scale]
        compiled = kern[grid](x, wmat, out, *extras, *scale, nb, c, h, w, oc, oh, ow, kernel[0], kernel[1], sh, sw,
                              ph, pw, dh, dw, *x.stride(), *wmat.stride(), *out.stride(), *strides,
                              BLOCK_M=p["BLOCK_M"], BLOCK_N=p["BLOCK_N"], BLOCK_K=p["BLOCK_K"], GROUP_M=p["GROUP_M"],
                              PRECISION=_precision(x.dtype), num_warps=p["num_warps"], num_stages=p["num_stages"])
        if compiled is not None and hasattr(compiled, "hash"):
            self.launched[compiled.hash] = compiled

