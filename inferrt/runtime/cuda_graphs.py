"""CUDA graph capture of a whole enqueue, replayed on later calls.

A graph is captured per (input-shape set, bound I/O addresses), after one ordinary warm-up execution with that
key (which also flushes lazy initialization such as cuBLAS handles). Graphs bake in addresses, so a call whose
addresses differ uses (or captures) another graph; a small LRU per context bounds how many are kept. Replays run on
the caller's stream. The profiler and ``debug_sync`` disable capture (they need per-layer synchronization).

A capture that fails (an operation that reads to the host, synchronizes or allocates host memory, inside the
captured execution) leaves that shape set running without a graph. Its warning names the first error of the
chain: the layer that broke the capture raises first, and ``capture_end`` then raises CUDA's "operation failed due
to a previous error during capture" on top of it. The failed graph's private memory pool is given back: PyTorch
releases a graph's pool only when its capture ended (``CUDAGraph::reset``), so each failed capture otherwise kept
every block it allocated reserved for the life of the process.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict

import torch

_CAPTURE_LOCK = threading.Lock()


def first_error(exc: BaseException) -> BaseException:
    """The first exception of ``exc``'s chain (``__cause__`` / ``__context__``): the error that broke a capture,
    under the "operation failed due to a previous error during capture" that ``capture_end`` raises on top of it."""
    seen = {id(exc)}
    while True:
        inner = exc.__cause__ if exc.__cause__ is not None else exc.__context__
        if inner is None or id(inner) in seen:     # the end of the chain (or of a cycle)
            return exc
        seen.add(id(inner))
        exc = inner


def _release_failed_pool(graph, pool, device) -> None:
    """Give back the private memory pool of a capture that did not end. ``CUDAGraph.pool()`` answers only after a
    successful capture, whose graph releases its pool itself when it is destroyed; otherwise nothing ever would,
    and the blocks the capture allocated (activations of the captured execution, tensors still referenced by the
    exception's frames until it is dropped) would stay reserved: release the pool so that they are freed once
    unreferenced (by ``torch.cuda.empty_cache()``, or by the allocator itself before it reports out of memory)."""
    try:
        graph.pool()
        return          # the capture ended: the graph's destructor releases the pool
    except RuntimeError:
        pass
    try:
        torch._C._cuda_releasePool(device, pool)
    except (RuntimeError, AttributeError):     # the pool was never made (the capture failed before it began)
        pass


def capture_graph(graph, fn, stream=None) -> None:
    """Capture ``fn()`` into ``graph`` (one capture at a time in the process), leaving the process as it was when
    the capture fails: the exception propagates, the private memory pool of the failed capture is released (see
    the module docstring), and PyTorch's CUDA random generators are put back in the state they had before (a
    capture that fails inside ``capture_end`` never runs their epilogue, and every later random draw on the
    device, any build's or the user's, then raises "Offset increment outside graph capture")."""
    gens = list(torch.cuda.default_generators)
    saved = [g.clone_state() for g in gens]
    # torch.cuda.graph synchronizes the device before capturing, which fails while another thread captures;
    # thread_local error mode lets other threads' work go on meanwhile. The capture stream's GPU is the current
    # device throughout (torch.cuda.graph synchronizes and allocates on the current one; an engine on GPU 1 may be
    # run from a thread whose current device is GPU 0)
    with _CAPTURE_LOCK, torch.cuda.device(stream.device if stream is not None else None):
        device = torch.cuda.current_device()
        pool = torch.cuda.graph_pool_handle()   # known to us, so a failed capture's pool can be released
        try:
            with torch.cuda.graph(graph, pool=pool, stream=stream, capture_error_mode="thread_local"):
                fn()
        except BaseException:
            for g, s in zip(gens, saved):
                g.graphsafe_set_state(s)
            try:
                torch.cuda.synchronize(stream.device if stream is not None else None)
            except RuntimeError:
                pass
            _release_failed_pool(graph, pool, device)
            raise


def _describe(exc: BaseException) -> str:
    """One line about a failed capture: the first error of the chain (the layer that broke it), then the error
    that ended the capture when it is another one."""
    def line(e):
        text = str(e).strip().splitlines()
        return f"{type(e).__name__}: {text[0] if text else ''}"

    first = first_error(exc)
    return line(first) if first is exc else f"{line(first)}; then {line(exc)}"


class GraphCache:
    def __init__(self, device: torch.device, capacity: int = 8, log=None):
        self._log = log
        self.device = device
        self.capacity = capacity
        self._graphs: OrderedDict = OrderedDict()
        self._seen: set = set()
        self._bad: set = set()
        self.enabled = os.environ.get("INFERRT_CUDA_GRAPHS", "1") != "0"
        self._capture_stream = None
        self.captures = 0
        self.last_error: str | None = None

    def clear(self):
        self._graphs.clear()
        self._seen.clear()
        self._bad.clear()

    def run(self, key, fn, stream) -> None:
        """Run ``fn()`` on ``stream``: replay the graph for ``key``, or warm up / capture one."""
        if key[0] in self._bad:
            with torch.cuda.stream(stream):
                fn()
            return
        g = self._graphs.get(key)
        if g is not None:
            self._graphs.move_to_end(key)
            with torch.cuda.stream(stream):
                g.replay()
            return
        if key not in self._seen:
            if len(self._seen) > 4096:
                self._seen.clear()
            self._seen.add(key)
            with torch.cuda.stream(stream):
                fn()
            return
        if self._capture_stream is None:
            self._capture_stream = torch.cuda.Stream(self.device)
        cs = self._capture_stream
        g = torch.cuda.CUDAGraph()
        cs.wait_stream(stream)
        try:
            capture_graph(g, fn, cs)
            failed = False
        except RuntimeError as e:  # an op that synchronizes or reads to the host cannot be captured: run eagerly
            failed = True
            self._bad.add(key[0])
            self.last_error = _describe(e)
            if self._log is not None:
                from ..logger import Severity

                self._log(Severity.WARNING, "CUDA graph capture failed; this shape set runs without a graph "
                                            f"({self.last_error[:600]})")
        if failed:
            del g   # (the exception, whose frames held tensors of the released pool, is gone with the except block)
            with torch.cuda.stream(stream):
                fn()
            return
        stream.wait_stream(cs)
        self.captures += 1
        self._graphs[key] = g
        if len(self._graphs) > self.capacity:
            self._graphs.popitem(last=False)
        with torch.cuda.stream(stream):
            g.replay()
