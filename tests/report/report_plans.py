"""Plans for the report tests, built with the network API (on the CPU unless a test asks for the GPU):

* ``residual``: x[N,4,8,8] (profile N: 1 / opt 3 / max 4) -> conv a + ReLU -> conv b -> + x -> ReLU -> flatten
  -> softmax -> y, and x -> max pool -> flatten -> z. The residual add and the ReLUs are fused into the convs,
  ``x`` feeds three layers on different ranks (an edge that skips ranks), side_flatten is a view (flatten
  reformats the channels-last convolution region).
* the built-in MNIST CNN (inferrt.models.mnist), fixed batch 2, for comparing two plans.
"""
from __future__ import annotations

import numpy as np

import inferrt as trt
from inferrt.models.mnist import build_mnist_network

RNG = np.random.default_rng(7)


def _w(*shape):
    return (RNG.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)


def residual_network(net):
    x = net.add_input("x", trt.float32, (-1, 4, 8, 8))
    a = net.add_convolution_nd(x, 4, (3, 3), _w(4, 4, 3, 3), _w(4))
    a.padding_nd, a.name = (1, 1), "conv_a"
    ra = net.add_activation(a.get_output(0), trt.ActivationType.RELU)
    ra.name = "relu_a"
    b = net.add_convolution_nd(ra.get_output(0), 4, (3, 3), _w(4, 4, 3, 3), _w(4))
    b.padding_nd, b.name = (1, 1), "conv_b"
    add = net.add_elementwise(b.get_output(0), x, trt.ElementWiseOperation.SUM)
    add.name = "residual_add"
    rb = net.add_activation(add.get_output(0), trt.ActivationType.RELU)
    rb.name = "relu_b"
    flat = net.add_shuffle(rb.get_output(0))
    flat.reshape_dims, flat.name = (0, -1), "flatten"
    sm = net.add_softmax(flat.get_output(0))
    sm.axes, sm.name = 1 << 1, "softmax"
    sm.get_output(0).name = "y"
    net.mark_output(sm.get_output(0))
    pool = net.add_pooling_nd(x, trt.PoolingType.MAX, (2, 2))
    pool.stride_nd, pool.name = (2, 2), "side_pool"
    pflat = net.add_shuffle(pool.get_output(0))
    pflat.reshape_dims, pflat.name = (0, -1), "side_flatten"
    exp = net.add_unary(pflat.get_output(0), trt.UnaryOperation.EXP)
    exp.name = "side_exp"
    exp.get_output(0).name = "z"
    net.mark_output(exp.get_output(0))
    return net


def build_plan(path, which: str = "residual", verbosity=trt.ProfilingVerbosity.DETAILED, device: str = "cpu") -> str:
    """Build plan ``which`` ("residual" or "mnist") at ``verbosity`` for ``device`` and write it to ``path``."""
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    net = builder.create_network(0)
    config = builder.create_builder_config()
    config.profiling_verbosity = verbosity
    config.device = device
    if which == "residual":
        residual_network(net)
        prof = builder.create_optimization_profile()
        prof.set_shape("x", (1, 4, 8, 8), (3, 4, 8, 8), (4, 4, 8, 8))
        config.add_optimization_profile(prof)
    else:
        build_mnist_network(net, dynamic_batch=False)
    plan = builder.build_serialized_network(net, config)
    assert plan is not None, f"building the {which} plan failed"
    with open(path, "wb") as f:
        f.write(bytes(plan))
    return str(path)
