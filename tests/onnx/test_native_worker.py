"""The helper process that runs onnx's C++ entry points: protocol, errors, crash and hang recovery, and the parser
turning a crash into a ParserError."""
from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP, helper as oh

import inferrt
from inferrt.onnx import native_worker as nw
from inferrt.onnx.parser import OnnxParser


def _model():
    g = oh.make_graph([oh.make_node("Relu", ["x"], ["r"], name="relu"), oh.make_node("Neg", ["r"], ["y"], name="neg")],
                      "g", [oh.make_tensor_value_info("x", TP.FLOAT, [2, 3])],
                      [oh.make_tensor_value_info("y", TP.FLOAT, [2, 3])])
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def test_round_trip_of_header_and_blobs():
    blobs = [b"", b"\x00\xff" * 1000, os.urandom(3 << 20)]  # empty, binary, larger than one pipe read
    reply, out = nw.call("selftest", {"note": "é"}, blobs)
    assert reply["ok"] and out == blobs
    assert reply["pid"] != os.getpid() and reply["pid"] == nw.worker_pid()


def test_one_worker_is_reused():
    a = nw.call("selftest")[0]["pid"]
    b = nw.call("selftest")[0]["pid"]
    assert a == b


def test_results_match_onnx_in_process():
    m = _model()
    nw.check_model(m)
    got = nw.infer_shapes(m, check_type=True, strict_mode=True)
    want = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    assert got.SerializeToString() == want.SerializeToString()
    old = _model()
    old.opset_import[0].version = 6
    old.ir_version = 3
    assert nw.convert_version(old, 7).opset_import[0].version == 7


def test_onnx_errors_keep_their_type_and_message():
    m = _model()
    m.graph.node[0].input[0] = "nowhere"
    with pytest.raises(onnx.checker.ValidationError, match="nowhere"):
        nw.check_model(m)
    with pytest.raises(onnx.shape_inference.InferenceError):
        bad = _model()
        bad.graph.node[1].op_type = "MatMul"
        bad.graph.node[1].input.append("r")
        bad.graph.output[0].type.tensor_type.elem_type = TP.INT64
        nw.infer_shapes(bad, check_type=True, strict_mode=True)


def test_a_crash_is_a_native_failure_and_the_worker_restarts():
    before = nw.call("selftest")[0]["pid"]
    with pytest.raises(nw.NativeFailure, match="SIGABRT"):
        nw.call("selftest", {"action": "abort"})
    after = nw.call("selftest")[0]["pid"]
    assert after != before
    nw.check_model(_model())  # and it works


def test_a_hang_times_out_and_the_worker_restarts():
    before = nw.call("selftest")[0]["pid"]
    with pytest.raises(nw.NativeFailure, match="did not finish within 0.5 s"):
        nw.call("selftest", {"action": "sleep", "seconds": 60}, timeout=0.5)
    assert nw.call("selftest")[0]["pid"] != before


def test_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("INFERRT_ONNX_NATIVE_TIMEOUT", "0.3")
    with pytest.raises(nw.NativeFailure, match="0.3 s"):
        nw.call("selftest", {"action": "sleep", "seconds": 60})


def test_a_forked_child_gets_its_own_worker():
    parent_worker = nw.call("selftest")[0]["pid"]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not talk over the parent's pipes
        try:
            child_worker = nw.call("selftest")[0]["pid"]
            os.write(w, str(child_worker).encode())
        finally:
            os._exit(0)
    os.close(w)
    got = int(os.read(r, 64) or b"0")
    os.waitpid(pid, 0)
    os.close(r)
    assert got and got != parent_worker
    assert nw.call("selftest")[0]["pid"] == parent_worker


def _abort_in_worker(*args, **kwargs):
    nw.call("selftest", {"action": "abort"})


@pytest.mark.parametrize("entry,what", [("check_model", "ONNX checker"), ("infer_shapes", "shape inference")])
def test_parser_reports_a_native_crash_as_a_parser_error(monkeypatch, entry, what):
    """onnx aborting on a model fails the parse with a ParserError; the caller's process lives on."""
    monkeypatch.setattr(nw, entry, _abort_in_worker)
    network = inferrt.Builder(inferrt.Logger(inferrt.Logger.ERROR)).create_network()
    parser = OnnxParser(network)
    assert parser.parse(_model().SerializeToString()) is False
    err = str(parser.get_error(0))
    assert what in err and "SIGABRT" in err and "please report" not in err
    monkeypatch.undo()
    assert OnnxParser(network).parse(_model().SerializeToString())  # the next parse gets a fresh worker


def test_pythonic_build_raises_parse_error_on_a_native_crash(monkeypatch):
    monkeypatch.setattr(nw, "check_model", _abort_in_worker)
    with pytest.raises(inferrt.ParseError, match="SIGABRT"):
        inferrt.build_engine(_model(), device="cpu")


def test_function_expansion_crash_names_the_node(monkeypatch):
    """Context-dependent function bodies (ops without an importer, here NegativeLogLikelihoodLoss) are built in the
    worker too; a crash there names the node."""
    from inferrt.onnx import registry

    if registry.lookup("", "NegativeLogLikelihoodLoss", 13) is not None:
        pytest.skip("NegativeLogLikelihoodLoss has an importer: no function expansion to crash in")
    g = oh.make_graph([oh.make_node("NegativeLogLikelihoodLoss", ["x", "t"], ["y"], name="nll", reduction="mean")],
                      "g", [oh.make_tensor_value_info("x", TP.FLOAT, [4, 3]),
                            oh.make_tensor_value_info("t", TP.INT64, [4])], [oh.make_tensor_value_info("y", TP.FLOAT,
                                                                                                     [])])
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 13)])
    m.ir_version = 8
    network = inferrt.Builder(inferrt.Logger(inferrt.Logger.ERROR)).create_network()
    assert OnnxParser(network).parse(m.SerializeToString())  # expands and imports normally
    monkeypatch.setattr(nw, "context_function", _abort_in_worker)
    network = inferrt.Builder(inferrt.Logger(inferrt.Logger.ERROR)).create_network()
    parser = OnnxParser(network)
    assert parser.parse(m.SerializeToString()) is False
    assert parser.get_error(0).node_name() == "nll"
    assert "SIGABRT" in str(parser.get_error(0))


def test_parse_result_unchanged_through_the_worker():
    engine = inferrt.build_engine(_model(), device="cpu")
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    np.testing.assert_array_equal(engine.create_execution_context().infer({"x": x})["y"], -np.maximum(x, 0))


def test_a_worker_that_cannot_start_fails_the_parse_cleanly(monkeypatch):
    import subprocess

    with pytest.raises(nw.NativeFailure):
        nw.call("selftest", {"action": "abort"})  # no worker running now

    def no_processes(*args, **kwargs):
        raise OSError("fork refused")

    monkeypatch.setattr(subprocess, "Popen", no_processes)
    network = inferrt.Builder(inferrt.Logger(inferrt.Logger.ERROR)).create_network()
    parser = OnnxParser(network)  # starting the worker early does not raise
    assert parser.parse(_model().SerializeToString()) is False
    assert "could not be started (fork refused)" in str(parser.get_error(0))


def _float_axes_model(opset=17):
    """ReduceMean whose ``axes`` is a FLOAT attribute: onnx's version converter (ReduceMean 17 -> 18 adapter)
    dereferences it as INTS and dies with SIGSEGV in onnx 1.23 (found by the fuzzer's mutations)."""
    n = oh.make_node("ReduceMean", ["x"], ["y"], name="mean", axes=1.5, keepdims=0)
    g = oh.make_graph([n], "g", [oh.make_tensor_value_info("x", TP.FLOAT, [2, 3])],
                      [oh.make_tensor_value_info("y", TP.FLOAT, None)])
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _onnx_dies_in_process(model, target) -> bool:
    import subprocess
    import sys

    code = ("import sys, onnx; onnx.version_converter.convert_version(onnx.ModelProto.FromString("
            "sys.stdin.buffer.read()), %d)" % target)
    r = subprocess.run([sys.executable, "-c", code], input=model.SerializeToString(), capture_output=True,
                       timeout=120)
    return r.returncode < 0


@pytest.mark.parametrize("tool", ["autocast_bf16", "quantize_int4"])
def test_a_model_that_kills_onnx_in_process_is_a_build_error(tool):
    """Issue 10: the version converter runs in the helper process, so a model that kills onnx is a BuildError."""
    from onnx import TensorProto

    model = _float_axes_model()
    dies = _onnx_dies_in_process(model, 22 if tool == "autocast_bf16" else 21)
    try:
        if tool == "autocast_bf16":
            from inferrt.autocast.prepare_model import prepare

            prepare(model, TensorProto.BFLOAT16, None)
        else:
            from inferrt.quantize import quantize

            quantize(model, "int4_rtn", progress=False)
    except inferrt.BuildError as e:
        if dies:
            assert "helper process was killed by SIGSEGV" in str(e) and "converting the model from opset 17" in str(e)
    else:
        assert not dies, "the converter kills onnx on this model, yet the tool went on"
    assert nw.check_model(_model()) is None   # this process and the next helper are fine


def test_a_mistyped_attribute_is_refused_naming_node_and_attribute():
    """The checker stops at its first finding (here the untyped output, which the parser tolerates) and never sees
    the FLOAT ``axes``; the parser checks attribute types against the schema itself."""
    network = inferrt.Builder(inferrt.Logger(inferrt.Logger.ERROR)).create_network()
    parser = OnnxParser(network)
    assert parser.parse(_float_axes_model().SerializeToString()) is False
    err = parser.get_error(0)
    assert err.code() == inferrt.ParserErrorCode.INVALID_NODE
    assert err.node_name() == "mean" and err.node_operator() == "ReduceMean" and err.node() == 0
    assert "attribute 'axes' is FLOAT, but ReduceMean at opset 17 takes INTS" in err.desc()


def test_a_mistyped_attribute_in_a_subgraph_names_the_inner_node():
    inner = _float_axes_model().graph
    inner.ClearField("input")   # a branch takes no inputs: it reads x from the outer scope
    cond = oh.make_tensor("c", TP.BOOL, [], [True])
    g = oh.make_graph([oh.make_node("If", ["c"], ["y"], name="branch", then_branch=inner, else_branch=inner)], "g",
                      [oh.make_tensor_value_info("x", TP.FLOAT, [2, 3])],
                      [oh.make_tensor_value_info("y", TP.FLOAT, None)], [cond])
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 17)])
    m.ir_version = 8
    parser = OnnxParser(inferrt.Builder(inferrt.Logger(inferrt.Logger.ERROR)).create_network())
    assert parser.parse(m.SerializeToString()) is False
    err = parser.get_error(0)
    assert err.node_name() == "branch" and "node 'mean' (ReduceMean): attribute 'axes' is FLOAT" in err.desc()
