"""A CUDA-graph capture that fails (in the runtime or while timing tactics) leaves the process usable: PyTorch's
random generators, later builds, other engines and other contexts keep working."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close
from rt_tools import build_engine, inputs, reference

pytestmark = pytest.mark.gpu


def _failing_capture():
    import torch

    from inferrt.runtime.cuda_graphs import capture_graph

    x = torch.ones(4, device="cuda")

    def reads_to_host():
        torch.randn(4, device="cuda")  # the default generator takes part in the capture
        (x * 2).sum().item()           # a host read cannot be captured

    with pytest.raises(RuntimeError):
        capture_graph(torch.cuda.CUDAGraph(), reads_to_host)


def test_failed_capture_leaves_the_random_generator_usable():
    import torch

    _failing_capture()
    a = torch.randn(8, device="cuda")  # raised "Offset increment outside graph capture" before the fix
    torch.cuda.synchronize()
    assert torch.isfinite(a).all()


def test_builds_and_other_contexts_work_after_a_failed_capture():
    engine = build_engine("cuda")
    before = engine.create_execution_context()
    x, s = inputs(3)
    first = before.infer(x=x, s=s)["y"]
    _failing_capture()
    again = build_engine("cuda")  # builds time tactics inside CUDA graphs, with random data
    for ctx in (before, again.create_execution_context(), engine.create_execution_context()):
        for _ in range(3):  # warm-up, capture, replay
            y = ctx.infer(x=x, s=s)["y"]
            assert_close(y, reference(x, s))
    np.testing.assert_array_equal(before.infer(x=x, s=s)["y"], first)


def test_timing_does_not_advance_the_global_generator():
    import torch

    torch.manual_seed(123)
    want = torch.randn(16, device="cuda")
    torch.manual_seed(123)
    build_engine("cuda")
    got = torch.randn(16, device="cuda")
    torch.testing.assert_close(got, want, rtol=0, atol=0)
