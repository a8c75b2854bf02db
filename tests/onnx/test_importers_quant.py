"""Quantization importers (QuantizeLinear/DequantizeLinear across opsets, DynamicQuantizeLinear, MatMulInteger,
ConvInteger, QLinearMatMul, QLinearConv) against onnxruntime; integer outputs must match exactly.

Integer products of uint8 x int8 are compared with onnx.reference.ReferenceEvaluator (exact) instead on CPUs where
onnxruntime's kernels saturate pairs of products to int16 (AVX2 without VNNI: vpmaddubsw), as ort_exactness probes;
elsewhere, and for the other type pairs, with onnxruntime."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as TP, helper as oh

import inferrt
from ort_exactness import ort_integer_products_exact, ort_matmul_integer, probe_operands
from special_tools import check, model, run_inferrt

RNG = np.random.default_rng(7)


def _i8(*shape):
    return RNG.integers(-128, 128, shape).astype(np.int8)


def _u8(*shape):
    return RNG.integers(0, 256, shape).astype(np.uint8)


@pytest.mark.parametrize("opset", [10, 13, 19, 21])
@pytest.mark.parametrize("zp_type", [np.uint8, np.int8, None])
def test_quantize_per_tensor(opset, zp_type):
    x = (RNG.standard_normal((2, 3, 4)) * 4).astype(np.float32)
    x[0, 0, :3] = [0.5, 1.5, -2.5]                       # ties round half to even
    inits = {"s": np.array(0.05, np.float32)}
    ins = ["x", "s"]
    if zp_type is not None:
        inits["zp"] = np.array(3 if zp_type == np.uint8 else -4, zp_type)
        ins.append("zp")
    check(oh.make_node("QuantizeLinear", ins, ["y"]), {"x": x}, ["y"], inits, opset=opset)


@pytest.mark.parametrize("opset", [13, 21])
def test_quantize_dequantize_per_axis(opset):
    x = (RNG.standard_normal((2, 4, 3)) * 3).astype(np.float32)
    inits = {"s": np.array([0.02, 0.05, 0.1, 0.3], np.float32), "zp": np.array([0, 10, 128, 250], np.uint8),
             "s2": np.array([0.1, 0.2, 0.3], np.float32), "zp2": np.array([-3, 0, 5], np.int8)}
    nodes = [oh.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"], axis=1),
             oh.make_node("DequantizeLinear", ["q", "s", "zp"], ["dq"], axis=1),
             oh.make_node("QuantizeLinear", ["x", "s2", "zp2"], ["q2"], axis=-1),
             oh.make_node("DequantizeLinear", ["q2", "s2", "zp2"], ["dq2"], axis=-1)]
    check(nodes, {"x": x}, ["q", "dq", "q2", "dq2"], inits, opset=opset)


def test_per_tensor_on_1d_input_ignores_axis():
    x = (RNG.standard_normal((6,)) * 3).astype(np.float32)
    nodes = [oh.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"]), oh.make_node("DequantizeLinear", ["q", "s", "zp"],
                                                                                    ["y"])]
    check(nodes, {"x": x}, ["q", "y"], {"s": np.array(0.1, np.float32), "zp": np.array(5, np.int8)}, opset=19)


@pytest.mark.parametrize("zp_type", [np.int16, np.uint16])
def test_quantize_dequantize_16_bit(zp_type):
    x = (RNG.standard_normal((3, 4)) * 2000).astype(np.float32)
    x[0, :2] = [1e5, -1e5]
    inits = {"s": np.array(0.05, np.float32), "zp": np.array(300 if zp_type == np.uint16 else -7, zp_type)}
    nodes = [oh.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"]), oh.make_node("DequantizeLinear", ["q", "s", "zp"],
                                                                                    ["y"])]
    got = check(nodes, {"x": x}, ["q", "y"], inits, opset=21, use_ort=False)
    assert got["q"].min() >= np.iinfo(zp_type).min and got["q"].max() <= np.iinfo(zp_type).max
    assert got["q"].max() == np.iinfo(zp_type).max                        # large values saturate at the 16-bit max


def test_quantize_dequantize_blocked():
    x = (RNG.standard_normal((4, 6)) * 3).astype(np.float32)
    s = np.abs(RNG.standard_normal((4, 3))).astype(np.float32) * 0.05 + 0.01
    zp = _i8(4, 3) // 8
    nodes = [oh.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"], axis=1, block_size=2),
             oh.make_node("DequantizeLinear", ["q", "s", "zp"], ["dq"], axis=1, block_size=2)]
    check(nodes, {"x": x}, ["q", "dq"], {"s": s, "zp": zp}, opset=21)


def test_dequantize_int32_and_dynamic_input():
    x = RNG.integers(-100000, 100000, (3, 5)).astype(np.int32)
    check(oh.make_node("DequantizeLinear", ["x", "s"], ["y"]), {"x": x}, ["y"], {"s": np.array(0.003, np.float32)},
          opset=13)
    q = _u8(2, 7)
    check(oh.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"]), {"q": q}, ["y"],
          {"s": np.array(0.25, np.float32), "zp": np.array(128, np.uint8)}, opset=19, dynamic=("q",),
          profiles={"q": ((1, 1), (2, 7), (4, 16))})


@pytest.mark.parametrize("saturate", [1, 0])
def test_quantize_fp8_saturate_and_not(saturate):
    # ONNX: out of range -> +-448 with saturate, NaN without (E4M3FN has no infinity); reference: onnx's evaluator
    x = np.array([[0.1, -3.0, 500.0, -1000.0, 12.3, np.inf, 460.0, 470.0]], np.float32)
    nodes = [oh.make_node("QuantizeLinear", ["x", "s"], ["q"], saturate=saturate, output_dtype=TP.FLOAT8E4M3FN),
             oh.make_node("DequantizeLinear", ["q", "s"], ["y"])]
    got = check(nodes, {"x": x}, [("y", TP.FLOAT, 2)], {"s": np.array(1.0, np.float32)}, opset=21, use_ort=False,
                rtol=0, atol=0)["y"][0]
    if saturate:
        assert got[2] == 448 and got[3] == -448 and got[5] == 448
    else:
        assert np.isnan(got[[2, 3, 5, 7]]).all() and got[6] == 448


def test_dynamic_quantize_linear():
    for x in (RNG.standard_normal((3, 8)).astype(np.float32) * 5,
              np.abs(RNG.standard_normal((2, 4))).astype(np.float32) + 1,    # all positive: range includes 0
              -np.abs(RNG.standard_normal((5,))).astype(np.float32)):
        check(oh.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "zp"]), {"x": x}, ["y", "s", "zp"],
              opset=11, rtol=1e-6, atol=0)


@pytest.mark.parametrize("types", [(np.uint8, np.uint8), (np.uint8, np.int8), (np.int8, np.int8)])
def test_matmul_integer(types):
    a = _u8(2, 3, 4) if types[0] == np.uint8 else _i8(2, 3, 4)
    b = _u8(4, 5) if types[1] == np.uint8 else _i8(4, 5)
    inits = {"azp": np.array(7, types[0]), "bzp": np.array(200 if types[1] == np.uint8 else -2, types[1])}
    exact = ort_integer_products_exact(*types)    # else onnxruntime's u8 x s8 saturates (AVX2): ReferenceEvaluator
    check(oh.make_node("MatMulInteger", ["a", "b", "azp", "bzp"], ["y"]), {"a": a, "b": b}, ["y"], inits, opset=10,
          use_ort=exact)
    check(oh.make_node("MatMulInteger", ["a", "b"], ["y"]), {"a": a, "b": b}, ["y"], opset=10, use_ort=exact)


def test_matmul_integer_per_column_and_row_zero_points():
    a, b = _u8(3, 4), _u8(4, 5)
    azp, bzp = np.array([1, 2, 3], np.uint8), _u8(5)    # onnxruntime takes scalar zero points only: numpy int64
    m = model(oh.make_node("MatMulInteger", ["a", "b", "azp", "bzp"], ["y"]), {"a": a, "b": b}, ["y"],
              {"azp": azp, "bzp": bzp}, opset=10)
    got = run_inferrt(m, {"a": a, "b": b})["y"]
    expect = (a.astype(np.int64) - azp[:, None]) @ (b.astype(np.int64) - bzp)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expect)


@pytest.mark.parametrize("auto_pad,pads,strides,group", [
    ("NOTSET", [1, 0, 2, 1], [1, 1], 1), ("SAME_UPPER", None, [2, 2], 1), ("VALID", None, [1, 2], 2)])
def test_conv_integer(auto_pad, pads, strides, group):
    x, w = _u8(1, 4, 7, 6), _u8(6, 4 // group, 3, 3)
    kw = {"auto_pad": auto_pad, "strides": strides, "group": group}
    if pads:
        kw["pads"] = pads
    inits = {"w": w, "xzp": np.array(100, np.uint8), "wzp": np.array(128, np.uint8)}
    check(oh.make_node("ConvInteger", ["x", "w", "xzp", "wzp"], ["y"], **kw), {"x": x}, ["y"], inits, opset=10,
          use_ort=ort_integer_products_exact(np.uint8, np.uint8))    # else ReferenceEvaluator (see ort_exactness)


def _qlinear_matmul_inits(a_type, b_type, y_type, n=5, per_column=False):
    return {"sa": np.array(0.02, np.float32), "za": np.array(120 if a_type == np.uint8 else 3, a_type),
            "sb": (np.linspace(0.005, 0.03, n) if per_column else np.array(0.01)).astype(np.float32),
            "zb": (np.arange(n) if per_column else np.array(2)).astype(b_type) if b_type == np.int8 else
                  (np.arange(n) + 125 if per_column else np.array(128)).astype(b_type),
            "sy": np.array(0.15, np.float32), "zy": np.array(100 if y_type == np.uint8 else -5, y_type)}


@pytest.mark.parametrize("types", [(np.uint8, np.uint8, np.uint8), (np.uint8, np.int8, np.uint8),
                                   (np.int8, np.int8, np.int8)])
def test_qlinear_matmul(types):
    a = _u8(2, 3, 4) if types[0] == np.uint8 else _i8(2, 3, 4)
    b = _u8(4, 5) if types[1] == np.uint8 else _i8(4, 5)
    inits = _qlinear_matmul_inits(*types)
    inits["b"] = b
    node = oh.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"])
    # onnxruntime's u8 x s8 products saturate on AVX2 without VNNI: then the exact ReferenceEvaluator is the reference
    check(node, {"a": a}, ["y"], inits, opset=10, use_ort=ort_integer_products_exact(types[0], types[1]))


def test_qlinear_matmul_per_column_opset21():
    a, b = _u8(3, 4), _i8(4, 5)
    inits = _qlinear_matmul_inits(np.uint8, np.int8, np.uint8, per_column=True)
    inits["b"] = b
    inits["zb"] = np.zeros(5, np.int8)
    node = oh.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"])
    # onnxruntime's u8 x s8 products saturate on AVX2 without VNNI: then the exact ReferenceEvaluator is the reference
    check(node, {"a": a}, ["y"], inits, opset=21, use_ort=ort_integer_products_exact(np.uint8, np.int8))


@pytest.mark.parametrize("per_channel", [False, True])
def test_qlinear_conv(per_channel):
    x, w = _u8(2, 3, 6, 5), _i8(4, 3, 3, 3)
    inits = {"w": w, "sx": np.array(0.03, np.float32), "zx": np.array(110, np.uint8),
             "sw": (np.array([0.01, 0.02, 0.005, 0.04]) if per_channel else np.array(0.01)).astype(np.float32),
             "zw": (np.zeros(4) if per_channel else np.array(0)).astype(np.int8),
             "sy": np.array(0.4, np.float32), "zy": np.array(90, np.uint8),
             "bias": RNG.integers(-500, 500, 4).astype(np.int32)}
    node = oh.make_node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "bias"], ["y"],
                        pads=[1, 1, 1, 1], strides=[1, 2])
    # onnxruntime's u8 x s8 products saturate on AVX2 without VNNI (off by up to 13 output steps here): then the
    # exact ReferenceEvaluator is the reference
    check(node, {"x": x}, ["y"], inits, opset=10, use_ort=ort_integer_products_exact(np.uint8, np.int8))


@pytest.mark.parametrize("types", [(np.uint8, np.int8), (np.uint8, np.uint8), (np.int8, np.int8)])
def test_ort_exactness_probe_agrees_with_numpy(types):
    # whichever the CPU: the cached probe says exact iff onnxruntime's MatMulInteger equals numpy's int64 product on
    # operands with int16-overflowing pairs of products (255 * 127 * 2 for u8 x s8), B constant or not
    a, b = probe_operands(*types)
    assert np.abs(a[:2, :1].astype(np.int64) * b[:1, :2]).max() * 2 > np.iinfo(np.int16).max   # extreme rows/cols
    expect = a.astype(np.int64) @ b.astype(np.int64)
    direct = all(np.array_equal(ort_matmul_integer(a, b, const), expect) for const in (True, False))
    assert ort_integer_products_exact(*types) == direct
    assert ort_integer_products_exact(*types) is ort_integer_products_exact(*types)   # cached


# ----------------------------------------------------------------------------------------------- whole models
def _float_cnn(rng):
    from onnx import numpy_helper

    w = {"w1": rng.standard_normal((8, 3, 3, 3)) * 0.3, "b1": rng.standard_normal(8) * 0.1,
         "w2": rng.standard_normal((4, 8, 3, 3)) * 0.2, "wf": rng.standard_normal((64, 10)) * 0.1}
    nodes = [oh.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]), oh.make_node("Relu", ["c1"], ["r1"]),
             oh.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
             oh.make_node("Relu", ["c2"], ["r2"]), oh.make_node("Flatten", ["r2"], ["f"]),
             oh.make_node("MatMul", ["f", "wf"], ["y"])]
    g = oh.make_graph(nodes, "cnn", [oh.make_tensor_value_info("x", TP.FLOAT, [1, 3, 8, 8])],
                      [oh.make_tensor_value_info("y", TP.FLOAT, [1, 10])],
                      [numpy_helper.from_array(v.astype(np.float32), k) for k, v in w.items()])
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 13)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
def test_statically_quantized_cnn_matches_onnxruntime(tmp_path, fmt):
    """A CNN quantized by onnxruntime's own tool (per-channel int8 weights, uint8 activations), in both formats.

    QOperator runs QLinearConv/QLinearMatMul, uint8 x int8 products: where onnxruntime's kernels saturate pairs of
    them to int16 (AVX2 without VNNI, see ort_exactness; up to 16 output steps off here), the reference is
    onnx.reference.ReferenceEvaluator (exact), on the model converted to opset 19 (the evaluator has no
    DequantizeLinear before 19; for uint8 QuantizeLinear/DequantizeLinear mean the same in 13 and 19). QDQ runs the
    dequantized float ops in onnxruntime on every CPU."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    rng = np.random.default_rng(3)
    samples = [rng.standard_normal((1, 3, 8, 8)).astype(np.float32) for _ in range(5)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": s} for s in samples[:4]])

        def get_next(self):
            return next(self.it, None)

    onnx.save(_float_cnn(rng), tmp_path / "f.onnx")
    quantize_static(str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"), Reader(),
                    quant_format=getattr(QuantFormat, fmt), per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    q = onnx.load(tmp_path / "q.onnx")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL   # run the Q/DQ nodes as written
    sess = ort.InferenceSession(q.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    if fmt == "QOperator" and not ort_integer_products_exact(np.uint8, np.int8):
        from onnx import version_converter
        from onnx.reference import ReferenceEvaluator

        sess = ReferenceEvaluator(version_converter.convert_version(q, 19))
    ctx = inferrt.build_engine(q, device="cpu").create_execution_context()
    step = max(abs(float(_output_scale(q, "y"))), 1e-6)
    for s in samples:
        ref = sess.run(["y"], {"x": s})[0]
        got = ctx.infer({"x": s})["y"]
        # one output quantization step of slack: float rounding of x / scale may land on the other side of .5
        np.testing.assert_allclose(got, ref, rtol=0, atol=step * 1.01)
        assert np.mean(np.isclose(got, ref, rtol=0, atol=1e-6)) > 0.8


def _output_scale(model, output):
    """The scale of the DequantizeLinear that produces ``output`` (or of the last one), from the initializers."""
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    node = next((n for n in dq if output in n.output), dq[-1])
    return np.max(inits[node.input[1]])


def test_qlinear_conv_and_matmul_integer_dynamic_shapes():
    x, w = _u8(3, 2, 7, 6), _i8(4, 2, 3, 3)
    inits = {"w": w, "sx": np.array(0.05, np.float32), "zx": np.array(128, np.uint8), "sw": np.array(0.02, np.float32),
             "zw": np.array(0, np.int8), "sy": np.array(0.3, np.float32), "zy": np.array(120, np.uint8)}
    node = oh.make_node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy"], ["y"], auto_pad="SAME_UPPER",
                        strides=[2, 2])
    # u8 x s8: the exact ReferenceEvaluator where onnxruntime's products saturate (AVX2 without VNNI)
    check(node, {"x": x}, ["y"], inits, opset=10, dynamic=("x",),
          profiles={"x": ((1, 2, 3, 3), (3, 2, 7, 6), (4, 2, 16, 16))},
          use_ort=ort_integer_products_exact(np.uint8, np.int8))
    a, b = _u8(5, 4), _u8(4, 3)
    check(oh.make_node("MatMulInteger", ["a", "b", "az"], ["y"]), {"a": a}, ["y"],
          {"b": b, "az": np.array(9, np.uint8)}, opset=10, dynamic=("a",), profiles={"a": ((1, 4), (5, 4), (9, 4))},
          use_ort=ort_integer_products_exact(np.uint8, np.uint8))
