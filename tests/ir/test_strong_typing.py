"""Strongly typed networks (NetworkDefinitionCreationFlag.STRONGLY_TYPED) and the network-level type rules
(ir/type_rules.py): types follow inputs, constants and Cast layers; precision flags, layer precisions and output
types are refused with errors naming the flag or layer; mismatched and low-bit inputs name the layer; the plan
records every tensor's type."""
from __future__ import annotations

import json

import ml_dtypes
import numpy as np
import pytest
import torch

import inferrt as trt
from inferrt.builder.flags import STRONGLY_TYPED_REFUSED, flag_refusals, flag_warnings
from inferrt.runtime.inspector import format_datatype
from tests.helpers import CaptureLogger, assert_close, tolerance

DT = trt.DataType
STRONG = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


def _net(flags=STRONG):
    logger = CaptureLogger()
    builder = trt.Builder(logger)
    return logger, builder, builder.create_network(flags)


def _engine(builder, network, config=None):
    config = config or builder.create_builder_config()
    config.device = "cpu"
    plan = builder.build_serialized_network(network, config)
    assert plan is not None
    return trt.Runtime(builder.logger).deserialize_cuda_engine(plan)


def _half_network(dtype, np_dtype):
    """y = x * w + b in ``dtype`` end to end: typed input, typed constants (FP16 numpy / BF16 torch weights)."""
    logger, builder, net = _net()
    x = net.add_input("x", dtype, (2, 3))
    w = np.array([[0.5, -1.25, 2.0]], np.float32)
    b = np.array([[0.125, 3.0, -0.75]], np.float32)
    to = (lambda a: a.astype(np.float16)) if dtype == DT.HALF else (lambda a: torch.from_numpy(a).to(torch.bfloat16))
    wc = net.add_constant((1, 3), to(w)).get_output(0)
    bc = net.add_constant((1, 3), to(b)).get_output(0)
    m = net.add_elementwise(x, wc, trt.ElementWiseOperation.PROD)
    m.name = "scale"
    y = net.add_elementwise(m.get_output(0), bc, trt.ElementWiseOperation.SUM).get_output(0)
    y.name = "y"
    net.mark_output(y)
    return logger, builder, net, w, b


@pytest.mark.parametrize("dtype, np_dtype, tol", [(DT.HALF, np.float16, np.float16),
                                                  (DT.BF16, ml_dtypes.bfloat16, "bfloat16")])
def test_reduced_precision_network_keeps_its_types_and_the_plan_records_them(dtype, np_dtype, tol):
    logger, builder, net, w, b = _half_network(dtype, np_dtype)
    assert net.get_flag(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    assert net.get_output(0).dtype == dtype        # inferred from the inputs and constants, not declared
    engine = _engine(builder, net)
    assert engine.get_tensor_dtype("x") == engine.get_tensor_dtype("y") == dtype
    info = json.loads(engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
    types = {t["Format/Datatype"] for layer in info["Layers"] for t in layer["Inputs"] + layer["Outputs"]}
    assert types == {format_datatype(dtype, False)}, f"the plan records {types}"   # TensorRT's spelling, FP16...
    x = np.array([[1.0, 2.0, -3.0], [0.5, -0.25, 8.0]], np.float32)
    feed = torch.from_numpy(x).to(torch.float16 if dtype == DT.HALF else torch.bfloat16)
    y = engine.create_execution_context().infer({"x": feed})["y"]
    assert y.dtype == (torch.float16 if dtype == DT.HALF else torch.bfloat16)
    assert_close(y.float().numpy(), x.astype(np.float64) * w + b, tol)


@pytest.mark.parametrize("flag", STRONGLY_TYPED_REFUSED, ids=lambda f: f.name)
def test_precision_flags_fail_the_build_of_a_strongly_typed_network(flag):
    logger, builder, net, _, _ = _half_network(DT.HALF, np.float16)
    config = builder.create_builder_config()
    config.set_flag(flag)
    assert builder.build_serialized_network(net, config) is None
    errors = [m for s, m in logger.messages if s <= trt.Severity.ERROR]
    assert any(f"BuilderFlag.{flag.name}" in m and "strongly typed" in m and "clear_flag" in m for m in errors)


def test_precision_flags_build_a_weakly_typed_network_and_constraint_flags_are_logged_without_effect():
    logger, builder, weak = _net(0)
    x = weak.add_input("x", DT.FLOAT, (2,))
    weak.mark_output(weak.add_identity(x).get_output(0))
    config = builder.create_builder_config()
    for f in STRONGLY_TYPED_REFUSED:
        config.set_flag(f)
    assert flag_refusals(config, weak) == []
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    _, _, strong = _net()
    assert flag_refusals(config, strong) == []
    (msg,) = flag_warnings(config, "cuda", strong)
    assert "OBEY_PRECISION_CONSTRAINTS" in msg and "no effect" in msg and "strongly typed" in msg
    (msg,) = flag_warnings(config, "cuda", weak)     # honoured on a weakly typed network: only deprecated
    assert msg.startswith("weak typing is deprecated") and "OBEY_PRECISION_CONSTRAINTS" in msg


def test_layer_precision_and_output_type_are_refused_naming_the_layer():
    logger, builder, net, _, _ = _half_network(DT.HALF, np.float16)
    layer = next(lyr for lyr in net if lyr.name == "scale")
    layer.precision = DT.FLOAT
    layer.set_output_type(0, DT.FLOAT)
    assert not layer.precision_is_set and not layer.output_type_is_set(0)
    assert layer.get_output(0).dtype == DT.HALF
    errors = [m for s, m in logger.messages if s <= trt.Severity.ERROR]
    assert len(errors) == 2 and all("'scale'" in m and "strongly typed" in m and "add_cast" in m for m in errors)
    # the calls were refused (as TensorRT refuses them), so the network is unchanged and still builds, typed HALF
    assert _engine(builder, net).get_tensor_dtype("y") == DT.HALF
    # a weakly typed network takes both
    _, _, weak = _net(0)
    x = weak.add_input("x", DT.FLOAT, (2,))
    ident = weak.add_identity(x)
    ident.precision = DT.HALF
    ident.set_output_type(0, DT.HALF)
    assert ident.precision == DT.HALF and ident.get_output(0).dtype == DT.HALF


def test_mixed_float_inputs_without_a_cast_name_the_layer_and_a_cast_fixes_it():
    logger, builder, net = _net()
    h = net.add_input("h", DT.HALF, (4,))
    f = net.add_input("f", DT.FLOAT, (4,))
    add = net.add_elementwise(h, f, trt.ElementWiseOperation.SUM)
    add.name = "mixed_add"
    net.mark_output(add.get_output(0))
    with pytest.raises(trt.BuildError, match=r"mixed_add.*HALF and FLOAT.*cast"):
        builder.build(net, builder.create_builder_config())
    add.set_input(0, net.add_cast(h, DT.FLOAT).get_output(0))
    engine = _engine(builder, net)
    assert engine.get_tensor_dtype(add.get_output(0).name) == DT.FLOAT
    a = np.array([1.5, -2.0, 65504.0, 0.1], np.float16)
    b = np.array([0.25, 1.0, 1.0, 0.2], np.float32)
    got = engine.create_execution_context().infer({"h": a, "f": b})[add.get_output(0).name]
    assert_close(got, a.astype(np.float64) + b, np.float32)


@pytest.mark.parametrize("dtype", [DT.FP8, DT.FP8_E5M2, DT.FP4, DT.INT4, DT.UINT4, DT.E8M0])
def test_computing_on_a_low_bit_tensor_names_the_layer_and_the_fix(dtype):
    logger, builder, net = _net()
    q = net.add_input("q", dtype, (2, 4))
    w = net.add_input("w", DT.FLOAT, (4, 3))
    mm = net.add_matrix_multiply(q, trt.MatrixOperation.NONE, w, trt.MatrixOperation.NONE)
    mm.name = "lowbit_gemm"
    net.mark_output(mm.get_output(0))
    with pytest.raises(trt.BuildError, match=rf"lowbit_gemm.*{dtype.name}.*add_dequantize"):
        builder.build(net, builder.create_builder_config())


def test_dequantize_before_the_gemm_builds_and_computes_with_the_low_bit_values():
    logger, builder, net = _net()
    q = net.add_input("q", DT.INT4, (2, 4))
    scale = net.add_constant((), np.array(0.5, np.float32)).get_output(0)
    w = net.add_input("w", DT.FLOAT, (4, 3))
    dq = net.add_dequantize(q, scale, DT.FLOAT)
    mm = net.add_matrix_multiply(dq.get_output(0), trt.MatrixOperation.NONE, w, trt.MatrixOperation.NONE)
    y = mm.get_output(0)
    y.name = "y"
    net.mark_output(y)
    engine = _engine(builder, net)
    assert engine.get_tensor_dtype("q") == DT.INT4
    qv = np.array([[-8, -1, 0, 7], [3, 5, -4, 2]], np.int8)
    wv = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    ctx = engine.create_execution_context()
    for feed in (qv.astype(ml_dtypes.int4), torch.from_numpy(qv)):   # ml_dtypes array or the int8 storage
        got = ctx.infer({"q": feed, "w": wv if isinstance(feed, np.ndarray) else torch.from_numpy(wv)})["y"]
        assert_close(np.asarray(got), (qv * 0.5).astype(np.float64) @ wv, np.float32)
    with pytest.raises(trt.BindingError, match="INT4"):
        ctx.infer({"q": qv.astype(np.int32), "w": wv})


@pytest.mark.parametrize("to", [DT.FP8, DT.FP8_E5M2, DT.FP4, DT.INT4, DT.UINT4, DT.E8M0])
def test_cast_chain_through_a_low_bit_type_matches_the_onnx_reference(to):
    """FLOAT -> ``to`` -> FLOAT with the network API: the values are those of onnx's reference Cast."""
    from onnx import helper as oh
    from onnx.reference.ops.op_cast import cast_to

    x = np.array([0.3, -1.7, 2.5, 5.0, 7.0, 300.0, 1e5, -0.0, 0.75, 13.0, -9.0, 1.0], np.float32)
    if to == DT.E8M0:
        x = np.abs(x) + 1e-3
    logger, builder, net = _net()
    t = net.add_input("x", DT.FLOAT, x.shape)
    low = net.add_cast(t, to).get_output(0)
    back = net.add_cast(low, DT.FLOAT).get_output(0)
    back.name = "y"
    net.mark_output(back)
    got = _engine(builder, net).create_execution_context().infer({"x": x})["y"]
    onnx_type = {DT.FP8: 17, DT.FP8_E5M2: 19, DT.FP4: 23, DT.INT4: 22, DT.UINT4: 21, DT.E8M0: 24}[to]
    want = cast_to(x, onnx_type, saturate=True).astype(np.float32)
    if to in (DT.INT4, DT.UINT4):
        keep = (x >= (-8 if to == DT.INT4 else 0)) & (x < (8 if to == DT.INT4 else 16))  # in range: defined
        got, want = got[keep], want[keep]
    np.testing.assert_array_equal(got, want)
    assert oh.tensor_dtype_to_np_dtype(onnx_type) is not None


def test_low_bit_types_have_storage_and_numpy_exchange():
    from inferrt.dtypes import LOW_BIT, itemsize, ml_dtype, to_numpy, to_torch, torch_dtype

    for dt in LOW_BIT:
        assert itemsize(dt) == 1
        t = to_torch(np.array([0, 1], dtype=ml_dtype(dt)) if dt != DT.E8M0 else np.array([1, 2], ml_dtype(dt)))
        assert t.dtype == torch_dtype(dt)
        back = to_numpy(t, dt)
        assert back.dtype == ml_dtype(dt)
    assert torch_dtype(DT.INT4) == torch.int8 and torch_dtype(DT.FP4) == torch.float8_e4m3fn
    assert trt.int4 == DT.INT4 and trt.fp4 == DT.FP4 and trt.e8m0 == DT.E8M0
    assert [int(d) for d in (DT.INT4, DT.FP4, DT.E8M0)] == [9, 10, 11]   # TensorRT's values
    assert tolerance(np.float16)


def test_fp16_onnx_model_parses_into_a_strongly_typed_network_with_fp16_io():
    """FP16 initializers and I/O: the engine computes in HALF end to end, as onnxruntime does."""
    import onnxruntime as ort
    from onnx import TensorProto as TP, helper as oh, numpy_helper

    rng = np.random.default_rng(5)
    w = (rng.standard_normal((6, 4)) * 0.5).astype(np.float16)
    b = rng.standard_normal(4).astype(np.float16)
    g = oh.make_graph([oh.make_node("MatMul", ["x", "w"], ["m"]), oh.make_node("Add", ["m", "b"], ["a"]),
                       oh.make_node("Relu", ["a"], ["y"])], "g",
                      [oh.make_tensor_value_info("x", TP.FLOAT16, [2, 6])],
                      [oh.make_tensor_value_info("y", TP.FLOAT16, [2, 4])],
                      [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 17)])
    m.ir_version = 8
    logger, builder, net = _net()
    parser = trt.OnnxParser(net, logger)
    assert parser.parse(m.SerializeToString())
    assert [net.get_layer(i).get_output(0).dtype for i in range(net.num_layers)] == [DT.HALF] * net.num_layers
    engine = _engine(builder, net)
    assert engine.get_tensor_dtype("x") == engine.get_tensor_dtype("y") == DT.HALF
    x = rng.standard_normal((2, 6)).astype(np.float16)
    got = engine.create_execution_context().infer({"x": x})["y"]
    assert got.dtype == np.float16
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert_close(got, want, np.float16)
