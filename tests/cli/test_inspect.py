"""``inferrt inspect model|data|tactics``: ONNX summaries, plans (layers, origins, tactics, precisions, memory plan),
saved data with statistics checked against numpy, and timing caches."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import inferrt as trt
from inferrt.cli.main import main
from tests.cli.tool_models import foldable_model
from tests.helpers import lowest_ir


def _inspect(capsys, *argv):
    rc = main(["inspect", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _attention_plan(path):
    """x [n, 8] -> MatMul -> Softmax -> MatMul -> Relu; inferrt fuses the first three into one attention layer."""
    rng = np.random.default_rng(0)
    nodes = [h.make_node("MatMul", ["x", "w1"], ["a"], name="mm1"),
             h.make_node("Softmax", ["a"], ["b"], name="softmax", axis=-1),
             h.make_node("MatMul", ["b", "w2"], ["c"], name="mm2"), h.make_node("Relu", ["c"], ["y"], name="relu")]
    g = h.make_graph(nodes, "attn", [h.make_tensor_value_info("x", T.FLOAT, ["n", 8])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["n", 8])],
                     [nh.from_array(rng.standard_normal((8, 16)).astype(np.float32), "w1"),
                      nh.from_array(rng.standard_normal((16, 8)).astype(np.float32), "w2")])
    model = lowest_ir(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]))
    engine = trt.build_engine(model, device="cpu", profiles={"x": [(1, 8), (4, 8), (16, 8)]})
    trt.save_plan(engine, path)
    return engine


def test_onnx_model_summary(tmp_path, capsys):
    path = foldable_model(tmp_path / "m.onnx")
    rc, out, _ = _inspect(capsys, "model", path, "--show", "layers", "attrs", "weights")
    assert rc == 0
    assert "Opsets: ai.onnx 17" in out and "x [dtype=float32, shape=('n', 4)]" in out
    assert "---- 3 Initializer(s), 64 bytes ----" in out and "unused_w [dtype=float32, shape=(8,)]" in out
    assert "---- 7 Node(s) ----" in out and "Mul x2" in out
    assert "Node 5 | reshape [Op: Reshape]" in out and "value = <tensor dtype=float32 shape=[]>" in out
    assert "['a' [float32, ('n', 4)], 'shp' [int64, (2,)]] -> ['y' [float32, ('n', 4)]]" in out
    rc, out, _ = _inspect(capsys, "model", path, "--json")
    d = json.loads(out)
    assert d["op_counts"] == {"Mul": 2, "Add": 1, "Constant": 1, "Shape": 1, "Reshape": 1, "Neg": 1}
    assert [n["name"] for n in d["nodes"]][:2] == ["const_add", "kconst"]
    assert d["tensors"]["s2"] == {"dtype": "float32", "shape": [4]}


def test_plan_layers_origins_and_memory_plan(tmp_path, capsys):
    plan = tmp_path / "m.plan"
    engine = _attention_plan(plan)
    rc, out, err = _inspect(capsys, "model", str(plan))
    assert rc == 0, err
    assert "Built by inferrt" in out and "x: min=(1, 8) opt=(4, 8) max=(16, 8)" in out
    assert "tactic=" in out and "precision=FLOAT" in out and "softmax" in out
    rc, out, _ = _inspect(capsys, "model", str(plan), "--json")
    d = json.loads(out)
    insp = json.loads(engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
    assert d["layers"] == insp["Layers"]
    fused = [layer for layer in d["layers"] if len(layer["Origin"]) > 1]
    assert fused and any("softmax" in o for layer in fused for o in layer["Origin"])
    assert d["profiles"][0]["device_memory"] == engine.device_memory_size
    mem = d["memory_plans"][0]
    assert mem["shapes"] == {"x": [4, 8]}
    by_name = {t["name"]: t for t in mem["tensors"]}
    # I/O is bound by the caller, not the arena
    assert mem["tensors"] and "x" not in by_name and "y" not in by_name
    for t in mem["tensors"]:                                           # every activation is [4, 8] float here
        assert t["bytes"] == 4 * 8 * 4 and t["offset"] + t["bytes"] <= mem["arena_bytes"]


def test_plan_errors(tmp_path, capsys):
    bad = tmp_path / "bad.plan"
    bad.write_bytes(b"not a plan")
    rc, _, err = _inspect(capsys, "model", str(bad))
    assert rc == 2 and "error:" in err
    plan = tmp_path / "m.plan"
    _attention_plan(plan)
    rc, _, err = _inspect(capsys, "model", str(plan), "--show", "layers")
    assert rc == 2 and "--show applies to ONNX models" in err


def test_data_inputs_and_outputs(tmp_path, capsys):
    from inferrt.tools.data_io import save_inputs, save_outputs

    x = np.random.default_rng(3).standard_normal((3, 5)).astype(np.float32)
    save_inputs([{"x": x}], tmp_path / "i.npz")
    rc, out, _ = _inspect(capsys, "data", str(tmp_path / "i.npz"))
    assert rc == 0 and "==== Data (1 iteration(s)) ====" in out
    assert f"mean={np.mean(x.astype(np.float64)):.5g}" in out and f"max={x.max():.5g}" in out
    save_outputs([("a", [{"y": x}, {"y": 2 * x}]), ("b", [{"y": x}, {"y": x}])], tmp_path / "o.json")
    rc, out, _ = _inspect(capsys, "data", str(tmp_path / "o.json"), "--json")
    d = json.loads(out)
    assert [r["runner"] for r in d["runners"]] == ["a", "b"]
    assert d["runners"][0]["iterations"][1]["y"]["max"] == pytest.approx(2 * float(x.max()))
    rc, out, _ = _inspect(capsys, "data", str(tmp_path / "o.json"), "--show-values")
    assert "---- a (2 iteration(s)) ----" in out and np.array2string(x[0, :1]).strip("[]").split()[0] in out


def test_data_errors(tmp_path, capsys):
    (tmp_path / "x.txt").write_text("1 2 3")
    rc, _, err = _inspect(capsys, "data", str(tmp_path / "x.txt"))
    assert rc == 2 and ".json (Polygraphy's layout) or .npz" in err
    (tmp_path / "x.json").write_text('{"a": 1}')
    rc, _, err = _inspect(capsys, "data", str(tmp_path / "x.json"))
    assert rc == 2 and "does not hold inputs" in err


def test_tactics_of_a_timing_cache(tmp_path, capsys):
    from inferrt.tactics.timing_cache import ITimingCache

    cache = ITimingCache(device="sm_90")
    cache.record("matmul|4x8|FLOAT", "triton_matmul", 0.0125, {"BLOCK_M": 64})
    cache.record("conv|1x3x8x8|HALF", "cudnn", 0.5)
    cache.record("gemm|8x8|FLOAT", "triton_matmul", 0.02)
    (tmp_path / "t.cache").write_bytes(cache.serialize())
    rc, out, _ = _inspect(capsys, "tactics", str(tmp_path / "t.cache"))
    assert rc == 0
    assert "==== Timing cache: 3 entries for sm_90 ====" in out
    assert "Tactics chosen: triton_matmul x2, cudnn x1" in out
    assert "triton_matmul 0.0125 ms config={'BLOCK_M': 64} | matmul|4x8|FLOAT" in out
    rc, out, _ = _inspect(capsys, "tactics", str(tmp_path / "t.cache"), "--json")
    assert json.loads(out)["entries"][0] == {"key": "conv|1x3x8x8|HALF", "tactic": "cudnn", "ms": 0.5,
                                             "config": None}
    (tmp_path / "bad.cache").write_bytes(b"garbage")
    rc, _, err = _inspect(capsys, "tactics", str(tmp_path / "bad.cache"))
    assert rc == 2 and "not an inferrt timing cache" in err


@pytest.mark.gpu
def test_tactics_of_a_gpu_build(tmp_path, capsys):
    # a matmul large enough for several GPU tactics (library, Triton, generic), so the builder times them
    w = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    g = h.make_graph([h.make_node("MatMul", ["x", "w"], ["a"], name="mm"), h.make_node("Relu", ["a"], ["y"])], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [128, 256])],
                     [h.make_tensor_value_info("y", T.FLOAT, [128, 256])], [nh.from_array(w, "w")])
    model = str(tmp_path / "m.onnx")
    onnx.save(lowest_ir(h.make_model(g, opset_imports=[h.make_opsetid("", 17)])), model)
    cache = tmp_path / "t.cache"
    assert main(["exec", "--onnx", model, "--device", "cuda", "--timingCacheFile", str(cache),
                 "--skipInference"]) == 0
    capsys.readouterr()
    rc, out, _ = _inspect(capsys, "tactics", str(cache), "--json")
    assert rc == 0 and json.loads(out)["entries"]


def test_model_kind_is_told_by_content(tmp_path, capsys):
    import shutil

    onnx_path = foldable_model(tmp_path / "m.onnx")
    shutil.copy(onnx_path, tmp_path / "model.pb")
    rc, out, _ = _inspect(capsys, "model", str(tmp_path / "model.pb"))
    assert rc == 0 and "==== ONNX Model ====" in out
    _attention_plan(tmp_path / "engine.onnx")     # a plan, whatever its name
    rc, out, _ = _inspect(capsys, "model", str(tmp_path / "engine.onnx"))
    assert rc == 0 and "==== Plan:" in out
