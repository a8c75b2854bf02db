"""Model preparation: loading, opset raised for the low type, unnamed nodes named, Constants to initializers."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import inferrt as trt
from inferrt.autocast.prepare_model import prepare
from tests.helpers import lowest_ir


def _model(opset=11):
    nodes = [helper.make_node("Constant", [], ["k"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [2.0])),
             helper.make_node("Mul", ["x", "k"], ["m"]),
             helper.make_node("Relu", ["m"], ["y"]),
             helper.make_node("Constant", [], ["f"], value_float=3.0),
             helper.make_node("Add", ["y", "f"], ["z"], name="Mul_1")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])])
    return lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]))


def test_opset_is_raised_to_the_low_types_minimum():
    assert prepare(_model(11), TensorProto.FLOAT16, None)[1:] == (13, 11)
    assert prepare(_model(11), TensorProto.BFLOAT16, None)[1:] == (22, 11)
    assert prepare(_model(18), TensorProto.FLOAT16, None)[1:] == (18, 18)
    m, opset, _ = prepare(_model(11), TensorProto.FLOAT16, 17)
    assert opset == 17 and m.opset_import[0].version == 17


@pytest.mark.parametrize("low, opset, input_ir, written_ir", [
    (TensorProto.FLOAT16, 13, 7, 7),     # the input's: opset 13 needs IR 7
    (TensorProto.FLOAT16, 11, 6, 7),     # converted to opset 13: raised to the IR version it needs
    (TensorProto.FLOAT16, 17, 10, 10),   # a higher input IR version is kept, never lowered
    (TensorProto.BFLOAT16, 17, 8, 10),   # converted to opset 22 (IR 10)
])
def test_the_ir_version_is_the_inputs_raised_only_as_the_opset_needs(low, opset, input_ir, written_ir):
    """Never the installed onnx's newest IR version, which an older onnxruntime refuses."""
    src = _model(opset)
    src.ir_version = input_ir
    m, _, _ = prepare(src, low, None)
    assert m.ir_version == written_ir


def test_names_and_constants():
    m, _, _ = prepare(_model(13), TensorProto.FLOAT16, None)
    assert [n.op_type for n in m.graph.node] == ["Mul", "Relu", "Add"]
    names = [n.name for n in m.graph.node]
    assert len(set(names)) == 3 and names[2] == "Mul_1" and names[0] == "Mul_1_1"   # unique, never reused
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    assert inits["k"].tolist() == [2.0] and float(inits["f"]) == 3.0


def test_bad_sources():
    with pytest.raises(trt.ParseError, match="does not exist"):
        prepare("/nonexistent/model.onnx", TensorProto.FLOAT16, None)
    with pytest.raises(trt.ParseError, match="not an ONNX model"):
        prepare(b"\xff\x00garbage", TensorProto.FLOAT16, None)
    with pytest.raises(TypeError, match="ONNX file path"):
        prepare(np.zeros(3), TensorProto.FLOAT16, None)


def _abort_in_helper(*args, **kwargs):
    from inferrt.onnx import native_worker

    native_worker.call("selftest", {"action": "abort"})


def test_onnx_converter_aborting_is_a_build_error(monkeypatch):
    """Issue 10: onnx's C++ version converter runs in the helper process; an abort there is a BuildError."""
    from inferrt.onnx import native_worker

    monkeypatch.setattr(native_worker, "convert_version", _abort_in_helper)
    with pytest.raises(trt.BuildError, match="converting the model from opset 11 to 13.*SIGABRT"):
        prepare(_model(11), TensorProto.FLOAT16, None)
    monkeypatch.undo()
    assert prepare(_model(11), TensorProto.FLOAT16, None)[1] == 13


def test_onnx_inference_aborting_is_a_build_error(monkeypatch):
    from inferrt.autocast.prepare_model import infer_types
    from inferrt.onnx import native_worker

    monkeypatch.setattr(native_worker, "infer_shapes", _abort_in_helper)
    with pytest.raises(trt.BuildError, match="ONNX shape inference failed on this model.*SIGABRT"):
        infer_types(_model(13))
    monkeypatch.undo()
    assert infer_types(_model(13))["z"] == TensorProto.FLOAT
