"""CPU thread control (issue 18, item 1): context / Runtime.max_threads / INFERRT_CPU_THREADS / automatic count,
applied per execution on the executing thread, PyTorch's own setting back afterwards."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from helpers import assert_close
from rt_tools import ListLogger, build_engine, build_plan, inputs, reference

import inferrt as trt
from inferrt.runtime import cpu_threads as ct


class ThreadsSeen:
    """An IProfiler recording torch's thread count while each layer's time is reported (inside the execution);
    ``hold``: a barrier every execution's first layer waits at (so several executions overlap)."""

    def __init__(self, hold=None):
        self.seen: list[int] = []
        self.hold = hold

    def report_layer_time(self, name, ms):
        if self.hold is not None and not self.seen:
            self.hold.wait(timeout=60)
        self.seen.append(torch.get_num_threads())


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def no_measurement(monkeypatch):
    """No /proc/stat measurement (deterministic: a set count is used as set, the automatic one is
    min(usable cores, 4) / running); test_set_count_is_lowered_to_free_cores measures."""
    class Unmeasured:
        def get(self):
            return None

    monkeypatch.setattr(ct, "_free", Unmeasured())


def _run(ctx, n=3):
    x, s = inputs(n)
    out = ctx.infer(x=x, s=s)["y"]
    assert_close(out, reference(x, s))
    return out


@pytest.mark.parametrize("value,expected", [(None, None), ("auto", None), (" AUTO ", None), ("", None), (3, 3),
                                            ("2", 2), (np.int64(5), 5)])
def test_parse_threads_accepts(value, expected):
    assert ct.parse_threads(value, "x") == expected


@pytest.mark.parametrize("value", [0, -1, 2.5, "two", "1.5", True, [2]])
def test_parse_threads_refuses_naming_the_setting(value):
    with pytest.raises(ValueError, match="context.cpu_threads must be a number of threads >= 1 or 'auto'"):
        ct.parse_threads(value, "context.cpu_threads")


def test_context_count_applies_inside_the_run_and_torch_setting_comes_back(torch_threads):
    torch.set_num_threads(2)
    ctx = build_engine("cpu").create_execution_context()
    ctx.cpu_threads = 3
    ctx.profiler = seen = ThreadsSeen()
    _run(ctx)
    assert seen.seen and set(seen.seen) == {3} and ctx.last_cpu_threads == 3
    assert torch.get_num_threads() == 2
    ctx.cpu_threads = 1
    seen.seen.clear()
    _run(ctx)
    assert set(seen.seen) == {1} and torch.get_num_threads() == 2


def test_context_setting_is_checked():
    ctx = build_engine("cpu").create_execution_context()
    with pytest.raises(ValueError, match="context.cpu_threads"):
        ctx.cpu_threads = 0
    assert ctx.cpu_threads is None   # unchanged, and the engine's (nothing set anywhere): automatic


def test_environment_variable_sets_the_engine_default(monkeypatch, torch_threads):
    monkeypatch.setenv(ct.ENV_VAR, "3")
    engine = build_engine("cpu")
    assert engine.cpu_threads == 3
    ctx = engine.create_execution_context()
    ctx.profiler = seen = ThreadsSeen()
    _run(ctx)
    assert set(seen.seen) == {3}
    ctx.cpu_threads = 1                    # the context's own setting wins
    assert ctx.cpu_threads == 1
    ctx.cpu_threads = None                 # and None follows the engine again
    assert ctx.cpu_threads == 3


def test_malformed_environment_variable_is_an_error_and_automatic(monkeypatch, no_measurement):
    monkeypatch.setenv(ct.ENV_VAR, "many")
    log = ListLogger()
    engine = build_engine("cpu", runtime_logger=log)
    assert engine.cpu_threads is None
    assert any("INFERRT_CPU_THREADS must be a number of threads" in m and "automatic" in m for m in log.errors())
    ctx = engine.create_execution_context()
    _run(ctx)
    assert ctx.last_cpu_threads == min(ct.usable_cores(), ct.AUTO_CAP)


def test_runtime_max_threads_is_the_engines_count(monkeypatch, torch_threads):
    monkeypatch.delenv(ct.ENV_VAR, raising=False)
    log = ListLogger()
    rt = trt.Runtime(log)
    rt.max_threads = 0
    assert any("Runtime.max_threads must be a number of threads" in m for m in log.errors())
    rt.max_threads = 2
    assert rt.max_threads == 2
    engine = rt.deserialize_cuda_engine(build_plan("cpu"))
    assert engine.cpu_threads == 2
    ctx = engine.create_execution_context()
    ctx.profiler = seen = ThreadsSeen()
    _run(ctx)
    assert set(seen.seen) == {2}


def test_raw_address_execution_uses_the_count_too(torch_threads):
    from rt_tools import Buffer

    torch.set_num_threads(2)
    ctx = build_engine("cpu").create_execution_context()
    ctx.cpu_threads = 3
    x, s = inputs(2)
    bx, bs, by = Buffer("cpu", x), Buffer("cpu", s), Buffer("cpu", shape=(2, 4))
    ctx.set_input_shape("x", x.shape)
    ctx.set_input_shape("s", s.shape)
    for name, b in (("x", bx), ("s", bs), ("y", by)):
        assert ctx.set_tensor_address(name, b.ptr)
    ctx.profiler = seen = ThreadsSeen()
    assert ctx.execute_async_v3(0)
    assert set(seen.seen) == {3} and torch.get_num_threads() == 2
    assert_close(by.numpy(), reference(x, s))


@pytest.mark.parametrize("running,free,cores,expected", [
    (1, None, 2, 2), (1, None, 16, 4), (2, None, 2, 1), (3, None, 16, 1), (2, None, 16, 2),
    (1, 1.5, 2, 1),      # one core shared half-and-half with another process: not free
    (1, 1.8, 2, 2),      # a little noise on an otherwise idle machine: both cores
    (1, 0.2, 4, 1),      # never fewer than one
    (1, 3.9, 8, 4)])
def test_automatic_count(running, free, cores, expected, no_measurement):
    assert ct.auto_threads(running, free=free, cores=cores) == expected


def test_free_cores_from_proc_stat(tmp_path, monkeypatch):
    """Idle time of the affinity CPUs plus the process's own CPU time, per second of wall time."""
    monkeypatch.setattr(ct, "_affinity", lambda: {0, 1})
    stat = tmp_path / "stat"
    clock = [0.0]
    own = [0.0]

    def write(idle0, idle1):  # cpuN user nice system idle iowait ...; cpu2 is outside the affinity mask
        stat.write_text(f"cpu  1 1 1 1 1 0 0 0 0 0\ncpu0 5 0 5 {idle0} 0 0 0 0 0 0\n"
                        f"cpu1 5 0 5 {idle1} 10 0 0 0 0 0\ncpu2 0 0 0 99999 0 0 0 0 0 0\nintr 1 2 3\n")

    fc = ct.FreeCores(str(stat), clock=lambda: clock[0], cpu_time=lambda: own[0], ticks=100)
    write(0, 0)
    assert fc.get() is None                                # one sample: nothing measured yet
    clock[0], own[0] = 1.0, 1.0
    write(100, 0)                                          # cpu0 idle all second, cpu1 busy; we used one core
    assert fc.get() == pytest.approx(2.0)
    clock[0] = 1.1
    write(200, 0)
    assert fc.get() == pytest.approx(2.0)                  # within SAMPLE_PERIOD: the last value, not re-read
    clock[0], own[0] = 2.0, 1.5
    write(100, 0)                                          # (same counters as at t=1) + our half core
    assert fc.get() == pytest.approx(0.5)
    assert ct.FreeCores(str(tmp_path / "missing")).get() is None


def test_usable_cores_read_once_per_period(monkeypatch):
    """The automatic count reads the affinity mask and cgroup quota at most once per SAMPLE_PERIOD (not on every
    execution), and sees a change after it."""
    reads = []
    cores = [3]
    monkeypatch.setattr(ct, "usable_cores", lambda: reads.append(1) or cores[0])
    monkeypatch.setattr(ct, "_cores", [-1.0, 0])
    assert ct.auto_threads(1, free=8.0) == 3
    assert ct.auto_threads(1, free=8.0) == 3 and ct.recent_usable_cores() == 3
    assert len(reads) == 1
    cores[0] = 1                               # taskset / a new quota ...
    assert ct.auto_threads(1, free=8.0) == 3   # ... not seen within the period
    ct._cores[0] -= ct.SAMPLE_PERIOD           # the period has passed
    assert ct.auto_threads(1, free=8.0) == 1
    assert len(reads) == 2


def test_concurrent_executions_share_the_automatic_budget(torch_threads, no_measurement, monkeypatch):
    """Two contexts of one engine executing at once on two threads: the second gets half of the budget, and
    torch's own setting is back once both are done."""
    monkeypatch.delenv(ct.ENV_VAR, raising=False)
    torch.set_num_threads(1)
    engine = build_engine("cpu")
    barrier = threading.Barrier(2)
    ctxs = [engine.create_execution_context() for _ in range(2)]
    for c in ctxs:
        c.profiler = ThreadsSeen(barrier)
    errors = []

    def work(c):
        try:
            _run(c)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(c,)) for c in ctxs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads)
    base = min(ct.usable_cores(), ct.AUTO_CAP)
    assert sorted(c.last_cpu_threads for c in ctxs) == sorted([base, max(1, base // 2)])
    assert torch.get_num_threads() == 1 and ct.running_executions() == 0


def test_nested_block_on_one_thread_counts_once(torch_threads, no_measurement):
    torch.set_num_threads(1)
    with ct.threads_for_run(3) as outer:
        assert ct.running_executions() == 1 and torch.get_num_threads() == 3
        with ct.threads_for_run(None) as inner:   # automatic inside a run: the outer run's count
            assert inner.threads == 3 and ct.running_executions() == 1
        with ct.threads_for_run(2):
            assert torch.get_num_threads() == 2
        assert torch.get_num_threads() == 3 and outer.threads == 3
    assert torch.get_num_threads() == 1 and ct.running_executions() == 0


def test_results_do_not_depend_on_the_count(torch_threads):
    ctx = build_engine("cpu").create_execution_context()
    outs = []
    for n in (1, 2):
        ctx.cpu_threads = n
        outs.append(_run(ctx, 16))
    assert_close(outs[0], outs[1])


def test_every_layer_runs_at_the_count(torch_threads):
    """One count per execution: every layer, the smallest included, runs at the context's count (the executor does
    not switch it between layers; runtime/cpu_threads.py says why), and the process's setting is back afterwards."""
    torch.set_num_threads(1)
    engine = build_engine("cpu")
    ctx = engine.create_execution_context()
    ctx.cpu_threads = 3
    seen = {}

    class PerLayer:
        def report_layer_time(self, name, ms):
            seen[name] = torch.get_num_threads()

    ctx.profiler = PerLayer()
    _run(ctx, 5)
    assert seen and set(seen.values()) == {3} and ctx.last_cpu_threads == 3
    assert torch.get_num_threads() == 1


def test_set_count_is_lowered_to_free_cores(torch_threads, monkeypatch):
    """A set count is a maximum: with 1.3 cores measured free it runs on 1 thread, with 2.9 on 3 (of 4 set)."""
    engine = build_engine("cpu")
    ctx = engine.create_execution_context()
    ctx.cpu_threads = 4
    for free, used in ((1.3, 1), (2.9, 3), (7.0, 4)):
        class Measured:
            def get(self, v=free):
                return v

        monkeypatch.setattr(ct, "_free", Measured())
        ctx.profiler = seen = ThreadsSeen()
        _run(ctx)
        assert ctx.last_cpu_threads == used and set(seen.seen) == {used}
