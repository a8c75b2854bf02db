"""The CPU ``cpu_packed_gemm`` and ``cpu_addmm`` tactics (tactics/tactic_cpu_addmm.py): chosen for CPU float
products with 2-D weights (packed where the weights are constants, else addmm); bias + activation + residual match a
float64 reference at float32 tolerances."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close

import inferrt as trt

RNG = np.random.default_rng(3)
A = trt.ActivationType
MO = trt.MatrixOperation


def _build(x_shape, k, n, transpose, bias, act, residual, w_lead=(), weights_input=False):
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, x_shape)
    w = (RNG.standard_normal((n, k) if transpose else (k, n)) / np.sqrt(k)).astype(np.float32)
    if weights_input:
        wt = net.add_input("w", trt.float32, w_lead + w.shape)
    else:
        wt = net.add_constant(w_lead + w.shape, w.reshape(w_lead + w.shape)).get_output(0)
    y = net.add_matrix_multiply(x, MO.NONE, wt, MO.TRANSPOSE if transpose else MO.NONE).get_output(0)
    b = None
    if bias:
        b = RNG.standard_normal((1,) * (len(x_shape) - 1) + (n,)).astype(np.float32)
        y = net.add_elementwise(y, net.add_constant(b.shape, b).get_output(0),
                                trt.ElementWiseOperation.SUM).get_output(0)
    if act is not None:
        y = net.add_activation(y, act).get_output(0)
    if residual:
        r = net.add_input("r", trt.float32, x_shape[:-1] + (n,))
        y = net.add_elementwise(y, r, trt.ElementWiseOperation.SUM).get_output(0)
    y.name = "y"
    net.mark_output(y)
    config = builder.create_builder_config()
    config.device = "cpu"
    engine = trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(builder.build(net, config))
    return engine, w, b


@pytest.mark.parametrize("x_shape,transpose,bias,act,residual,w_lead", [
    ((4, 32), False, True, A.RELU, False, ()),
    ((2, 5, 32), False, True, A.RELU, True, (1,)),      # ONNX-style weights [1, K, N]
    ((2, 5, 32), True, False, None, True, (1,)),
    ((2, 5, 32), True, True, A.GELU_ERF, False, ()),
    ((2, 5, 32), False, True, A.GELU_TANH, True, ()),
    ((3, 32), False, False, A.TANH, False, ()),
    ((1, 32), True, True, None, False, ()),
    ((6, 32), False, True, A.SIGMOID, True, ()),
    ((2, 5, 32), False, False, None, False, (1,)),     # a plain product (BERT's merged QKV projection)
])
@pytest.mark.parametrize("weights_input", [False, True])
def test_fused_product_matches_float64(x_shape, transpose, bias, act, residual, w_lead, weights_input):
    """Constant weights: ``cpu_packed_gemm`` (MKL-packed once, reused); weights bound as an input: ``cpu_addmm``,
    which reads them every execution (new values at the next one give the new result)."""
    from inferrt.tactics.tactic_cpu_addmm import mkl_packed_available

    engine, w, b = _build(x_shape, 32, 24, transpose, bias, act, residual, w_lead, weights_input)
    mm = [n for n in engine.graph.nodes if n.kind in ("fused_matmul", "matrix_multiply")]
    assert len(mm) == 1, [(n.kind, n.name) for n in engine.graph.nodes]
    packed = "cpu_packed_gemm" if mkl_packed_available() else "cpu_addmm"
    if mm[0].kind == "fused_matmul" or not weights_input:
        assert mm[0].info.tactic == ("cpu_addmm" if weights_input else packed), mm[0].info.tactic
    ctx = engine.create_execution_context()
    for _ in range(2):
        feed = {"x": RNG.standard_normal(x_shape).astype(np.float32)}
        if residual:
            feed["r"] = RNG.standard_normal(x_shape[:-1] + (24,)).astype(np.float32)
        if weights_input:
            w = RNG.standard_normal(w.shape).astype(np.float32)
            feed["w"] = w.reshape(w_lead + w.shape)
        _check(ctx.infer(feed)["y"], feed, w, b, transpose, bias, act, residual)


def _check(out, feed, w, b, transpose, bias, act, residual):
    w64 = torch.from_numpy(w).double()
    ref = torch.from_numpy(feed["x"]).double() @ (w64.t() if transpose else w64)
    if bias:
        ref = ref + torch.from_numpy(b).double()
    if act is not None:
        ref = {A.RELU: torch.relu, A.GELU_ERF: F.gelu, A.GELU_TANH: lambda t: F.gelu(t, approximate="tanh"),
               A.TANH: torch.tanh, A.SIGMOID: torch.sigmoid}[act](ref)
    if residual:
        ref = ref + torch.from_numpy(feed["r"]).double()
    assert_close(out, ref.numpy(), np.float32)


@pytest.mark.parametrize("x_shape,transpose,bias,act,residual", [
    ((2, 8, 64), False, True, A.RELU, False),
    ((16, 64), True, True, A.GELU_ERF, True),
    ((12, 64), False, False, None, False),
])
def test_packed_weights_match_float64(x_shape, transpose, bias, act, residual):
    """Products large enough for the packed GEMM (PACK_MIN_ROWS rows, PACK_MIN_COLS columns) pack their constant
    weights once and match the float64 reference on every execution."""
    from inferrt.tactics.tactic_cpu_addmm import PACK_MIN_COLS, mkl_packed_available

    if not mkl_packed_available():
        pytest.skip("PyTorch without MKL's packed GEMM")
    n = PACK_MIN_COLS
    engine, w, b = _build(x_shape, 64, n, transpose, bias, act, residual)
    mm = [nd for nd in engine.graph.nodes if nd.kind in ("fused_matmul", "matrix_multiply")]
    assert len(mm) == 1 and mm[0].info.tactic == "cpu_packed_gemm", [(nd.kind, nd.info.tactic) for nd in mm]
    ctx = engine.create_execution_context()
    for _ in range(2):
        feed = {"x": RNG.standard_normal(x_shape).astype(np.float32)}
        if residual:
            feed["r"] = RNG.standard_normal(x_shape[:-1] + (n,)).astype(np.float32)
        _check(ctx.infer(feed)["y"], feed, w, b, transpose, bias, act, residual)
    run = engine.executor.kernels[mm[0].name]
    cells = dict(zip(run.__code__.co_freevars, (c.cell_contents for c in run.__closure__)))
    assert list(cells["packs"]) == [int(np.prod(x_shape[:-1]))]      # packed once, for this row count
