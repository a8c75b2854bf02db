"""The CPU oneDNN convolution tactic (tactics/tactic_cpu_onednn.py): chosen for CPU float convolutions, fused
epilogues (residual add + activation as oneDNN post-ops) match a float64 reference at float32 tolerances, both
through a kept oneDNN primitive (the ``cpu`` extra's oneDNN, tactics/onednn_lib.py) and through PyTorch's op."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close

import inferrt as trt
from inferrt.tactics import onednn_lib
from inferrt.tactics.tactic_cpu_onednn import onednn_available, split_epilogue

pytestmark = pytest.mark.skipif(not onednn_available(), reason="PyTorch without oneDNN")
RNG = np.random.default_rng(7)
A = trt.ActivationType


def _w(*shape):
    return (RNG.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)


def _act64(t, act, alpha, beta):
    if act is None:
        return t
    return {A.RELU: lambda: torch.relu(t), A.CLIP: lambda: t.clamp(alpha, beta), A.SIGMOID: lambda: torch.sigmoid(t),
            A.TANH: lambda: torch.tanh(t), A.GELU_ERF: lambda: F.gelu(t),
            A.LEAKY_RELU: lambda: torch.where(t >= 0, t, alpha * t),
            A.SELU: lambda: beta * torch.where(t >= 0, t, alpha * torch.expm1(t))}[act]()


@pytest.fixture(params=["direct", "torch"])
def path(request, monkeypatch):
    """Which way the tactic calls oneDNN: "direct" (a kept primitive; skipped where the ``cpu`` extra's oneDNN is
    not installed) or "torch" (PyTorch's op, as without it). Yields a list of the primitives built. The thread count
    is held at what is asked for whatever the machine's load (a count lowered between two executions builds a
    primitive for each count, which the tests count)."""
    from inferrt.runtime import cpu_threads

    # unmeasured free cores: a set count is not lowered (free_limit) and the automatic one, which these engines
    # use, stays min(usable cores, 4) (auto_threads reads the measurement itself, not free_limit)
    monkeypatch.setattr(cpu_threads._free, "get", lambda: None)
    built = []
    if request.param == "direct":
        if onednn_lib.library() is None:
            pytest.skip("the cpu extra's oneDNN (onednn-cpu-gomp) is not installed")
        real = onednn_lib.ConvPrimitive

        def counting(*args, **kw):
            built.append(real(*args, **kw))
            return built[-1]

        monkeypatch.setattr(onednn_lib, "ConvPrimitive", counting)
    else:
        monkeypatch.setattr(onednn_lib, "library", lambda: None)
    yield request.param, built


CASES = {   # name: (cin, cout, k, stride, dilation, groups, padding mode, residual, activation, alpha, beta)
    "relu": (8, 16, 3, 1, 1, 1, None, False, A.RELU, 0, 0),
    "residual_relu": (8, 8, 3, 1, 1, 1, None, True, A.RELU, 0, 0),
    "residual_only": (8, 8, 1, 1, 1, 1, None, True, None, 0, 0),
    "plain": (3, 16, 5, 2, 1, 1, None, False, None, 0, 0),   # an NCHW image input: reordered to channels-last
    "one_channel_relu": (1, 8, 5, 1, 1, 1, None, False, A.RELU, 0, 0),   # NCHW input read as it is (same bytes)
    "relu6_depthwise": (16, 16, 3, 1, 1, 16, None, False, A.CLIP, 0.0, 6.0),
    "same_upper_stride2_sigmoid": (8, 8, 3, 2, 1, 1, trt.PaddingMode.SAME_UPPER, False, A.SIGMOID, 0, 0),
    "dilated_gelu": (4, 8, 3, 1, 2, 1, None, False, A.GELU_ERF, 0, 0),
    "grouped_leaky": (8, 16, 3, 1, 1, 2, None, False, A.LEAKY_RELU, 0.1, 0),
    "tanh": (4, 4, 3, 1, 1, 1, None, False, A.TANH, 0, 0),
    "residual_sigmoid": (8, 8, 3, 1, 1, 2, None, True, A.SIGMOID, 0, 0),   # the add fused, the sigmoid after it
    "residual_clip": (8, 8, 3, 1, 1, 1, None, True, A.CLIP, -0.5, 0.5),
    "selu_not_a_post_op": (4, 4, 3, 1, 1, 1, None, False, A.SELU, 1.6732632423543772, 1.0507009873554805),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("batch", [1, 3])
def test_fused_convolution_matches_float64(case, batch, path):
    cin, cout, k, s, d, g, mode, residual, act, alpha, beta = CASES[case]
    h = 11
    w, b = _w(cout, cin // g, k, k), _w(cout)
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (batch, cin, h, h))
    conv = net.add_convolution_nd(x, cout, (k, k), w, b)
    conv.stride_nd, conv.dilation_nd, conv.num_groups = (s, s), (d, d), g
    if mode is not None:
        conv.padding_mode = mode
    else:
        conv.padding_nd = (d * (k - 1) // 2,) * 2
    y = conv.get_output(0)
    if residual:
        r = net.add_input("r", trt.float32, (batch, cout, h, h))
        y = net.add_elementwise(y, r, trt.ElementWiseOperation.SUM).get_output(0)
    if act is not None:
        layer = net.add_activation(y, act)
        layer.alpha, layer.beta = alpha, beta
        y = layer.get_output(0)
    y.name = "y"
    net.mark_output(y)
    config = builder.create_builder_config()
    config.device = "cpu"
    engine = trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(builder.build(net, config))
    convs = [n for n in engine.graph.nodes if n.kind in ("fused_conv", "convolution")]
    assert len(convs) == 1 and convs[0].info.tactic == "onednn_conv", [(n.kind, n.info.tactic) for n in convs]
    xv = RNG.standard_normal((batch, cin, h, h)).astype(np.float32)
    feed = {"x": xv}
    if residual:
        feed["r"] = RNG.standard_normal((batch, cout, h, h)).astype(np.float32)
    ctx = engine.create_execution_context()
    out = ctx.infer(feed)["y"]
    out2 = ctx.infer(feed)["y"]                       # packed weights reused: same result
    x64 = torch.from_numpy(xv).double()
    if mode is not None:   # SAME_UPPER, stride 2, k 3 on 11: total padding 2, split 1/1
        pad = (k - 1) * d // 2
    else:
        pad = d * (k - 1) // 2
    ref = F.conv2d(x64, torch.from_numpy(w).double(), torch.from_numpy(b).double(), s, pad, d, g)
    if residual:
        ref = ref + torch.from_numpy(feed["r"]).double()
    ref = _act64(ref, act, alpha, beta)
    assert_close(out, ref.numpy(), np.float32, what=case)
    np.testing.assert_array_equal(out, out2)
    assert len(path[1]) == (1 if path[0] == "direct" else 0)   # one primitive, kept for the second run


def test_split_epilogue():
    assert split_epilogue([["add", 3], ["act", "RELU", 0, 0]]) == (3, ("relu", [], ""), [])
    assert split_epilogue([["act", "CLIP", 0.0, 6.0]]) == (None, ("hardtanh", [0.0, 6.0], ""), [])
    assert split_epilogue([["act", "SELU", 1.0, 2.0]]) == (None, None, [["act", "SELU", 1.0, 2.0]])
    assert split_epilogue([["act", "RELU", 0, 0], ["add", 3]]) == (None, ("relu", [], ""), [["add", 3]])
    assert split_epilogue([]) == (None, None, [])
    assert split_epilogue([["add", 3], ["act", "TANH", 0, 0]]) == (3, None, [["act", "TANH", 0, 0]])
    assert split_epilogue([["add", 3], ["act", "TANH", 0, 0]], any_after_add=True) == (3, ("tanh", [], ""), [])


def test_weights_bound_as_an_input_are_read_every_execution():
    """A convolution whose weights are a network input (not a constant) does not get the tactic that packs its
    weights once: new weight values at the same address give the new result (they used to give the first one's)."""
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8]),
              helper.make_tensor_value_info("w", TensorProto.FLOAT, [6, 4, 3, 3]),
              helper.make_tensor_value_info("b", TensorProto.FLOAT, [6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 8, 8])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    engine = trt.build_engine(model.SerializeToString(), device="cpu")
    convs = [n for n in engine.graph.nodes if n.kind in ("fused_conv", "convolution")]
    assert convs and all(n.info.tactic != "onednn_conv" for n in convs), [(n.kind, n.info.tactic) for n in convs]
    ctx = engine.create_execution_context()
    x, w, b = torch.randn(1, 4, 8, 8), torch.randn(6, 4, 3, 3), torch.randn(6)
    y = torch.empty(1, 6, 8, 8)
    for name, t in (("x", x), ("w", w), ("b", b)):
        ctx.set_input_shape(name, tuple(t.shape))
        ctx.set_tensor_address(name, t.data_ptr())
    ctx.set_tensor_address("y", y.data_ptr())
    for _ in range(2):
        assert ctx.execute_async_v3(0)
        ref = torch.relu(F.conv2d(x.double(), w.double(), b.double(), padding=1))
        assert_close(y.numpy(), ref.numpy(), np.float32, what="conv with input weights")
        w.copy_(torch.randn(6, 4, 3, 3))     # new values, same addresses
        b.copy_(torch.randn(6))


def test_constant_values_follow_constants_only():
    from inferrt.tactics.select import constant_values

    class N:
        def __init__(self, kind, ins, outs):
            self.kind, self.inputs, self.outputs = kind, ins, outs

    class G:
        nodes = [N("constant", [], ["k"]), N("shuffle", ["k"], ["k2"]), N("shuffle", ["x"], ["x2"]),
                 N("elementwise", ["k2", "x2"], ["s"]), N("cast", ["k2", ""], ["k3"])]

    assert constant_values(G()) == {"k", "k2", "k3"}


def test_weights_packed_per_thread_count(monkeypatch, capfd, path):
    """oneDNN's blocked weight layout depends on the thread count (its 1x1 kernels take Acdb64a weights at 2
    threads and Acdb48a at 1 on an AVX-512 Xeon), and a convolution given weights packed for another count reorders
    them on every call (10 to 30 times the convolution's cost). The tactic keeps one packing per count: after one
    execution at each count, executions at either count run the convolution alone (through PyTorch: no reorder in
    oneDNN's trace; direct: no primitive built after the first two, one per count) and give the float64 result."""
    from onnx import TensorProto, helper, numpy_helper

    from inferrt.runtime import cpu_threads

    monkeypatch.setattr(cpu_threads, "free_limit", lambda: 1 << 16)   # the counts asked for, whatever the load
    cin, cout, h = 256, 1024, 14            # ResNet-50's layer3 conv3 (with its residual add + ReLU)
    w, b = _w(cout, cin, 1, 1), _w(cout)
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"]), helper.make_node("Add", ["c", "r"], ["s"]),
         helper.make_node("Relu", ["s"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, h, h]),
              helper.make_tensor_value_info("r", TensorProto.FLOAT, [1, cout, h, h])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, h, h])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    engine = trt.build_engine(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(),
                              device="cpu")
    convs = [n for n in engine.graph.nodes if n.kind in ("fused_conv", "convolution")]
    assert [n.info.tactic for n in convs] == ["onednn_conv"], [(n.kind, n.info.tactic) for n in convs]
    feed = {"x": RNG.standard_normal((1, cin, h, h)).astype(np.float32),
            "r": RNG.standard_normal((1, cout, h, h)).astype(np.float32)}
    ref = torch.relu(F.conv2d(torch.from_numpy(feed["x"]).double(), torch.from_numpy(w).double(),
                              torch.from_numpy(b).double()) + torch.from_numpy(feed["r"]).double()).numpy()
    ctx = engine.create_execution_context()
    for n in (2, 1):                        # one execution at each count packs the weights for it
        ctx.cpu_threads = n
        ctx.infer(feed)
        assert ctx.last_cpu_threads == n
    capfd.readouterr()
    assert len(path[1]) == (2 if path[0] == "direct" else 0)
    outs = {}
    with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
        for n in (2, 1, 2):
            ctx.cpu_threads = n
            outs[n] = ctx.infer(feed)["y"]
    trace = [ln for ln in capfd.readouterr().out.splitlines() if ln.startswith("onednn_verbose") and ",exec," in ln]
    if path[0] == "torch":
        assert any(",convolution," in ln for ln in trace), trace      # the trace works here
        assert not [ln for ln in trace if ",reorder," in ln], trace
    else:
        assert len(path[1]) == 2 and {p.out_shape for p in path[1]} == {(1, cout, h, h)}
    for n, out in outs.items():
        assert_close(out, ref, np.float32, what=f"{n} threads")


def test_direct_primitive_writes_into_the_planned_slot_unless_it_overlaps_an_input():
    """Through a kept primitive the result goes straight into the planned output slot when that slot is
    channels-last and shares no byte with what the layer reads; a slot overlapping the source (or the residual)
    gets a fresh result instead, and the source is left as it was."""
    if onednn_lib.library() is None:
        pytest.skip("the cpu extra's oneDNN (onednn-cpu-gomp) is not installed")
    from inferrt.tactics.tactic_cpu_onednn import OnednnConv, _disjoint

    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    x_in = net.add_input("x", trt.float32, (1, 8, 6, 6))
    r_in = net.add_input("r", trt.float32, (1, 8, 6, 6))
    w = _w(8, 8, 3, 3)
    conv = net.add_convolution_nd(x_in, 8, (3, 3), w, None)
    conv.padding_nd = (1, 1)
    s = net.add_elementwise(conv.get_output(0), r_in, trt.ElementWiseOperation.SUM).get_output(0)
    layer = net.add_activation(s, A.RELU)
    layer.get_output(0).name = "y"
    net.mark_output(layer.get_output(0))
    config = builder.create_builder_config()
    config.device = "cpu"
    engine = trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(builder.build(net, config))
    node = next(n for n in engine.graph.nodes if n.kind in ("fused_conv", "convolution"))
    run = OnednnConv().runner(node, "cpu", {})
    cl = torch.channels_last
    x = torch.randn(1, 8, 6, 6).contiguous(memory_format=cl)
    r = torch.randn(1, 8, 6, 6).contiguous(memory_format=cl)
    ins = [None] * len(node.inputs)
    ins[0], ins[1] = x, torch.from_numpy(w)
    res_index = [i for i, name in enumerate(node.inputs) if name == "r"][0]
    ins[res_index] = r
    ref = torch.relu(F.conv2d(x.double(), torch.from_numpy(w).double(), None, 1, 1) + r.double()).numpy()
    slot = torch.empty(1, 8, 6, 6, memory_format=cl)
    out = run(ins, [slot])[0]
    assert out.data_ptr() == slot.data_ptr()
    assert_close(out.numpy(), ref, np.float32, what="into the slot")
    for overlapping in (x, r):
        before = overlapping.clone()
        out = run(ins, [overlapping])[0]
        assert out.data_ptr() != overlapping.data_ptr()
        assert torch.equal(overlapping, before)
        assert_close(out.numpy(), ref, np.float32, what="fresh result")
    # the verdict is kept per set of addresses: a slot found free once is checked again for a source that moved
    # onto it
    out = run(ins, [slot])[0]
    assert out.data_ptr() == slot.data_ptr()
    moved = list(ins)
    moved[0] = slot
    slot_before = slot.clone()
    out = run(moved, [slot])[0]
    assert out.data_ptr() != slot.data_ptr()
    assert torch.equal(slot, slot_before)
    assert_close(out.numpy(), torch.relu(F.conv2d(slot_before.double(), torch.from_numpy(w).double(), None, 1, 1)
                                         + r.double()).numpy(), np.float32, what="source moved onto the slot")
    base = torch.zeros(100)
    assert not _disjoint(base[10:20], base[15:30]) and _disjoint(base[:10], base[10:20])
    assert not _disjoint(base[::4], base[13:14])     # strided: the span, not numel, counts
    assert not _disjoint(base[:1].expand(5), base[:1])
