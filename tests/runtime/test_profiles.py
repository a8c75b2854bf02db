"""Optimization profiles at run time: shapes at min / opt / max run, shapes outside are refused with a message
naming the input, the shape and the range; two profiles selected with set_optimization_profile_async."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close
from rt_tools import Buffer, ListLogger, build_engine, inputs, reference

import inferrt as trt


def _run_bound(ctx, device, n, seed=0):
    x, s = inputs(n, seed)
    bx, bs, by = Buffer(device, x), Buffer(device, s), Buffer(device, shape=(n, 4))
    assert ctx.set_input_shape("x", (n, 8)) and ctx.set_input_shape("s", (n, 4))
    assert tuple(ctx.get_tensor_shape("y")) == (n, 4)
    for name, b in (("x", bx), ("s", bs), ("y", by)):
        assert ctx.set_tensor_address(name, b.ptr)
    assert ctx.execute_async_v3(0)
    assert_close(by.numpy(), reference(x, s))


@pytest.mark.parametrize("batch", [1, 4, 16, 7])
def test_shapes_inside_the_profile_run(device, batch):
    ctx = build_engine(device).create_execution_context()
    _run_bound(ctx, device, batch)


@pytest.mark.parametrize("shape", [(17, 8), (0, 8), (2, 9), (2, 8, 1), (8,)])
def test_shapes_outside_the_profile_are_refused(shape):
    logger = ListLogger()
    ctx = build_engine("cpu", runtime_logger=logger).create_execution_context()
    assert ctx.set_input_shape("x", shape) is False
    msg = logger.errors()[-1]
    assert "'x'" in msg and str(tuple(shape)) in msg
    if len(shape) == 2 and shape[1] == 8:
        assert "[1, 16]" in msg and "(1, 8)" in msg and "(16, 8)" in msg   # the range: min and max
    # the shape was not taken: the input still has no shape, so execution fails cleanly
    assert not ctx.all_binding_shapes_specified
    assert ctx.execute_async_v3(0) is False
    with pytest.raises(trt.ShapeError, match="'x'"):
        ctx.infer(x=np.zeros(shape, np.float32), s=np.zeros((1, 4), np.float32))


def test_set_input_shape_on_an_output_or_unknown_name_is_refused():
    logger = ListLogger()
    ctx = build_engine("cpu", runtime_logger=logger).create_execution_context()
    assert ctx.set_input_shape("y", (2, 4)) is False and "'y'" in logger.errors()[-1]
    assert ctx.set_input_shape("nope", (2, 4)) is False and "'nope'" in logger.errors()[-1]
    assert ctx.set_input_shape("x", "abc") is False and "'x'" in logger.errors()[-1]


def test_two_profiles(device):
    logger = ListLogger()
    engine = build_engine(device, profiles=((1, 2, 4), (8, 32, 64)), runtime_logger=logger)
    assert engine.num_optimization_profiles == 2
    assert [tuple(d) for d in engine.get_tensor_profile_shape("x", 0)] == [(1, 8), (2, 8), (4, 8)]
    assert [tuple(d) for d in engine.get_tensor_profile_shape("s", 1)] == [(8, 4), (32, 4), (64, 4)]
    with pytest.raises(IndexError):
        engine.get_tensor_profile_shape("x", 2)

    ctx0 = engine.create_execution_context()
    ctx1 = engine.create_execution_context()
    assert ctx0.active_optimization_profile == 0
    assert ctx1.set_optimization_profile_async(1, 0)
    assert ctx1.active_optimization_profile == 1
    # batch 8 lies in profile 1 only; batch 2 in profile 0 only
    assert ctx0.set_input_shape("x", (8, 8)) is False and "profile 0" in logger.errors()[-1]
    assert ctx1.set_input_shape("x", (2, 8)) is False and "profile 1" in logger.errors()[-1]
    _run_bound(ctx0, device, 3, seed=1)
    _run_bound(ctx1, device, 40, seed=2)
    # switching back works and resets shapes of the other profile
    assert ctx1.set_optimization_profile_async(0, 0)
    assert not ctx1.all_binding_shapes_specified
    _run_bound(ctx1, device, 4, seed=3)
    # a profile that does not exist
    assert ctx1.set_optimization_profile_async(2, 0) is False
    assert "profile 2" in logger.errors()[-1] and ctx1.active_optimization_profile == 0


def test_infer_uses_the_active_profile():
    engine = build_engine("cpu", profiles=((1, 2, 4), (8, 32, 64)))
    ctx = engine.create_execution_context()
    x, s = inputs(10)
    with pytest.raises(trt.ShapeError, match=r"profile 0.*\[1, 4\]"):
        ctx.infer(x=x, s=s)
    ctx.set_optimization_profile_async(1, 0)
    assert_close(ctx.infer(x=x, s=s)["y"], reference(x, s))
