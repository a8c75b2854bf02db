"""fuse_add_layer_norm: Add ─ LayerNorm becomes one add_layer_norm layer (outputs: the normalized value, and the sum
when something else reads it); engines against the unoptimized build and onnxruntime; the op's shape rules."""
import numpy as np
import pytest

import inferrt as trt
from inferrt.enums import DataType
from inferrt.ops import Spec, get_op
from inferrt.ops.base import Attrs, OpError
from tests.helpers import assert_close, new_network
from tests.passes.nets import EW, compare_optimized, const, count, dyn_profile, kinds, layer_norm, optimize, rand
from tests.passes.nets import transformer_network

PASSES = ["fuse_norms", "fuse_add_layer_norm", "eliminate_dead_layers"]


def _net(sum_reader=True, sum_output=False, residual_shape=(-1, 5, 16)):
    """y = LayerNorm(a + r); z = 2 * (a + r) when ``sum_reader``; the sum itself an output when ``sum_output``."""
    builder, net = new_network()
    a = net.add_input("a", trt.float32, (-1, 5, 16))
    r = net.add_input("r", trt.float32, residual_shape) if -1 in residual_shape else const(net, rand(*residual_shape))
    add = net.add_elementwise(a, r, EW.SUM)
    add.name = "residual_add"
    s = add.get_output(0)
    y = layer_norm(net, s, 16, "ln")
    y.name = "y"
    net.mark_output(y)
    if sum_reader:
        z = net.add_elementwise(s, const(net, np.full((1, 1, 1), 2.0, np.float32)), EW.PROD).get_output(0)
        z.name = "z"
        net.mark_output(z)
    if sum_output:
        s.name = "s"
        net.mark_output(s)
    return builder, net


def _feeds(residual=True):
    f = [{"a": rand(2, 5, 16, scale=3) + 1}, {"a": rand(4, 5, 16)}]
    if residual:
        for d in f:
            d["r"] = rand(*d["a"].shape)
    return f


PROFILE = [{"a": ((1, 5, 16), (2, 5, 16), (4, 5, 16)), "r": ((1, 5, 16), (2, 5, 16), (4, 5, 16))}]


def test_one_layer_that_also_hands_out_the_sum():
    g = optimize(_net()[1], only=set(PASSES))
    (n,) = [n for n in g.nodes if n.kind == "add_layer_norm"]
    assert kinds(g) == ["add_layer_norm", "elementwise"], kinds(g)
    assert len(n.outputs) == 2 and n.outputs[0] == "y"
    assert g.nodes[-1].inputs[0] == n.outputs[1]      # the doubling reads the fused layer's sum
    assert n.attrs.axes == 1 << 2 and abs(n.attrs.epsilon - 1e-5) < 1e-12 and len(n.inputs) == 4
    assert {"residual_add", "ln_mean", "ln_div", "ln_gamma", "ln_beta"} <= set(n.origin)


def test_sum_read_only_by_the_norm_is_not_stored():
    g = optimize(_net(sum_reader=False)[1], only=set(PASSES))
    assert kinds(g) == ["add_layer_norm"] and len(g.nodes[-1].outputs) == 1


def test_sum_that_is_a_network_output_is_kept():
    g = optimize(_net(sum_reader=False, sum_output=True)[1], only=set(PASSES))
    (n,) = [n for n in g.nodes if n.kind == "add_layer_norm"]
    assert n.outputs == ["y", "s"]


@pytest.mark.parametrize("sum_reader,sum_output", [(True, False), (False, False), (False, True)])
def test_numerics_against_unfused(sum_reader, sum_output):
    builder, net = _net(sum_reader, sum_output)
    compare_optimized(builder, net, _feeds(), profiles=PROFILE, passes=PASSES)


def test_broadcast_constant_residual():
    """A position-embedding-like constant (1, 5, 16) added to every batch entry."""
    builder, net = _net(residual_shape=(1, 5, 16))
    g = optimize(net, only=set(PASSES))
    assert count(g, "add_layer_norm") == 1
    compare_optimized(builder, net, _feeds(residual=False), profiles=[{"a": PROFILE[0]["a"]}], passes=PASSES)


def test_residual_in_the_matmul_epilogue_is_left_there():
    """In the transformer block both residual adds follow a product: the epilogue fusion takes them first."""
    g = optimize(transformer_network()[1])
    assert count(g, "add_layer_norm") == 0 and count(g, "layer_norm") == 2


def test_full_pipeline_keeps_the_fusion():
    builder, net = _net()
    g = optimize(net)
    assert count(g, "add_layer_norm") == 1 and count(g, "layer_norm") == 0
    compare_optimized(builder, net, _feeds(), profiles=PROFILE)


def test_not_fused():
    # normalized over a non-trailing axis (axis 1 of 3)
    builder, net = new_network()
    a = net.add_input("a", trt.float32, (2, 5, 16))
    s = net.add_elementwise(a, a, EW.SUM).get_output(0)
    norm = net.add_normalization(s, const(net, np.ones((1, 5, 1))), const(net, np.zeros((1, 5, 1))), 1 << 1)
    norm.get_output(0).name = "y"
    net.mark_output(norm.get_output(0))
    assert count(optimize(net, only=set(PASSES)), "add_layer_norm") == 0
    # a pinned add keeps its precision: not absorbed
    builder, net = _net()
    for lay in net:
        if lay.name == "residual_add":
            lay.precision = trt.float32
    assert count(optimize(net, only=set(PASSES)), "add_layer_norm") == 0
    # a scale that widens the output ((1, 5, 16) data, (3, 5, 16) scale)
    builder, net = new_network()
    a = net.add_input("a", trt.float32, (1, 5, 16))
    s = net.add_elementwise(a, a, EW.SUM).get_output(0)
    norm = net.add_normalization(s, const(net, np.ones((3, 5, 16))), const(net, np.zeros((1, 1, 16))), 1 << 2)
    norm.get_output(0).name = "y"
    net.mark_output(norm.get_output(0))
    assert count(optimize(net, only=set(PASSES)), "add_layer_norm") == 0


# --------------------------------------------------------------------------------------------------- ONNX
def _onnx_model():
    """x + pos (constant (1, 6, 16)) ─ LayerNormalization-17 ─ y, and the sum doubled into z."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.standard_normal((1, 6, 16)).astype(np.float32), "pos"),
             numpy_helper.from_array((rng.standard_normal(16) * 0.1 + 1).astype(np.float32), "gamma"),
             numpy_helper.from_array((rng.standard_normal(16) * 0.1).astype(np.float32), "beta"),
             numpy_helper.from_array(np.array(2.0, np.float32), "two")]
    nodes = [helper.make_node("Add", ["x", "pos"], ["s"], name="embed_add"),
             helper.make_node("LayerNormalization", ["s", "gamma", "beta"], ["y"], axis=-1, epsilon=1e-5,
                              name="embed_ln"),
             helper.make_node("Mul", ["s", "two"], ["z"], name="double")]
    graph = helper.make_graph(nodes, "add_ln", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 6, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 6, 16]),
                               helper.make_tensor_value_info("z", TensorProto.FLOAT, ["b", 6, 16])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_onnx_layer_normalization_against_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    model = _onnx_model()
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    net = builder.create_network(0)
    parser = trt.OnnxParser(net, logger)
    assert parser.parse(model), [str(parser.get_error(i)) for i in range(parser.num_errors)]
    assert count(optimize(net), "add_layer_norm") == 1
    config = builder.create_builder_config()
    config.device = "cpu"
    p = builder.create_optimization_profile()
    p.set_shape("x", *dyn_profile("x", (1, 6, 16))["x"])
    config.add_optimization_profile(p)
    engine = trt.Runtime(logger).deserialize_cuda_engine(builder.build(net, config))
    assert [n.kind for n in engine.graph.nodes if n.kind != "constant"] == ["add_layer_norm", "elementwise"]
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    for b in (1, 3):
        x = rand(b, 6, 16, scale=2)
        got = engine.create_execution_context().infer({"x": x})
        ref = dict(zip(("y", "z"), sess.run(["y", "z"], {"x": x})))
        for k in ("y", "z"):
            assert_close(got[k], ref[k], rtol=1e-4, atol=1e-4, what=k)


# --------------------------------------------------------------------------------------------------- op
def _infer(x, r, scale=None, bias=None, axes=1 << 2):
    f = DataType.FLOAT
    ins = [Spec(f, x), Spec(f, r)] + [None if s is None else Spec(f, s) for s in (scale, bias)]
    return get_op("add_layer_norm").infer(Attrs(axes=axes, epsilon=1e-5), ins)


def test_op_shapes_and_errors():
    y, s = _infer((-1, 5, 16), (1, 5, 16), (16,), (1, 1, 16))
    assert y.shape == s.shape == (-1, 5, 16)
    with pytest.raises(OpError, match="trailing"):
        _infer((2, 5, 16), (2, 5, 16), axes=1 << 1)
    with pytest.raises(OpError, match="scale of shape .* would widen"):
        _infer((1, 5, 16), (1, 5, 16), scale=(3, 5, 16))
    with pytest.raises(OpError, match="share one floating-point type"):
        get_op("add_layer_norm").infer(Attrs(axes=4, epsilon=0.0), [Spec(DataType.FLOAT, (2, 4)),
                                                                     Spec(DataType.HALF, (2, 4))])


def test_op_run_against_float64():
    import torch

    g = torch.Generator().manual_seed(0)
    x, r = torch.randn(3, 4, 8, generator=g), torch.randn(1, 4, 8, generator=g)
    w, b = torch.randn(8, generator=g), torch.randn(1, 1, 8, generator=g)
    y, s = get_op("add_layer_norm").run(Attrs(axes=0b110, epsilon=1e-3), [x, r, w, b], [None, None])
    sd = x.double() + r.double()
    mean = sd.mean(dim=(1, 2), keepdim=True)
    var = ((sd - mean) ** 2).mean(dim=(1, 2), keepdim=True)
    ref = (sd - mean) / torch.sqrt(var + 1e-3) * w.double() + b.double()
    torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(s, x + r)
    # half data: statistics in float32, the normalized sum of the rounded half sum
    yh, sh = get_op("add_layer_norm").run(Attrs(axes=0b100, epsilon=1e-5), [x.half(), r.half()], [None, None])
    ref = torch.nn.functional.layer_norm((x.half() + r.half()).double(), (8,), eps=1e-5)
    assert yh.dtype == sh.dtype == torch.float16
    torch.testing.assert_close(yh.double(), ref, rtol=1e-2, atol=1e-3)
