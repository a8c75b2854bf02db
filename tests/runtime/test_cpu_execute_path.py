"""What a CPU execution goes through per call (context.py ``_bound_io`` / ``_execute_on``, use_guard.py
``take_clash``): no stream or TF32 scope, the I/O bindings' shapes made once per shape plan, and the guard's
clash check without its lock when the thread set nothing since its last execution."""
from __future__ import annotations

import threading

import numpy as np

import inferrt as trt
from inferrt.runtime import context as context_mod
from inferrt.runtime.use_guard import UseGuard
from tests.runtime.rt_tools import ListLogger, build_cpu_plan, reference


def _engine(runtime_logger=None):
    return trt.Runtime(runtime_logger or trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(build_cpu_plan())


def _bind(ctx, n, rng):
    x = rng.standard_normal((n, 8)).astype(np.float32)
    s = rng.standard_normal((n, 4)).astype(np.float32)
    y = np.empty((n, 4), np.float32)
    ctx.set_input_shape("x", x.shape)
    ctx.set_input_shape("s", s.shape)
    for name, arr in (("x", x), ("s", s), ("y", y)):
        ctx.set_tensor_address(name, arr.ctypes.data)
    return x, s, y


def test_cpu_execution_enters_no_tf32_or_stream_scope(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a CPU execution entered a TF32 scope")

    monkeypatch.setattr(context_mod, "tf32_mode", refuse)
    ctx = _engine().create_execution_context()
    x, s, y = _bind(ctx, 2, np.random.default_rng(0))
    assert ctx.execute_async_v3(0)
    np.testing.assert_allclose(y, reference(x, s), rtol=1e-4, atol=1e-5)


def test_bindings_made_once_per_shape_plan_and_right_for_each_shape():
    ctx = _engine().create_execution_context()
    rng = np.random.default_rng(1)
    binds = {}
    for n in (2, 3, 2, 4, 3):   # back and forth between shape plans, new buffers every time
        x, s, y = _bind(ctx, n, rng)
        assert ctx.execute_async_v3(0)
        np.testing.assert_allclose(y, reference(x, s), rtol=1e-4, atol=1e-5)
        plan = ctx._plans[ctx._plan_key]
        b = binds.setdefault(n, plan.io_binds)
        assert plan.io_binds is b   # made once, at the plan's first execution
        assert {name: shape for name, _, shape, _, _ in b} == {"x": (n, 8), "s": (n, 4), "y": (n, 4)}
        assert {name: writable for name, _, _, writable, _ in b} == {"x": False, "s": False, "y": True}


def test_missing_input_shape_still_named():
    logger = ListLogger()
    eng = _engine(logger)
    ctx = eng.create_execution_context()
    ctx.set_input_shape("x", (2, 8))
    assert not ctx.execute_async_v3(0)
    assert any("input shapes not set for ['s']" in m for m in logger.errors()), logger.messages


class _NoEntry:
    def __enter__(self):
        raise AssertionError("take_clash took its lock with nothing pending")

    def __exit__(self, *exc):
        return False


def test_take_clash_without_pending_settings_skips_the_lock():
    g = UseGuard()
    g._state = _NoEntry()
    assert g.take_clash() is None


def test_take_clash_still_reports_another_threads_change():
    g = UseGuard()
    g.note_write("the shape of 'x'")
    t = threading.Thread(target=g.note_write, args=("the shape of 'x'",))
    t.start()
    t.join()
    why = g.take_clash()
    assert why is not None and "the shape of 'x'" in why
    assert g.take_clash() is None   # consumed


def test_take_clash_reports_a_refused_change():
    g = UseGuard()
    g.note_refused("set_input_shape", "the shape of 'x'")
    assert "refused" in (g.take_clash() or "")
