"""IOptimizationProfile.fill_defaults(network): the inputs a profile does not mention get their declared shape with
dynamic dims set to the default value (Polygraphy's Profile.fill_defaults semantics)."""
from __future__ import annotations

import numpy as np
import pytest

import inferrt as trt
from tests.helpers import new_network


def _network():
    builder, net = new_network()
    a = net.add_input("a", trt.float32, (-1, 3, -1))
    b = net.add_input("b", trt.float32, (2, 3, 4))
    net.mark_output(net.add_elementwise(a, b, trt.ElementWiseOperation.SUM).get_output(0))
    return builder, net


def test_fills_unset_inputs_and_keeps_set_ones():
    builder, net = _network()
    p = builder.create_optimization_profile()
    assert p.fill_defaults(net) is p
    assert [tuple(s) for s in p.get_shape("a")] == [(1, 3, 1)] * 3
    assert [tuple(s) for s in p.get_shape("b")] == [(2, 3, 4)] * 3
    q = builder.create_optimization_profile()
    q.set_shape("a", (1, 3, 4), (2, 3, 4), (2, 3, 4))
    q.fill_defaults(net, default_shape_value=5)
    assert [tuple(s) for s in q.get_shape("a")] == [(1, 3, 4), (2, 3, 4), (2, 3, 4)]
    assert [tuple(s) for s in q.get_shape("b")] == [(2, 3, 4)] * 3


def test_a_filled_profile_builds_and_runs():
    builder, net = new_network()
    a = net.add_input("a", trt.float32, (-1, 3, 4))
    b = net.add_input("b", trt.float32, (1, 3, 4))
    net.mark_output(net.add_elementwise(a, b, trt.ElementWiseOperation.SUM).get_output(0))
    p = builder.create_optimization_profile().fill_defaults(net, default_shape_value=2)
    cfg = builder.create_builder_config()
    cfg.device = "cpu"
    assert cfg.add_optimization_profile(p) == 0
    engine = trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build_serialized_network(net, cfg))
    assert [tuple(s) for s in engine.get_tensor_profile_shape("a", 0)] == [(2, 3, 4)] * 3
    av = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    bv = np.ones((1, 3, 4), np.float32)
    ctx = engine.create_execution_context()
    np.testing.assert_array_equal(ctx.infer(a=av, b=bv)[engine.output_names[0]], av + bv)
    with pytest.raises(trt.ShapeError):   # only the filled (2, 3, 4) is inside the profile
        ctx.infer(a=np.zeros((3, 3, 4), np.float32), b=bv)


def test_negative_default_is_refused():
    builder, net = _network()
    with pytest.raises(ValueError, match="default_shape_value must be >= 0"):
        builder.create_optimization_profile().fill_defaults(net, default_shape_value=-1)
