"""OnnxParser: TensorRT's parser API, validation errors (by node), all-at-once unsupported reports, rollback,
function expansion, external data, subgraph support queries. Results are checked against numpy / onnxruntime."""
from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP, helper as oh, numpy_helper

import inferrt as trt
from inferrt.onnx import registry
from inferrt.onnx.context import ImportContext, NodeView
from inferrt.onnx.parser import OnnxParser, ParserError

from tests.helpers import assert_close, build_and_run, new_network

RNG = np.random.default_rng(0)


def _model(nodes, inputs, outputs, inits=(), opset=17, functions=(), extra_opsets=()):
    g = oh.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    ops = [oh.make_opsetid("", opset)] + [oh.make_opsetid(d, v) for d, v in extra_opsets]
    return oh.make_model(g, opset_imports=ops, functions=list(functions), ir_version=10)


def _vi(name, shape, t=TP.FLOAT):
    return oh.make_tensor_value_info(name, t, shape)


def _parse(model, path=None):
    builder, network = new_network()
    parser = trt.OnnxParser(network, builder.logger)
    data = model if isinstance(model, bytes) else model.SerializeToString()
    ok = parser.parse(data, path) if path is not None else parser.parse(data)
    return ok, parser, builder, network


def _errors(parser):
    return [parser.get_error(i) for i in range(parser.num_errors)]


def _ort(model, feeds):
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


def _add_relu_model():
    w = numpy_helper.from_array(RNG.standard_normal((3, 4)).astype(np.float32), "w")
    nodes = [oh.make_node("Add", ["x:0", "w"], ["sum/1"], name="add"),
             oh.make_node("Relu", ["sum/1"], ["y.out"], name="relu")]
    return _model(nodes, [_vi("x:0", [2, 3, 4])], [_vi("y.out", [2, 3, 4])], [w])


# ---------------------------------------------------------------------------------------------- happy path
def test_parse_keeps_onnx_names_and_matches_numpy():
    model = _add_relu_model()
    ok, parser, builder, network = _parse(model)
    assert ok, _errors(parser)
    assert network.get_input(0).name == "x:0"
    assert network.get_output(0).name == "y.out"
    assert parser.get_layer_output_tensor("relu", 0).name == "y.out"
    assert parser.get_layer_output_tensor("relu", 1) is None
    assert parser.get_layer_output_tensor("nope", 0) is None
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    w = numpy_helper.to_array(model.graph.initializer[0]).astype(np.float64)
    got = build_and_run(builder, network, {"x:0": x})["y.out"]
    assert_close(got, np.maximum(x.astype(np.float64) + w, 0))


def test_parse_from_file_and_unsorted_nodes(tmp_path):
    ref = _add_relu_model()
    model = onnx.ModelProto()
    model.CopyFrom(ref)
    nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in model.graph.node]
    del model.graph.node[:]
    model.graph.node.extend(reversed(nodes))  # not topologically sorted: the parser sorts
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    builder, network = new_network()
    parser = trt.OnnxParser(network, builder.logger)
    assert parser.parse_from_file(str(path)), _errors(parser)
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    got = build_and_run(builder, network, {"x:0": x})["y.out"]
    assert_close(got, _ort(ref, {"x:0": x})["y.out"])


def test_dynamic_dims_and_double_inputs():
    nodes = [oh.make_node("Mul", ["x", "x"], ["y"])]
    model = _model(nodes, [_vi("x", ["batch", 5], TP.DOUBLE)], [_vi("y", ["batch", 5], TP.DOUBLE)])
    ok, parser, builder, network = _parse(model)
    assert ok, _errors(parser)
    t = network.get_input(0)
    assert t.dtype == trt.DataType.FLOAT and tuple(t.shape) == (-1, 5)
    assert t.get_dimension_name(0) == "batch"
    x = RNG.standard_normal((3, 5))
    got = build_and_run(builder, network, {"x": x.astype(np.float32)}, profiles=[{"x": [(1, 5), (3, 5), (8, 5)]}])
    assert_close(got["y"], x * x)


def test_constant_node_and_initializer_input_are_constants():
    c = oh.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.array([1.5, -2.0], np.float32)))
    w = numpy_helper.from_array(np.array([10.0, 20.0], np.float32), "w")
    nodes = [c, oh.make_node("Add", ["c", "w"], ["s"]), oh.make_node("Mul", ["s", "x"], ["y"])]
    # "w" is also listed as a graph input (old exporters do this): it stays a constant
    model = _model(nodes, [_vi("x", [2]), _vi("w", [2])], [_vi("y", [2])], [w])
    ok, parser, builder, network = _parse(model)
    assert ok, _errors(parser)
    assert network.num_inputs == 1
    got = build_and_run(builder, network, {"x": np.array([2.0, 3.0], np.float32)})["y"]
    assert_close(got, np.array([23.0, 54.0]))


# ---------------------------------------------------------------------------------------------- errors
def test_garbage_bytes_report_deserialize_error():
    ok, parser, _, network = _parse(b"garbage")
    assert not ok and parser.num_errors == 1
    err = parser.get_error(0)
    assert isinstance(err, ParserError)
    assert err.code() == trt.ParserErrorCode.MODEL_DESERIALIZE_FAILED
    assert "ModelProto" in err.desc() and "ModelProto" in str(err)
    assert err.node() == -1 and err.func() == "parse" and err.file().endswith("parser.py")
    assert network.num_layers == 0
    parser.clear_errors()
    assert parser.num_errors == 0 and parser.get_error(0) is None


@pytest.mark.parametrize("bad,words", [
    (2 ** 70, ["a int is not the bytes of an ONNX model"]),
    (1 << 30, ["a int is not the bytes of an ONNX model"]),    # not a gigabyte of zeros
    ("model.onnx", ["a str is not the bytes", "parse_from_file takes a path"]),
    (None, ["a NoneType is not the bytes"]),
    ([1, 2], ["a list is not the bytes"]),
])
def test_arguments_that_are_not_model_bytes(bad, words):
    for entry in ("parse", "supports_model"):
        network = new_network()[1]
        parser = OnnxParser(network, trt.Logger(trt.Logger.ERROR))
        out = getattr(parser, entry)(bad)
        assert (out[0] if isinstance(out, tuple) else out) is False
        text = str(parser.get_error(0))
        assert parser.get_error(0).code() == trt.ParserErrorCode.MODEL_DESERIALIZE_FAILED
        for w in words:
            assert w in text, text


def test_all_unsupported_nodes_reported_and_network_left_empty():
    nodes = [oh.make_node("Relu", ["x"], ["a"], name="ok"),
             oh.make_node("FancyOp", ["a"], ["b"], name="first", domain="acme"),
             oh.make_node("Relu", ["b"], ["c"], name="ok2"),
             oh.make_node("OtherOp", ["c"], ["y"], name="second", domain="acme")]
    model = _model(nodes, [_vi("x", [2])], [_vi("y", [2])], extra_opsets=[("acme", 3)])
    ok, parser, _, network = _parse(model)
    assert not ok
    errs = _errors(parser)
    assert [(e.node(), e.node_name(), e.node_operator()) for e in errs] == [(1, "first", "FancyOp"),
                                                                           (3, "second", "OtherOp")]
    assert all(e.code().name == "UNSUPPORTED_NODE" for e in errs)
    assert "acme::FancyOp at opset 3" in errs[0].desc()
    assert network.num_layers == 0 and network.num_inputs == 0 and network.num_outputs == 0


def test_failed_parse_restores_existing_network():
    builder, network = new_network()
    keep = network.add_input("keep", trt.float32, (2,))
    network.mark_output(network.add_activation(keep, trt.ActivationType.RELU).get_output(0))
    parser = trt.OnnxParser(network, builder.logger)
    bad = _model([oh.make_node("Relu", ["x"], ["a"]), oh.make_node("Nope", ["a"], ["y"], domain="acme")],
                 [_vi("x", [2])], [_vi("y", [2])], extra_opsets=[("acme", 1)])
    assert not parser.parse(bad.SerializeToString())
    assert (network.num_layers, network.num_inputs, network.num_outputs) == (1, 1, 1)
    assert network.get_input(0).name == "keep"


def test_dangling_reference_names_the_node():
    nodes = [oh.make_node("Relu", ["x"], ["a"], name="r0"), oh.make_node("Add", ["a", "ghost"], ["y"], name="adder")]
    model = _model(nodes, [_vi("x", [2])], [_vi("y", [2])])
    ok, parser, _, network = _parse(model)
    assert not ok
    err = parser.get_error(0)
    assert err.code().name == "INVALID_GRAPH" and err.node() == 1 and err.node_name() == "adder"
    assert "ghost" in err.desc()
    assert network.num_layers == 0


def test_cycle_is_reported_not_hung():
    nodes = [oh.make_node("Add", ["x", "b"], ["a"], name="n_a"), oh.make_node("Relu", ["a"], ["b"], name="n_b"),
             oh.make_node("Relu", ["a"], ["y"], name="n_y")]
    model = _model(nodes, [_vi("x", [2])], [_vi("y", [2])])
    ok, parser, _, _ = _parse(model)
    assert not ok
    err = parser.get_error(0)
    assert err.code().name == "INVALID_GRAPH" and "cycle" in err.desc()
    assert err.node_name() in ("n_a", "n_b")


def test_type_mismatch_is_a_parser_error():
    nodes = [oh.make_node("Add", ["x", "i"], ["y"], name="mixed")]
    model = _model(nodes, [_vi("x", [2]), _vi("i", [2], TP.INT64)], [_vi("y", [2])])
    ok, parser, _, network = _parse(model)
    assert not ok and parser.num_errors >= 1
    assert "mixed" in str(parser.get_error(0)) or "Add" in str(parser.get_error(0))
    assert network.num_layers == 0


def test_opset_too_new_is_rejected():
    model = _add_relu_model()
    model.opset_import[0].version = onnx.defs.onnx_opset_version() + 1
    ok, parser, _, _ = _parse(model)
    assert not ok and "opset" in parser.get_error(0).desc()


def test_importer_failure_names_node(monkeypatch):
    def broken(ctx, node):
        ctx.fail("attribute 'mode' = 'weird' is not supported")

    monkeypatch.setitem(registry.IMPORTERS, ("acme", "Weird"), [(1, broken)])
    model = _model([oh.make_node("Weird", ["x"], ["y"], name="odd", domain="acme")], [_vi("x", [2])],
                   [_vi("y", [2])], extra_opsets=[("acme", 1)])
    ok, parser, _, _ = _parse(model)
    assert not ok
    err = parser.get_error(0)
    assert err.node_name() == "odd" and "odd" in err.desc() and "weird" in err.desc()


# ---------------------------------------------------------------------------------------------- external data
def _external_model(tmp_path):
    w = RNG.standard_normal((64, 64)).astype(np.float32)
    model = _model([oh.make_node("MatMul", ["x", "w"], ["y"])], [_vi("x", [2, 64])], [_vi("y", [2, 64])],
                   [numpy_helper.from_array(w, "w")])
    path = str(tmp_path / "ext.onnx")
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="ext.bin",
                    size_threshold=0)
    return path, w


def test_external_data_resolved_next_to_model(tmp_path):
    path, w = _external_model(tmp_path)
    builder, network = new_network()
    parser = trt.OnnxParser(network, builder.logger)
    assert parser.parse_from_file(path), _errors(parser)
    x = RNG.standard_normal((2, 64)).astype(np.float32)
    assert_close(build_and_run(builder, network, {"x": x})["y"], x.astype(np.float64) @ w, rtol=1e-4, atol=1e-4)


def test_missing_external_data_is_reported(tmp_path):
    path, _ = _external_model(tmp_path)
    os.remove(tmp_path / "ext.bin")
    builder, network = new_network()
    parser = trt.OnnxParser(network, builder.logger)
    assert not parser.parse_from_file(path)
    assert "'w'" in parser.get_error(0).desc() and "ext.bin" in parser.get_error(0).desc()
    with open(path, "rb") as f:  # bytes without a path: told to pass the path
        assert not parser.parse(f.read())
    assert "parse_from_file" in parser.get_error(1).desc()
    assert not parser.parse_from_file(str(tmp_path / "missing.onnx"))


# ---------------------------------------------------------------------------------------------- functions
def test_model_local_function_is_inlined():
    fn = oh.make_function("acme", "Swishy", ["a"], ["b"],
                          [oh.make_node("Sigmoid", ["a"], ["s"]), oh.make_node("Mul", ["a", "s"], ["b"])],
                          [oh.make_opsetid("", 17)])
    model = _model([oh.make_node("Swishy", ["x"], ["y"], domain="acme")], [_vi("x", [4])], [_vi("y", [4])],
                   functions=[fn], extra_opsets=[("acme", 1)])
    ok, parser, builder, network = _parse(model)
    assert ok, _errors(parser)
    x = RNG.standard_normal(4)
    got = build_and_run(builder, network, {"x": x.astype(np.float32)})["y"]
    assert_close(got, x / (1 + np.exp(-x)))


def test_op_without_importer_expands_through_its_onnx_function(monkeypatch):
    monkeypatch.setitem(registry.IMPORTERS, ("", "Celu"), [])  # hide the importer: ONNX's function body is used
    model = _model([oh.make_node("Celu", ["x"], ["y"], alpha=0.7)], [_vi("x", [6])], [_vi("y", [6])])
    ok, parser, builder, network = _parse(model)
    assert ok, _errors(parser)
    x = np.linspace(-3, 3, 6)
    got = build_and_run(builder, network, {"x": x.astype(np.float32)})["y"]
    assert_close(got, np.maximum(0, x) + np.minimum(0, 0.7 * (np.exp(x / 0.7) - 1)))


# ---------------------------------------------------------------------------------------------- queries, flags
def test_supports_model_partitions_subgraphs():
    nodes = [oh.make_node("Relu", ["x"], ["a"]), oh.make_node("Relu", ["a"], ["b"]),
             oh.make_node("Mystery", ["b"], ["c"], domain="acme"), oh.make_node("Relu", ["c"], ["y"])]
    model = _model(nodes, [_vi("x", [2])], [_vi("y", [2])], extra_opsets=[("acme", 1)])
    builder, network = new_network()
    parser = trt.OnnxParser(network, builder.logger)
    assert not parser.supports_model_v2(model.SerializeToString())
    assert parser.num_subgraphs == 3
    assert [parser.is_subgraph_supported(i) for i in range(3)] == [True, False, True]
    assert [parser.get_subgraph_nodes(i) for i in range(3)] == [[0, 1], [2], [3]]
    assert network.num_layers == 0
    assert parser.supports_model_v2(_add_relu_model().SerializeToString())
    assert parser.num_subgraphs == 1 and parser.is_subgraph_supported(0)


def test_supports_operator_flags_and_plugins():
    builder, network = new_network()
    parser = trt.OnnxParser(network, builder.logger)
    assert parser.supports_operator("Relu") and parser.supports_operator("Constant")
    assert parser.supports_operator("Celu")
    assert not parser.supports_operator("DefinitelyNotAnOp")
    flag = trt.OnnxParserFlag.NATIVE_INSTANCENORM
    assert parser.get_flag(flag)  # TensorRT 10's default
    parser.clear_flag(flag)
    assert not parser.get_flag(flag) and parser.flags == 0
    parser.set_flag(flag)
    assert parser.get_flag(flag) and parser.flags == 1
    assert parser.get_used_vc_plugin_libraries() == []


# ---------------------------------------------------------------------------------------------- ImportContext
def test_import_context_helpers_and_node_view():
    builder, network = new_network()
    ctx = ImportContext(network, {"": 13})
    x = network.add_input("x", trt.float32, (4, -1))
    ctx.bind("x", x)
    ctx.add_constant_value("k", np.arange(3, dtype=np.float64))
    assert ctx.has("x") and ctx.has("k") and not ctx.has("") and not ctx.has("zz")
    assert ctx.value("k").dtype == np.float32 and ctx.value("x") is None
    k = ctx.tensor("k")
    assert k.name == "k" and k.dtype == trt.float32 and ctx.tensor("k") is k
    a, b = ctx.broadcast_pair(k, x)
    assert tuple(a.shape) == (1, 3) and b is x
    y = ctx.elementwise(x, ctx.scalar(2.0), trt.ElementWiseOperation.PROD)
    assert tuple(y.shape) == (4, -1)
    assert ctx.cast(x, trt.float32) is x and ctx.cast(x, trt.int32).dtype == trt.int32
    assert tuple(ctx.shape_of(x).shape) == (2,)
    assert ctx.opset() == 13 and ctx.opset("ai.onnx") == 13
    with pytest.raises(registry.ImportFailure, match="'nope' is not defined"):
        ctx.tensor("nope")
    node = oh.make_node("Foo", ["x", "", "k"], ["y"], name="n", f=1.5, i=3, s="abc", fs=[1.0, 2.0], ints=[1, 2],
                        strs=["p", "q"], t=numpy_helper.from_array(np.ones(2, np.int64)),
                        g=oh.make_graph([], "sub", [], []))
    v = NodeView(node, 7)
    assert (v.name, v.op_type, v.domain, v.index, v.inputs, v.outputs) == ("n", "Foo", "", 7, ["x", "", "k"], ["y"])
    assert v.attr("f") == 1.5 and v.attr("i") == 3 and v.attr("s") == "abc" and v.attr("fs") == [1.0, 2.0]
    assert v.attr("ints") == [1, 2] and v.attr("strs") == ["p", "q"] and v.attr("g").name == "sub"
    assert v.attr("t").tolist() == [1, 1] and v.attr("missing", 4) == 4 and v.input(1) == "" and v.input(9) == ""
    with pytest.raises(registry.ImportFailure, match="needs attribute 'zz'"):
        v.attr("zz")


def test_parser_error_is_exported():
    assert trt.ParserError is ParserError and trt.OnnxParser is OnnxParser


def test_importer_crash_becomes_internal_error(monkeypatch):
    def crash(ctx, node):
        raise RuntimeError("boom")

    monkeypatch.setitem(registry.IMPORTERS, ("acme", "Crash"), [(1, crash)])
    model = _model([oh.make_node("Relu", ["x"], ["a"]), oh.make_node("Crash", ["a"], ["y"], name="c", domain="acme")],
                   [_vi("x", [2])], [_vi("y", [2])], extra_opsets=[("acme", 1)])
    ok, parser, _, network = _parse(model)
    assert not ok and network.num_layers == 0
    err = parser.get_error(0)
    assert err.code().name == "INTERNAL_ERROR" and err.node_name() == "c" and "boom" in err.desc()
