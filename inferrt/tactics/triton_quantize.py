"""A Triton kernel that quantizes a float activation to INT8 or FP8 E4M3 with a per-tensor scale in one pass (read
the float values, write one byte each), with the quantize layer's arithmetic (``triton_gemm.quantize_operand_lines``:
IEEE division, saturation, round half to even / E4M3 round to nearest even).

The same file holds the matching dequantize kernel. Both run standalone quantize / dequantize layers
(``tactic_triton_qdq.py``: the pairs a Q/DQ model leaves on ResNet's residual branches, which PyTorch ran as 5 + 3
elementwise passes). The quantized tactics (``tactic_triton_quantized.py``) use the quantize kernel at their
``QUANTIZE="pass"`` tuning point, where the product then reads the quantized copy instead of quantizing each tile as
it loads it (``"load"``): the pass moves 3 bytes per element of an FP16 activation once, the in-load quantize
re-quantizes every input element for each tile of output channels (and each kernel tap of a convolution) that reads
it; which is faster depends on the layer's shape and the GPU, so the autotuner times both. The kernels walk the
tensor's storage in memory order, so any dense layout (contiguous or channels-last) keeps its strides; other layouts
quantize through PyTorch (``ops.quantized.quantized_input``, the same values).
"""
from __future__ import annotations

from .triton_codegen import load_kernel
from .triton_gemm import operand_fill, quantize_operand_lines

#: elements per program
BLOCK = 1024


def quantize_source(fp8: bool) -> str:
    lines = ["import triton", "import triton.language as tl", "", "", "@triton.jit",
             "def quantize_kernel(x_ptr, qs_ptr, out_ptr, N, BLOCK: tl.constexpr):",
             "    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)",
             "    mask = offs < N",
             "    qs = tl.load(qs_ptr)",
             "    a = tl.load(x_ptr + offs, mask=mask, other=0.0)",
             *quantize_operand_lines(fp8, indent="    "),
             "    tl.store(out_ptr + offs, a, mask=mask)",
             "", "", "pointwise_kernel = quantize_kernel"]
    return "\n".join(lines) + "\n"


def dequantize_source(out_type: str, fp8: bool) -> str:
    """``out = (x.float() * scale).to(out_type)`` over a dense tensor (INT8 or FP8 E4M3 ``x``): the dequantize
    layer's arithmetic (``ops.quantize.Dequantize``, per-tensor scale, no zero point), one byte read per element."""
    lines = ["import triton", "import triton.language as tl", "", "", "@triton.jit",
             "def dequantize_kernel(x_ptr, qs_ptr, out_ptr, N, BLOCK: tl.constexpr):",
             "    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)",
             "    mask = offs < N",
             "    qs = tl.load(qs_ptr)",
             f"    a = tl.load(x_ptr + offs, mask=mask, other={operand_fill(fp8)}).to(tl.float32) * qs",
             f"    tl.store(out_ptr + offs, a.to({out_type}), mask=mask)",
             "", "", "pointwise_kernel = dequantize_kernel"]
    return "\n".join(lines) + "\n"


def dense(t) -> bool:
    import torch

    return t.is_contiguous() or (t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last))


class DequantizeLauncher:
    """``launcher(x, scale, dtype)``: the INT8 / FP8 ``x`` dequantized with the one-element FP32 ``scale`` to the
    float ``dtype``, in a new tensor of ``x``'s layout (``x`` dense: see ``dense``)."""

    _TL = {"torch.float32": "tl.float32", "torch.float16": "tl.float16", "torch.bfloat16": "tl.bfloat16"}

    def __init__(self):
        self.cache = {}
        self.launched = {}

    def compiled_kernels(self) -> list:
        return list(self.launched.values())

    def __call__(self, x, scale, dtype):
        import torch
        import triton

        out = torch.empty_like(x, dtype=dtype)
        n = x.numel()
        if n == 0:
            return out
        key = (x.dtype, dtype)
        kern = self.cache.get(key)
        if kern is None:
            kern = self.cache[key] = load_kernel(dequantize_source(self._TL[str(dtype)],
                                                                   x.dtype == torch.float8_e4m3fn))
        compiled = kern[(triton.cdiv(n, BLOCK),)](x, scale, out, n, BLOCK=BLOCK, num_warps=4)
        if compiled is not None and hasattr(compiled, "hash"):
            self.launched[compiled.hash] = compiled
        return out


class QuantizeLauncher:
    """``launcher(x, scale, dtype)``: ``x`` quantized to ``dtype`` (torch.int8 or torch.float8_e4m3fn) with the
    one-element FP32 ``scale``, in a new tensor of ``x``'s layout."""

    def __init__(self):
        self.cache = {}
        self.launched = {}

    def compiled_kernels(self) -> list:
        return list(self.launched.values())

    def __call__(self, x, scale, dtype, fallback):
        """``fallback()``: the PyTorch quantize, for a layout the kernel does not walk."""
        import torch
        import triton

        if not dense(x):
            return fallback()
        out = torch.empty_like(x, dtype=dtype)
        if out.stride() != x.stride():
            return fallback()
        n = x.numel()
        if n == 0:
            return out
        kern = self.cache.get(dtype)
        if kern is None:
            kern = self.cache[dtype] = load_kernel(quantize_source(dtype == torch.float8_e4m3fn))
        compiled = kern[(triton.cdiv(n, BLOCK),)](x, scale, out, n, BLOCK=BLOCK, num_warps=4)
        if compiled is not None and hasattr(compiled, "hash"):
            self.launched[compiled.hash] = compiled
        return out
