"""``inferrt surgeon sanitize|extract``: results are valid ONNX (onnx.checker) and compute what the original does in
onnxruntime; folding, clean-up, shape overrides and extraction do what they say; errors name the tensor."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from inferrt.cli.main import main
from tests.cli.tool_models import foldable_model, long_chain_model
from tests.helpers import lowest_ir


def _surgeon(capsys, *argv):
    rc = main(["surgeon", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _ort(path, feeds):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def test_sanitize_folds_constants_and_cleans_up(tmp_path, capsys):
    src = foldable_model(tmp_path / "m.onnx")
    dst = tmp_path / "s.onnx"
    rc, out, err = _surgeon(capsys, "sanitize", src, "-o", str(dst), "--fold-constants")
    assert rc == 0, err
    m = onnx.load(dst)
    onnx.checker.check_model(m, full_check=True)
    assert [n.op_type for n in m.graph.node] == ["Mul", "Shape", "Reshape"]   # Shape stays: x is [n, 4]
    assert {t.name for t in m.graph.initializer} == {"s2"}
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(m.graph.initializer[0]), [1.5, 2.0, 2.5, 3.0])
    assert "Folded 3 node(s)" in out and "Removed 1 unused node(s), 3 unused initializer(s)" in out
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(_ort(dst, {"x": x})[0], _ort(src, {"x": x})[0])


def test_override_input_shapes_lets_shape_fold(tmp_path, capsys):
    src = foldable_model(tmp_path / "m.onnx")
    dst = tmp_path / "s.onnx"
    rc, _, err = _surgeon(capsys, "sanitize", src, "-o", str(dst), "--fold-constants",
                          "--override-input-shapes", "x:[2,4]")
    assert rc == 0, err
    m = onnx.load(dst)
    onnx.checker.check_model(m)
    assert [n.op_type for n in m.graph.node] == ["Mul", "Reshape"]
    dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 4] and [d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim] == [2, 4]
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_array_equal(_ort(dst, {"x": x})[0], x * np.array([1.5, 2.0, 2.5, 3.0], np.float32))


def test_cleanup_alone_keeps_constant_nodes(tmp_path, capsys):
    src = foldable_model(tmp_path / "m.onnx")
    dst = tmp_path / "c.onnx"
    rc, out, _ = _surgeon(capsys, "sanitize", src, "-o", str(dst), "--cleanup", "--remove-unused-inputs")
    assert rc == 0
    m = onnx.load(dst)
    assert "dead_neg" not in [n.name for n in m.graph.node] and len(m.graph.node) == 6
    assert "unused_w" not in {t.name for t in m.graph.initializer}
    assert "Removed 1 unused node(s), 1 unused initializer(s), 0 unused input(s)" in out


def test_fold_size_threshold_keeps_large_results_as_nodes(tmp_path, capsys):
    src = foldable_model(tmp_path / "m.onnx")
    dst = tmp_path / "t.onnx"
    rc, _, err = _surgeon(capsys, "sanitize", src, "-o", str(dst), "--fold-constants", "--fold-size-threshold", "8")
    assert rc == 0, err
    m = onnx.load(dst)
    # s2 (16 bytes) is over the threshold: const_mul stays; so does const_add (s, 16 bytes); k (4 bytes) folds
    names = [n.name for n in m.graph.node]
    assert "const_mul" in names and "const_add" in names and "kconst" not in names
    assert {"k", "c1", "c2"} <= {t.name for t in m.graph.initializer}
    onnx.checker.check_model(m)
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(_ort(dst, {"x": x})[0], _ort(src, {"x": x})[0])


def test_extract_middle_of_a_chain(tmp_path, capsys):
    src = long_chain_model(tmp_path / "m.onnx")
    dst = tmp_path / "e.onnx"
    rc, out, err = _surgeon(capsys, "extract", src, "--inputs", "t2:auto:auto", "--outputs", "t5", "-o", str(dst))
    assert rc == 0, err
    m = onnx.load(dst)
    onnx.checker.check_model(m)
    assert [n.name for n in m.graph.node] == ["n3_sigmoid", "n4_tanh", "n5_neg"]
    assert [i.name for i in m.graph.input] == ["t2"] and [o.name for o in m.graph.output] == ["t5"]
    t2 = np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(_ort(dst, {"t2": t2})[0], -np.tanh(1 / (1 + np.exp(-t2.astype(np.float64)))),
                               rtol=1e-6)


def test_extract_with_given_shape_and_dtype(tmp_path, capsys):
    src = long_chain_model(tmp_path / "m.onnx")
    dst = tmp_path / "e.onnx"
    rc, _, err = _surgeon(capsys, "extract", src, "--inputs", "t0:[batch,3]:float32", "--outputs", "t1:float32",
                          "-o", str(dst))
    assert rc == 0, err
    m = onnx.load(dst)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 3
    assert _ort(dst, {"t0": np.ones((5, 3), np.float32)})[0].shape == (5, 3)


@pytest.mark.parametrize("argv, words", [
    (["--inputs", "nope:auto:auto", "--outputs", "t5"], "no tensor 'nope'"),
    (["--inputs", "t2:auto:auto", "--outputs", "y"], "needs graph input 'x'"),
    (["--inputs", "t2:[2,3]", "--outputs", "t5"], "name:[1,3,224,224]:float32"),
    (["--inputs", "t2:auto:complex9", "--outputs", "t5"], "not a data type"),
])
def test_extract_errors_name_the_tensor(tmp_path, capsys, argv, words):
    src = long_chain_model(tmp_path / "m.onnx")
    rc, _, err = _surgeon(capsys, "extract", src, *argv, "-o", str(tmp_path / "e.onnx"))
    assert rc == 2 and words in err, err


def test_sanitize_errors(tmp_path, capsys):
    src = foldable_model(tmp_path / "m.onnx")
    rc, _, err = _surgeon(capsys, "sanitize", src, "-o", str(tmp_path / "s.onnx"), "--override-input-shapes",
                          "z:[1,4]")
    assert rc == 2 and "has no input 'z'" in err
    rc, _, err = _surgeon(capsys, "sanitize", src, "-o", str(tmp_path / "s.onnx"), "--override-input-shapes", "x:1x?")
    assert rc == 2 and "is not a shape" in err


def _qdq_model(path):
    """y = x @ DequantizeLinear(w_int8, scale): a weight-quantized MatMul."""
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    w = np.arange(-6, 6, dtype=np.int8).reshape(4, 3)
    g = h.make_graph([h.make_node("DequantizeLinear", ["w", "s"], ["wf"], name="dq"),
                      h.make_node("MatMul", ["x", "wf"], ["y"], name="mm")], "q",
                     [h.make_tensor_value_info("x", T.FLOAT, [2, 4])], [h.make_tensor_value_info("y", T.FLOAT, [2, 3])],
                     [nh.from_array(w, "w"), nh.from_array(np.array(0.5, np.float32), "s")])
    onnx.save(lowest_ir(onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 17)])), str(path))
    return str(path)


def test_dequantize_of_weights_is_kept_unless_asked(tmp_path, capsys):
    src = _qdq_model(tmp_path / "q.onnx")
    assert _surgeon(capsys, "sanitize", src, "-o", str(tmp_path / "a.onnx"), "--fold-constants")[0] == 0
    assert [n.op_type for n in onnx.load(tmp_path / "a.onnx").graph.node] == ["DequantizeLinear", "MatMul"]
    assert _surgeon(capsys, "sanitize", src, "-o", str(tmp_path / "b.onnx"), "--fold-constants", "--fold-qdq")[0] == 0
    m = onnx.load(tmp_path / "b.onnx")
    assert [n.op_type for n in m.graph.node] == ["MatMul"]
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(m.graph.initializer[0]),
                                  np.arange(-6, 6, dtype=np.float32).reshape(4, 3) * 0.5)
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(_ort(tmp_path / "b.onnx", {"x": x})[0], _ort(src, {"x": x})[0])
    rc, _, err = _surgeon(capsys, "sanitize", src, "-o", str(tmp_path / "c.onnx"), "--fold-qdq")
    assert rc == 2 and "--fold-qdq applies to --fold-constants" in err
