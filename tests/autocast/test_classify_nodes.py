"""Which nodes stay FP32 and the reason reported for each: exclusions, includes, reduction depth, schemas, custom
ops and control flow."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from inferrt.autocast import autocast
from tests.autocast.models import chain_model, check_casts_at_boundaries
from tests.helpers import assert_close, lowest_ir

FEED = {"x": np.random.default_rng(5).standard_normal((2, 8)).astype(np.float32)}


def kept(r) -> dict:
    return {n.name: n.reasons for n in r.report.kept}


def test_exclude_by_exact_name():
    r = autocast(chain_model(1.0), calibration_data=FEED, nodes_to_exclude=["mm2"])
    assert kept(r) == {"mm2": ["nodes_to_exclude: name matches 'mm2'"]}
    check_casts_at_boundaries(r.model)


def test_exclude_by_regex_matches_from_the_start():
    r = autocast(chain_model(1.0), calibration_data=FEED, nodes_to_exclude=["mm.*"])
    assert set(kept(r)) == {"mm1", "mm2"}
    assert autocast(chain_model(1.0), calibration_data=FEED, nodes_to_exclude=["m2"]).report.kept == []


def test_exclude_by_op_type():
    r = autocast(chain_model(1.0), calibration_data=FEED, op_types_to_exclude=["Softmax", "Relu"])
    assert kept(r) == {"relu1": ["op_types_to_exclude: op type Relu"], "sm": ["op_types_to_exclude: op type Softmax"]}
    want = ort.InferenceSession(chain_model(1.0).SerializeToString()).run(None, FEED)[0]
    got = ort.InferenceSession(r.model.SerializeToString()).run(None, {"x": FEED["x"].astype(np.float16)})[0]
    assert got.dtype == np.float16   # the Softmax is FP32 inside, the graph output follows keep_io_types=False
    assert_close(got, want, dtype=np.float16)


def test_include_overrides_the_range_rules_and_reports_what_it_overrode():
    feed = {"x": np.full((2, 8), 1.0, np.float32)}
    r = autocast(chain_model(1000.0), calibration_data=feed, nodes_to_include=["scale"])
    assert set(kept(r)) == {"unscale"}
    forced = next(n for n in r.report.converted if n.name == "scale")
    assert forced.reasons == ["nodes_to_include: name matches 'scale'"]
    assert forced.overridden and forced.overridden[0].startswith("data_max")
    by_op = autocast(chain_model(1000.0), calibration_data=feed, op_types_to_include=["Mul", "Div"])
    assert by_op.report.kept == []


def test_max_depth_of_reduction():
    r = autocast(chain_model(1.0), calibration_data=FEED, max_depth_of_reduction=4)
    assert kept(r) == {"mm1": ["max_depth_of_reduction: sums 8 terms per output > 4"],
                       "mm2": ["max_depth_of_reduction: sums 8 terms per output > 4"]}
    assert autocast(chain_model(1.0), calibration_data=FEED, max_depth_of_reduction=8).report.kept == []


def test_reduction_depth_of_conv_and_reduce():
    w = np.zeros((4, 3, 3, 3), np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("ReduceSum", ["c", "axes"], ["y"], name="sum", keepdims=0)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([2, 3]), "axes")])
    m = lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    feed = {"x": np.zeros((1, 3, 5, 5), np.float32)}
    r = autocast(m, calibration_data=feed, max_depth_of_reduction=26)
    assert kept(r) == {"conv": ["max_depth_of_reduction: sums 27 terms per output > 26"]}
    r = autocast(m, calibration_data=feed, max_depth_of_reduction=24)
    assert kept(r)["sum"] == ["max_depth_of_reduction: sums 25 terms per output > 24"]


def test_schema_without_the_low_type_keeps_the_node():
    """At opset 12 MatMul, Relu, Mul, Div and Softmax have no bfloat16: everything stays FP32, with the reason."""
    with pytest.warns(UserWarning, match="below 22"):
        r = autocast(chain_model(1.0, opset=12), low_precision_type="bf16", calibration_data=FEED, opset=12)
    reasons = kept(r)
    assert set(reasons) == {"mm1", "relu1", "scale", "unscale", "mm2", "sm"}
    assert reasons["mm1"] == ["schema: MatMul-9 allows no bf16 for T"]
    assert r.report.converted == []


def test_custom_op_and_control_flow_stay_fp32():
    w = np.random.default_rng(6).standard_normal((4, 4)).astype(np.float32)
    then_g = helper.make_graph([helper.make_node("Relu", ["r"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, [3, 4])])
    else_g = helper.make_graph([helper.make_node("Neg", ["r"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, [3, 4])])
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
             helper.make_node("Gelu", ["m"], ["g"], name="gelu", domain="com.microsoft"),
             helper.make_node("Relu", ["g"], ["r"], name="relu"),
             helper.make_node("If", ["cond"], ["b"], name="branch", then_branch=then_g, else_branch=else_g),
             helper.make_node("MatMul", ["b", "w"], ["y"], name="mm2")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4]),
                                       helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])],
                          [numpy_helper.from_array(w, "w")])
    m = lowest_ir(helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]))
    x = np.random.default_rng(7).standard_normal((3, 4)).astype(np.float32)
    r = autocast(m, calibration_data=[{"x": x, "cond": np.array(True)}, {"x": x, "cond": np.array(False)}],
                 keep_io_types=True)
    reasons = kept(r)
    assert set(reasons) == {"gelu", "branch"}
    assert reasons["gelu"][0].startswith("unknown_op: onnx has no schema for com.microsoft::Gelu")
    assert reasons["branch"][0].startswith("control_flow")
    # relu is FP16 but the branches read its output by name: that name keeps float32
    relu = next(n for n in r.model.graph.node if n.name == "relu")
    assert relu.output[0] != "r" and any(n.op_type == "Cast" and n.output[0] == "r" for n in r.model.graph.node)
    check_casts_at_boundaries(r.model)
    for cond in (True, False):
        feed = {"x": x, "cond": np.array(cond)}
        want = ort.InferenceSession(m.SerializeToString()).run(None, feed)[0]
        got = ort.InferenceSession(r.model.SerializeToString()).run(None, feed)[0]
        assert_close(got, want, dtype=np.float16)


def test_norm_variance_path_stays_fp32_and_saves_small_activations():
    """Activations of ~1e-4: their squares underflow float16, so an all-FP16 RMSNorm divides by sqrt(0) and
    returns inf; with the variance path kept FP32 (the default) the result is the FP32 one within FP16 rounding."""
    from onnx.reference import ReferenceEvaluator

    from tests.autocast.models import rms_norm_model

    x = (np.random.default_rng(8).standard_normal((2, 16)) * 1e-4).astype(np.float32)
    want = ReferenceEvaluator(rms_norm_model()).run(None, {"x": x})[0]
    r = autocast(rms_norm_model(), calibration_data={"x": x})
    assert kept(r) == {n: [f"norm_variance: on the variance path of a decomposed normalization (square 'sq' -> "
                           f"ReduceMean -> Sqrt): small values underflow float16 there"]
                       for n in ("sq", "mean", "add_eps", "sqrt")}
    assert [n.name for n in r.report.converted] == ["norm"]
    got = ReferenceEvaluator(r.model).run(None, {"x": x.astype(np.float16)})[0]
    assert_close(got, want, dtype=np.float16)
    off = autocast(rms_norm_model(), calibration_data={"x": x}, keep_norm_variance=False)
    assert off.report.kept == []
    bad = ReferenceEvaluator(off.model).run(None, {"x": x.astype(np.float16)})[0]
    assert not np.isfinite(bad).all()
