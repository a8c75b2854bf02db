"""End to end: FP32 ONNX in, mixed precision ONNX out; which nodes run in FP16, where the Casts are, and that
onnxruntime on the converted model agrees with the FP32 model within FP16's tolerance."""
from __future__ import annotations

import functools

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto

from inferrt.autocast import autocast, convert_to_mixed_precision
from tests.autocast.models import (cap_model, chain_model, check_casts_at_boundaries, compute_type, node,
                                   value_types)
from tests.helpers import FP16_ENGINE_REL_L2, assert_close, lowest_ir, rel_l2

F16, F32 = TensorProto.FLOAT16, TensorProto.FLOAT
pytestmark = pytest.mark.filterwarnings("ignore:no calibration data")


@functools.lru_cache(maxsize=None)
def resnet():
    from tests.passes.onnx_models import resnet_onnx

    return resnet_onnx()


@functools.lru_cache(maxsize=None)
def bert():
    from tests.passes.onnx_models import bert_onnx

    return bert_onnx(layers=1)


def run(model, feed):
    data = model if isinstance(model, bytes) else model.SerializeToString()
    s = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return s.run(None, feed)[0]


def chain_feed():
    return {"x": np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)}


def test_huge_activation_stays_fp32_with_casts_only_at_the_boundaries():
    feed = chain_feed()
    r = autocast(chain_model(1e5), calibration_data=feed, keep_io_types=True)
    kept = {n.name: n.reasons for n in r.report.kept}
    assert set(kept) == {"scale", "unscale"}
    for name in kept:
        rules = [x.split(":")[0] for x in kept[name]]
        assert "data_max" in rules and "init_max" in rules, kept[name]
    assert "'s1'" in next(x for x in kept["scale"] if x.startswith("data_max"))
    types = value_types(r.model)
    for name in ("mm1", "relu1", "mm2", "sm"):
        assert compute_type(r.model, types, node(r.model, name)) == F16, name
    for name in ("scale", "unscale"):
        assert compute_type(r.model, types, node(r.model, name)) == F32, name
    casts = check_casts_at_boundaries(r.model)
    assert sorted((s, a, b) for s, _, a, b in casts) == sorted(
        [("x", F32, F16), ("r1", F16, F32), ("u1", F32, F16), ("y_fp16", F16, F32)])
    assert r.model.graph.input[0].type.tensor_type.elem_type == F32
    assert r.model.graph.output[0].type.tensor_type.elem_type == F32
    assert_close(run(r.model, feed), run(chain_model(1e5), feed), dtype=np.float16)


def test_without_keep_io_types_the_graph_io_is_low_precision():
    feed = chain_feed()
    r = autocast(chain_model(1e5), calibration_data=feed)
    assert r.model.graph.input[0].type.tensor_type.elem_type == F16
    assert r.model.graph.output[0].type.tensor_type.elem_type == F16
    assert [(s, a, b) for s, _, a, b in check_casts_at_boundaries(r.model)] == [("r1", F16, F32), ("u1", F32, F16)]
    got = run(r.model, {"x": feed["x"].astype(np.float16)})
    assert got.dtype == np.float16
    assert_close(got, run(chain_model(1e5), feed), dtype=np.float16)


def test_data_max_alone_keeps_a_large_activation():
    """c = 1000 is a fine float16 initializer, but scale's output (~1000) exceeds data_max = 512."""
    feed = {"x": np.full((2, 8), 1.0, np.float32)}
    r = autocast(chain_model(1000.0), calibration_data=feed)
    kept = {n.name: n.reasons for n in r.report.kept}
    assert set(kept) == {"scale", "unscale"}
    assert all(len(v) == 1 and v[0].startswith("data_max") for v in kept.values()), kept
    assert "output 's1'" in kept["scale"][0] and "input 's1'" in kept["unscale"][0]
    # raising data_max past the measured range converts everything
    big = autocast(chain_model(1000.0), calibration_data=feed, data_max=float("inf"))
    assert big.report.kept == []


def test_init_max_alone_keeps_a_node_with_a_huge_initializer():
    feed = {"x": np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)}
    r = autocast(cap_model(1e5), calibration_data=feed, keep_io_types=True)
    assert [(n.name, [x.split(":")[0] for x in n.reasons]) for n in r.report.kept] == [("clamp", ["init_max"])]
    assert "'cap'" in r.report.kept[0].reasons[0]
    cap = next(t for t in r.model.graph.initializer if t.name == "cap")
    assert cap.data_type == F32
    assert_close(run(r.model, feed), run(cap_model(1e5), feed), dtype=np.float16)
    relaxed = autocast(cap_model(1e5), calibration_data=feed, init_max=2e5).report
    assert relaxed.kept == []
    assert any("'cap': 4 values overflow fp16 to inf" in w for w in relaxed.warnings), relaxed.warnings


@pytest.mark.parametrize("keep_io", [True, False])
def test_cnn_runs_in_fp16_and_agrees_with_fp32(keep_io):
    x = np.random.default_rng(3).standard_normal((2, 3, 16, 16)).astype(np.float32)
    r = autocast(resnet(), calibration_data={"x": x}, keep_io_types=keep_io)
    types = value_types(r.model)
    convs = [n for n in r.model.graph.node if n.op_type == "Conv"]
    assert convs and all(compute_type(r.model, types, n) == F16 for n in convs)
    assert all(t.data_type == F16 for t in r.model.graph.initializer if t.name.endswith("weight"))
    casts = check_casts_at_boundaries(r.model)
    assert [c[0] for c in casts] == (["x", "y_fp16"] if keep_io else [])
    feed = {"x": x if keep_io else x.astype(np.float16)}
    got = run(r.model, feed).astype(np.float32)
    want = run(resnet(), {"x": x})
    assert rel_l2(got, want) < FP16_ENGINE_REL_L2
    assert_close(got, want, dtype=np.float16)


def test_transformer_block_with_padding_mask_keeps_the_mask_path_fp32():
    """(1 - attn) * -10000 reaches 10000 where a position is padded: the mask Mul, the Add of scores and mask and
    the Softmax reading it stay FP32 (data_max); the projections, LayerNorms and GELU go FP16."""
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 50, (2, 8)).astype(np.int64)
    attn = np.ones((2, 8), np.int64)
    attn[1, 5:] = 0
    feed = {"ids": ids, "attn": attn}
    r = autocast(bert(), calibration_data=feed, keep_io_types=True)
    rules = r.report.kept_by_rule()
    ops = {n.name: n.op_type for n in r.report.nodes}
    assert sorted(ops[n] for n in rules["data_max"]) == ["Add", "Mul", "Softmax"], r.report.format_text()
    # the three decomposed LayerNorms keep their variance path (Pow, ReduceMean, Add eps, Sqrt)
    assert sorted(ops[n] for n in rules["norm_variance"]) == sorted(["Add", "Pow", "ReduceMean", "Sqrt"] * 3)
    assert set(rules) == {"data_max", "norm_variance"}
    types = value_types(r.model)
    mms = [n for n in r.model.graph.node if n.op_type == "MatMul"]
    assert sum(compute_type(r.model, types, n) == F16 for n in mms) >= 6
    check_casts_at_boundaries(r.model)
    got, want = run(r.model, feed), run(bert(), feed)
    assert rel_l2(got, want) < FP16_ENGINE_REL_L2
    assert_close(got, want, dtype=np.float16)


def test_random_calibration_warns_and_still_converts():
    with pytest.warns(UserWarning, match="no calibration data"):
        r = autocast(bert())
    assert r.report.calibration == "random"
    assert any("no calibration data" in w for w in r.report.warnings)
    feed = {"ids": np.arange(16).reshape(2, 8).astype(np.int64) % 50, "attn": np.ones((2, 8), np.int64)}
    assert rel_l2(run(r.model, feed).astype(np.float32), run(bert(), feed)) < FP16_ENGINE_REL_L2


def test_input_model_is_not_modified_and_the_output_is_valid(tmp_path):
    src = chain_model(1e5)
    before = src.SerializeToString()
    r = autocast(src, calibration_data=chain_feed())
    assert src.SerializeToString() == before
    onnx.checker.check_model(r.model, full_check=True)
    assert [i.name for i in r.model.graph.input] == ["x"] and [o.name for o in r.model.graph.output] == ["y"]
    path = tmp_path / "m.onnx"
    onnx.save(src, str(path))
    from_path = convert_to_mixed_precision(str(path), calibration_data=chain_feed())
    assert isinstance(from_path, onnx.ModelProto)
    assert from_path.graph.node[0].op_type == r.model.graph.node[0].op_type
    r.save(tmp_path / "out.onnx")
    onnx.checker.check_model(str(tmp_path / "out.onnx"))


def test_a_model_onnxruntime_cannot_run_is_refused_with_the_reason():
    from onnx import helper

    import inferrt as trt

    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F32, [1, 3, "h", "w"])],
                          [helper.make_tensor_value_info("y", F32, None)],
                          [onnx.numpy_helper.from_array(np.zeros((2, 3, 3, 3), np.float32), "w")])
    m = lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    with pytest.raises(trt.BuildError, match="random inputs set every dim of unknown size to 1"):
        autocast(m)
    with pytest.raises(trt.BuildError, match="calibration feed 0"):
        autocast(m, calibration_data={"x": np.zeros((1, 3, 2, 2), np.float32)})


def test_torch_dynamo_export_with_layer_normalization():
    """The torch.export-based exporter's graph (opset 20, LayerNormalization and Gemm ops, shared constants)."""
    import torch

    torch.manual_seed(0)
    enc = torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, norm_first=True).eval()
    x = torch.randn(2, 8, 32)
    src = torch.onnx.export(enc, (x,), dynamo=True, input_names=["x"], verbose=False).model_proto
    feed = {"x": x.numpy()}
    r = autocast(src, calibration_data=feed, keep_io_types=True)
    types = value_types(r.model)
    lns = [n for n in r.model.graph.node if n.op_type == "LayerNormalization"]
    assert len(lns) == 2 and all(compute_type(r.model, types, n) == F16 for n in lns)
    assert r.report.kept == [], r.report.format_text()
    assert [c[0] for c in check_casts_at_boundaries(r.model)] == ["x", r.model.graph.output[0].name + "_fp16"]
    got, want = run(r.model, feed), run(src, feed)
    assert rel_l2(got, want) < FP16_ENGINE_REL_L2
    assert_close(got, want, dtype=np.float16)


def _abort_in_helper(*args, **kwargs):
    from inferrt.onnx import native_worker

    native_worker.call("selftest", {"action": "abort"})


@pytest.mark.parametrize("entry", ["infer_shapes", "check_model"])
def test_onnx_aborting_while_checking_the_result_is_a_build_error(monkeypatch, entry):
    """Issue 10: the result is checked by onnx's C++ inference and checker in the helper process; an abort there is
    a BuildError, and this process goes on."""
    import inferrt as trt
    from inferrt.onnx import native_worker

    model = chain_model(1e5)
    if entry == "infer_shapes":   # autocast also infers types while preparing: abort only in the final check
        real = native_worker.infer_shapes
        monkeypatch.setattr(native_worker, entry,
                            lambda m, **kw: _abort_in_helper() if kw.get("strict_mode") else real(m, **kw))
    else:
        monkeypatch.setattr(native_worker, entry, _abort_in_helper)
    with pytest.raises(trt.BuildError, match="checking the converted model failed on this model.*SIGABRT"):
        autocast(model, calibration_data=chain_feed())
    monkeypatch.undo()
    assert autocast(model, calibration_data=chain_feed()).model.graph.node
