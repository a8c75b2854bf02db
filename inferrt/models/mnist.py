"""An MNIST-style CNN built with the network API (seeded random weights):

    x[N,1,28,28] -> conv 5x5 (16) + ReLU -> maxpool 2 -> conv 5x5 (32) + ReLU -> maxpool 2
                 -> flatten -> FC 512->128 + ReLU -> FC 128->10 -> softmax -> prob[N,10]
"""
from __future__ import annotations

import numpy as np

from ..enums import ActivationType, DataType, MatrixOperation, PoolingType


def build_mnist_network(network, seed: int = 0, dynamic_batch: bool = True):
    rng = np.random.default_rng(seed)

    def w(*shape):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)

    x = network.add_input("x", DataType.FLOAT, (-1 if dynamic_batch else 1, 1, 28, 28))
    t = x
    for i, (cin, cout) in enumerate(((1, 16), (16, 32))):
        conv = network.add_convolution_nd(t, cout, (5, 5), w(cout, cin, 5, 5), w(cout))
        conv.padding_nd = (2, 2)
        conv.name = f"conv{i + 1}"
        relu = network.add_activation(conv.get_output(0), ActivationType.RELU)
        relu.name = f"relu{i + 1}"
        pool = network.add_pooling_nd(relu.get_output(0), PoolingType.MAX, (2, 2))
        pool.stride_nd = (2, 2)
        pool.name = f"pool{i + 1}"
        t = pool.get_output(0)
    flat = network.add_shuffle(t)
    flat.reshape_dims = (0, -1)
    flat.name = "flatten"
    t = flat.get_output(0)
    for i, (k, n) in enumerate(((32 * 7 * 7, 128), (128, 10))):
        wt = network.add_constant((k, n), w(k, n))
        wt.name = f"fc{i + 1}.weight"
        mm = network.add_matrix_multiply(t, MatrixOperation.NONE, wt.get_output(0), MatrixOperation.NONE)
        mm.name = f"fc{i + 1}"
        b = network.add_constant((1, n), w(n))
        b.name = f"fc{i + 1}.bias"
        add = network.add_elementwise(mm.get_output(0), b.get_output(0), 0)
        add.name = f"fc{i + 1}.add_bias"
        t = add.get_output(0)
        if i == 0:
            relu = network.add_activation(t, ActivationType.RELU)
            relu.name = "relu3"
            t = relu.get_output(0)
    sm = network.add_softmax(t)
    sm.axes = 1 << 1
    sm.name = "softmax"
    sm.get_output(0).name = "prob"
    network.mark_output(sm.get_output(0))
    return network
