"""``inferrt check lint``: each kind of problem is found, named by node, and reported in Polygraphy's lint JSON."""
from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from inferrt.cli.main import main
from tests.cli.tool_models import chain_model
from tests.helpers import lowest_ir


def _lint(capsys, *argv):
    rc = main(["check", "lint", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _model(path, nodes, extra_inits=(), opsets=(("", 17),)):
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [2, 4])],
                     [h.make_tensor_value_info("y", T.FLOAT, [2, 4])], list(extra_inits))
    onnx.save(lowest_ir(h.make_model(g, opset_imports=[h.make_opsetid(d, v) for d, v in opsets])), str(path))
    return str(path)


def _entries(report, source, level=None):
    return [e for e in report["lint_entries"] if e["source"] == source and (level is None or e["level"] == level)]


def test_clean_model_passes_with_no_entries(tmp_path, capsys):
    rc, out, _ = _lint(capsys, chain_model(tmp_path / "m.onnx"), "--json")
    assert rc == 0
    assert json.loads(out) == {"summary": {"passing": ["mm", "relu", "sig", "add"], "failing": []},
                               "lint_entries": []}


def test_dangling_tensor_unused_node_and_initializer(tmp_path, capsys):
    path = _model(tmp_path / "m.onnx", [h.make_node("Relu", ["x"], ["a"], name="relu"),
                                        h.make_node("Add", ["a", "ghost"], ["y"], name="add_ghost"),
                                        h.make_node("Neg", ["x"], ["dead"], name="dead_neg")],
                  [nh.from_array(np.ones(3, np.float32), "unused_w")])
    rc, out, _ = _lint(capsys, path, "-o", str(tmp_path / "r.json"))
    assert rc == 1 and "[I] FAILED" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"] == {"passing": ["relu", "dead_neg"], "failing": ["add_ghost"]}
    dangling = _entries(report, "graph", "exception")
    assert len(dangling) == 1 and "'ghost'" in dangling[0]["message"] and dangling[0]["nodes"] == ["add_ghost"]
    warnings = [e["message"] for e in _entries(report, "graph", "warning")]
    assert any("'dead_neg'" in m and "unused" in m for m in warnings)
    assert any("'unused_w'" in m for m in warnings)
    checker = _entries(report, "onnx_checker", "exception")
    assert checker and "ghost" in checker[0]["message"] and checker[0]["nodes"] == ["add_ghost"]


def test_unknown_op_for_inferrt(tmp_path, capsys):
    path = _model(tmp_path / "m.onnx", [h.make_node("Relu", ["x"], ["a"], name="relu"),
                                        h.make_node("FancyOp", ["a"], ["y"], name="fancy", domain="com.example")],
                  opsets=(("", 17), ("com.example", 1)))
    rc, out, _ = _lint(capsys, path, "--json")
    assert rc == 1
    report = json.loads(out)
    imp = _entries(report, "inferrt_importer", "exception")
    assert len(imp) == 1 and imp[0]["nodes"] == ["fancy"] and "com.example::FancyOp" in imp[0]["message"]
    assert report["summary"]["failing"] == ["fancy"]


def test_op_without_importer_expanded_through_its_onnx_function_is_info(tmp_path, capsys):
    from inferrt.onnx import registry

    # an ai.onnx op ONNX defines as a function: info when inferrt has no importer of its own, else silent
    path = _model(tmp_path / "m.onnx", [h.make_node("Relu", ["x"], ["a"], name="relu"),
                                        h.make_node("Mish", ["a"], ["y"], name="mish")], opsets=(("", 18),))
    rc, out, _ = _lint(capsys, path, "--json")
    report = json.loads(out)
    assert rc == 0
    imp = _entries(report, "inferrt_importer")
    if registry.lookup("", "Mish", 18) is None:
        assert [e["level"] for e in imp] == ["info"] and imp[0]["nodes"] == ["mish"]
    else:
        assert imp == []


def test_shape_inference_failure(tmp_path, capsys):
    # MatMul of [2, 4] by [3, 5]: the inner dimensions disagree
    path = _model(tmp_path / "m.onnx", [h.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                  [nh.from_array(np.ones((3, 5), np.float32), "w")])
    rc, out, _ = _lint(capsys, path, "--json")
    assert rc == 1
    report = json.loads(out)
    si = _entries(report, "onnx_shape_inference", "exception")
    assert len(si) == 1 and si[0]["nodes"] == ["mm"] and "MatMul" in si[0]["message"]


def test_text_output_and_missing_file(tmp_path, capsys):
    path = _model(tmp_path / "m.onnx", [h.make_node("Relu", ["x"], ["y"], name="relu"),
                                        h.make_node("Neg", ["x"], ["dead"], name="dead_neg")])
    rc, out, _ = _lint(capsys, path)
    assert rc == 0 and "[W] LINT | graph | node 'dead_neg' (Neg) is unused" in out and "[I] PASSED" in out
    rc, _, err = _lint(capsys, str(tmp_path / "none.onnx"))
    assert rc == 2 and "no such file" in err
