"""I/O shapes the engine reports, as TensorRT reports them: dynamic dims stay -1, everything the network
determines is resolved (users size output buffers from these)."""
from __future__ import annotations

import numpy as np

import inferrt as trt


def test_flatten_output_keeps_only_the_batch_dynamic():
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (-1, 8, 14, 14))
    flat = net.add_shuffle(x)
    flat.reshape_dims = (0, -1)
    flat.get_output(0).name = "flat"
    net.mark_output(flat.get_output(0))
    both = net.add_shuffle(x)
    both.reshape_dims = (0, 0, -1)
    both.get_output(0).name = "rows"
    net.mark_output(both.get_output(0))
    assert tuple(flat.get_output(0).shape) == (-1, 1568)
    config = builder.create_builder_config()
    config.device = "cpu"
    prof = builder.create_optimization_profile()
    prof.set_shape("x", (1, 8, 14, 14), (2, 8, 14, 14), (4, 8, 14, 14))
    config.add_optimization_profile(prof)
    engine = trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(
        builder.build_serialized_network(net, config))
    assert tuple(engine.get_tensor_shape("flat")) == (-1, 1568)
    assert tuple(engine.get_tensor_shape("rows")) == (-1, 8, 196)
    ctx = engine.create_execution_context()
    ctx.set_input_shape("x", (3, 8, 14, 14))
    assert tuple(ctx.get_tensor_shape("flat")) == (3, 1568)
    x = np.random.default_rng(0).standard_normal((3, 8, 14, 14)).astype(np.float32)
    out = ctx.infer(x=x)
    np.testing.assert_array_equal(out["flat"], x.reshape(3, -1))
    np.testing.assert_array_equal(out["rows"], x.reshape(3, 8, -1))
