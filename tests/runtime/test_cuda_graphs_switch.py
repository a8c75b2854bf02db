"""IExecutionContext.cuda_graphs: inferrt's switch for CUDA-graph capture and replay (INFERRT_CUDA_GRAPHS=0 makes
it off by default), the attribute `inferrt exec` and inferrt.torch set instead of reaching into the context."""
from __future__ import annotations

import pytest
from helpers import assert_close, tolerance
from rt_tools import build_engine, inputs, reference


def test_cuda_graphs_defaults_to_on_and_switches_off(monkeypatch):
    monkeypatch.delenv("INFERRT_CUDA_GRAPHS", raising=False)
    ctx = build_engine("cpu").create_execution_context()
    assert ctx.cuda_graphs is True
    ctx.cuda_graphs = False
    assert ctx.cuda_graphs is False
    ctx.cuda_graphs = 1      # any truthy value turns it back on, stored as a bool
    assert ctx.cuda_graphs is True


def test_cuda_graphs_default_follows_the_environment(monkeypatch):
    monkeypatch.setenv("INFERRT_CUDA_GRAPHS", "0")
    assert build_engine("cpu").create_execution_context().cuda_graphs is False


@pytest.mark.gpu
@pytest.mark.parametrize("on, captured", [(True, True), (False, False)])
def test_cuda_graphs_switch_decides_capture(monkeypatch, on, captured):
    monkeypatch.delenv("INFERRT_CUDA_GRAPHS", raising=False)
    ctx = build_engine("cuda").create_execution_context()
    ctx.cuda_graphs = on
    x, s = inputs(3)
    for _ in range(3):
        out = ctx.infer(x=x, s=s)
    rtol, atol = tolerance("tf32")   # BuilderFlag.TF32 is on by default
    assert_close(out["y"], reference(x, s), rtol=rtol, atol=atol)
    assert (ctx._graph_cache().captures > 0) is captured
