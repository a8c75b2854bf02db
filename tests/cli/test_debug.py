"""``inferrt debug reduce``: bisection finds the known failing node with a command check, a Python check that
compares inferrt (with a deliberately wrong importer) against onnxruntime, and a --fail-regex check; the reduced
models are valid ONNX that onnxruntime runs."""
from __future__ import annotations

import sys
import textwrap

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from inferrt.cli.main import main
from inferrt.tools.reduce_model import reduce_model
from tests.cli.tool_models import break_sigmoid, long_chain_model, two_output_model

HAS_TANH = "import sys, onnx; sys.exit(int(any(n.op_type == 'Tanh' for n in onnx.load(sys.argv[1]).graph.node)))"


def _reduce(capsys, *argv):
    rc = main(["debug", "reduce", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _valid(path):
    m = onnx.load(str(path))
    onnx.checker.check_model(m)
    feeds = {i.name: np.ones([d.dim_value for d in i.type.tensor_type.shape.dim], np.float32) for i in m.graph.input}
    ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    return m


def test_command_check_finds_the_failing_node(tmp_path, capsys):
    src = long_chain_model(tmp_path / "m.onnx")
    script = tmp_path / "has_tanh.py"
    script.write_text(HAS_TANH.replace("; ", "\n"))
    rc, out, err = _reduce(capsys, src, "-o", str(tmp_path / "r.onnx"), "--iter-artifact",
                           str(tmp_path / "iter.onnx"), "--check", f"{sys.executable} {script} {{model}}")
    assert rc == 0, err
    m = _valid(tmp_path / "r.onnx")
    assert [n.name for n in m.graph.node] == ["n4_tanh"]
    assert [i.name for i in m.graph.input] == ["t3"] and [o.name for o in m.graph.output] == ["t4"]
    assert "Reduced to 1 node(s)" in out
    checks = int(out.split(" check(s)")[0].rsplit("after ", 1)[1])
    assert checks <= 12   # bisection: about 2 log2(11) checks, not one per node


def test_fail_regex_narrows_what_counts_as_failing(tmp_path, capsys):
    src = long_chain_model(tmp_path / "m.onnx")
    script = tmp_path / "always_fails.py"
    script.write_text(textwrap.dedent("""
        import sys, onnx
        if any(n.op_type == "Exp" for n in onnx.load(sys.argv[1]).graph.node):
            print("found exp")
        sys.exit(3)
    """))
    rc, _, err = _reduce(capsys, src, "-o", str(tmp_path / "r.onnx"), "--iter-artifact", str(tmp_path / "i.onnx"),
                         "--check", f"{sys.executable} {script} {{model}}", "--fail-regex", "found exp",
                         "--fail-code", "3")
    assert rc == 0, err
    assert [n.name for n in _valid(tmp_path / "r.onnx").graph.node] == ["n8_exp"]


def test_python_check_against_onnxruntime_finds_the_broken_importer(tmp_path, capsys, monkeypatch):
    break_sigmoid(monkeypatch)
    src = long_chain_model(tmp_path / "m.onnx", ops=("Relu", "Neg", "Abs", "Sigmoid", "Tanh", "Exp", "Neg", "Abs"))
    check = tmp_path / "checks.py"
    check.write_text(textwrap.dedent("""
        from inferrt.tools.compare import compare_outputs
        from inferrt.tools.make_inputs import generate, input_metadata
        from inferrt.tools.runners import InferrtConfig, InferrtRunner, OnnxrtRunner

        def mismatch(model):
            meta = input_metadata(model)
            feeds = generate(meta, {n: s for n, (_, s) in meta.items()}, {}, seed=1)
            a = InferrtRunner(model, InferrtConfig("cpu"), feeds).infer(feeds[0])
            b = OnnxrtRunner(model).infer(feeds[0])
            return not all(c.passed for c in compare_outputs(a, b, {"": 1e-5}, {"": 1e-5}))
    """))
    rc, out, err = _reduce(capsys, src, "-o", str(tmp_path / "r.onnx"), "--check-py", f"{check}:mismatch")
    assert rc == 0, err
    assert [n.name for n in _valid(tmp_path / "r.onnx").graph.node] == ["n3_sigmoid"]


def test_reduce_keeps_only_the_failing_branch(tmp_path):
    model = onnx.load(two_output_model(tmp_path / "m.onnx"))
    res = reduce_model(model, lambda m: any(n.op_type == "Sigmoid" for n in m.graph.node))
    assert [n.name for n in res.model.graph.node] == ["sig"]
    assert [o.name for o in res.model.graph.output] == ["y2"] and [i.name for i in res.model.graph.input] == ["n"]


def test_model_that_passes_and_bad_checks(tmp_path, capsys):
    src = long_chain_model(tmp_path / "m.onnx", ops=("Relu", "Neg"))
    rc, _, err = _reduce(capsys, src, "-o", str(tmp_path / "r.onnx"), "--iter-artifact", str(tmp_path / "i.onnx"),
                         "--check", f"{sys.executable} -c \"import sys; sys.exit(0)\"")
    assert rc == 2 and "no failure to reduce" in err
    rc, _, err = _reduce(capsys, src, "-o", str(tmp_path / "r.onnx"), "--check-py", "no_colon_here")
    assert rc == 2 and "checks.py:function" in err
    rc, _, err = _reduce(capsys, src, "-o", str(tmp_path / "r.onnx"), "--check-py", f"{tmp_path}/none.py:f")
    assert rc == 2 and "no file" in err
    rc, _, err = _reduce(capsys, src, "-o", str(tmp_path / "r.onnx"), "--check-py", "json:f", "--fail-code", "1")
    assert rc == 2 and "apply to --check commands" in err
    with pytest.raises(SystemExit):
        main(["debug", "reduce", src, "-o", str(tmp_path / "r.onnx")])   # a check is required
