"""A CUDA-graph capture that fails: the warning names the error that broke it (not only the "operation failed due
to a previous error during capture" that ``capture_end`` raises on top of it), and the failed capture's private
memory pool is given back (PyTorch releases a graph's pool only after a successful capture, so every failed capture
kept what it allocated reserved for the life of the process: 48 GB over the quantized bench's engines)."""
from __future__ import annotations

import gc

import pytest

from inferrt.errors import ExecutionError
from inferrt.runtime.cuda_graphs import _describe, first_error

_END = "CUDA error: operation failed due to a previous error during capture"
_FIRST = ("layer 'conv1' failed: RuntimeError: CUDA error: operation not permitted when stream is capturing\n"
          "CUDA kernel errors might be asynchronously reported")


def _chained():
    try:
        try:
            raise ExecutionError(_FIRST)
        except ExecutionError:
            raise RuntimeError(_END)      # what capture_end raises while the layer's error propagates
    except RuntimeError as e:
        return e


def test_the_warning_names_the_error_that_broke_the_capture():
    e = _chained()
    assert isinstance(first_error(e), ExecutionError)
    text = _describe(e)
    assert text.startswith("ExecutionError: layer 'conv1' failed: RuntimeError: CUDA error: operation not "
                           "permitted when stream is capturing;"), text
    assert text.endswith(f"then RuntimeError: {_END}") and "\n" not in text


def test_a_single_error_is_described_once_and_cycles_end():
    e = RuntimeError("CUDA error: operation not permitted when stream is capturing")
    assert _describe(e) == "RuntimeError: CUDA error: operation not permitted when stream is capturing"
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__context__, b.__context__ = b, a
    assert first_error(a) is b


@pytest.mark.gpu
def test_failed_captures_give_their_memory_back():
    import torch

    from inferrt.runtime.cuda_graphs import capture_graph

    def allocates_then_reads():
        t = torch.ones(64 << 20, dtype=torch.float32, device="cuda")   # 256 MiB from the capture's pool
        (t * 2).sum().item()                                             # a host read cannot be captured

    torch.cuda.synchronize()
    gc.collect()
    torch.cuda.empty_cache()
    before = torch.cuda.memory_reserved()
    for _ in range(4):
        with pytest.raises(RuntimeError):
            capture_graph(torch.cuda.CUDAGraph(), allocates_then_reads)
    gc.collect()
    torch.cuda.empty_cache()
    # each failed capture kept its 256 MiB (and more: t * 2) reserved before the fix
    assert torch.cuda.memory_reserved() - before < 256 << 20
    x = torch.ones(8, device="cuda")          # the allocator still works outside captures
    assert float(x.sum()) == 8.0


@pytest.mark.gpu
def test_graph_cache_logs_the_first_error_and_runs_eagerly():
    import torch

    from inferrt.runtime.cuda_graphs import GraphCache

    logged = []
    cache = GraphCache(torch.device("cuda", torch.cuda.current_device()), log=lambda sev, msg: logged.append(msg))
    out = torch.zeros(4, device="cuda")

    def step():
        out.add_(1)
        if out.sum().item() < 0:      # a host read: breaks the capture
            raise AssertionError("unreachable")

    stream = torch.cuda.current_stream()
    for _ in range(3):                # warm-up, failed capture (then eager), eager
        cache.run(("shapes", 1), step, stream)
    torch.cuda.synchronize()
    assert cache.captures == 0 and len(logged) == 1
    assert "operation not permitted when stream is capturing" in logged[0], logged
    assert float(out[0]) == 3.0       # the failed capture's call ran eagerly: 3 executions, 3 increments
