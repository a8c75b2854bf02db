"""The graph rewrite: initializers converted in place, copied or cast at run time; original Casts retargeted
instead of chained; graph outputs keep their names."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from inferrt.autocast import autocast
from tests.autocast.models import check_casts_at_boundaries, shared_weight_model
from tests.helpers import assert_close, lowest_ir

F16, F32 = TensorProto.FLOAT16, TensorProto.FLOAT
X = {"x": np.random.default_rng(11).standard_normal((3, 4)).astype(np.float32)}


def run(model, feed):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)[0]


def inits(model) -> dict:
    return {t.name: t.data_type for t in model.graph.initializer}


def test_initializer_read_in_both_precisions_gets_a_converted_copy():
    r = autocast(shared_weight_model(), calibration_data=X, nodes_to_exclude=["keep"], keep_io_types=True)
    assert inits(r.model) == {"w": F32, "w_fp16": F16}
    keep = next(n for n in r.model.graph.node if n.name == "keep")
    go = next(n for n in r.model.graph.node if n.name == "go")
    assert keep.input[1] == "w" and go.input[1] == "w_fp16"
    assert (r.report.initializers_converted, r.report.initializers_copied) == (0, 1)
    assert_close(run(r.model, X), run(shared_weight_model(), X), dtype=np.float16)


def test_initializer_read_only_in_low_precision_is_converted_in_place():
    r = autocast(shared_weight_model(), calibration_data=X, keep_io_types=True)
    assert inits(r.model) == {"w": F16}
    assert not any(n.op_type == "Cast" and n.input[0] == "w" for n in r.model.graph.node)


def test_initializers_over_the_byte_limit_are_cast_at_run_time():
    r = autocast(shared_weight_model(), calibration_data=X, keep_io_types=True, init_conversion_max_bytes=32)
    assert inits(r.model) == {"w": F32}   # 64 bytes > 32
    cast = [n for n in r.model.graph.node if n.op_type == "Cast" and n.input[0] == "w"]
    assert len(cast) == 1 and cast[0].attribute[0].i == F16
    assert r.report.initializers_cast == 1
    assert_close(run(r.model, X), run(shared_weight_model(), X), dtype=np.float16)


def _cast_model():
    """ids (int64) -> Cast(to=FLOAT) -> Mul by w -> y; positions -> Cast(to=FLOAT) -> Sub ... -> z (FP32 only)."""
    nodes = [helper.make_node("Cast", ["ids"], ["f"], name="to_float", to=F32),
             helper.make_node("Mul", ["f", "w"], ["y"], name="mul"),
             helper.make_node("Cast", ["ids"], ["g"], name="to_float2", to=F32),
             helper.make_node("Mul", ["g", "big"], ["z"], name="huge")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("ids", TensorProto.INT64, [2, 3])],
                          [helper.make_tensor_value_info("y", F32, [2, 3]),
                           helper.make_tensor_value_info("z", F32, [2, 3])],
                          [numpy_helper.from_array(np.full((3,), 0.5, np.float32), "w"),
                           numpy_helper.from_array(np.full((3,), 1000.0, np.float32), "big")])
    return lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


def test_original_cast_to_float_is_retargeted_not_chained():
    feed = {"ids": np.arange(6, dtype=np.int64).reshape(2, 3)}
    r = autocast(_cast_model(), calibration_data=feed, keep_io_types=True)
    cast = next(n for n in r.model.graph.node if n.name == "to_float")
    assert cast.attribute[0].i == F16
    kept = {n.name: n.reasons for n in r.report.kept}
    assert set(kept) == {"huge", "to_float2"}
    assert kept["to_float2"][0].startswith("readers: no reader takes its output in low precision")
    casts = check_casts_at_boundaries(r.model)
    i64 = TensorProto.INT64   # the two original Casts (one retargeted to float16) and the graph output's
    assert sorted((s, a, b) for s, _, a, b in casts) == [("ids", i64, F32), ("ids", i64, F16), ("y_fp16", F16, F32)]
    want = ort.InferenceSession(_cast_model().SerializeToString()).run(None, feed)
    got = ort.InferenceSession(r.model.SerializeToString()).run(None, feed)
    for a, b in zip(got, want):
        assert_close(a, b, dtype=np.float16)


def test_graph_output_also_read_inside_keeps_its_name_and_type():
    nodes = [helper.make_node("Relu", ["x"], ["h"], name="relu"),
             helper.make_node("Neg", ["h"], ["y"], name="neg")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F32, [3, 4])],
                          [helper.make_tensor_value_info("h", F32, [3, 4]), helper.make_tensor_value_info("y", F32,
                                                                                                          [3, 4])])
    m = lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    r = autocast(m, calibration_data=X, keep_io_types=True)
    assert [o.name for o in r.model.graph.output] == ["h", "y"]
    assert all(o.type.tensor_type.elem_type == F32 for o in r.model.graph.output)
    neg = next(n for n in r.model.graph.node if n.name == "neg")
    assert neg.input[0] == "h_fp16"   # reads the FP16 value, not the float32 graph output
    check_casts_at_boundaries(r.model)
    got = ort.InferenceSession(r.model.SerializeToString()).run(None, X)
    assert_close(got[0], np.maximum(X["x"], 0), dtype=np.float16)
    assert_close(got[1], -np.maximum(X["x"], 0), dtype=np.float16)


def test_retargeted_cast_read_in_both_precisions_casts_its_source_again():
    """ids -> Cast(to=FLOAT) -> f read by a FP16 Mul and an excluded (FP32) Mul: the Cast is retargeted to float16
    and the FP32 reader gets its own Cast(ids, to=FLOAT), not a Cast of the float16 value."""
    nodes = [helper.make_node("Cast", ["ids"], ["f"], name="to_float", to=F32),
             helper.make_node("Mul", ["f", "w"], ["y"], name="low_mul"),
             helper.make_node("Mul", ["f", "w"], ["z"], name="fp32_mul")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("ids", TensorProto.INT64, [2, 3])],
                          [helper.make_tensor_value_info("y", F32, [2, 3]), helper.make_tensor_value_info("z", F32,
                                                                                                          [2, 3])],
                          [numpy_helper.from_array(np.full((3,), 0.5, np.float32), "w")])
    m = lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    feed = {"ids": np.arange(6, dtype=np.int64).reshape(2, 3)}
    r = autocast(m, calibration_data=feed, nodes_to_exclude=["fp32_mul"], keep_io_types=True)
    casts = check_casts_at_boundaries(r.model)
    i64 = TensorProto.INT64
    assert sorted((s, a, b) for s, _, a, b in casts) == [("ids", i64, F32), ("ids", i64, F16), ("y_fp16", F16, F32)]
    assert inits(r.model) == {"w": F32, "w_fp16": F16}
    got = ort.InferenceSession(r.model.SerializeToString()).run(None, feed)
    np.testing.assert_array_equal(got[1], feed["ids"] * 0.5)   # the FP32 path is exact
    assert_close(got[0], feed["ids"] * 0.5, dtype=np.float16)


def test_constants_become_converted_initializers():
    nodes = [helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.full((4,), 0.25, np.float32))),
             helper.make_node("Mul", ["x", "k"], ["y"], name="mul")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F32, [3, 4])],
                          [helper.make_tensor_value_info("y", F32, [3, 4])])
    r = autocast(lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])), calibration_data=X)
    assert inits(r.model) == {"k": F16}
    assert [n.op_type for n in r.model.graph.node] == ["Mul"]
