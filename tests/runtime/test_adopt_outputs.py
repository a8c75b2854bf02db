"""A step that returns a freshly allocated output has it adopted by the executor instead of copied into the arena
slot, except where that would be wrong (the slot is the source of a planned view, a graph output, the returned
tensor lives in the arena, or the activations must live in user-supplied memory)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import inferrt as trt
from tests.helpers import new_network


def _engine(view_of_first: bool):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 3, 4))
    a = net.add_activation(x, trt.ActivationType.RELU)
    a.name = "first"
    h = a.get_output(0)
    if view_of_first:  # a reshape of the first layer's output: a view planned once, onto the slot
        sh = net.add_shuffle(h)
        sh.reshape_dims = (6, 4)
        h = sh.get_output(0)
    b = net.add_elementwise(h, h, trt.ElementWiseOperation.SUM)
    b.get_output(0).name = "y"
    net.mark_output(b.get_output(0))
    cfg = builder.create_builder_config()
    cfg.device = "cpu"
    cfg.passes = []  # keep the two layers apart
    return trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build(net, cfg))


def _fresh_first(engine, calls):
    def run(ins, outs):
        calls.append(outs[0].data_ptr())
        return [torch.relu(ins[0]) * 1.0]  # a new tensor, same shape and layout as the slot

    engine.executor.kernels["first"] = run


def h_name(engine):
    (node,) = [n for n in engine.graph.nodes if n.name == "first"]
    return node.outputs[0]


@pytest.mark.parametrize("view_of_first", [False, True])
def test_fresh_output_is_right_whether_adopted_or_copied(view_of_first):
    engine = _engine(view_of_first)
    calls = []
    _fresh_first(engine, calls)
    ctx = engine.create_execution_context()
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    y = ctx.infer(x=x)["y"]
    np.testing.assert_allclose(y.reshape(2, 3, 4), 2 * np.maximum(x, 0), rtol=1e-6)
    (plan,) = ctx._plans.values()
    assert (h_name(engine) in plan.adoptable) == (not view_of_first)


def test_user_memory_context_copies_into_its_memory():
    engine = _engine(False)
    calls = []
    _fresh_first(engine, calls)
    ctx = engine.create_execution_context_without_device_memory()
    mem = torch.zeros(engine.device_memory_size, dtype=torch.uint8)
    ctx.device_memory = mem.data_ptr()
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    y = ctx.infer(x=x)["y"]
    np.testing.assert_allclose(y.reshape(2, 3, 4), 2 * np.maximum(x, 0), rtol=1e-6)
    slot = calls[0]
    lo, hi = mem.data_ptr(), mem.data_ptr() + mem.numel()
    assert lo <= slot < hi
    got = np.frombuffer(mem.numpy().tobytes()[slot - lo: slot - lo + 24 * 4], np.float32).reshape(2, 3, 4)
    np.testing.assert_allclose(got, np.maximum(x, 0), rtol=1e-6)  # the first layer's result is in user memory
