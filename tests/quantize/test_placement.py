"""Q/DQ placement by TensorRT's rules: inputs of weighted ops, the residual Add's non-conv input, nothing between
ops the builder fuses, graph outputs and Softmax/LayerNorm inputs left float."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

from inferrt.quantize import quantize
from tests.helpers import lowest_ir
from tests.quantize.models import gemm_model, resblock_model


def _graph(model):
    producer = {o: n for n in model.graph.node for o in n.output}
    node = {n.name: n for n in model.graph.node}
    return producer, node


def _qdq_source(name, producer):
    """The float tensor behind ``name`` when ``name`` is a DequantizeLinear(QuantizeLinear(t)) output, else None."""
    dq = producer.get(name)
    if dq is None or dq.op_type != "DequantizeLinear":
        return None
    q = producer.get(dq.input[0])
    return q.input[0] if q is not None and q.op_type == "QuantizeLinear" else None


def _quantized_tensors(model) -> set:
    return {n.input[0] for n in model.graph.node if n.op_type == "QuantizeLinear"}


@pytest.fixture(scope="module")
def resblock_int8():
    x = np.random.default_rng(1).standard_normal((2, 4, 8, 8)).astype(np.float32)
    return quantize(resblock_model(), "int8", "max", calibration_data={"x": x}, progress=False)


def test_int8_resblock_puts_qdq_on_weighted_inputs_and_the_residual(resblock_int8):
    m = resblock_int8.model
    producer, node = _graph(m)
    # activation Q/DQ: the inputs of the three convs and the Gemm; "a" is also the residual Add's identity input
    assert _quantized_tensors(m) == {"x", "a", "r1o", "flato"}
    assert _qdq_source(node["c0"].input[0], producer) == "x"
    assert _qdq_source(node["c1"].input[0], producer) == "a"
    assert _qdq_source(node["c2"].input[0], producer) == "r1o"
    assert _qdq_source(node["fc"].input[0], producer) == "flato"
    # the Add fuses with c2 (through bn2): its conv input stays float, the identity input shares a's Q/DQ
    assert node["add"].input[0] == "bn2o"
    assert node["add"].input[1] == node["c1"].input[0]
    assert resblock_int8.report.residual_adds == ["add"]
    # nothing between fused ops, nothing on the output
    assert node["bn0"].input[0] == "c0o" and node["r0"].input[0] == "bn0o" and node["r2"].input[0] == "addo"
    assert node["gap"].input[0] == "y0" and [o.name for o in m.graph.output] == ["y"]
    assert producer["y"].op_type == "Gemm"
    assert sorted(resblock_int8.report.quantized_nodes) == ["c0", "c1", "c2", "fc"]


def test_int8_weights_are_int8_initializers_under_a_per_channel_dq(resblock_int8):
    m = resblock_int8.model
    producer, node = _graph(m)
    inits = {t.name: t for t in m.graph.initializer}
    for name, axis in (("c0", 0), ("c1", 0), ("c2", 0), ("fc", 0)):
        dq = producer[node[name].input[1]]
        assert dq.op_type == "DequantizeLinear"
        assert inits[dq.input[0]].data_type == onnx.TensorProto.INT8
        assert next(a.i for a in dq.attribute if a.name == "axis") == axis
        assert list(inits[dq.input[1]].dims) == [inits[dq.input[0]].dims[axis]]
    # the float weights are gone
    assert not {"w0", "w1", "w2", "wfc"} & set(inits)


def test_weights_qdq_keeps_float_weights_under_q_and_dq():
    x = np.random.default_rng(1).standard_normal((2, 4, 8, 8)).astype(np.float32)
    m = quantize(resblock_model(), "int8", "max", calibration_data={"x": x}, weights_dq_only=False,
                 progress=False).model
    producer, node = _graph(m)
    assert _qdq_source(node["c1"].input[1], producer) == "w1"
    assert {"w0", "w1", "w2", "wfc"} <= _quantized_tensors(m)


def test_transformer_gemms_leave_softmax_layernorm_and_outputs_float():
    x = np.random.default_rng(2).standard_normal((3, 4, 16)).astype(np.float32)
    r = quantize(gemm_model(), "int8", "max", calibration_data={"x": x}, progress=False)
    m = r.model
    producer, node = _graph(m)
    # one Q/DQ pair on h shared by the three GEMMs; no residual rule for an Add of GEMM outputs
    assert _quantized_tensors(m) == {"h"}
    assert node["q"].input[0] == node["k"].input[0] == node["out"].input[0]
    assert _qdq_source(node["q"].input[0], producer) == "h"
    assert node["ln"].input[0] == "x" and node["sm"].input[0] == "s" and node["sum"].input[:] == ["qo", "ko"]
    assert r.report.residual_adds == []


def test_fp8_placement_matches_int8_and_uses_e4m3():
    x = np.random.default_rng(1).standard_normal((2, 4, 8, 8)).astype(np.float32)
    r = quantize(resblock_model(), "fp8", calibration_data={"x": x}, progress=False)
    assert _quantized_tensors(r.model) == {"x", "a", "r1o", "flato"}
    zps = [t for t in r.model.graph.initializer if t.name.endswith("_zero_point")]
    assert zps and all(t.data_type == onnx.TensorProto.FLOAT8E4M3FN for t in zps)
    assert r.report.opset == 19 and r.report.calibration_method == "max"


def test_excluded_nodes_and_op_types_stay_float():
    x = np.random.default_rng(1).standard_normal((2, 4, 8, 8)).astype(np.float32)
    r = quantize(resblock_model(), "int8", "max", calibration_data={"x": x}, nodes_to_exclude=["c2"],
                 op_types_to_exclude=["Gemm"], progress=False)
    _, node = _graph(r.model)
    assert node["c2"].input[:] == ["r1o", "w2"] and node["fc"].input[:2] == ["flato", "wfc"]
    # c2 is not quantized, so the Add has no quantized conv input: no residual Q/DQ
    assert _quantized_tensors(r.model) == {"x", "a"} and r.report.residual_adds == []


def test_int4_is_weight_only_on_gemms():
    r = quantize(gemm_model(k=16), "int4_rtn", block_size=8, progress=False)
    m = r.model
    producer, node = _graph(m)
    assert _quantized_tensors(m) == set()
    for name in ("q", "k", "out"):
        dq = producer[node[name].input[1]]
        attrs = {a.name: a.i for a in dq.attribute}
        assert attrs == {"axis": 0, "block_size": 8}
    assert r.report.opset == 21 and r.report.calibration == "none"


def test_projection_shortcut_add_fuses_with_input_0_and_quantizes_input_1():
    """ResNet's downsampling block: both Add inputs come from quantized convs (through folded BatchNorms)."""
    from tests.passes.onnx_models import resnet_onnx

    x = np.random.default_rng(3).standard_normal((2, 3, 16, 16)).astype(np.float32)
    r = quantize(resnet_onnx(), "int8", "max", calibration_data={"x": x}, progress=False)
    producer, _ = _graph(r.model)
    adds = [n for n in r.model.graph.node if n.op_type == "Add"]
    assert len(adds) == 2 and sorted(r.report.residual_adds) == sorted(n.name for n in adds)
    identity, projection = adds
    assert producer[identity.input[0]].op_type == "Conv" and _qdq_source(identity.input[1], producer)
    assert producer[projection.input[0]].op_type == "Conv"
    shortcut = _qdq_source(projection.input[1], producer)
    assert shortcut is not None and producer[shortcut].op_type == "Conv"


def test_initializers_read_only_by_a_subgraph_are_kept():
    from onnx import TensorProto, helper, numpy_helper

    then_g = helper.make_graph([helper.make_node("Add", ["z", "bias"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2, 3])])
    else_g = helper.make_graph([helper.make_node("Identity", ["z"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2, 3])])
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["z"], name="mm"),
         helper.make_node("If", ["c"], ["y"], name="if", then_branch=then_g, else_branch=else_g)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4]),
         helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(np.ones((4, 3), np.float32), "w"),
         numpy_helper.from_array(np.ones(3, np.float32), "bias")])
    m = lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    r = quantize(m, "int8", "max", calibration_data={"x": np.ones((2, 4), np.float32), "c": np.array(True)},
                 progress=False)
    assert "bias" in {t.name for t in r.model.graph.initializer} and "w" not in {t.name for t in
                                                                                 r.model.graph.initializer}
    from tests.quantize.models import ort_run

    np.testing.assert_allclose(ort_run(r.model, {"x": np.ones((2, 4), np.float32), "c": np.array(True)})[0],
                               np.full((2, 3), 5.0), rtol=1e-2)
