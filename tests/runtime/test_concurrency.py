"""One execution context shared by threads (issue 10, item 5): the TensorRT API refuses concurrent use (False and
a logged error) and never returns a wrong result; ``infer`` serializes; separate contexts per thread are bit-exact.

Threads start together at a barrier and the interpreter switches threads every few microseconds, so calls of
different threads interleave between (and inside) each other's set_input_shape / set_tensor_address / execute.
"""
from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from helpers import tolerance
from rt_tools import ListLogger, build_engine, inputs, reference

import inferrt as trt

THREADS = 8
ROUNDS = 25


@pytest.fixture(autouse=True)
def fast_switching():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _run_threads(work) -> list:
    """``work(thread index, round) -> outcome`` in THREADS threads x ROUNDS rounds; outcomes, exceptions included."""
    barrier = threading.Barrier(THREADS)
    outcomes = [[] for _ in range(THREADS)]

    def body(i):
        barrier.wait()
        for r in range(ROUNDS):
            try:
                outcomes[i].append(work(i, r))
            except Exception as e:  # noqa: BLE001 - an exception is an outcome the tests count
                outcomes[i].append(("exception", f"{type(e).__name__}: {e}"))

    threads = [threading.Thread(target=body, args=(i,), name=f"worker-{i}") for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return [o for per in outcomes for o in per]


def _case(i, r):
    """Thread i's inputs in round r: batch sizes differ between threads so a mix-up changes shapes too."""
    n = 1 + (i + r) % 16
    return n, inputs(n, seed=1000 * i + r)


def _right(y, x, s) -> bool:
    rtol, atol = tolerance(np.float32)
    return bool(np.allclose(np.asarray(y, np.float64), reference(x, s), rtol=rtol, atol=atol))


class _Buffers:
    """Host (numpy) or device (torch) buffers of one thread's x, s and y; y starts as NaN."""

    def __init__(self, device, x, s):
        import torch

        self.device = device
        if device == "cpu":
            self.arrays = {"x": x.copy(), "s": s.copy(), "y": np.full((len(x), 4), np.nan, np.float32)}
            self.ptrs = {k: a.ctypes.data for k, a in self.arrays.items()}
        else:
            self.arrays = {"x": torch.from_numpy(x).cuda(), "s": torch.from_numpy(s).cuda(),
                           "y": torch.full((len(x), 4), float("nan"), device="cuda")}
            self.ptrs = {k: t.data_ptr() for k, t in self.arrays.items()}
            torch.cuda.current_stream().synchronize()

    def y(self):
        return self.arrays["y"] if self.device == "cpu" else self.arrays["y"].cpu().numpy()


def _trt_api_round(ctx, device, i, r, streams):
    """set_input_shape x2, set_tensor_address x3, execute_async_v3: ('refused', call) | ('correct',) | ('wrong',)."""
    n, (x, s) = _case(i, r)
    bufs = _Buffers(device, x, s)
    for name, shape in (("x", x.shape), ("s", s.shape)):
        if not ctx.set_input_shape(name, shape):
            return ("refused", "set_input_shape")
    for name in ("x", "s", "y"):
        if not ctx.set_tensor_address(name, bufs.ptrs[name]):
            return ("refused", "set_tensor_address")
    stream = streams[i] if streams else None
    if not ctx.execute_async_v3(stream.cuda_stream if stream is not None else 0):
        return ("refused", "execute_async_v3")
    if stream is not None:
        stream.synchronize()
    return ("correct",) if _right(bufs.y(), x, s) else ("wrong", n)


def _check_trt_api_outcomes(outcomes, logger):
    kinds = [o[0] for o in outcomes]
    assert kinds.count("exception") == 0, [o for o in outcomes if o[0] == "exception"][:3]
    assert kinds.count("wrong") == 0, f"{kinds.count('wrong')} of {len(kinds)} results silently wrong"
    assert kinds.count("correct") + kinds.count("refused") == THREADS * ROUNDS
    refusals = kinds.count("refused")
    errors = logger.errors()
    assert len(errors) >= refusals
    # every logged error is about concurrent use (or the bindings it cleared), each naming the fix
    concurrency = [e for e in errors if "one thread at a time" in e]
    cleared = [e for e in errors if "has no address" in e or "input shapes not set" in e]
    assert len(concurrency) + len(cleared) == len(errors), [e for e in errors if e not in concurrency + cleared][:3]
    assert all("create one context per thread" in e or "its own context" in e for e in concurrency)
    return kinds


def _streams(device):
    if device == "cpu":
        return None
    import torch

    return [torch.cuda.Stream() for _ in range(THREADS)]


def test_eight_threads_on_one_context_trt_api_are_right_or_refused(device):
    logger = ListLogger()
    ctx = build_engine(device, runtime_logger=logger).create_execution_context()
    streams = _streams(device)
    outcomes = _run_threads(lambda i, r: _trt_api_round(ctx, device, i, r, streams))
    kinds = _check_trt_api_outcomes(outcomes, logger)
    assert kinds.count("refused") >= 1   # 8 threads racing over 25 rounds: some calls do meet
    # after the contention, a thread binding everything again runs right
    outcomes = [_trt_api_round(ctx, device, 0, r, streams) for r in range(2)]
    assert outcomes == [("correct",)] * 2, outcomes


def _infer_round(ctx, device, i, r):
    n, (x, s) = _case(i, r)
    if device == "cpu":
        y = ctx.infer(x=x, s=s)["y"]
    else:
        import torch

        y = ctx.infer(x=torch.from_numpy(x).cuda(), s=torch.from_numpy(s).cuda())["y"].cpu().numpy()
    return ("correct",) if _right(y, x, s) else ("wrong", n)


def test_eight_threads_infer_on_one_context_are_serialized_and_all_right(device):
    ctx = build_engine(device).create_execution_context()
    outcomes = _run_threads(lambda i, r: _infer_round(ctx, device, i, r))
    assert outcomes == [("correct",)] * (THREADS * ROUNDS), [o for o in outcomes if o != ("correct",)][:3]


def test_infer_and_trt_api_mixed_on_one_context(device):
    """Half the threads use infer, half the TensorRT API: infer always right, the TensorRT API right or refused."""
    logger = ListLogger()
    ctx = build_engine(device, runtime_logger=logger).create_execution_context()
    streams = _streams(device)
    outcomes = _run_threads(lambda i, r: _infer_round(ctx, device, i, r) if i % 2 else
                            _trt_api_round(ctx, device, i, r, streams))
    assert not [o for o in outcomes if o[0] in ("wrong", "exception")], outcomes
    assert sum(o[0] == "correct" for o in outcomes) >= THREADS * ROUNDS // 2   # every infer


def test_eight_threads_on_eight_contexts_are_bit_exact(device):
    """Each thread its own context, TensorRT API and infer alternating: every result equals a serial run's."""
    engine = build_engine(device)
    contexts = [engine.create_execution_context() for _ in range(THREADS)]
    serial = engine.create_execution_context()
    expected = {}
    for i in range(THREADS):
        for r in range(ROUNDS):
            _, (x, s) = _case(i, r)
            expected[i, r] = np.asarray(_to_host(serial.infer(x=x, s=s)["y"]))
    streams = _streams(device)

    def work(i, r):
        _, (x, s) = _case(i, r)
        if r % 2:    # the TensorRT API and infer alternate
            bufs = _Buffers(device, x, s)
            ctx = contexts[i]
            ok = all([ctx.set_input_shape("x", x.shape), ctx.set_input_shape("s", s.shape)] +
                     [ctx.set_tensor_address(k, p) for k, p in bufs.ptrs.items()])
            stream = streams[i] if streams else None
            ok = ok and ctx.execute_async_v3(stream.cuda_stream if stream is not None else 0)
            if stream is not None:
                stream.synchronize()
            y = bufs.y()
        else:
            ok, y = True, _to_host(contexts[i].infer(x=x, s=s)["y"])
        # bit-exact on the CPU; on the GPU cuBLAS may pick other kernels per stream, so there it must be right
        same = np.array_equal(y, expected[i, r]) if device == "cpu" else _right(y, x, s)
        return ("exact",) if ok and same else ("differs", i, r, ok)

    outcomes = _run_threads(work)
    assert outcomes == [("exact",)] * (THREADS * ROUNDS), [o for o in outcomes if o != ("exact",)][:5]


def _to_host(y):
    return y.cpu().numpy() if hasattr(y, "cpu") else y


# ---------------------------------------------------------------------- the rules, one interleaving at a time
def _in_thread(fn):
    out = []
    t = threading.Thread(target=lambda: out.append(fn()), name="other")
    t.start()
    t.join()
    return out[0]


def _bind(ctx, n=2, seed=0):
    x, s = inputs(n, seed)
    y = np.full((n, 4), np.nan, np.float32)
    ok = [ctx.set_input_shape("x", x.shape), ctx.set_input_shape("s", s.shape)]
    ok += [ctx.set_tensor_address(k, a.ctypes.data) for k, a in (("x", x), ("s", s), ("y", y))]
    assert all(ok)
    return x, s, y


def test_settings_mixed_by_two_threads_are_refused_then_cleared():
    logger = ListLogger()
    ctx = build_engine("cpu", runtime_logger=logger).create_execution_context()
    x, s, y = _bind(ctx)
    other = np.zeros((3, 8), np.float32)
    assert _in_thread(lambda: ctx.set_input_shape("x", (3, 8)) and ctx.set_tensor_address("x", other.ctypes.data))
    assert ctx.execute_async_v3(0) is False
    err = logger.errors()[-1]
    assert "'MainThread'" in err and "'other'" in err and "cleared" in err and "its own context" in err
    assert np.isnan(y).all()
    # the mix cannot run later either: shapes and addresses are gone until bound again
    assert ctx.execute_async_v3(0) is False and "input shapes not set" in logger.errors()[-1]
    x, s, y = _bind(ctx, 4, seed=1)
    assert ctx.execute_async_v3(0) is True
    assert _right(y, x, s)


def test_hand_off_to_another_thread_is_allowed():
    """One thread binds, another executes (not at the same time): allowed in TensorRT, allowed here."""
    ctx = build_engine("cpu").create_execution_context()
    x, s, y = _bind(ctx, 5)
    assert _in_thread(lambda: ctx.execute_async_v3(0)) is True
    assert _right(y, x, s)
    x, s, y = _bind(ctx, 3, seed=2)   # and back
    assert ctx.execute_async_v3(0) is True and _right(y, x, s)


def test_addresses_bound_by_one_thread_shapes_set_by_another_is_allowed():
    """Setup in one thread (addresses), then shapes and executions in another, then the first executes again: each
    setting is still the one its thread made, so nothing is refused."""
    ctx = build_engine("cpu").create_execution_context()
    x, s = inputs(16, seed=4)
    y = np.full((16, 4), np.nan, np.float32)
    for k, a in (("x", x), ("s", s), ("y", y)):
        assert ctx.set_tensor_address(k, a.ctypes.data)

    def worker():
        return [ctx.set_input_shape("x", (16, 8)), ctx.set_input_shape("s", (16, 4)), ctx.execute_async_v3(0)]

    assert _in_thread(worker) == [True, True, True] and _right(y, x, s)
    y[:] = np.nan
    assert ctx.execute_async_v3(0) is True and _right(y, x, s)


def test_settings_overwritten_by_a_thread_that_then_executes():
    """A binds everything, B binds everything and executes (right: all B's), then A executes: A's settings were
    replaced by B's, so A is refused rather than told it succeeded with B's buffers."""
    logger = ListLogger()
    ctx = build_engine("cpu", runtime_logger=logger).create_execution_context()
    xa, sa, ya = _bind(ctx, 2, seed=7)

    def b():
        xb, sb, yb = _bind(ctx, 3, seed=8)
        return ctx.execute_async_v3(0) and _right(yb, xb, sb)

    assert _in_thread(b) is True
    assert ctx.execute_async_v3(0) is False and np.isnan(ya).all()
    assert "set by thread 'MainThread' was changed by thread 'other'" in logger.errors()[-1]


class _Gate(trt.IProfiler):
    """A profiler that holds the first execution inside its first layer until released."""

    def __init__(self):
        self.inside = threading.Event()
        self.release = threading.Event()

    def report_layer_time(self, layer_name, ms):
        if not self.inside.is_set():
            self.inside.set()
            assert self.release.wait(60)


def test_calls_during_an_execution_in_another_thread_are_refused_and_infer_waits():
    logger = ListLogger()
    ctx = build_engine("cpu", runtime_logger=logger).create_execution_context()
    x, s, y = _bind(ctx, 2)
    ctx.profiler = gate = _Gate()
    first = threading.Thread(target=lambda: ctx.execute_async_v3(0), name="first")
    first.start()
    assert gate.inside.wait(60)
    assert ctx.execute_async_v3(0) is False
    assert "in use by thread 'first'" in logger.errors()[-1]
    assert ctx.set_input_shape("x", (4, 8)) is False and "set_input_shape" in logger.errors()[-1]
    x2, s2 = inputs(3, seed=5)
    result = {}
    waiter = threading.Thread(target=lambda: result.setdefault("y", ctx.infer(x=x2, s=s2)["y"]), name="waiter")
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive() and not result   # infer waits for the execution to end
    gate.release.set()
    first.join(60)
    waiter.join(60)
    assert _right(y, x, s) and _right(result["y"], x2, s2)
    # the refused set_input_shape lost a setting: the next TensorRT execution refuses the mix
    assert ctx.execute_async_v3(0) is False
    assert "set_input_shape was refused while thread 'first' used the context" in logger.errors()[-1]


@pytest.mark.gpu
def test_gpu_executions_on_different_streams_are_ordered():
    """Two executions of one context on two streams, the first still running on the device when the second is
    queued: the second waits for it (they share activation memory), so both are right."""
    import torch

    ctx = build_engine("cuda").create_execution_context()
    s1, s2 = torch.cuda.Stream(), torch.cuda.Stream()
    n1, (x1, sa) = _case(0, 0)
    n2, (x2, sb) = _case(5, 3)
    b1, b2 = _Buffers("cuda", x1, sa), _Buffers("cuda", x2, sb)
    for bufs, x, s, stream in ((b1, x1, sa, s1), (b2, x2, sb, s2)):
        with torch.cuda.stream(stream):
            torch.cuda._sleep(50_000_000)   # keep the device busy so the two executions would overlap
        ctx.set_input_shape("x", x.shape)
        ctx.set_input_shape("s", s.shape)
        for k, p in bufs.ptrs.items():
            ctx.set_tensor_address(k, p)
        assert ctx.execute_async_v3(stream.cuda_stream)
    torch.cuda.synchronize()
    assert _right(b1.y(), x1, sa) and _right(b2.y(), x2, sb)
