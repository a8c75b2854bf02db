"""The quantized Triton tactics (tactics/tactic_triton_quantized.py) on the CPU through Triton's interpreter, against
float64 torch references of the fake-quantized layer (Q/DQ input, dequantized kernel): INT8 GEMM (per-channel and
per-tensor scales, transposed kernel, INT4 kernel values, bias, residual, activation) and the INT8 implicit-GEMM
convolution (stride, padding, bias, residual, ReLU; NCHW and channels-last inputs); plus the support rules and
``dequantized_weights`` (no Triton needed). FP8 runs under the gpu marker (test_triton_quantized_gpu.py).

``TRITON_INTERPRET=1`` must be set before Triton is imported, so the kernels run in one subprocess (this file run as a
script), which prints each case's worst error as JSON.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inferrt.enums import DataType, MatrixOperation as MO
from inferrt.ir.graph import Node
from inferrt.ops import Spec, get_op
from tests.tactics.interpret import numpy_index_shim, run_interpreted_module

SMALL = {"BLOCK_M": 16, "BLOCK_N": 32, "BLOCK_K": 32, "num_warps": 4, "num_stages": 2, "GROUP_M": 8,
         "QUANTIZE": "load"}


def quantized_node(kind, x_shape, w, ks, sx, bias=None, residual=None, epilogue=(), input_type=DataType.INT8,
                   **attrs):
    """(node, specs) of a ``kind`` layer reading x of ``x_shape`` and the quantized kernel ``w`` (a torch tensor of
    DataType ``attrs['w_type']``, default INT8)."""
    w_type = attrs.pop("w_type", DataType.INT8)
    x_type = attrs.pop("x_type", DataType.FLOAT)
    ins = ["x", "w", "b" if bias is not None else "", "r" if residual is not None else "", "ks"]
    specs = {"x": Spec(x_type, tuple(x_shape)), "w": Spec(w_type, tuple(w.shape)),
             "ks": Spec(DataType.FLOAT, tuple(ks.shape))}
    if sx is not None:
        ins.append("xs")
        specs["xs"] = Spec(DataType.FLOAT, ())
    if bias is not None:
        specs["b"] = Spec(DataType.FLOAT, tuple(bias.shape))
    if residual is not None:
        specs["r"] = Spec(DataType.FLOAT, tuple(residual.shape))
    a = get_op(kind).default_attrs()
    a.update(input_type=input_type, epilogue=[list(s) for s in epilogue], **attrs)
    node = Node("q", kind, ins, ["y"], a)
    (specs["y"],) = get_op(kind).infer(a, [specs[i] if i else None for i in ins])
    return node, specs


def _fake_int8(x, sx):
    return torch.clamp(torch.round(x.double() / sx), -128, 127) * sx


def _cases():
    g = torch.Generator().manual_seed(5)

    def rn(*s, scale=1.0):
        return torch.randn(*s, generator=g) * scale

    def ri(lo, hi, *s):
        return torch.randint(lo, hi, s, generator=g, dtype=torch.int8)

    cases = {}
    # GEMM: per-channel INT8 kernel [K, N], bias, residual, ReLU; x batched (rows fold)
    w = ri(-127, 128, 40, 24)
    ks = torch.rand(24, generator=g) * 0.01 + 0.002
    x, b, r = rn(2, 19, 40), rn(1, 1, 24, scale=0.1), rn(2, 19, 24)
    node, specs = quantized_node("quantized_matmul", x.shape, w, ks, 0.03, b, r, [["add", 3], ["act", "RELU", 0, 0]],
                                 kernel_axis=1)
    ref = torch.relu(_fake_int8(x, 0.03) @ (w.double() * ks.double()) + b.double() + r.double())
    cases["gemm_int8_per_channel"] = (node, specs, [x, w, b, r, ks, torch.tensor(0.03)], ref)
    # GEMM: INT4 values in a transposed [N, K] kernel, per-tensor scale, odd sizes
    w = ri(-8, 8, 21, 33)
    x = rn(17, 33)
    node, specs = quantized_node("quantized_matmul", x.shape, w, torch.tensor(0.05), 0.02, op1=MO.TRANSPOSE,
                                 w_type=DataType.INT4)
    ref = _fake_int8(x, 0.02) @ (w.double().t() * 0.05)
    cases["gemm_int4_values_transposed"] = (node, specs, [x, w, None, None, torch.tensor(0.05), torch.tensor(0.02)],
                                            ref)
    # implicit-GEMM conv: 3x3, stride 2, padding 1, bias, residual, ReLU; NCHW and channels-last input
    w = ri(-127, 128, 12, 8, 3, 3)
    ks = torch.rand(12, generator=g) * 0.005 + 0.001
    x, b = rn(2, 8, 9, 9), rn(12, scale=0.1)
    r = rn(2, 12, 5, 5)
    conv = dict(num_output_maps=12, kernel_size_nd=(3, 3), stride_nd=(2, 2), pre_padding=(1, 1),
                post_padding=(1, 1))
    node, specs = quantized_node("quantized_conv", x.shape, w, ks, 0.04, b, r, [["add", 3], ["act", "RELU", 0, 0]],
                                 **conv)
    ref = torch.relu(F.conv2d(_fake_int8(x, 0.04), w.double() * ks.double().reshape(-1, 1, 1, 1), b.double(),
                              stride=2, padding=1) + r.double())
    ins = [x, w, b, r, ks, torch.tensor(0.04)]
    cases["conv_int8_nchw"] = (node, specs, ins, ref)
    cases["conv_int8_channels_last"] = (node, specs, [x.contiguous(memory_format=torch.channels_last)] + ins[1:],
                                        ref)
    # the kernel quantizes the FP16 input itself: ties round half to even, values past the range saturate
    sx = 0.25
    x = ((torch.randint(-200, 200, (16, 8), generator=g) + 0.5) * sx).half()   # every x / sx is a tie
    w = ri(-127, 128, 8, 8)
    ks = torch.rand(8, generator=g) * 0.01 + 0.002
    node, specs = quantized_node("quantized_matmul", x.shape, w, ks, sx, kernel_axis=1, x_type=DataType.HALF)
    ref = (torch.round(x.double() / sx).clamp(-128, 127) @ w.double()) * (sx * ks.double())
    cases["gemm_int8_fp16_ties_and_saturation"] = (node, specs, [x, w, None, None, ks, torch.tensor(sx)], ref)
    w = ri(-127, 128, 4, 8, 1, 1)
    ks = torch.rand(4, generator=g) * 0.01 + 0.002
    x = ((torch.randint(-200, 200, (2, 8, 3, 3), generator=g) + 0.5) * sx).half()
    node, specs = quantized_node("quantized_conv", x.shape, w, ks, sx, num_output_maps=4, kernel_size_nd=(1, 1),
                                 x_type=DataType.HALF)
    ref = F.conv2d(torch.round(x.double() / sx).clamp(-128, 127), w.double()) * (sx * ks.double()).reshape(-1, 1, 1)
    cases["conv_int8_fp16_ties_and_saturation"] = (node, specs, [x.contiguous(memory_format=torch.channels_last), w,
                                                                 None, None, ks, torch.tensor(sx)], ref)
    return cases


def e4m3_rounding_values():
    """Values ``y`` whose E4M3 conversion tests the rounding: midpoints between neighbouring E4M3 values (normal and
    subnormal; ties go to the even mantissa), values beyond 448 (saturate), zeros and signs."""
    grid = torch.arange(0, 127, dtype=torch.uint8).view(torch.float8_e4m3fn).double()     # 0 .. 448, ascending
    mids = (grid[:-1] + grid[1:]) / 2
    y = torch.cat([mids, -mids, grid[::7], torch.tensor([449.0, 470.0, 1e4, -1e4, -460.0, 0.0])])
    return y


def _fake_e4m3(y):
    """The quantize layer's E4M3 values of ``y`` (saturated, round to nearest even)."""
    from inferrt.ops.cast_values import to_low_bit

    return to_low_bit(y.float(), DataType.FP8).double()


def _fake_fp8(x, s):
    return (x.float() / s).clamp(-448, 448).to(torch.float8_e4m3fn).double() * s


def fp8_gemm_case(g, k, n, rows):
    """An FP8 (E4M3) product of a [3, rows, k] input (scale 0.01) and [k, n] weights with a bias and tanh-GELU,
    drawn from generator ``g``: (node, specs, inputs, float64 reference)."""
    wf = torch.randn(k, n, generator=g) * 0.2
    sw = float(wf.abs().max() / 448)
    w = (wf / sw).to(torch.float8_e4m3fn)
    x, b = torch.randn(3, rows, k, generator=g), torch.randn(1, 1, n, generator=g) * 0.1
    node, specs = quantized_node("quantized_matmul", x.shape, w, torch.tensor(sw), 0.01, b, None,
                                 [["act", "GELU_TANH", 0, 0]], input_type=DataType.FP8, w_type=DataType.FP8)
    ref = F.gelu(_fake_fp8(x, 0.01) @ (w.double() * sw) + b.double(), approximate="tanh")
    return node, specs, [x, w, b, None, torch.tensor(sw), torch.tensor(0.01)], ref


def _fp8_cases():
    """FP8 (E4M3) input and kernel: a GEMM and a channels-last convolution whose reduction (K = 50, C = 40) is not
    a multiple of BLOCK_K, so the masked tile loads fill FP8 zeros past the edge (their ``other``)."""
    g = torch.Generator().manual_seed(6)
    cases = {"gemm_fp8": fp8_gemm_case(g, 50, 24, 19)}
    wf = torch.randn(12, 40, 3, 3, generator=g) * 0.05
    sw = float(wf.abs().max() / 448)
    w = (wf / sw).to(torch.float8_e4m3fn)
    x, b = torch.randn(2, 40, 7, 7, generator=g), torch.randn(12, generator=g) * 0.1
    conv = dict(num_output_maps=12, kernel_size_nd=(3, 3), pre_padding=(1, 1), post_padding=(1, 1))
    node, specs = quantized_node("quantized_conv", x.shape, w, torch.tensor(sw), 0.02, b, None,
                                 [["act", "RELU", 0, 0]], input_type=DataType.FP8, w_type=DataType.FP8, **conv)
    ref = torch.relu(F.conv2d(_fake_fp8(x, 0.02), w.double() * sw, b.double(), padding=1))
    cases["conv_fp8_channels_last"] = (node, specs, [x.contiguous(memory_format=torch.channels_last), w, b, None,
                                                     torch.tensor(sw), torch.tensor(0.02)], ref)
    # the kernel's own E4M3 rounding of x / sx: every tie, subnormal and saturating value, one per row (K = 1 and
    # a kernel of 1.0: the output is the quantized input itself, so a rounding step off is an error of 1/8 and more)
    y = e4m3_rounding_values()
    x = (y * 0.5).float().reshape(-1, 1)                     # x / 0.5 is y exactly
    w = torch.ones(1, 1).to(torch.float8_e4m3fn)
    node, specs = quantized_node("quantized_matmul", x.shape, w, torch.tensor(1.0), 0.5, input_type=DataType.FP8,
                                 w_type=DataType.FP8)
    cases["gemm_fp8_rounding"] = (node, specs, [x, w, None, None, torch.tensor(1.0), torch.tensor(0.5)],
                                  _fake_e4m3(y).reshape(-1, 1) * 0.5)
    return cases


def _run_kernels():
    import inferrt.ops.quantized as quantized_ops
    from inferrt.tactics.registry import get_tactic

    numpy_index_shim()
    separate = []     # calls of the quantize pass the kernels replace (the INT8 / FP8 copy of the activation)
    plain = quantized_ops.quantize_values

    def counted(*args, **kwargs):
        separate.append(1)
        return plain(*args, **kwargs)

    quantized_ops.quantize_values = counted
    out = {}
    for name, (node, specs, ins, ref) in {**_cases(), **_fp8_cases()}.items():
        tactic = get_tactic("triton_quantized_gemm" if node.kind == "quantized_matmul" else
                            "triton_quantized_conv_nhwc")
        for quantize in ("load", "pass"):
            run = tactic.runner(node, "cpu", dict(SMALL, QUANTIZE=quantize))
            y = torch.empty(specs["y"].shape, dtype=torch.float32)
            separate.clear()
            res = run(ins, [y])
            assert res is None
            err = float((y.double() - ref).abs().max() / max(float(ref.abs().max()), 1.0))
            out[f"{name}@{quantize}"] = {"err": err, "launched": [len(x.cache) for x in run.launchers],
                                         "separate_quantize": len(separate)}
    return out


@pytest.fixture(scope="module")
def interpreted():
    return run_interpreted_module("tests.tactics.test_triton_quantized")


@pytest.mark.parametrize("case", ["gemm_int8_per_channel", "gemm_int4_values_transposed", "conv_int8_nchw",
                                  "conv_int8_channels_last", "gemm_int8_fp16_ties_and_saturation",
                                  "conv_int8_fp16_ties_and_saturation"])
@pytest.mark.parametrize("quantize", ["load", "pass"])
def test_interpreted_quantized_kernel_matches_the_fake_quantized_float64_layer(interpreted, case, quantize):
    """The kernels quantize the float input themselves, as they load it ("load") or by one Triton pass before the
    product ("pass"), never through PyTorch's quantize ops: ties round half to even and values past [-128, 127]
    saturate, as the quantize layer does (one rounding step off in the ties cases is an error of about 1e-5 of the
    output's range)."""
    r = interpreted[f"{case}@{quantize}"]
    assert r["launched"] == ([1] if quantize == "load" else [1, 1]), (case, r)
    assert r["err"] <= 1e-6 and r["separate_quantize"] == 0, (case, r)


@pytest.mark.parametrize("case", ["gemm_fp8", "conv_fp8_channels_last", "gemm_fp8_rounding"])
@pytest.mark.parametrize("quantize", ["load", "pass"])
def test_interpreted_fp8_kernel_matches_the_fake_quantized_float64_layer(interpreted, case, quantize):
    """FP8 operands through the templates (Triton's interpreter casts a masked load's ``other`` as the compiler
    does: an int ``other`` for an fp8e4nv pointer failed with "cannot cast ... to fp8e4nv"), the input quantized
    to E4M3 by Triton code: every tie to the even value, subnormals, saturation at 448."""
    r = interpreted[f"{case}@{quantize}"]
    # FP32 accumulation of FP8 products: float32 rounding, not a quantization step
    assert r["launched"] == ([1] if quantize == "load" else [1, 1]), (case, r)
    assert r["err"] <= 1e-5 and r["separate_quantize"] == 0, (case, r)


def _template_signature(fn, operand):
    sig = {}
    for n in fn.arg_names:
        if n in ("BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M", "PRECISION"):
            sig[n] = "constexpr"
        elif n.endswith("_ptr"):
            sig[n] = "*" + (operand if n in ("a_ptr", "b_ptr", "x_ptr", "w_ptr") else "fp32")
        else:
            sig[n] = "i32"
    return sig


@pytest.mark.parametrize("operand", ["fp8e4nv", "i8", "fp16", "fp32", "fp16->i8", "fp32->fp8e4nv"])
@pytest.mark.parametrize("template", ["gemm", "conv"])
def test_quantized_templates_compile_for_sm90_without_a_gpu(template, operand):
    """The GEMM and implicit-GEMM conv templates go through Triton's compiler front end (ast_to_ttir) for an sm_90
    target, no GPU needed, with FP8 / INT8 operands (the quantized tactics') and FP16 / FP32 (the float tactics'). The
    FP8 kernels failed here on every Triton version: ``tl.load(fp8 pointer, mask, other=0)`` -> "cannot cast int32
    to fp8e4nv". ``fp16->i8``: an FP16 input quantized to INT8 in the kernel (the quantized tactics' A operand)."""
    triton = pytest.importorskip("triton")
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.compiler.compiler import make_backend

    from inferrt.tactics.tactic_triton_quantized import dequantize_epilogue_program
    from inferrt.tactics.triton_codegen import load_kernel
    from inferrt.tactics.triton_conv import conv_source
    from inferrt.tactics.triton_gemm import gemm_source

    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("Triton's interpreter is on in this process: the kernels are not JIT functions")
    prog, _ = dequantize_epilogue_program([["act", "GELU_TANH", 0, 0]], True)
    make = gemm_source if template == "gemm" else conv_source
    x_type, _, operand = operand.rpartition("->")
    quantize = {"quantize_a" if template == "gemm" else "quantize_x": True} if x_type else {}
    fn = load_kernel(make(prog, [DataType.FLOAT] * 3, DataType.FLOAT, int_operands=operand == "i8",
                          fp8_operands=operand == "fp8e4nv", **quantize))
    sig = _template_signature(fn, operand)
    if x_type:
        sig["a_ptr" if template == "gemm" else "x_ptr"] = "*" + x_type
    src = ASTSource(fn, sig,
                    {"BLOCK_M": 64, "BLOCK_N": 32, "BLOCK_K": 32, "GROUP_M": 8, "PRECISION": "tf32"})
    target = GPUTarget("cuda", 90, 32)
    backend = make_backend(target)
    options = backend.parse_options({"num_warps": 4, "num_stages": 3})
    from triton._C.libtriton import ir

    context = ir.context()
    ir.load_dialects(context)
    backend.load_dialects(context)
    module = src.make_ir(target, options, backend.get_codegen_implementation(options), backend.get_module_map(),
                         context)
    text = str(module)
    assert "tt.dot" in text
    if x_type:     # the quantize's IEEE division and the float input's load
        assert "div_rn" in text or "tt.precise_divf" in text, text[:2000]
    if operand == "fp8e4nv":
        # FP8 partial sums go into the FP32 accumulator every 32 products (Hopper's FP8 accumulator is narrower)
        assert "f8E4M3FN" in text and "maxNumImpreciseAcc = 32" in text


@pytest.mark.parametrize("block_k", [32, 64])
@pytest.mark.parametrize("input_type", ["INT8", "FP8"])
@pytest.mark.parametrize("template", ["gemm", "conv"])
def test_quantizing_templates_compile_to_sm90_ptx(template, input_type, block_k):
    """The whole compiler pipeline down to sm_90 PTX, no GPU needed, for the kernels the quantized tactics launch:
    an FP16 input quantized in the kernel, the weights in the layout the tactic packs (K-major for INT8; FP8
    convolutions keep N-major, whose K-major form Triton 3.6 fails to pipeline at BLOCK_K 64), read by wgmma; the
    IEEE division of the quantize survives as div.rn and the convolution's tiles stream into shared memory
    (cp.async)."""
    pytest.importorskip("triton")
    import re

    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.compiler.compiler import make_backend
    from triton._C.libtriton import ir

    from inferrt.tactics.tactic_triton_quantized import conv_weights_k_major, dequantize_epilogue_program
    from inferrt.tactics.triton_codegen import load_kernel
    from inferrt.tactics.triton_conv import conv_source
    from inferrt.tactics.triton_gemm import gemm_source

    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("Triton's interpreter is on in this process: the kernels are not JIT functions")
    dt = DataType[input_type]
    fp8 = dt == DataType.FP8
    prog, _ = dequantize_epilogue_program([["act", "RELU", 0, 0]], True)
    if template == "gemm":
        fn = load_kernel(gemm_source(prog, [DataType.FLOAT] * 3, DataType.HALF, int_operands=not fp8,
                                     fp8_operands=fp8, quantize_a=True))
        k_major, unit = True, {"sa_k": 1}
        unit.update({"sb_k": 1} if k_major else {"sb_n": 1})
        operands, divisible = ("a_ptr", "b_ptr"), ("K", "sa_m", "sb_n", "so_m")
    else:
        fn = load_kernel(conv_source(prog, [DataType.FLOAT] * 3, DataType.HALF, int_operands=not fp8,
                                     fp8_operands=fp8, quantize_x=True))
        k_major = conv_weights_k_major(dt)
        unit = {"sx_c": 1, **({"sw_k": 1} if k_major else {"sw_n": 1})}
        operands, divisible = ("x_ptr", "w_ptr"), ("C", "OC", "sx_n", "sx_h", "sx_w", "sw_k", "sw_n", "so_n", "so_h",
                                                  "so_w")
    const = {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": block_k, "GROUP_M": 8, "PRECISION": "tf32", **unit}
    sig = {n: ("constexpr" if n in const else "*" + ("fp16" if n == operands[0] else
                                                      ("fp8e4nv" if fp8 else "i8") if n == operands[1] else "fp32")
               if n.endswith("_ptr") else "i32") for n in fn.arg_names}
    # what Triton's launcher knows of real arguments: 16-byte aligned tensors, channel counts multiple of 16
    attrs = {(i,): [["tt.divisibility", 16]] for i, n in enumerate(fn.arg_names)
             if n not in const and (n.endswith("_ptr") or n in divisible)}
    target = GPUTarget("cuda", 90, 32)
    backend = make_backend(target)
    options = backend.parse_options({"num_warps": 8, "num_stages": 3})
    context = ir.context()
    ir.load_dialects(context)
    backend.load_dialects(context)
    src = ASTSource(fn, sig, const, attrs)
    module = src.make_ir(target, options, backend.get_codegen_implementation(options), backend.get_module_map(),
                         context)
    stages = {}
    backend.add_stages(stages, options, src.language)
    meta = {}
    for name in ("ttir", "ttgir", "llir", "ptx"):
        module = stages[name](module, meta)
    ptx = module
    mma = "s32.s8.s8" if not fp8 else "f32.e4m3.e4m3"
    assert re.search(rf"wgmma\.mma_async\S*{re.escape(mma)}", ptx)
    assert "div.rn.f32" in ptx, "the quantize's division is not an IEEE division"
    if template == "conv":   # (the GEMM template's loads are not pipelined on sm_90 in any dtype, FP16 included)
        assert "cp.async" in ptx, "no tile is streamed into shared memory"


@pytest.mark.parametrize("fp8", [False, True])
def test_quantize_pass_compiles_to_sm90_ptx(fp8):
    """The one-pass quantize kernel (``QUANTIZE="pass"``) down to sm_90 PTX: FP16 in, one byte out per element,
    an IEEE division, vectorized 16-byte loads of an aligned activation."""
    pytest.importorskip("triton")
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.compiler.compiler import make_backend
    from triton._C.libtriton import ir

    from inferrt.tactics.triton_codegen import load_kernel
    from inferrt.tactics.triton_quantize import BLOCK, quantize_source

    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("Triton's interpreter is on in this process: the kernels are not JIT functions")
    fn = load_kernel(quantize_source(fp8))
    sig = {"x_ptr": "*fp16", "qs_ptr": "*fp32", "out_ptr": "*fp8e4nv" if fp8 else "*i8", "N": "i32",
           "BLOCK": "constexpr"}
    target = GPUTarget("cuda", 90, 32)
    backend = make_backend(target)
    options = backend.parse_options({"num_warps": 4})
    context = ir.context()
    ir.load_dialects(context)
    backend.load_dialects(context)
    src = ASTSource(fn, sig, {"BLOCK": BLOCK}, {(0,): [["tt.divisibility", 16]], (2,): [["tt.divisibility", 16]],
                                                (3,): [["tt.divisibility", 16]]})
    module = src.make_ir(target, options, backend.get_codegen_implementation(options), backend.get_module_map(),
                         context)
    stages = {}
    backend.add_stages(stages, options, src.language)
    for name in ("ttir", "ttgir", "llir", "ptx"):
        module = stages[name](module, {})
    assert "div.rn.f32" in module and "ld.global.v4.b32" in module
    assert ("cvt.rn.satfinite.e4m3x2.f32" in module) == fp8


def test_tuning_spaces_take_k_in_steps_of_32():
    from inferrt.tactics.tactic_triton_quantized import QUANT_CONV_SPACE, QUANT_GEMM_SPACE

    for space in (QUANT_GEMM_SPACE, QUANT_CONV_SPACE):
        assert set(space.params["BLOCK_K"]) == {32, 64}
        assert space.params["QUANTIZE"] == ("load", "pass")
    node, specs = _cases()["gemm_int8_per_channel"][:2]
    points = QUANT_GEMM_SPACE.points(node, specs)
    assert points and all(p["BLOCK_K"] in (32, 64) for p in points)
    # the default, then its single variation QUANTIZE="pass" first: timed at every optimization level from 2 on
    assert points[0]["QUANTIZE"] == "load" and points[1] == dict(points[0], QUANTIZE="pass")


def test_support_rules():
    pytest.importorskip("triton")
    from inferrt.tactics.registry import get_tactic

    gemm, conv = get_tactic("triton_quantized_gemm"), get_tactic("triton_quantized_conv_nhwc")
    cases = _cases()
    node, specs = cases["gemm_int8_per_channel"][:2]
    assert gemm.supports(node, specs, "cuda") and not gemm.supports(node, specs, "cpu")
    wo, wo_specs = quantized_node("quantized_matmul", (4, 40), torch.zeros(40, 8, dtype=torch.int8),
                                  torch.tensor(0.1), None, input_type=DataType.FLOAT)
    assert not gemm.supports(wo, wo_specs, "cuda")          # weight-only: dequantized_weights / generic
    node, specs = cases["conv_int8_nchw"][:2]
    assert conv.supports(node, specs, "cuda")
    # input and output of different float types (an FP32 network input read by an FP16 layer, an FP16 layer
    # writing an FP32 output): the kernel quantizes the input it reads and writes the output's own type
    for kind, tactic in (("conv_int8_nchw", conv), ("gemm_int8_per_channel", gemm)):
        node, specs = cases[kind][:2]
        for x_t, y_t in ((DataType.FLOAT, DataType.HALF), (DataType.HALF, DataType.FLOAT)):
            mixed = dict(specs, x=Spec(x_t, specs["x"].shape), y=Spec(y_t, specs["y"].shape))
            assert tactic.supports(node, mixed, "cuda"), (kind, x_t, y_t)
    assert not conv.supports(node, dict(specs, y=Spec(DataType.INT8, specs["y"].shape)), "cuda")
    grouped, gspecs = quantized_node("quantized_conv", (1, 8, 5, 5), torch.zeros(8, 4, 1, 1, dtype=torch.int8),
                                     torch.tensor(0.1), 0.1, num_output_maps=8, kernel_size_nd=(1, 1), num_groups=2)
    assert not conv.supports(grouped, gspecs, "cuda")


@pytest.mark.parametrize("kind", ["quantized_matmul", "quantized_conv"])
def test_dequantized_weights_prepares_the_float_kernel_once_and_matches_generic(kind):
    from inferrt.tactics.registry import get_tactic

    g = torch.Generator().manual_seed(9)
    if kind == "quantized_matmul":
        w = torch.randint(-8, 8, (32, 6), generator=g, dtype=torch.int8)
        ks = torch.rand(2, 6, generator=g) * 0.1
        x = torch.randn(3, 32, generator=g)
        node, specs = quantized_node(kind, x.shape, w, ks, None, input_type=DataType.FLOAT, w_type=DataType.INT4,
                                     kernel_block_shape=(16, 1), kernel_axis=1)
        ref = x.double() @ (w.double() * ks.double().repeat_interleave(16, 0))
    else:
        w = torch.randint(-127, 128, (4, 3, 3, 3), generator=g, dtype=torch.int8)
        ks = torch.rand(4, generator=g) * 0.01
        x = torch.randn(1, 3, 6, 6, generator=g)
        node, specs = quantized_node(kind, x.shape, w, ks, None, input_type=DataType.FLOAT, num_output_maps=4,
                                     kernel_size_nd=(3, 3))
        ref = F.conv2d(x.double(), w.double() * ks.double().reshape(-1, 1, 1, 1))
    tactic = get_tactic("dequantized_weights")
    assert tactic.supports(node, specs, "cpu")
    run = tactic.runner(node, "cpu", {})
    ins = [x, w, None, None, ks]
    for _ in range(2):
        (y,) = run(ins, [torch.empty(specs["y"].shape)])
        np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)
    (gen,) = node.op.run(node.attrs, ins, [None])
    np.testing.assert_allclose(gen.numpy(), y.numpy(), rtol=1e-6, atol=1e-6)


if __name__ == "__main__":
    print(json.dumps(_run_kernels()))
