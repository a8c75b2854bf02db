"""The CPU ``cpu_gemm_gelu`` tactic (tactics/tactic_cpu_gemm_gelu.py): a float product with constant weights + bias +
tanh-GELU as one oneDNN linear with a GELU post-op. Where it applies (tanh GELU first in the epilogue, constant
weights, ``PACK_MIN_COLS`` columns up) and where it does not (erf GELU, narrow products, weights bound as inputs),
and its results against float64 on the oneDNN path (from ``FUSE_MIN_ROWS`` rows), on cpu_packed_gemm's path below that
and past the kept row counts."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import inferrt as trt
from inferrt.tactics.tactic_cpu_gemm_gelu import FUSE_MIN_ROWS, onednn_linear_available
from inferrt.tactics.tactic_cpu_addmm import PACK_MIN_COLS, PACK_MIN_ROWS, PACKS_KEPT, mkl_packed_available
from tests.tactics.test_cpu_addmm import RNG, _build, _check

A = trt.ActivationType

pytestmark = pytest.mark.skipif(not onednn_linear_available(), reason="PyTorch without oneDNN's linear")


def _product(engine):
    mm = [n for n in engine.graph.nodes if n.kind in ("fused_matmul", "matrix_multiply")]
    assert len(mm) == 1, [(n.kind, n.name) for n in engine.graph.nodes]
    return mm[0]


@pytest.mark.parametrize("act,n,weights_input,expect", [
    (A.GELU_TANH, PACK_MIN_COLS, False, "cpu_gemm_gelu"),
    (A.GELU_TANH, PACK_MIN_COLS - 1, False, "packed"),       # too narrow: the packed GEMM's rule
    (A.GELU_ERF, PACK_MIN_COLS, False, "packed"),            # erf GELU: MKL GEMM + PyTorch's erf ties, stays
    (A.RELU, PACK_MIN_COLS, False, "packed"),
    (A.GELU_TANH, PACK_MIN_COLS, True, "cpu_addmm"),         # runtime weights: never kept reordered
])
def test_chosen_only_where_it_applies(act, n, weights_input, expect):
    engine, _, _ = _build((2, 8, 64), 64, n, False, True, act, False, weights_input=weights_input)
    if expect == "packed":
        expect = "cpu_packed_gemm" if mkl_packed_available() else "cpu_addmm"
    assert _product(engine).info.tactic == expect


def _cells(run):
    return dict(zip(run.__code__.co_freevars, (c.cell_contents for c in run.__closure__)))


@pytest.mark.parametrize("x_shape,transpose,bias,residual,w_lead", [
    ((2, FUSE_MIN_ROWS // 2, 64), False, True, False, ()),     # FUSE_MIN_ROWS rows: the oneDNN call
    ((FUSE_MIN_ROWS + 8, 64), True, True, True, ()),           # transposed weights + a residual add after the GELU
    ((1, FUSE_MIN_ROWS, 64), False, False, False, (1,)),       # no bias, ONNX-style [1, K, N] weights
    ((2, 8, 64), False, True, True, ()),                       # 16 rows: cpu_packed_gemm's path (MKL packed)
    ((3, 64), False, True, False, ()),                         # under PACK_MIN_ROWS: addmm + GELU
])
def test_matches_float64(x_shape, transpose, bias, residual, w_lead):
    n = PACK_MIN_COLS + 32
    engine, w, b = _build(x_shape, 64, n, transpose, bias, A.GELU_TANH, residual, w_lead)
    node = _product(engine)
    assert node.info.tactic == "cpu_gemm_gelu"
    ctx = engine.create_execution_context()
    for _ in range(2):
        feed = {"x": RNG.standard_normal(x_shape).astype(np.float32) * 2}
        if residual:
            feed["r"] = RNG.standard_normal(x_shape[:-1] + (n,)).astype(np.float32)
        _check(ctx.infer(feed)["y"], feed, w, b, transpose, bias, A.GELU_TANH, residual)
    cells = _cells(engine.executor.kernels[node.name])
    small = _cells(cells["small"])
    rows = int(np.prod(x_shape[:-1]))
    # reordered once for oneDNN from FUSE_MIN_ROWS rows; MKL-packed (cpu_packed_gemm's runner) from PACK_MIN_ROWS
    assert list(cells["packs"]) == ([rows] if rows >= FUSE_MIN_ROWS else [])
    assert list(small["packs"]) == ([rows] if PACK_MIN_ROWS <= rows < FUSE_MIN_ROWS else [])


def test_row_counts_past_the_kept_packs():
    """A dynamic-shape engine: each new row count from FUSE_MIN_ROWS up gets its reordered weights until
    ``PACKS_KEPT`` are kept; further row counts (and small ones) run cpu_packed_gemm's way; every one matches
    float64."""
    n, k = PACK_MIN_COLS, 64
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (-1, k))
    w = (RNG.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
    b = RNG.standard_normal((1, n)).astype(np.float32)
    y = net.add_matrix_multiply(x, trt.MatrixOperation.NONE, net.add_constant(w.shape, w).get_output(0),
                                trt.MatrixOperation.NONE).get_output(0)
    y = net.add_elementwise(y, net.add_constant(b.shape, b).get_output(0), trt.ElementWiseOperation.SUM).get_output(0)
    y = net.add_activation(y, A.GELU_TANH).get_output(0)
    y.name = "y"
    net.mark_output(y)
    config = builder.create_builder_config()
    config.device = "cpu"
    prof = builder.create_optimization_profile()
    prof.set_shape("x", (1, k), (16, k), (FUSE_MIN_ROWS + 64, k))
    config.add_optimization_profile(prof)
    engine = trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(builder.build(net, config))
    node = _product(engine)
    assert node.info.tactic == "cpu_gemm_gelu"
    ctx = engine.create_execution_context()
    big = [FUSE_MIN_ROWS + i for i in range(PACKS_KEPT + 2)]
    for rows in big + [2, PACK_MIN_ROWS, FUSE_MIN_ROWS]:
        ctx.set_input_shape("x", (rows, k))
        feed = {"x": RNG.standard_normal((rows, k)).astype(np.float32)}
        _check(ctx.infer(feed)["y"], feed, w, b, False, True, A.GELU_TANH, False)
    cells = _cells(engine.executor.kernels[node.name])
    assert list(cells["packs"]) == big[:PACKS_KEPT]
    # the rest ran cpu_packed_gemm's runner, which keeps MKL-packed weights for its own first PACKS_KEPT row counts
    assert list(_cells(cells["small"])["packs"]) == (big[PACKS_KEPT:] + [PACK_MIN_ROWS])[:PACKS_KEPT]


def test_post_op_is_the_tanh_approximation():
    """oneDNN's ``gelu``/``tanh`` post-op is the tanh form (it differs from the erf form by up to ~5e-4 here, far
    more than float32 rounding), so the tactic cannot silently compute the other GELU."""
    x = torch.linspace(-4, 4, 8 * 128).reshape(8, 128)
    wt = torch.eye(128)
    y = torch.ops.mkldnn._linear_pointwise(x, torch.ops.mkldnn._reorder_linear_weight(wt, 8), None, "gelu", [],
                                           "tanh")
    ref = torch.nn.functional.gelu(x.double(), approximate="tanh")
    assert float((y.double() - ref).abs().max()) < 1e-5
    assert float((torch.nn.functional.gelu(x.double()) - ref).abs().max()) > 1e-4
