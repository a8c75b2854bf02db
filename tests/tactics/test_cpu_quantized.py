"""``cpu_quantized`` (tactics/tactic_cpu_quantized.py) against the quantized layers' generic implementation and a
float64 torch reference of the fake-quantized layer: INT8 and FP8 products and convolutions with bias, residual and
activation; INT8 products whose sums could pass 2**24 are left to the generic path."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from inferrt.enums import DataType, MatrixOperation as MO
from inferrt.tactics.registry import get_tactic
from tests.tactics.test_triton_quantized import _fake_int8, quantized_node

G = torch.Generator().manual_seed(21)


def _fake_fp8(x, s):
    return (x.float() / s).clamp(-448, 448).to(torch.float8_e4m3fn).double() * s


def _matmul_case(input_type):
    if input_type == DataType.INT8:
        w = torch.randint(-127, 128, (24, 48), generator=G, dtype=torch.int8)
        wf = w.double()
    else:
        w = (torch.randn(24, 48, generator=G) * 100).to(torch.float8_e4m3fn)
        wf = w.double()
    ks = torch.rand(24, generator=G) * 0.01 + 0.001
    x, b, r = torch.randn(2, 7, 48, generator=G), torch.randn(1, 1, 24, generator=G), torch.randn(2, 7, 24, generator=G)
    node, specs = quantized_node("quantized_matmul", x.shape, w, ks, 0.02, b, r, [["add", 3], ["act", "RELU", 0, 0]],
                                 input_type=input_type, w_type=input_type, op1=MO.TRANSPOSE)
    fq = _fake_int8(x, 0.02) if input_type == DataType.INT8 else _fake_fp8(x, 0.02)
    ref = torch.relu(fq @ (wf * ks.double()[:, None]).t() + b.double() + r.double())
    return node, specs, [x, w, b, r, ks, torch.tensor(0.02)], ref


def _conv_case(input_type):
    w = (torch.randint(-127, 128, (6, 3, 3, 3), generator=G, dtype=torch.int8) if input_type == DataType.INT8
         else (torch.randn(6, 3, 3, 3, generator=G) * 50).to(torch.float8_e4m3fn))
    ks = torch.rand(6, generator=G) * 0.01 + 0.001
    x, b = torch.randn(2, 3, 7, 7, generator=G), torch.randn(6, generator=G)
    node, specs = quantized_node("quantized_conv", x.shape, w, ks, 0.03, b, None, [["act", "SIGMOID", 0, 0]],
                                 input_type=input_type, w_type=input_type, num_output_maps=6, kernel_size_nd=(3, 3),
                                 pre_padding=(1, 1), post_padding=(1, 1))
    fq = _fake_int8(x, 0.03) if input_type == DataType.INT8 else _fake_fp8(x, 0.03)
    ref = torch.sigmoid(F.conv2d(fq, w.double() * ks.double().reshape(-1, 1, 1, 1), b.double(), padding=1))
    return node, specs, [x, w, b, None, ks, torch.tensor(0.03)], ref


@pytest.mark.parametrize("input_type", [DataType.INT8, DataType.FP8])
@pytest.mark.parametrize("case", [_matmul_case, _conv_case])
def test_cpu_quantized_matches_the_reference_and_the_generic_path(case, input_type):
    node, specs, ins, ref = case(input_type)
    tactic = get_tactic("cpu_quantized")
    assert tactic.supports(node, specs, "cpu") and not tactic.supports(node, specs, "cuda")
    run = tactic.runner(node, "cpu", {})
    for _ in range(2):   # the second call reads the prepared kernel
        (y,) = run(ins, [None])
        torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=1e-5)
    (gen,) = node.op.run(node.attrs, ins, [None])
    torch.testing.assert_close(y, gen, rtol=1e-6, atol=1e-6)


def test_int8_sums_beyond_float32_exactness_stay_generic():
    w = torch.zeros(8, 2048, dtype=torch.int8)
    node, specs = quantized_node("quantized_matmul", (4, 2048), w, torch.tensor(0.1), 0.1, op1=MO.TRANSPOSE)
    assert not get_tactic("cpu_quantized").supports(node, specs, "cpu")
    fp8, fspecs = quantized_node("quantized_matmul", (4, 2048), w.to(torch.float8_e4m3fn), torch.tensor(0.1), 0.1,
                                 op1=MO.TRANSPOSE, input_type=DataType.FP8, w_type=DataType.FP8)
    assert get_tactic("cpu_quantized").supports(fp8, fspecs, "cpu")
