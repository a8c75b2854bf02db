"""Dynamic batcher: requests queued by many client threads are merged into one batch and run on one of N
instances (one execution context each, one thread each); the outputs are split back per request.

    submit(inputs[b_i, ...]) ─┐                              ┌─> future_i.set_result(outputs[off_i : off_i + b_i])
    submit(...)              ─┼─> queue ─> worker k: concat ─┤
    submit(...)              ─┘   (≤ max_batch, ≤ delay)     └─> run_batch(k, merged) on instance k

A batch closes when it reaches the target size (the largest preferred batch size, else max_batch_size), when the
next queued request would overflow it or has other non-batch dims, or when the oldest request has waited
``max_queue_delay_us``. As in Triton, it then holds the largest preferred batch size that the leading requests make
up exactly (the others stay queued for the next batch), else every request that fits. Requests are validated before they are queued, so a bad request never joins a batch; an
execution error fails only the requests of the batch that raised it.
"""
from __future__ import annotations

import collections
import itertools
import threading
import time
from concurrent.futures import Future

import numpy as np


class _Pending:
    __slots__ = ("inputs", "size", "future", "t_queued", "key")

    def __init__(self, inputs, size, key):
        self.inputs, self.size, self.key = inputs, size, key
        self.future = Future()
        self.t_queued = time.perf_counter()


class DynamicBatcher:
    """``run_batch(instance, inputs) -> outputs`` runs one batch (dicts of arrays, batch dim first when ``merge``).
    ``merge=False``: every request runs alone (Triton's default scheduler, or max_batch_size 0).
    ``on_batch(instance, batch_size, n_requests, queue_s list, compute_s)`` reports each executed batch."""

    def __init__(self, run_batch, *, max_batch_size: int, preferred_batch_sizes=(), max_queue_delay_us: int = 0,
                 instances: int = 1, merge: bool = True, on_batch=None, name: str = "model"):
        if instances < 1:
            raise ValueError(f"instances must be >= 1, got {instances}")
        self._run = run_batch
        self._max = max(1, int(max_batch_size))
        self._preferred = {int(p) for p in preferred_batch_sizes if 1 <= p <= self._max}
        self._target = max(self._preferred) if self._preferred else self._max
        self._delay = max_queue_delay_us / 1e6
        self._merge = merge
        self._on_batch = on_batch
        self._queue: collections.deque[_Pending] = collections.deque()
        self._cv = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._worker, args=(k,), name=f"{name}-instance-{k}", daemon=True)
                         for k in range(instances)]
        for t in self._threads:
            t.start()

    def submit(self, inputs: dict, size: int) -> Future:
        """Queue one request (inputs already validated; ``size`` its batch, 1 for unbatched models)."""
        key = tuple((n, a.shape[1:], a.dtype.str) for n, a in sorted(inputs.items())) if self._merge else None
        p = _Pending(inputs, size, key)
        with self._cv:
            if self._closed:
                raise RuntimeError("the model is being unloaded")
            self._queue.append(p)
            self._cv.notify()
        return p.future

    def close(self) -> None:
        """Stop the workers after the queued requests have run."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        for t in self._threads:
            t.join()

    def _fits(self) -> tuple[int, int, bool]:
        """(count, total size) of the leading requests that can share a batch, and whether the batch can grow."""
        count = total = 0
        for p in self._queue:
            if count and (not self._merge or p.key != self._queue[0].key or total + p.size > self._max):
                return count, total, False
            count, total = count + 1, total + p.size
            if not self._merge:
                return count, total, False
        return count, total, total < self._target

    def _preferred_count(self, count: int) -> int:
        """How many of the ``count`` leading requests to run: Triton's rule, the largest preferred batch size that
        whole requests make up, else all of them."""
        total, best = 0, count if not self._preferred else None
        for i, p in enumerate(itertools.islice(self._queue, count)):
            total += p.size
            if total in self._preferred:
                best = i + 1
        return count if best is None else best

    def _next_batch(self) -> list[_Pending] | None:
        with self._cv:
            while True:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if not self._queue:
                    return None
                count, total, can_grow = self._fits()
                wait = self._queue[0].t_queued + self._delay - time.perf_counter()
                if total >= self._target or not can_grow or wait <= 0 or self._closed:
                    batch = [self._queue.popleft() for _ in range(self._preferred_count(count))]
                    if self._queue:
                        self._cv.notify()   # another idle instance may start on the rest
                    return batch
                self._cv.wait(wait)

    def _worker(self, instance: int) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            t0 = time.perf_counter()
            queue_s = [t0 - p.t_queued for p in batch]
            results, error = None, None
            try:
                if self._merge and len(batch) > 1:
                    merged = {n: np.concatenate([p.inputs[n] for p in batch]) for n in batch[0].inputs}
                else:
                    merged = batch[0].inputs
                outputs = self._run(instance, merged)
                if self._merge and len(batch) > 1:
                    offsets = np.cumsum([0] + [p.size for p in batch])
                    results = [{n: np.ascontiguousarray(a[lo:hi]) for n, a in outputs.items()}
                               for lo, hi in zip(offsets[:-1], offsets[1:])]
                else:
                    results = [outputs]
            except Exception as e:   # noqa: BLE001 - an execution error fails this batch's requests only
                error = e
            compute_s = time.perf_counter() - t0
            try:
                # reported before the requests are answered, so a client that reads the statistics after its
                # response finds its request counted
                if self._on_batch is not None:
                    self._on_batch(instance, sum(p.size for p in batch), len(batch), queue_s, compute_s)
            finally:
                for k, p in enumerate(batch):
                    if error is not None:
                        p.future.set_exception(error)
                    else:
                        p.future.set_result(results[k])
