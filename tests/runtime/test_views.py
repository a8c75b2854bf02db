"""Layers the executor turns into views of their input (no kernel, no memory): a gather of one constant index."""
from __future__ import annotations

import numpy as np
import pytest

import inferrt as trt
from tests.helpers import const, new_network


@pytest.mark.parametrize("index,axis", [(0, 0), (2, 0), (-1, 1), (1, 2)])
def test_gather_of_one_constant_index_is_a_view(index, axis):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (3, 4, 5))
    scalar = net.add_constant((), np.array(index, dtype=np.int32)).get_output(0)
    g = net.add_gather(x, scalar, axis)
    e = net.add_elementwise(g.get_output(0), g.get_output(0), trt.ElementWiseOperation.SUM)  # keeps it internal
    e.get_output(0).name = "y"
    net.mark_output(e.get_output(0))
    cfg = builder.create_builder_config()
    cfg.device = "cpu"
    engine = trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build(net, cfg))
    ctx = engine.create_execution_context()
    xv = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    got = ctx.infer(x=xv)["y"]
    np.testing.assert_allclose(got, 2 * np.take(xv, index, axis=axis), rtol=1e-6)
    (plan,) = ctx._plans.values()
    (gather,) = [n for n in engine.graph.nodes if n.kind == "gather"]
    assert gather.outputs[0] in plan.aliases, "the gather was not planned as a view"
    assert all(name != gather.name for *_, name in plan.steps)


def test_gather_of_one_constant_index_out_of_range_is_rejected():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (3, 4))
    g = net.add_gather(x, const(net, np.array(3, dtype=np.int32)), 0)
    net.mark_output(g.get_output(0))
    cfg = builder.create_builder_config()
    cfg.device = "cpu"
    with pytest.raises(trt.BuildError, match="gather"):
        builder.build(net, cfg)
