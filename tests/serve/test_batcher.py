"""Dynamic batcher: concurrent requests merge into batches within max_batch_size / preferred size / queue delay,
each request gets exactly its own rows back, and a failing batch never touches other requests."""
import threading
import time

import numpy as np
import pytest

from inferrt.serve.batcher import DynamicBatcher


class _Recorder:
    """run_batch that computes y = 2x + instance-independent row index check, recording batch sizes."""

    def __init__(self, delay=0.0, fail_on=None):
        self.sizes, self.instances, self.lock = [], set(), threading.Lock()
        self.delay, self.fail_on = delay, fail_on

    def __call__(self, instance, inputs):
        x = inputs["x"]
        with self.lock:
            self.sizes.append(x.shape[0])
            self.instances.add(instance)
        if self.fail_on is not None and (x == self.fail_on).any():
            raise RuntimeError("execution failed")
        time.sleep(self.delay)
        return {"y": x * 2.0, "s": x.sum(axis=tuple(range(1, x.ndim)))}


def _concurrent(batcher, requests):
    """Submit every request from its own thread at once; return the futures in request order."""
    futures = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def go(i):
        start.wait()
        futures[i] = batcher.submit({"x": requests[i]}, requests[i].shape[0])

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return futures


def test_merges_concurrent_requests_and_splits_results():
    run = _Recorder()
    b = DynamicBatcher(run, max_batch_size=8, max_queue_delay_us=200_000, instances=1)
    reqs = [np.full((1, 3), i, np.float32) for i in range(16)]
    futs = _concurrent(b, reqs)
    for r, f in zip(reqs, futs):
        out = f.result(timeout=10)
        np.testing.assert_array_equal(out["y"], r * 2)
        np.testing.assert_array_equal(out["s"], r.sum(axis=1))
    b.close()
    assert sum(run.sizes) == 16
    assert max(run.sizes) == 8 and len(run.sizes) <= 4, run.sizes   # merged, never above max_batch_size


def test_mixed_request_sizes_never_exceed_max_and_keep_rows():
    run = _Recorder()
    b = DynamicBatcher(run, max_batch_size=5, max_queue_delay_us=100_000, instances=2)
    rng = np.random.default_rng(0)
    reqs = [rng.standard_normal((int(rng.integers(1, 4)), 2)).astype(np.float32) for _ in range(20)]
    futs = _concurrent(b, reqs)
    for r, f in zip(reqs, futs):
        np.testing.assert_array_equal(f.result(timeout=10)["y"], r * 2)
    b.close()
    assert sum(run.sizes) == sum(r.shape[0] for r in reqs) and max(run.sizes) <= 5
    assert len(run.sizes) < len(reqs)


def test_preferred_batch_size_closes_batch_before_delay():
    run = _Recorder()
    b = DynamicBatcher(run, max_batch_size=16, preferred_batch_sizes=(4,), max_queue_delay_us=5_000_000)
    t0 = time.perf_counter()
    futs = _concurrent(b, [np.ones((1, 2), np.float32)] * 4)
    for f in futs:
        f.result(timeout=10)
    assert time.perf_counter() - t0 < 4.0       # did not wait for the 5 s delay
    b.close()
    assert run.sizes == [4]


def test_queue_delay_bounds_waiting_for_a_partial_batch():
    run = _Recorder()
    b = DynamicBatcher(run, max_batch_size=8, max_queue_delay_us=50_000)
    t0 = time.perf_counter()
    out = b.submit({"x": np.ones((1, 2), np.float32)}, 1).result(timeout=10)
    waited = time.perf_counter() - t0
    b.close()
    assert run.sizes == [1] and 0.04 < waited < 3.0
    np.testing.assert_array_equal(out["y"], 2 * np.ones((1, 2)))


def test_different_trailing_shapes_are_not_merged():
    run = _Recorder()
    b = DynamicBatcher(run, max_batch_size=8, max_queue_delay_us=100_000)
    reqs = [np.ones((1, 2), np.float32), np.ones((1, 3), np.float32)] * 3
    futs = _concurrent(b, reqs)
    for r, f in zip(reqs, futs):
        np.testing.assert_array_equal(f.result(timeout=10)["y"], r * 2)
    b.close()
    assert sum(run.sizes) == 6


def test_failing_batch_fails_only_its_requests():
    run = _Recorder(fail_on=-1.0)
    b = DynamicBatcher(run, max_batch_size=4, max_queue_delay_us=0, merge=False)
    reqs = [np.full((1, 2), -1.0 if i == 3 else i, np.float32) for i in range(8)]
    futs = _concurrent(b, reqs)
    for i, (r, f) in enumerate(zip(reqs, futs)):
        if i == 3:
            with pytest.raises(RuntimeError, match="execution failed"):
                f.result(timeout=10)
        else:
            np.testing.assert_array_equal(f.result(timeout=10)["y"], r * 2)
    b.close()
    assert run.sizes == [1] * 8                          # merge=False: every request alone


def test_instances_run_in_parallel():
    run = _Recorder(delay=0.3)
    b = DynamicBatcher(run, max_batch_size=1, instances=3)
    t0 = time.perf_counter()
    futs = _concurrent(b, [np.ones((1, 1), np.float32)] * 3)
    for f in futs:
        f.result(timeout=10)
    elapsed = time.perf_counter() - t0
    b.close()
    assert run.instances == {0, 1, 2} and elapsed < 0.85, (run.instances, elapsed)


def test_on_batch_reports_and_close_refuses_new_requests():
    seen = []
    b = DynamicBatcher(_Recorder(), max_batch_size=4, max_queue_delay_us=100_000,
                       on_batch=lambda k, n, r, q, c: seen.append((n, r, len(q))))
    futs = _concurrent(b, [np.ones((2, 1), np.float32)] * 2)
    for f in futs:
        f.result(timeout=10)
    b.close()
    assert sum(n for n, _, _ in seen) == 4 and all(r == q for _, r, q in seen)
    with pytest.raises(RuntimeError, match="unloaded"):
        b.submit({"x": np.ones((1, 1), np.float32)}, 1)


def test_a_batch_is_reported_before_its_requests_are_answered():
    """A client reading the statistics right after its response finds its request counted (the report is slow
    here on purpose: answering first would let the result arrive before it)."""
    seen = []

    def report(k, n, r, q, c):
        time.sleep(0.2)
        seen.append(n)

    b = DynamicBatcher(lambda k, x: {"y": x["x"] * 2}, max_batch_size=4, on_batch=report)
    try:
        out = b.submit({"x": np.ones((3, 2), np.float32)}, 3).result(timeout=10)
        assert seen == [3]
        np.testing.assert_array_equal(out["y"], np.full((3, 2), 2, np.float32))
        # an execution error is reported too, then raised to the request
        bad = DynamicBatcher(lambda k, x: 1 / 0, max_batch_size=4, on_batch=report)
        with pytest.raises(ZeroDivisionError):
            bad.submit({"x": np.ones((1, 2), np.float32)}, 1).result(timeout=10)
        assert seen == [3, 1]
        bad.close()
    finally:
        b.close()


def _queued_then_run(batcher_kwargs, sizes):
    """Queue requests of ``sizes`` while the single instance is held, then let it run; the batch sizes it ran."""
    gate = threading.Event()
    run = _Recorder()

    def held(k, x):
        gate.wait(10)
        return run(k, x)

    b = DynamicBatcher(held, **batcher_kwargs)
    first = b.submit({"x": np.zeros((1, 2), np.float32)}, 1)    # occupies the instance until the gate opens
    time.sleep(0.2)
    futs = [b.submit({"x": np.full((n, 2), i, np.float32)}, n) for i, n in enumerate(sizes)]
    gate.set()
    first.result(timeout=10)
    for i, (n, f) in enumerate(zip(sizes, futs)):
        np.testing.assert_array_equal(f.result(timeout=10)["y"], np.full((n, 2), 2 * i, np.float32))
    b.close()
    return run.sizes[1:]


def test_batches_take_the_largest_preferred_size_the_queue_makes_up():
    # 12 queued, preferred 8: a batch of 8 (not 12 <= max 16), then the 4 left (4 is preferred too)
    assert _queued_then_run(dict(max_batch_size=16, preferred_batch_sizes=(4, 8), max_queue_delay_us=0),
                            [1] * 12) == [8, 4]
    # 6 queued, preferred 4 and 8: 4, then the 2 left once the delay is over (no preferred size reachable)
    assert _queued_then_run(dict(max_batch_size=16, preferred_batch_sizes=(4, 8), max_queue_delay_us=0),
                            [1] * 6) == [4, 2]
    # requests of 3 rows never sum to 4: every request that fits runs (3 + 3 + 3 = 9 <= 10)
    assert _queued_then_run(dict(max_batch_size=10, preferred_batch_sizes=(4,), max_queue_delay_us=0),
                            [3, 3, 3]) == [9]
    # without preferred sizes: everything up to max_batch_size
    assert _queued_then_run(dict(max_batch_size=16, max_queue_delay_us=0), [1] * 12) == [12]
