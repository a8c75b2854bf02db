"""Networks for the pass tests (built with the network API) and helpers to optimize / compare them."""
from __future__ import annotations

import math

import numpy as np

import inferrt as trt
from inferrt.builder.lower_network import lower_network
from inferrt.passes.pipeline import PIPELINE, PassContext, run_pipeline
from tests.helpers import add_profiles, assert_close, new_network

EW = trt.ElementWiseOperation
RNG = np.random.default_rng(0)


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def const(net, arr):
    arr = np.asarray(arr, dtype=np.float32)
    return net.add_constant(arr.shape, arr).get_output(0)


def ew(net, a, b, op):
    return net.add_elementwise(a, b, op).get_output(0)


def scalar(net, v, rank):
    return const(net, np.full((1,) * rank, v, dtype=np.float32))


def lowered(network):
    return lower_network(network)


def optimize(network, only=None, debug=True):
    """The network's graph after the pipeline (or after the passes named in ``only``, in pipeline order)."""
    g = lower_network(network)
    logs = []

    class Cfg:
        debug_passes = debug

    steps = PIPELINE if only is None else [p for p in PIPELINE if p[0] in only]
    run_pipeline(g, PassContext(Cfg(), lambda s, m: logs.append(m)), steps)
    g.logs = logs
    return g


def mark_y(net, t) -> None:
    """Name tensor ``t`` "y" and mark it as the network's output (the name the pass tests feed and compare by)."""
    t.name = "y"
    net.mark_output(t)


def kinds(g, skip_constants=True):
    return [n.kind for n in g.nodes if not (skip_constants and n.kind == "constant")]


def count(g, kind):
    return sum(1 for n in g.nodes if n.kind == kind)


def origins(g):
    return {o for n in g.nodes for o in n.origin}


def run_engine(builder, network, feeds, profiles=None, passes=None):
    config = builder.create_builder_config()
    config.device = "cpu"
    config.debug_passes = True
    if passes is not None:
        config.passes = passes
    add_profiles(builder, config, profiles)
    plan = builder.build(network, config)
    engine = trt.Runtime(builder.logger).deserialize_cuda_engine(plan)
    return engine, engine.create_execution_context().infer(feeds)


def build_engine(builder, net, device, profile, selector=None, passes=None, tf32=False):
    """An engine of ``net`` on ``device`` with the one optimization profile ``profile``, restricted by
    ``selector``, with ``passes`` (None: all); BuilderFlag.TF32 cleared unless ``tf32`` (then the config default)."""
    config = builder.create_builder_config()
    config.device = device
    if not tf32:
        config.clear_flag(trt.BuilderFlag.TF32)
    if selector is not None:
        config.algorithm_selector = selector
    if passes is not None:
        config.passes = passes
    add_profiles(builder, config, [profile])
    return trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build(net, config))


def parse_onnx(model_bytes):
    """(builder, network) of an ONNX model, asserting that it parses (the parser's errors as the message)."""
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    net = builder.create_network(0)
    parser = trt.OnnxParser(net, logger)
    assert parser.parse(model_bytes), [str(parser.get_error(i)) for i in range(parser.num_errors)]
    return builder, net


def check_onnx_numerics(model_bytes, builder, net, profile, feeds_list):
    """Output ``y`` of the optimized CPU build against the unoptimized build and onnxruntime, for every feed."""
    import onnxruntime as ort

    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    fast = build_engine(builder, net, "cpu", profile, tf32=True)
    plain = build_engine(builder, net, "cpu", profile, passes=[], tf32=True)
    for feeds in feeds_list:
        got = fast.create_execution_context().infer(feeds)["y"]
        assert_close(got, plain.create_execution_context().infer(feeds)["y"], rtol=1e-4, atol=1e-4, what="vs unfused")
        ref = sess.run(["y"], feeds)[0]
        assert_close(got, ref, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(ref).max())), what="vs onnxruntime")


def compare_optimized(builder, network, feeds_list, profiles=None, rtol=1e-4, atol=1e-4, passes=None):
    """Outputs of the optimized engine (all passes, or those named) vs the same network built with no passes."""
    engine, _ = run_engine(builder, network, feeds_list[0], profiles, passes=passes)
    ref_engine, _ = run_engine(builder, network, feeds_list[0], profiles, passes=[])
    for feeds in feeds_list:
        got = engine.create_execution_context().infer(feeds)
        ref = ref_engine.create_execution_context().infer(feeds)
        assert set(got) == set(ref)
        for k in ref:
            assert_close(got[k], ref[k], rtol=rtol, atol=atol, what=k)
    return engine


# ---------------------------------------------------------------------------------------------- networks
def conv_bn(net, x, cin, cout, k=3, relu=True, name="c", bias=True):
    w = rand(cout, cin, k, k, scale=1.0 / math.sqrt(cin * k * k))
    b = rand(cout, scale=0.1) if bias else None
    conv = net.add_convolution_nd(x, cout, (k, k), w, b)
    conv.padding_nd = (k // 2, k // 2)
    conv.name = f"{name}_conv"
    gamma, beta = rand(1, cout, 1, 1, scale=0.1) + 1.0, rand(1, cout, 1, 1, scale=0.1)
    mean, var = rand(1, cout, 1, 1, scale=0.1), np.abs(rand(1, cout, 1, 1)) + 0.5
    s = gamma / np.sqrt(var + 1e-5)
    mul = net.add_elementwise(conv.get_output(0), const(net, s), EW.PROD)
    mul.name = f"{name}_bn_mul"
    add = net.add_elementwise(mul.get_output(0), const(net, beta - mean * s), EW.SUM)
    add.name = f"{name}_bn_add"
    y = add.get_output(0)
    if relu:
        act = net.add_activation(y, trt.ActivationType.RELU)
        act.name = f"{name}_relu"
        y = act.get_output(0)
    return y


def resnet_block_network(batch=-1, c=8, hw=8):
    """conv-bn-relu, conv-bn, + residual, relu; then a 1x1 conv-bn-relu6 head. Input 'x' (batch, c, hw, hw)."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (batch, c, hw, hw))
    y = conv_bn(net, x, c, c, name="b1")
    y = conv_bn(net, y, c, c, relu=False, name="b2", bias=False)
    res = net.add_elementwise(y, x, EW.SUM)
    res.name = "residual_add"
    r = net.add_activation(res.get_output(0), trt.ActivationType.RELU)
    r.name = "residual_relu"
    h = conv_bn(net, r.get_output(0), c, 4, k=1, relu=False, name="head")
    lo = net.add_elementwise(h, scalar(net, 0.0, 4), EW.MAX)
    lo.name = "relu6_max"
    hi = net.add_elementwise(lo.get_output(0), scalar(net, 6.0, 4), EW.MIN)
    hi.name = "relu6_min"
    out = hi.get_output(0)
    out.name = "y"
    net.mark_output(out)
    return builder, net


def layer_norm(net, x, h, name, eps=1e-5):
    """LayerNorm over the last axis of a rank-3 tensor from primitives (mean, centred square, sqrt, div, affine)."""
    AVG = trt.ReduceOperation.AVG
    mean = net.add_reduce(x, AVG, 1 << 2, True)
    mean.name = f"{name}_mean"
    d = net.add_elementwise(x, mean.get_output(0), EW.SUB)
    d.name = f"{name}_sub"
    sq = net.add_elementwise(d.get_output(0), d.get_output(0), EW.PROD)
    sq.name = f"{name}_sq"
    var = net.add_reduce(sq.get_output(0), AVG, 1 << 2, True)
    var.name = f"{name}_var"
    ve = net.add_elementwise(var.get_output(0), scalar(net, eps, 3), EW.SUM)
    ve.name = f"{name}_eps"
    s = net.add_unary(ve.get_output(0), trt.UnaryOperation.SQRT)
    s.name = f"{name}_sqrt"
    n = net.add_elementwise(d.get_output(0), s.get_output(0), EW.DIV)
    n.name = f"{name}_div"
    g = net.add_elementwise(n.get_output(0), const(net, rand(1, 1, h, scale=0.1) + 1), EW.PROD)
    g.name = f"{name}_gamma"
    b = net.add_elementwise(g.get_output(0), const(net, rand(1, 1, h, scale=0.1)), EW.SUM)
    b.name = f"{name}_beta"
    return b.get_output(0)


def gelu_erf(net, x, rank, name):
    """x · 0.5 · (1 + erf(x / √2)) as in torch's ONNX export."""
    d = net.add_elementwise(x, scalar(net, math.sqrt(2.0), rank), EW.DIV)
    d.name = f"{name}_div"
    e = net.add_unary(d.get_output(0), trt.UnaryOperation.ERF)
    e.name = f"{name}_erf"
    a = net.add_elementwise(e.get_output(0), scalar(net, 1.0, rank), EW.SUM)
    a.name = f"{name}_add"
    m = net.add_elementwise(x, a.get_output(0), EW.PROD)
    m.name = f"{name}_mul"
    h = net.add_elementwise(m.get_output(0), scalar(net, 0.5, rank), EW.PROD)
    h.name = f"{name}_half"
    return h.get_output(0)


def softmax_primitives(net, x, axis, rank, name):
    """exp(x - max(x)) / sum(exp(x - max(x))) over ``axis``."""
    R = trt.ReduceOperation
    m = net.add_reduce(x, R.MAX, 1 << axis, True)
    m.name = f"{name}_max"
    d = net.add_elementwise(x, m.get_output(0), EW.SUB)
    d.name = f"{name}_sub"
    e = net.add_unary(d.get_output(0), trt.UnaryOperation.EXP)
    e.name = f"{name}_exp"
    s = net.add_reduce(e.get_output(0), R.SUM, 1 << axis, True)
    s.name = f"{name}_sum"
    y = net.add_elementwise(e.get_output(0), s.get_output(0), EW.DIV)
    y.name = f"{name}_div"
    return y.get_output(0)


def linear(net, x, k, n, name, bias=True):
    mm = net.add_matrix_multiply(x, trt.MatrixOperation.NONE, const(net, rand(1, k, n, scale=1 / math.sqrt(k))),
                                 trt.MatrixOperation.NONE)
    mm.name = f"{name}_matmul"
    y = mm.get_output(0)
    if bias:
        b = net.add_elementwise(y, const(net, rand(1, 1, n, scale=0.1)), EW.SUM)
        b.name = f"{name}_bias"
        y = b.get_output(0)
    return y


def shuffle(net, x, reshape=None, first=None, second=None, name=None):
    s = net.add_shuffle(x)
    if first is not None:
        s.first_transpose = first
    if reshape is not None:
        s.reshape_dims = reshape
    if second is not None:
        s.second_transpose = second
    if name:
        s.name = name
    return s.get_output(0)


def transformer_network(batch=-1, seq=8, hidden=32, heads=4, kv_heads=4, mask="none", key_layout="op",
                        primitive_softmax=False):
    """A pre-LN transformer block from primitives. ``kv_heads < heads`` builds grouped-query attention with K/V
    broadcast over the group axis; ``mask`` is "none", "causal" (constant) or "padding" (input 'mask' of shape
    (batch, 1, 1, seq) for MHA); ``key_layout`` "op" uses MatrixOperation.TRANSPOSE, "shuffle" a transpose layer."""
    builder, net = new_network()
    d = hidden // heads
    g = heads // kv_heads
    x = net.add_input("x", trt.float32, (batch, seq, hidden))
    h = layer_norm(net, x, hidden, "ln1")
    q = linear(net, h, hidden, hidden, "q")
    k = linear(net, h, hidden, kv_heads * d, "k")
    v = linear(net, h, hidden, kv_heads * d, "v")
    if g == 1:
        qh = shuffle(net, q, (0, 0, heads, d), second=(0, 2, 1, 3), name="q_heads")
        vh = shuffle(net, v, (0, 0, heads, d), second=(0, 2, 1, 3), name="v_heads")
        if key_layout == "op":
            kh = shuffle(net, k, (0, 0, heads, d), second=(0, 2, 1, 3), name="k_heads")
        else:
            kh = shuffle(net, k, (0, 0, heads, d), second=(0, 2, 3, 1), name="k_heads_t")
        rank = 4
    else:
        qh = shuffle(net, q, (0, 0, kv_heads, g, d), second=(0, 2, 3, 1, 4), name="q_heads")
        kh = shuffle(net, k, (0, 0, kv_heads, 1, d), second=(0, 2, 3, 1, 4), name="k_heads")
        vh = shuffle(net, v, (0, 0, kv_heads, 1, d), second=(0, 2, 3, 1, 4), name="v_heads")
        rank = 5
    op1 = trt.MatrixOperation.TRANSPOSE if key_layout == "op" or g > 1 else trt.MatrixOperation.NONE
    qk = net.add_matrix_multiply(qh, trt.MatrixOperation.NONE, kh, op1)
    qk.name = "scores"
    sc = net.add_elementwise(qk.get_output(0), scalar(net, math.sqrt(d), rank), EW.DIV)
    sc.name = "scale"
    z = sc.get_output(0)
    if mask == "causal":
        m = np.triu(np.full((seq, seq), -np.inf, dtype=np.float32), 1).reshape((1,) * (rank - 2) + (seq, seq))
        add = net.add_elementwise(z, const(net, m), EW.SUM)
        add.name = "mask_add"
        z = add.get_output(0)
    elif mask == "padding":
        mi = net.add_input("mask", trt.float32, (batch,) + (1,) * (rank - 3) + (1, seq))
        add = net.add_elementwise(z, mi, EW.SUM)
        add.name = "mask_add"
        z = add.get_output(0)
    if primitive_softmax:
        p = softmax_primitives(net, z, rank - 1, rank, "softmax")
    else:
        sm = net.add_softmax(z)
        sm.axes = 1 << (rank - 1)
        sm.name = "softmax"
        p = sm.get_output(0)
    ctx = net.add_matrix_multiply(p, trt.MatrixOperation.NONE, vh, trt.MatrixOperation.NONE)
    ctx.name = "context"
    if g == 1:
        c = shuffle(net, ctx.get_output(0), (0, 0, hidden), first=(0, 2, 1, 3), name="merge_heads")
    else:
        c = shuffle(net, ctx.get_output(0), (0, 0, hidden), first=(0, 3, 1, 2, 4), name="merge_heads")
    o = linear(net, c, hidden, hidden, "out")
    r1 = net.add_elementwise(o, x, EW.SUM)
    r1.name = "residual1"
    h2 = layer_norm(net, r1.get_output(0), hidden, "ln2")
    f = gelu_erf(net, linear(net, h2, hidden, 2 * hidden, "ffn1"), 3, "gelu")
    f2 = linear(net, f, 2 * hidden, hidden, "ffn2")
    r2 = net.add_elementwise(f2, r1.get_output(0), EW.SUM)
    r2.name = "residual2"
    y = r2.get_output(0)
    y.name = "y"
    net.mark_output(y)
    return builder, net


def dyn_profile(name, shape, lo=1, opt=2, hi=4):
    return {name: ((lo,) + tuple(shape[1:]), (opt,) + tuple(shape[1:]), (hi,) + tuple(shape[1:]))}
