"""Every GPU tactic against the generic implementation of its op, over grids of shapes, layouts and dtypes."""
from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gpu

from inferrt.ir.graph import Node  # noqa: E402
from inferrt.ops import Spec, get_op  # noqa: E402
from inferrt.ops.base import Attrs  # noqa: E402
from inferrt.dtypes import from_torch_dtype  # noqa: E402
from inferrt.tactics.registry import get_tactic  # noqa: E402

PROGRAMS = {
    "add_relu": [["input", 0], ["input", 1], ["binary", "SUM", 0, 1], ["act", "RELU", 0.0, 0.0, 2]],
    "gelu_erf": [["input", 0], ["act", "GELU_ERF", 0.0, 0.0, 0]],
    "gelu_tanh_mul": [["input", 0], ["input", 1], ["act", "GELU_TANH", 0.0, 0.0, 0], ["binary", "PROD", 2, 1]],
    "sigmoid_swish": [["input", 0], ["act", "SIGMOID", 0.0, 0.0, 0], ["binary", "PROD", 0, 1]],
    "unaries": [["input", 0], ["unary", "ABS", 0], ["scalar", 1.0, "FLOAT"], ["binary", "SUM", 1, 2],
                ["unary", "LOG", 3], ["unary", "SQRT", 3], ["binary", "SUB", 4, 5], ["unary", "EXP", 6]],
    "div_max_min": [["input", 0], ["input", 1], ["scalar", 0.5, "FLOAT"], ["binary", "MAX", 1, 2],
                    ["binary", "DIV", 0, 3], ["binary", "MIN", 4, 0]],
    "clip_tanh": [["input", 0], ["act", "CLIP", -0.5, 0.7, 0], ["act", "TANH", 0.0, 0.0, 1],
                  ["act", "LEAKY_RELU", 0.1, 0.0, 2], ["act", "ELU", 1.0, 0.0, 3], ["act", "SOFTPLUS", 1.0, 1.0, 4]],
    "pow_erf": [["input", 0], ["scalar", 2.0, "FLOAT"], ["binary", "POW", 0, 1], ["unary", "ERF", 2]],
}
SHAPES = [((4, 8, 16, 16), (4, 8, 16, 16)), ((4, 8, 16, 16), (1, 8, 1, 1)), ((3, 1000), (1000,)),
          ((2, 5, 7), (2, 5, 7)), ((1, 1), (1, 1))]
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
TOL = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 2e-2}


def _spec(t):
    return Spec(from_torch_dtype(t.dtype), tuple(t.shape))


@pytest.mark.parametrize("prog,shapes,dtype,nhwc", [
    (p, s, d, c) for p, s, d, c in itertools.product(PROGRAMS, SHAPES, DTYPES, [False, True])
    if not (c and len(s[0]) != 4)])
def test_triton_pointwise_matches_generic(prog, shapes, dtype, nhwc):
    program = PROGRAMS[prog]
    n_in = max(i[1] for i in program if i[0] == "input") + 1
    xs = [torch.randn(s, device="cuda").to(dtype) for s in shapes[:n_in]]
    if nhwc:
        xs = [x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in xs]
    node = Node("pw", "pointwise", [f"i{k}" for k in range(n_in)], ["o"], Attrs(program=program))
    specs = {f"i{k}": _spec(x) for k, x in enumerate(xs)}
    (out_spec,) = get_op("pointwise").infer(node.attrs, [specs[i] for i in node.inputs])
    specs["o"] = out_spec
    tactic = get_tactic("triton_pointwise")
    assert tactic.supports(node, specs, "cuda")
    out = torch.full(out_spec.shape, float("nan"), device="cuda", dtype=dtype)
    if nhwc and out.dim() == 4:
        out = out.contiguous(memory_format=torch.channels_last)
    tactic.prepare(node, torch.device("cuda"))(xs, [out])
    ref = get_op("pointwise").run(node.attrs, [x.double() for x in xs], [None])[0]
    torch.testing.assert_close(out.double(), ref.to(torch.float64), rtol=TOL[dtype], atol=TOL[dtype],
                               equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("epilogue", [[], [["act", "RELU", 0.0, 0.0]], [["add", 3], ["act", "RELU", 0.0, 0.0]],
                                      [["act", "CLIP", 0.0, 6.0]]])
@pytest.mark.parametrize("nhwc,groups,stride", [(False, 1, 1), (True, 1, 2), (True, 4, 1)])
@pytest.mark.parametrize("tactic_name", ["cudnn_conv_epilogue", "cudnn_conv_bias_relu"])
def test_cudnn_conv_tactics_match_generic(dtype, epilogue, nhwc, groups, stride, tactic_name):
    x = torch.randn(2, 8, 14, 14, device="cuda", dtype=dtype)
    w = torch.randn(16, 8 // groups, 3, 3, device="cuda", dtype=dtype) * 0.2
    b = torch.randn(16, device="cuda", dtype=dtype)
    op = get_op("fused_conv")
    attrs = op.default_attrs()
    attrs.update(num_output_maps=16, kernel_size_nd=(3, 3), stride_nd=(stride, stride), pre_padding=(1, 1),
                 post_padding=(1, 1), num_groups=groups, epilogue=epilogue)
    ins = [x, w, b]
    names = ["x", "w", "b"]
    if any(s[0] == "add" for s in epilogue):
        ho = (14 + 2 - 3) // stride + 1
        ins.append(torch.randn(2, 16, ho, ho, device="cuda", dtype=dtype))
        names.append("r")
    node = Node("c", "fused_conv", names, ["o"], attrs)
    specs = {n: _spec(t) for n, t in zip(names, ins)}
    (specs["o"],) = op.infer(attrs, [specs[n] for n in names])
    tactic = get_tactic(tactic_name)
    # the one-call cuDNN fusion takes only ReLU epilogues ([relu] or [add, relu])
    fits = tactic_name == "cudnn_conv_epilogue" or (epilogue and epilogue[-1][1] == "RELU")
    assert tactic.supports(node, specs, "cuda") == bool(fits)
    if not fits:
        return
    out = torch.full(specs["o"].shape, float("nan"), device="cuda", dtype=dtype)
    if nhwc:
        out = out.contiguous(memory_format=torch.channels_last)
    res = tactic.prepare(node, torch.device("cuda"))(ins, [out])
    if res is not None:  # a fresh output the executor adopts only when its layout is the slot's
        assert res[0].shape == out.shape and res[0].stride() == out.stride()
        out.copy_(res[0])
    ref = op.run(attrs, [t.double() for t in ins], [None])[0]
    tol = 5e-3 if dtype == torch.float32 else 2e-2  # cuDNN may use TF32 for float32 (TensorRT's default too)
    torch.testing.assert_close(out.double(), ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("tactic_name,epilogue,bias", [
    ("cublas_matmul_epilogue", [], True), ("cublas_matmul_epilogue", [], False),
    ("cublas_matmul_epilogue", [["act", "GELU_ERF", 0.0, 0.0]], True), ("cublas_matmul_epilogue", [["add", 3]], True),
    ("cublaslt_bias_act", [["act", "GELU_TANH", 0.0, 0.0]], True), ("cublaslt_bias_act", [["act", "RELU", 0.0, 0.0]], True)])
def test_cublas_matmul_tactics_match_generic(dtype, tactic_name, epilogue, bias):
    x = torch.randn(2, 64, 96, device="cuda", dtype=dtype)
    w = torch.randn(96, 128, device="cuda", dtype=dtype) * 0.1
    ins, names = [x, w], ["x", "w"]
    ins.append(torch.randn(1, 1, 128, device="cuda", dtype=dtype) if bias else None)
    names.append("b" if bias else "")
    if epilogue and epilogue[0][0] == "add":
        ins.append(torch.randn(2, 64, 128, device="cuda", dtype=dtype))
        names.append("r")
    op = get_op("fused_matmul")
    attrs = op.default_attrs()
    attrs.update(epilogue=epilogue)
    node = Node("m", "fused_matmul", names, ["o"], attrs)
    specs = {n: _spec(t) for n, t in zip(names, ins) if n}
    (specs["o"],) = op.infer(attrs, [specs.get(n) if n else None for n in names])
    tactic = get_tactic(tactic_name)
    assert tactic.supports(node, specs, "cuda")
    out = torch.full(specs["o"].shape, float("nan"), device="cuda", dtype=dtype)
    res = tactic.prepare(node, torch.device("cuda"))(ins, [out])
    if res is not None:
        assert res[0].shape == out.shape
        out.copy_(res[0])
    ref = op.run(attrs, [None if t is None else t.double() for t in ins], [None])[0]
    tol = 2e-3 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(out.double(), ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_cublas_tactic_runs_plain_matrix_multiply(dtype):
    x = torch.randn(3, 40, 96, device="cuda", dtype=dtype)
    w = torch.randn(1, 96, 72, device="cuda", dtype=dtype) * 0.1
    op = get_op("matrix_multiply")
    attrs = op.default_attrs()
    node = Node("m", "matrix_multiply", ["x", "w"], ["o"], attrs)
    specs = {"x": _spec(x), "w": _spec(w)}
    (specs["o"],) = op.infer(attrs, [specs["x"], specs["w"]])
    tactic = get_tactic("cublas_matmul_epilogue")
    assert tactic.supports(node, specs, "cuda")
    out = torch.full(specs["o"].shape, float("nan"), device="cuda", dtype=dtype)
    res = tactic.prepare(node, torch.device("cuda"))([x, w], [out])
    if res is not None:
        out.copy_(res[0])
    ref = torch.matmul(x.double(), w.double())
    tol = 2e-3 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(out.double(), ref, rtol=tol, atol=tol)
