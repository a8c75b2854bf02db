"""CUDA graph capture of a whole enqueue, replayed on later calls.

A graph is captured per (input-shape set, bound I/O addresses), after one ordinary warm-up execution with that
key (which also flushes lazy initialization such as cuBLAS handles). Graphs bake in addresses, so a call whose
addresses differ uses (or captures) another graph; a small LRU per context bounds how many are kept. Replays run on
the caller's stream. The profiler and ``debug_sync`` disable capture (they need per-layer synchronization).
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict

import torch

_CAPTURE_LOCK = threading.Lock()


def capture_graph(graph, fn, stream=None) -> None:
    """Capture ``fn()`` into ``graph`` (one capture at a time in the process), leaving the process as it was when
    the capture fails: the exception propagates, and PyTorch's CUDA random generators are put back in the state
    they had before (a capture that fails inside ``capture_end`` never runs their epilogue, and every later random
    draw on the device, any build's or the user's, then raises "Offset increment outside graph capture")."""
    gens = list(torch.cuda.default_generators)
    saved = [g.clone_state() for g in gens]
    # torch.cuda.graph synchronizes the device before capturing, which fails while another thread captures;
    # thread_local error mode lets other threads' work go on meanwhile. The capture stream's GPU is the current
    # device throughout (torch.cuda.graph synchronizes and allocates on the current one; an engine on GPU 1 may be
    # run from a thread whose current device is GPU 0)
    with _CAPTURE_LOCK, torch.cuda.device(stream.device if stream is not None else None):
        try:
            with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
                fn()
        except BaseException:
            for g, s in zip(gens, saved):
                g.graphsafe_set_state(s)
            try:
                torch.cuda.synchronize(stream.device if stream is not None else None)
            except RuntimeError:
                pass
            raise


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
            self.last_error = f"{type(e).__name__}: {e}"
            if self._log is not None:
                from ..logger import Severity

                self._log(Severity.WARNING, "CUDA graph capture failed; this shape set runs without a graph "
                                            f"({self.last_error.splitlines()[0][:400]})")
        if failed:
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
