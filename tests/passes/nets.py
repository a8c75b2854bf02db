"""Networks for the pass tests (built with the network API) and helpers to optimize / compare them."""
from __future__ import annotations

import math

import numpy as np

import inferrt as trt
from inferrt.builder.lower_network import lower_network
from inferrt.passes.pipeline import PIPELINE, PassContext, run_pipeline
from tests.helpers import assert_close, new_network

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
    for prof in profiles or []:
        p = builder.create_optimization_profile()
        for k, v in prof.items():
            p.set_shape(k, *v)
        config.add_optimization_profile(p)
    plan = builder.build(network, config)
    engine = trt.Runtime(builder.logger).deserialize_cuda_engine(plan)
    return engine, engine.create_execution_context().infer(feeds)


def compare_optimized(builder, network, feeds_list, profiles=None, rtol=1e-4, atol=1e-4):
    """Outputs of the optimized engine vs the same network built with no passes, for each feed dict."""
    engine, _ = run_engine(builder, network, feeds_list[0], profiles)
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
