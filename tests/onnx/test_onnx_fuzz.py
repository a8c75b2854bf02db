"""Protobuf-level fuzzing of the ONNX parser, builder, plan loader and runtime (seeds in ``onnx_fuzz_seeds``,
mutations in ``onnx_mutator``, the oracle in ``onnx_fuzz_oracle``).

Every mutant must end in a clean refusal (a ParserError or BuildError that is not an internal "please report"
error), or build a plan that loads and runs (a run-time failure must be an inferrt error naming the layer); never a
crash, a hang, a raw exception or a plan the loader rejects. ``INFERRT_FUZZ_N`` (default 2000) sets the number of
mutants and ``INFERRT_FUZZ_SEED`` (default 0) the seed; both are deterministic."""
from __future__ import annotations

import collections
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import onnx_fuzz_oracle as oracle  # noqa: E402
import onnx_mutator as om  # noqa: E402
from onnx_fuzz_seeds import seed_models  # noqa: E402

N = int(os.environ.get("INFERRT_FUZZ_N", "2000"))
SEED = int(os.environ.get("INFERRT_FUZZ_SEED", "0"))


@pytest.mark.parametrize("name", sorted(seed_models()))
def test_seed_models_run(name):
    """The unmutated seeds build, reload and run, so mutants start from working models."""
    out = oracle.run_case(seed_models()[name].SerializeToString())
    assert out.kind == "ran", out


def test_fuzz_outcomes_are_clean():
    counts = collections.Counter()
    bad = []
    for i, seed_name, muts, data in om.cases(N, SEED):
        out = oracle.run_case(data, seed=i)
        counts[out.kind] += 1
        if out.kind not in oracle.Outcome.GOOD:
            bad.append(f"case {i} ({seed_name}, {'+'.join(muts)}): {out!r}")
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    assert not bad, f"{len(bad)} of {N} mutants ended badly ({summary}):\n" + "\n".join(bad[:20])
    # the mutants reach every stage: refused by the parser, refused by the builder, built and run
    if N >= 1000:
        assert counts["refused_parse"] > N // 4, summary
        assert counts["ran"] > N // 20, summary
        assert counts["refused_build"] > 0, summary


def test_mutations_are_deterministic():
    a = [(i, muts, data) for i, _, muts, data in om.cases(40, SEED)]
    b = [(i, muts, data) for i, _, muts, data in om.cases(40, SEED)]
    assert a == b
    assert len({d for _, _, d in a}) > 30  # and different from each other


def test_oracle_flags_bad_outcomes():
    """The oracle is not vacuous: an internal error and a raw exception are classified as bad."""
    assert oracle.INTERNAL.search("node 'x' (Relu): the importer failed with KeyError: 3; please report this")
    assert not oracle.NAMES_LAYER.search("execution failed: shape '[1, 32, 1, 1]' is invalid for input of size 16416")
    assert oracle.NAMES_LAYER.search("layer 'conv' failed: RuntimeError: bad")
    assert oracle.run_case(b"\x08\x01\x12").kind == "refused_parse"


# ---------------------------------------------------------------------------------------------------- findings
import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto as TP, helper as oh, numpy_helper as nh  # noqa: E402

import inferrt  # noqa: E402
from inferrt.onnx.parser import OnnxParser  # noqa: E402


def _parse(model):
    network = inferrt.Builder(inferrt.Logger(inferrt.Logger.ERROR)).create_network()
    parser = OnnxParser(network)
    data = model if isinstance(model, bytes) else model.SerializeToString()
    ok = parser.parse(data)
    return ok, [parser.get_error(i) for i in range(parser.num_errors)]


def _one_node(node, x_shape, inits=(), y_shape=None, y_type=TP.FLOAT):
    g = oh.make_graph([node], "g", [oh.make_tensor_value_info("x", TP.FLOAT, x_shape)],
                      [oh.make_tensor_value_info("y", y_type, y_shape)], list(inits))
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _refused(model, *words):
    ok, errs = _parse(model)
    assert not ok and errs
    text = " ".join(str(e) for e in errs)
    for w in words:
        assert w in text, f"{w!r} not in {text}"
    assert not oracle.INTERNAL.search(text), text
    return errs


def test_prelu_slope_that_would_grow_the_output_is_refused():
    """Issue 10: slopes (4, 1, 1, 1) on a (1, 4, 8, 8) input broadcast to (4, 4, 8, 8); the build used to succeed
    and the run failed with a raw reshape RuntimeError."""
    slope = nh.from_array(np.ones((4, 1, 1, 1), np.float32), "s")
    m = _one_node(oh.make_node("PRelu", ["x", "s"], ["y"], name="act"), [1, 4, 8, 8], [slope], [1, 4, 8, 8])
    errs = _refused(m, "act", "slopes of shape (4, 1, 1, 1)")
    assert errs[0].node_name() == "act"
    # a slope per channel, as exporters write it, still imports
    ok_slope = nh.from_array(np.ones((4, 1, 1), np.float32), "s")
    assert _parse(_one_node(oh.make_node("PRelu", ["x", "s"], ["y"], name="act"), [1, 4, 8, 8], [ok_slope],
                            [1, 4, 8, 8]))[0]


def test_prelu_slope_shape_checked_in_the_network_api():
    from tests.helpers import const, new_network

    builder, network = new_network()
    x = network.add_input("x", inferrt.float32, (1, 3, 4))
    layer = network.add_parametric_relu(x, const(network, np.ones((2, 3, 1), np.float32)))
    network.mark_output(layer.get_output(0))
    with pytest.raises(inferrt.BuildError, match="slopes"):
        builder.build(network, builder.create_builder_config())


@pytest.mark.parametrize("attrs,words", [
    ({"pads": [1, -1, 1, 1]}, ["pads"]),
    ({"strides": [0, 1]}, ["strides"]),
    ({"dilations": [1, -2]}, ["dilations"]),
    ({"group": 0}, ["group"]),
])
def test_conv_attributes_out_of_range_are_refused_at_parse(attrs, words):
    w = nh.from_array(np.ones((2, 3, 3, 3), np.float32), "W")
    node = oh.make_node("Conv", ["x", "W"], ["y"], name="conv0", **attrs)
    errs = _refused(_one_node(node, [1, 3, 8, 8], [w], None), "conv0", *words)
    assert errs[0].node_name() == "conv0"


@pytest.mark.parametrize("attrs,words", [
    ({"kernel_shape": [0, 2]}, ["kernel_shape"]),
    ({"kernel_shape": [2, 2], "pads": [0, 0, -3, 0]}, ["pads"]),
    ({"kernel_shape": [2, 2], "strides": [2, 0]}, ["strides"]),
])
def test_pool_attributes_out_of_range_are_refused_at_parse(attrs, words):
    errs = _refused(_one_node(oh.make_node("MaxPool", ["x"], ["y"], name="pool0", **attrs), [1, 3, 8, 8]), "pool0",
                    *words)
    assert errs[0].node_name() == "pool0"


def test_importer_checks_attributes_that_onnx_does_not():
    """ONNX's shape inference lets a zero kernel size and a negative dilation of a pool through; the importer
    refuses them, naming node and field."""
    errs = _refused(_one_node(oh.make_node("AveragePool", ["x"], ["y"], name="ap", kernel_shape=[2, 2],
                                           dilations=[1, -1]), ["N", 3, 8, 8]), "ap")
    assert errs[0].node_name() == "ap"


@pytest.mark.parametrize("kind", ["convolution", "deconvolution", "pooling"])
def test_negative_padding_is_refused_at_build_naming_the_layer(kind):
    """Issue 10: negative padding used to be accepted by the build and fail (or mis-compute) at run time."""
    from tests.helpers import new_network

    builder, network = new_network()
    x = network.add_input("x", inferrt.float32, (1, 2, 6, 6))
    if kind == "pooling":
        layer = network.add_pooling_nd(x, inferrt.PoolingType.MAX, (2, 2))
    else:
        add = network.add_convolution_nd if kind == "convolution" else network.add_deconvolution_nd
        layer = add(x, 2, (3, 3), np.ones((2, 2, 3, 3), np.float32), None)
    layer.name = "padded"
    layer.post_padding = (0, -2)
    network.mark_output(layer.get_output(0))
    with pytest.raises(inferrt.BuildError, match="'padded'.*post_padding \\(0, -2\\) has negative values"):
        builder.build(network, builder.create_builder_config())


@pytest.mark.parametrize("op,w_shape,bias_len", [("Conv", (4, 3, 3, 3), 5), ("ConvTranspose", (3, 4, 2, 2), 128)])
def test_bias_of_the_wrong_size_is_refused(op, w_shape, bias_len):
    """Fuzz finding: a bias with more values than output maps built, then failed in the layer at run time."""
    w = nh.from_array(np.ones(w_shape, np.float32), "W")
    b = nh.from_array(np.ones((bias_len,), np.float32), "B")
    m = _one_node(oh.make_node(op, ["x", "W", "B"], ["y"], name="c0"), [1, 3, 8, 8], [w, b], None)
    errs = _refused(m, "c0", f"has {bias_len} values but there are 4 output maps")
    assert errs[0].node_name() == "c0"


def test_loop_condition_that_is_not_one_value_is_refused():
    """Fuzz finding: a Loop body whose condition output is a (2, 3) tensor built, then failed at run time."""
    vi = oh.make_tensor_value_info
    body = oh.make_graph([oh.make_node("Add", ["acc_in", "x"], ["acc_out"], name="body_add"),
                          oh.make_node("Greater", ["acc_out", "x"], ["cond_out"], name="body_cond")], "body",
                         [vi("i", TP.INT64, []), vi("cond_in", TP.BOOL, []), vi("acc_in", TP.FLOAT, [2, 3])],
                         [vi("cond_out", TP.BOOL, [2, 3]), vi("acc_out", TP.FLOAT, [2, 3])])
    g = oh.make_graph([oh.make_node("Loop", ["trips", "", "x"], ["y"], name="loop0", body=body)], "g",
                      [vi("x", TP.FLOAT, [2, 3])], [vi("y", TP.FLOAT, [2, 3])],
                      [nh.from_array(np.array(3, np.int64), "trips")])
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 17)])
    m.ir_version = 8
    out = oracle.run_case(m.SerializeToString())
    assert out.kind == "refused_parse", out
    assert "loop0" in out.detail and "condition" in out.detail


def test_names_that_are_not_utf8_are_refused():
    m = _one_node(oh.make_node("Relu", ["x"], ["y"], name="r"), [2])
    data = m.SerializeToString().replace(b"Relu", b"R\xf7lu")
    errs = _refused(data, "not valid UTF-8", "op_type")
    assert errs[0].code() == inferrt.ParserErrorCode.MODEL_DESERIALIZE_FAILED


def test_unreadable_initializers_are_refused_with_their_name():
    bad = nh.from_array(np.ones((3,), np.float32), "b")
    bad.data_type = 999
    _refused(_one_node(oh.make_node("Add", ["x", "b"], ["y"], name="add"), [3], [bad], [3]), "initializer 'b'")
    short = nh.from_array(np.ones((3,), np.float32), "b")
    short.raw_data = short.raw_data[:5]
    _refused(_one_node(oh.make_node("Add", ["x", "b"], ["y"], name="add"), [3], [short], [3]), "tensor name: b",
             "raw_data size")


def test_external_data_with_a_negative_length_is_refused():
    t = nh.from_array(np.ones((3,), np.float32), "b")
    t.data_location = TP.EXTERNAL
    t.ClearField("raw_data")
    for k, v in (("location", "w.bin"), ("offset", "0"), ("length", "-1")):
        e = t.external_data.add()
        e.key, e.value = k, v
    _refused(_one_node(oh.make_node("Add", ["x", "b"], ["y"], name="add"), [3], [t], [3]), "initializer 'b'",
             "external data")


def test_infinite_resize_scales_are_refused():
    scales = nh.from_array(np.array([1, 1, np.inf, 2], np.float32), "sc")
    m = _one_node(oh.make_node("Resize", ["x", "", "sc"], ["y"], name="up"), [1, 1, 2, 2], [scales], None)
    out = oracle.run_case(m.SerializeToString())
    assert out.kind in ("refused_parse", "refused_build"), out
    assert "up" in out.detail


def test_build_refuses_tensors_larger_than_the_device():
    """A plan whose tensors could never fit is a BuildError naming the tensor (the loader would reject it)."""
    m = _one_node(oh.make_node("Relu", ["x"], ["y"], name="r"), [1, 3, 8, 2 ** 40], y_shape=[1, 3, 8, 2 ** 40])
    out = oracle.run_case(m.SerializeToString())
    assert out.kind == "refused_build", out
    assert "'x'" in out.detail and "memory" in out.detail


def test_build_refuses_tensors_larger_than_the_device_memory(device):
    """The bound is the memory of the device the plan is built for (physical memory for the CPU)."""
    from inferrt.builder.build import device_memory_bytes

    total = device_memory_bytes(device)
    assert total > 0
    n = total // 4 + 1  # one float32 more than the device holds
    m = _one_node(oh.make_node("Relu", ["x"], ["y"], name="r"), [n], y_shape=[n])
    with pytest.raises(inferrt.BuildError, match=f"tensor 'x' would have shape \\({n},\\)"):
        inferrt.build_engine(m, device=device)


def _relu_engine():
    m = _one_node(oh.make_node("Relu", ["x"], ["h"], name="r"), [2, 3], y_shape=[2, 3])
    m.graph.node.append(oh.make_node("Neg", ["h"], ["y"], name="n"))
    return inferrt.build_engine(m, device="cpu")


def test_run_time_failures_name_the_layer():
    """A kernel failing at run time is an ExecutionError naming the layer (Pythonic) or a logged error and False
    (TensorRT API), never a raw exception."""
    import torch

    engine = _relu_engine()
    name = next(iter(engine.executor.kernels))

    def broken(ins, outs):
        raise RuntimeError("shape '[1, 32, 1, 1]' is invalid for input of size 16416")

    engine.executor.kernels[name] = broken
    ctx = engine.create_execution_context()
    with pytest.raises(inferrt.ExecutionError, match=f"layer '{name}'"):
        ctx.infer({"x": np.ones((2, 3), np.float32)})

    class Log(inferrt.ILogger):
        def __init__(self):
            super().__init__()
            self.errors = []

        def log(self, severity, msg):
            if severity <= inferrt.Logger.ERROR:
                self.errors.append(msg)

    log = Log()
    engine2 = inferrt.load_engine(engine.serialize(), logger=log)
    engine2.executor.kernels[name] = broken
    ctx2 = engine2.create_execution_context()
    x, y = torch.ones(2, 3), torch.empty(2, 3)
    ctx2.set_input_shape("x", (2, 3))
    ctx2.set_tensor_address("x", x.data_ptr())
    ctx2.set_tensor_address("y", y.data_ptr())
    assert ctx2.execute_async_v3(0) is False
    assert any(name in e for e in log.errors), log.errors


def test_a_result_of_the_wrong_size_names_the_layer():
    import torch

    engine = _relu_engine()
    name = next(iter(engine.executor.kernels))
    engine.executor.kernels[name] = lambda ins, outs: [torch.zeros(7)]
    with pytest.raises(inferrt.ExecutionError, match=f"layer '{name}'.*shape \\(7,\\)"):
        engine.create_execution_context().infer({"x": np.ones((2, 3), np.float32)})
