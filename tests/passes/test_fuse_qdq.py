"""passes/fuse_qdq.py (with fold_constants keeping quantized weights, propagate_dequantize and the BatchNorm fold
into the dequantize scale): structure of the optimized graph, and numerics against float64 references of the
fake-quantized network (numpy, and torch float64 for convolutions)."""
from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import inferrt as trt
from inferrt.enums import DataType as DT
from tests.helpers import new_network
from tests.passes.nets import EW, const, count, optimize, run_engine

RNG = np.random.default_rng(13)


def _scalar(net, v):
    return net.add_constant((), np.array(v, np.float32)).get_output(0)


def _qdq(net, x, sx, to=DT.INT8, name="x", dq_scale=None):
    q = net.add_quantize(x, _scalar(net, sx), to)
    q.name = f"{name}_q"
    dq = net.add_dequantize(q.get_output(0), _scalar(net, sx if dq_scale is None else dq_scale), DT.FLOAT)
    dq.name = f"{name}_dq"
    return dq.get_output(0)


def _qweight(net, values, scale, axis=0, block=None, name="w"):
    """DQ(constant low-bit ``values``) with a per-tensor / per-axis / block ``scale``."""
    c = net.add_constant(values.shape, values).get_output(0)
    s = net.add_constant(np.shape(scale), np.asarray(scale, np.float32)).get_output(0)
    dq = net.add_dequantize(c, s, DT.FLOAT)
    dq.axis = axis
    if block is not None:
        dq.set_block_shape(block)
    dq.name = f"{name}_dq"
    return dq.get_output(0)


def _fake_int8(x, sx):
    return np.clip(np.rint(x.astype(np.float64) / sx), -128, 127) * sx


def _fake_fp8(x, sx):
    y = np.clip(x.astype(np.float32) / np.float32(sx), -448, 448)
    return y.astype(ml_dtypes.float8_e4m3fn).astype(np.float64) * sx


def _int8_weights(*shape):
    return RNG.integers(-127, 128, shape).astype(np.int8)


def _quantized_nodes(g):
    return [n for n in g.nodes if n.kind in ("quantized_conv", "quantized_matmul")]


def _const_dequantize_left(g):
    prod = g.producers()
    return [n.name for n in g.nodes if n.kind == "dequantize" and prod.get(n.inputs[0]) is not None
            and prod[n.inputs[0]].kind == "constant"]


def _run(builder, net, feeds):
    engine, got = run_engine(builder, net, feeds)
    return engine, got


def _conv_bn_residual_net(gamma_sign=1.0):
    """x ─ Q/DQ ─ Conv(DQ(Wq per channel), no bias) ─ Mul(g) ─ Add(t) ─ Add(r) ─ ReLU ─ y"""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 4, 6, 6))
    r = net.add_input("r", trt.float32, (2, 6, 6, 6))
    wq = _int8_weights(6, 4, 3, 3)
    sw = RNG.uniform(0.002, 0.01, 6).astype(np.float32)
    conv = net.add_convolution_nd(_qdq(net, x, 0.05), 6, (3, 3), None, None)
    conv.set_input(1, _qweight(net, wq, sw, axis=0))
    conv.padding_nd = (1, 1)
    conv.name = "conv"
    g = (RNG.uniform(0.5, 1.5, (1, 6, 1, 1)) * gamma_sign).astype(np.float32)
    t = RNG.normal(0, 0.1, (1, 6, 1, 1)).astype(np.float32)
    m = net.add_elementwise(conv.get_output(0), const(net, g), EW.PROD)
    m.name = "bn_mul"
    a = net.add_elementwise(m.get_output(0), const(net, t), EW.SUM)
    a.name = "bn_add"
    res = net.add_elementwise(a.get_output(0), r, EW.SUM)
    res.name = "residual"
    relu = net.add_activation(res.get_output(0), trt.ActivationType.RELU)
    relu.get_output(0).name = "y"
    net.mark_output(relu.get_output(0))
    return builder, net, (wq, sw, g, t)


@pytest.mark.parametrize("gamma_sign", [1.0, -1.0])
def test_int8_conv_with_batchnorm_residual_relu_becomes_one_quantized_conv(gamma_sign):
    builder, net, (wq, sw, g, t) = _conv_bn_residual_net(gamma_sign)
    graph = optimize(net)
    (qconv,) = _quantized_nodes(graph)
    assert qconv.kind == "quantized_conv" and qconv.attrs.input_type == DT.INT8
    assert qconv.inputs[0] == "x" and count(graph, "quantize") == 0 and not _const_dequantize_left(graph)
    assert {"conv", "bn_mul", "bn_add", "residual", "x_q", "x_dq", "w_dq"} <= set(qconv.origin)
    assert [s[0] for s in qconv.attrs.epilogue] == ["add", "act"]
    prod = graph.producers()
    scale = np.asarray(prod[qconv.inputs[4]].attrs.weights)
    np.testing.assert_allclose(scale, sw * g.reshape(-1), rtol=1e-6)   # BatchNorm went into the kernel scale
    x = RNG.normal(0, 2, (2, 4, 6, 6)).astype(np.float32)
    r = RNG.normal(0, 1, (2, 6, 6, 6)).astype(np.float32)
    _, got = _run(builder, net, {"x": x, "r": r})
    w = torch.from_numpy(wq.astype(np.float64) * sw.reshape(-1, 1, 1, 1))
    ref = F.conv2d(torch.from_numpy(_fake_int8(x, 0.05)), w, padding=1).numpy() * g + t + r
    np.testing.assert_allclose(got["y"], np.maximum(ref, 0), rtol=1e-5, atol=1e-5)


def test_fp8_matmul_with_bias_runs_on_fp8_values():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 5, 16))
    wf = RNG.normal(0, 0.3, (16, 8)).astype(np.float32)
    sw = float(np.abs(wf).max() / 448)
    wq = (wf / sw).astype(ml_dtypes.float8_e4m3fn)
    mm = net.add_matrix_multiply(_qdq(net, x, 0.02, DT.FP8), trt.MatrixOperation.NONE,
                                 _qweight(net, wq, sw), trt.MatrixOperation.NONE)
    b = RNG.normal(0, 0.1, (1, 1, 8)).astype(np.float32)
    y = net.add_elementwise(mm.get_output(0), const(net, b), EW.SUM).get_output(0)
    y.name = "y"
    net.mark_output(y)
    graph = optimize(net)
    (qmm,) = _quantized_nodes(graph)
    assert qmm.kind == "quantized_matmul" and qmm.attrs.input_type == DT.FP8
    xv = RNG.normal(0, 1.5, (2, 5, 16)).astype(np.float32)
    xv[0, 0, 0] = 100.0     # saturates at 448 * sx
    _, got = _run(builder, net, {"x": xv})
    ref = _fake_fp8(xv, 0.02) @ (wq.astype(np.float64) * sw) + b
    np.testing.assert_allclose(got["y"], ref, rtol=1e-5, atol=1e-5)


def test_int4_block_weight_only_matmul():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (3, 32))
    wq = RNG.integers(-8, 8, (32, 8)).astype(ml_dtypes.int4)
    scale = RNG.uniform(0.01, 0.05, (2, 8)).astype(np.float32)
    mm = net.add_matrix_multiply(x, trt.MatrixOperation.NONE, _qweight(net, wq, scale, block=(16, 1)),
                                 trt.MatrixOperation.NONE)
    mm.get_output(0).name = "y"
    net.mark_output(mm.get_output(0))
    graph = optimize(net)
    (qmm,) = _quantized_nodes(graph)
    assert qmm.attrs.input_type == DT.FLOAT and tuple(qmm.attrs.kernel_block_shape) == (16, 1)
    assert graph.specs[qmm.inputs[1]].dtype == DT.INT4     # the plan keeps the 4-bit values
    xv = RNG.normal(0, 1, (3, 32)).astype(np.float32)
    _, got = _run(builder, net, {"x": xv})
    w = wq.astype(np.float64) * np.repeat(scale, 16, axis=0)
    np.testing.assert_allclose(got["y"], xv.astype(np.float64) @ w, rtol=1e-5, atol=1e-5)


def _shuffled_weight_net(case):
    """Quantized weights reach the product through a shuffle; returns (builder, net, float weight as the product
    reads it, the product's op1)."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (4, 16))
    op1 = trt.MatrixOperation.NONE
    if case == "transpose":                     # [N, K] per-N scale -> Transpose -> [K, N]
        wq, sc, axis, block = _int8_weights(8, 16), RNG.uniform(0.01, 0.02, 8), 0, None
        wf = (wq * sc[:, None]).T
        sh = net.add_shuffle(_qweight(net, wq, sc, axis))
        sh.first_transpose = (1, 0)
    elif case == "unsqueeze":                   # [N, K] per-N scale -> Reshape [1, N, K] -> op1 TRANSPOSE
        wq, sc, axis, block = _int8_weights(8, 16), RNG.uniform(0.01, 0.02, 8), 0, None
        wf = (wq * sc[:, None]).T
        sh = net.add_shuffle(_qweight(net, wq, sc, axis))
        sh.reshape_dims = (1, 8, 16)
        op1 = trt.MatrixOperation.TRANSPOSE
        x = net.add_shuffle(x)
        x.reshape_dims = (1, 4, 16)
        x = x.get_output(0)
    elif case == "blocks":                      # int4 [N, K] blocks of 8 along K -> Transpose -> [K, N]
        wq = RNG.integers(-8, 8, (8, 16)).astype(ml_dtypes.int4)
        sc, axis, block = RNG.uniform(0.01, 0.05, (8, 2)).astype(np.float32), 0, (1, 8)
        wf = (wq.astype(np.float64) * np.repeat(sc, 8, axis=1)).T
        sh = net.add_shuffle(_qweight(net, wq, sc, axis, block))
        sh.first_transpose = (1, 0)
    else:                                       # "merge": [2, 8, 8] scaled along axis 0 -> Reshape [16, 8]
        wq, sc = _int8_weights(2, 8, 8), RNG.uniform(0.01, 0.02, 2)
        wf = (wq * sc[:, None, None]).reshape(16, 8)
        sh = net.add_shuffle(_qweight(net, wq, sc, 0))
        sh.reshape_dims = (16, 8)
    sh.name = "wshuffle"
    mm = net.add_matrix_multiply(x, trt.MatrixOperation.NONE, sh.get_output(0), op1)
    mm.get_output(0).name = "y"
    net.mark_output(mm.get_output(0))
    return builder, net, wf


@pytest.mark.parametrize("case, axis", [("transpose", 1), ("unsqueeze", 1), ("blocks", None), ("merge", None)])
def test_quantized_weights_follow_shuffles_with_their_scale_axis(case, axis):
    builder, net, wf = _shuffled_weight_net(case)
    graph = optimize(net)
    assert not _const_dequantize_left(graph)
    q = _quantized_nodes(graph)
    if case == "merge":
        assert not q           # the reshape merges the scaled axis: the weights were folded to float instead
    else:
        (qmm,) = q
        assert "wshuffle" in qmm.origin and count(graph, "shuffle") == (1 if case == "unsqueeze" else 0)
        if axis is not None:
            assert qmm.attrs.kernel_axis == axis
        else:
            assert tuple(qmm.attrs.kernel_block_shape) == (8, 1)
    xv = RNG.normal(0, 1, (4, 16)).astype(np.float32)
    _, got = _run(builder, net, {"x": xv})
    np.testing.assert_allclose(np.asarray(got["y"]).reshape(4, 8), xv.astype(np.float64) @ wf, rtol=1e-5, atol=1e-5)


def test_shared_input_qdq_stays_for_its_other_reader_and_mismatched_scales_are_weight_only():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (3, 16))
    xd = _qdq(net, x, 0.04)
    w1, s1 = _int8_weights(16, 8), RNG.uniform(0.01, 0.02, 8)
    mm = net.add_matrix_multiply(xd, trt.MatrixOperation.NONE, _qweight(net, w1, s1, axis=1, name="w1"),
                                 trt.MatrixOperation.NONE)
    other = net.add_activation(xd, trt.ActivationType.TANH)       # reads the fake-quantized input too
    z = _qdq(net, x, 0.04, name="z", dq_scale=0.05)                # Q and DQ scales differ: not an INT8 input
    w2, s2 = _int8_weights(16, 8), RNG.uniform(0.01, 0.02, 8)
    mm2 = net.add_matrix_multiply(z, trt.MatrixOperation.NONE, _qweight(net, w2, s2, axis=1, name="w2"),
                                  trt.MatrixOperation.NONE)
    for i, t in enumerate((mm.get_output(0), other.get_output(0), mm2.get_output(0))):
        t.name = f"y{i}"
        net.mark_output(t)
    graph = optimize(net)
    a, b = _quantized_nodes(graph)
    assert (a.attrs.input_type, b.attrs.input_type) == (DT.INT8, DT.FLOAT)
    # x_q stays for the tanh and for z's dequantize (eliminate_common_subexpressions made z_q and x_q one layer)
    assert a.inputs[0] == "x" and count(graph, "quantize") == 1 and count(graph, "dequantize") == 2
    xv = RNG.normal(0, 1, (3, 16)).astype(np.float32)
    _, got = _run(builder, net, {"x": xv})
    fq = _fake_int8(xv, 0.04)
    np.testing.assert_allclose(got["y0"], fq @ (w1 * s1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["y1"], np.tanh(fq), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["y2"], (fq / 0.04 * 0.05) @ (w2 * s2), rtol=1e-5, atol=1e-5)


def test_int8_input_with_fp8_kernel_is_weight_only():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 4, 5, 5))
    wq = RNG.normal(0, 50, (3, 4, 1, 1)).astype(ml_dtypes.float8_e4m3fn)
    conv = net.add_convolution_nd(_qdq(net, x, 0.03), 3, (1, 1), None, None)
    conv.set_input(1, _qweight(net, wq, 0.01))
    conv.get_output(0).name = "y"
    net.mark_output(conv.get_output(0))
    graph = optimize(net)
    (qc,) = _quantized_nodes(graph)
    assert qc.attrs.input_type == DT.FLOAT and count(graph, "quantize") == 1
    xv = RNG.normal(0, 1, (2, 4, 5, 5)).astype(np.float32)
    _, got = _run(builder, net, {"x": xv})
    ref = F.conv2d(torch.from_numpy(_fake_int8(xv, 0.03)), torch.from_numpy(wq.astype(np.float64) * 0.01)).numpy()
    np.testing.assert_allclose(got["y"], ref, rtol=1e-5, atol=1e-5)


def test_grouped_strided_int8_conv_matches_the_fake_quantized_reference():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (1, 8, 9, 9))
    wq = _int8_weights(6, 4, 3, 3)
    conv = net.add_convolution_nd(_qdq(net, x, 0.02), 6, (3, 3), None, trt.Weights(np.linspace(-1, 1, 6)
                                                                                     .astype(np.float32)))
    conv.set_input(1, _qweight(net, wq, 0.004))
    conv.num_groups = 2
    conv.stride_nd = (2, 2)
    conv.get_output(0).name = "y"
    net.mark_output(conv.get_output(0))
    (qc,) = _quantized_nodes(optimize(net))
    assert qc.attrs.input_type == DT.INT8 and qc.attrs.num_groups == 2
    xv = RNG.normal(0, 1, (1, 8, 9, 9)).astype(np.float32)
    _, got = _run(builder, net, {"x": xv})
    ref = F.conv2d(torch.from_numpy(_fake_int8(xv, 0.02)), torch.from_numpy(wq * 0.004), stride=2, groups=2,
                   bias=torch.linspace(-1, 1, 6, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got["y"], ref, rtol=1e-5, atol=1e-5)
    assert math.isfinite(float(np.abs(got["y"]).max()))


def test_fp16_build_keeps_quantization_scales_in_float():
    """FP16 + INT8 (TensorRT 10's usual flag pair): the quantized conv reads x and writes y in HALF, its kernel and
    input scales stay FLOAT (the model's rounding boundaries); run on the CPU in those types it matches the
    fake-quantized reference within HALF's output rounding."""
    from tests.passes.precision_nets import fp16_config, lower_for_gpu, run_graph

    builder, net, (wq, sw, g, t) = _conv_bn_residual_net()
    graph = lower_for_gpu(net, fp16_config(builder), guard=False)
    (qconv,) = _quantized_nodes(graph)
    specs = graph.specs
    assert specs[qconv.inputs[0]].dtype == DT.HALF and specs[qconv.outputs[0]].dtype == DT.HALF
    assert specs[qconv.inputs[4]].dtype == DT.FLOAT and specs[qconv.inputs[5]].dtype == DT.FLOAT
    x = RNG.normal(0, 2, (2, 4, 6, 6)).astype(np.float32)
    r = RNG.normal(0, 1, (2, 6, 6, 6)).astype(np.float32)
    got = run_graph(graph, {"x": x, "r": r})["y"]
    xh = x.astype(np.float16).astype(np.float64)     # the input arrives in HALF
    w = torch.from_numpy(wq.astype(np.float64) * sw.reshape(-1, 1, 1, 1))
    ref = F.conv2d(torch.from_numpy(_fake_int8(xh, 0.05)), w, padding=1).numpy() * g + t + r
    np.testing.assert_allclose(got, np.maximum(ref, 0), rtol=2e-3, atol=2e-3)


def test_deconvolution_kernel_is_folded_to_float_and_batchnorm_still_folds():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (1, 4, 5, 5))
    wq = _int8_weights(4, 3, 2, 2)
    de = net.add_deconvolution_nd(x, 3, (2, 2), None, None)
    de.set_input(1, _qweight(net, wq, 0.01))
    de.stride_nd = (2, 2)
    de.name = "deconv"
    g = RNG.uniform(0.5, 1.5, (1, 3, 1, 1)).astype(np.float32)
    m = net.add_elementwise(de.get_output(0), const(net, g), EW.PROD)
    m.name = "bn_mul"
    m.get_output(0).name = "y"
    net.mark_output(m.get_output(0))
    graph = optimize(net)
    assert not _quantized_nodes(graph) and not _const_dequantize_left(graph) and count(graph, "elementwise") == 0
    xv = RNG.normal(0, 1, (1, 4, 5, 5)).astype(np.float32)
    _, got = _run(builder, net, {"x": xv})
    ref = F.conv_transpose2d(torch.from_numpy(xv.astype(np.float64)), torch.from_numpy(wq * 0.01), stride=2).numpy()
    np.testing.assert_allclose(got["y"], ref * g, rtol=1e-5, atol=1e-5)
