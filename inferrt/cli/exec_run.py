"""``inferrt exec`` inference: inputs, warm-up, the timed trace of queries and the per-layer profile run.

Each query records trtexec's timestamps (ms from the start of the trace): H2D, enqueue, compute, D2H. On the GPU
H2D / compute / D2H are CUDA events on one stream and the enqueue is the host time of the engine call, which returns
before the GPU finishes. On the CPU the engine runs synchronously: compute (and enqueue) is the engine call, and
"H2D" / "D2H" are the host copies of the inputs into the engine's input tensors and of its outputs into fresh
arrays, which is what a transfer costs there.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from .exec_args import ExecArgError

TIME_KEYS = ("startEnqMs", "endEnqMs", "startH2dMs", "endH2dMs", "startComputeMs", "endComputeMs",
             "startD2hMs", "endD2hMs")


@dataclass
class Trace:
    queries: list = field(default_factory=list)   # dicts with TIME_KEYS
    warmup_queries: int = 0
    warmup_ms: float = 0.0
    walltime_s: float = 0.0


def make_inputs(engine, shapes: dict, files: dict, trt) -> dict:
    """Seeded random inputs (standard normal for floats, 0/1 otherwise), or raw binary files for --loadInputs."""
    rng = np.random.default_rng(0)
    feeds = {}
    for name in engine.input_names:
        shp = tuple(shapes[name])
        dt = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
        if name in files:
            try:
                data = np.fromfile(files[name], dtype=dt)
            except OSError as e:
                raise ExecArgError(f"--loadInputs: cannot read {files[name]!r} for input {name!r}: {e}") from None
            want = int(np.prod(shp))
            if data.size != want:
                raise ExecArgError(f"--loadInputs: {files[name]!r} holds {data.size * dt.itemsize} bytes, but input "
                                   f"{name!r} of shape {'x'.join(map(str, shp))} and type {dt.name} needs "
                                   f"{want * dt.itemsize}")
            feeds[name] = data.reshape(shp)
        else:
            feeds[name] = rng.standard_normal(shp).astype(dt) if dt.kind == "f" else rng.integers(0, 2, shp).astype(dt)
    return feeds


class _Runner:
    """One query at a time on one context, recording its timestamps."""

    def __init__(self, ctx, feeds: dict, device: str, transfers: bool):
        import torch

        self.torch = torch
        self.ctx, self.feeds, self.transfers = ctx, feeds, transfers
        self.gpu = device == "cuda"
        if self.gpu:   # the engine's GPU (--device=N), whichever thread drives this runner
            self.stream = torch.cuda.Stream(ctx.engine.device)
            self.host_in = {n: torch.from_numpy(np.ascontiguousarray(a)).pin_memory() for n, a in feeds.items()}
            self.dev_in = {n: t.to(ctx.engine.device) for n, t in self.host_in.items()}
            self.host_out: dict = {}
        else:
            self.dev_in = {n: torch.from_numpy(np.array(a)) for n, a in feeds.items()}
        self.t0 = time.perf_counter()
        self.base = None

    def start_trace(self, t0: float | None = None):
        self.t0 = time.perf_counter() if t0 is None else t0
        if self.gpu:
            self.base = self.torch.cuda.Event(enable_timing=True)
            self.base.record(self.stream)

    def _now(self) -> float:
        return (time.perf_counter() - self.t0) * 1e3

    def query(self) -> dict:
        return self.finish(self.enqueue())

    def enqueue(self):
        """Start one query: on the GPU it is enqueued on this runner's stream and left running; on the CPU it runs."""
        return self._gpu_enqueue() if self.gpu else self._cpu_query()

    def finish(self, pending) -> dict:
        """Wait for a query from ``enqueue`` and return its timestamps."""
        if not self.gpu:
            return pending
        ev, enq0, enq1 = pending
        ev["d2h1"].synchronize()
        at = {k: self.base.elapsed_time(e) for k, e in ev.items()}
        return {"startEnqMs": enq0, "endEnqMs": enq1, "startH2dMs": at["h2d0"], "endH2dMs": at["h2d1"],
                "startComputeMs": at["h2d1"], "endComputeMs": at["c1"], "startD2hMs": at["c1"],
                "endD2hMs": at["d2h1"]}

    def _cpu_query(self) -> dict:
        torch = self.torch
        q = {"startH2dMs": self._now()}
        if self.transfers:
            for n, a in self.feeds.items():
                self.dev_in[n] = torch.from_numpy(np.array(a))
        q["endH2dMs"] = q["startEnqMs"] = q["startComputeMs"] = self._now()
        outs = self.ctx.infer(self.dev_in)
        q["endEnqMs"] = q["endComputeMs"] = q["startD2hMs"] = self._now()
        if self.transfers:
            for o in outs.values():
                np.array(o.numpy())
        q["endD2hMs"] = self._now()
        return q

    def _gpu_enqueue(self):
        torch, s = self.torch, self.stream
        ev = {k: torch.cuda.Event(enable_timing=True) for k in ("h2d0", "h2d1", "c1", "d2h1")}
        with torch.cuda.stream(s):
            ev["h2d0"].record(s)
            if self.transfers:
                for n, t in self.host_in.items():
                    self.dev_in[n].copy_(t, non_blocking=True)
            ev["h2d1"].record(s)
            enq0 = self._now()
            outs = self.ctx.infer(self.dev_in, stream=s)
            enq1 = self._now()
            ev["c1"].record(s)
            if self.transfers:
                for n, o in outs.items():
                    h = self.host_out.get(n)
                    if h is None or h.shape != o.shape:
                        h = self.host_out[n] = torch.empty(o.shape, dtype=o.dtype, pin_memory=True)
                    h.copy_(o, non_blocking=True)
            ev["d2h1"].record(s)
        return ev, enq0, enq1


def _in_thread(fn, use_thread: bool):
    if not use_thread:
        return fn()
    box: dict = {}

    def work():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised on the calling thread
            box["error"] = e

    t = threading.Thread(target=work, name="inferrt-exec-stream0")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def run_trace(ctxs: list, feeds: dict, device: str, args) -> Trace:
    """Warm up (--warmUp ms and --warmup queries), then time at least --iterations queries per stream over at least
    --duration seconds. One context and stream per --infStreams; --threads drives each from its own thread, else
    one thread enqueues a query on every stream and then waits for them (the GPU overlaps them; the CPU engine runs
    them one after another)."""
    runners = [_Runner(c, feeds, device, transfers=not args.no_data_transfers) for c in ctxs]
    if args.threads:
        return _threaded_trace(runners, args)
    return _round_robin_trace(runners, args)


def _round_robin_trace(runners, args) -> Trace:
    tr = Trace()

    def one_round(record: bool):
        pending = [r.enqueue() for r in runners]
        done = [r.finish(p) for r, p in zip(runners, pending)]
        if record:
            tr.queries.extend(done)

    t0 = time.perf_counter()
    for r in runners:
        r.start_trace(t0)
    while (time.perf_counter() - t0) * 1e3 < args.warm_up_ms or tr.warmup_queries < args.warmup_runs:
        one_round(False)
        tr.warmup_queries += len(runners)
    tr.warmup_ms = (time.perf_counter() - t0) * 1e3
    t1 = time.perf_counter()
    for r in runners:
        r.start_trace(t1)
    while len(tr.queries) < args.iterations * len(runners) or time.perf_counter() - t1 < args.duration:
        one_round(True)
    tr.walltime_s = time.perf_counter() - t1
    return tr


def run_threads(threads: list, errors: list) -> None:
    """Start ``threads`` and join them all; then re-raise the first exception they appended to ``errors``, passing
    over the BrokenBarrierErrors that one thread's failure causes in the others (unless nothing else failed)."""
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])


def _threaded_trace(runners, args) -> Trace:
    n = len(runners)
    start: dict = {}
    barrier = threading.Barrier(n, action=lambda: start.setdefault("t", time.perf_counter()))
    results: list = [None] * n
    errors: list = []

    def work(i, r):
        try:
            warm, t0 = 0, time.perf_counter()
            r.start_trace(t0)
            while (time.perf_counter() - t0) * 1e3 < args.warm_up_ms or warm < args.warmup_runs:
                r.query()
                warm += 1
            warm_ms = (time.perf_counter() - t0) * 1e3
            barrier.wait()
            r.start_trace(start["t"])
            qs = []
            while len(qs) < args.iterations or time.perf_counter() - start["t"] < args.duration:
                qs.append(r.query())
            results[i] = (warm, warm_ms, qs, time.perf_counter())
        except BaseException as e:  # noqa: BLE001 - re-raised on the calling thread
            errors.append(e)
            barrier.abort()

    run_threads([threading.Thread(target=work, args=(i, r), name=f"inferrt-exec-stream{i}")
                 for i, r in enumerate(runners)], errors)
    tr = Trace()
    tr.warmup_queries = sum(w for w, _, _, _ in results)
    tr.warmup_ms = max(ms for _, ms, _, _ in results)
    tr.queries = sorted((q for _, _, qs, _ in results for q in qs), key=lambda q: q["startH2dMs"])
    tr.walltime_s = max(end for _, _, _, end in results) - start["t"]
    return tr


class LayerTimes:
    """IProfiler collecting every layer's time per query, in execution order."""

    def __init__(self):
        self.times: dict = {}

    def report_layer_time(self, layer_name: str, ms: float) -> None:
        self.times.setdefault(layer_name, []).append(float(ms))


def run_profile(ctx, feeds: dict, queries: int, use_thread: bool) -> tuple[LayerTimes, int]:
    """A separate profiling run of ``queries`` queries (per-layer synchronization would distort the trace)."""
    import torch

    prof = LayerTimes()
    arrays = {n: torch.from_numpy(np.array(a)) for n, a in feeds.items()}

    def go():
        ctx.profiler = prof
        try:
            for _ in range(queries):
                ctx.infer(arrays)
        finally:
            ctx.profiler = None
        return prof, queries

    return _in_thread(go, use_thread)
