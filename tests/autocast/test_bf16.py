"""BF16: the model is raised to opset 22 and converted; onnxruntime's CPU provider has no bfloat16 kernels for
most ops, so the numbers are checked with onnx's reference evaluator (numpy with ml_dtypes' bfloat16)."""
from __future__ import annotations

import functools

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto
from onnx.reference import ReferenceEvaluator

from inferrt.autocast import autocast
from tests.autocast.models import chain_model, check_casts_at_boundaries, compute_type, node, value_types
from tests.helpers import assert_close, lowest_ir, rel_l2

BF16 = TensorProto.BFLOAT16


@functools.lru_cache(maxsize=None)
def _bert():
    from tests.passes.onnx_models import bert_onnx

    return bert_onnx(layers=1)


def _fp32(model, feed):
    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feed)[0]


def test_bf16_chain_keeps_the_huge_activation_and_agrees():
    feed = {"x": np.random.default_rng(21).standard_normal((2, 8)).astype(np.float32)}
    r = autocast(chain_model(1e5), low_precision_type="bf16", calibration_data=feed, keep_io_types=True)
    assert r.report.opset == 22 and r.report.low_precision_type == "bf16"
    assert {n.name for n in r.report.kept} == {"scale", "unscale"}
    types = value_types(r.model)
    assert compute_type(r.model, types, node(r.model, "mm1")) == BF16
    assert {t.name: t.data_type for t in r.model.graph.initializer} == {"w1": BF16, "w2": BF16,
                                                                       "c": TensorProto.FLOAT}
    check_casts_at_boundaries(r.model)
    got = ReferenceEvaluator(r.model).run(None, feed)[0]
    assert_close(got, _fp32(chain_model(1e5), feed), dtype="bfloat16")


def test_bf16_transformer_block_agrees_with_fp32():
    feed = {"ids": np.random.default_rng(22).integers(0, 50, (2, 8)).astype(np.int64),
            "attn": np.ones((2, 8), np.int64)}
    r = autocast(_bert(), low_precision_type="bf16", calibration_data=feed, keep_io_types=True)
    types = value_types(r.model)
    mms = [n for n in r.model.graph.node if n.op_type == "MatMul"]
    assert mms and all(compute_type(r.model, types, n) == BF16 for n in mms)
    check_casts_at_boundaries(r.model)
    got = ReferenceEvaluator(r.model).run(None, feed)[0]
    want = _fp32(_bert(), feed)
    assert rel_l2(got, want) < 2e-2    # bfloat16 keeps 8 significant bits: ~4e-3 per rounding
    assert_close(got, want, dtype="bfloat16")


def test_bf16_graph_io_when_not_kept():
    feed = {"x": np.random.default_rng(23).standard_normal((2, 8)).astype(np.float32)}
    r = autocast(chain_model(1.0), low_precision_type="bf16", calibration_data=feed)
    assert r.model.graph.input[0].type.tensor_type.elem_type == BF16
    assert r.model.graph.output[0].type.tensor_type.elem_type == BF16
    assert check_casts_at_boundaries(r.model) == []
    import ml_dtypes

    got = ReferenceEvaluator(r.model).run(None, {"x": feed["x"].astype(ml_dtypes.bfloat16)})[0]
    assert got.dtype == ml_dtypes.bfloat16
    assert_close(got.astype(np.float32), _fp32(chain_model(1.0), feed), dtype="bfloat16")


@pytest.mark.parametrize("opset", [21])
def test_bf16_below_opset_22_keeps_ops_without_bf16(opset):
    """Conv gained bfloat16 at opset 22; at 21 it stays FP32 with the schema reason while the rest converts."""
    from onnx import helper, numpy_helper

    w = np.random.default_rng(24).standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])],
                          [numpy_helper.from_array(w, "w")])
    m = lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]))
    feed = {"x": np.random.default_rng(25).standard_normal((1, 3, 6, 6)).astype(np.float32)}
    with pytest.warns(UserWarning, match="below 22"):
        r = autocast(m, low_precision_type="bf16", calibration_data=feed, keep_io_types=True, opset=opset)
    assert [(n.name, n.reasons) for n in r.report.kept] == [("conv", ["schema: Conv-11 allows no bf16 for T"])]
    assert [n.name for n in r.report.converted] == ["relu"]
    assert_close(ReferenceEvaluator(r.model).run(None, feed)[0], _fp32(m, feed), dtype="bfloat16")
