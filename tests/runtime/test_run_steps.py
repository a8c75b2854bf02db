"""The executor's one step loop (``ShapePlan._run_steps``): steps with one output and with several, with and
without a profiler, a result of the wrong size, and a kernel returning more results than it has outputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import inferrt as trt
from tests.helpers import new_network


def _engine():
    """x[4, 6] -> relu ("act") -> top-3 along axis 1 ("topk": values and indices) -> values * 2 ("double");
    outputs: "y" (the doubled values) and "idx" (the indices)."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (4, 6))
    a = net.add_activation(x, trt.ActivationType.RELU)
    a.name = "act"
    tk = net.add_topk(a.get_output(0), trt.TopKOperation.MAX, 3, 1 << 1)
    tk.name = "topk"
    d = net.add_elementwise(tk.get_output(0), tk.get_output(0), trt.ElementWiseOperation.SUM)
    d.name = "double"
    d.get_output(0).name = "y"
    tk.get_output(1).name = "idx"
    net.mark_output(d.get_output(0))
    net.mark_output(tk.get_output(1))
    cfg = builder.create_builder_config()
    cfg.device = "cpu"
    cfg.passes = []  # keep the layers apart
    return trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build(net, cfg))


def _reference(x):
    r = np.maximum(x.astype(np.float64), 0)
    idx = np.argsort(-r, axis=1, kind="stable")[:, :3]
    return 2 * np.take_along_axis(r, idx, axis=1), idx


class _Times:
    def __init__(self):
        self.layers = []

    def report_layer_time(self, name, ms):
        self.layers.append(name)


@pytest.mark.parametrize("profiled", [False, True])
def test_single_and_multi_output_steps(profiled):
    eng = _engine()
    ctx = eng.create_execution_context()
    times = _Times()
    if profiled:
        ctx.profiler = times
    plan = None
    rng = np.random.default_rng(0)
    for _ in range(3):   # new values each time: a stale adopted slot or a missed store would show
        x = rng.permutation(24).reshape(4, 6).astype(np.float32) - 8   # distinct values: no ties in the top-k
        out = ctx.infer(x=x)
        want_y, want_idx = _reference(x)
        np.testing.assert_allclose(out["y"], want_y, rtol=1e-6)
        np.testing.assert_array_equal(out["idx"].astype(np.int64), want_idx)
        plan = ctx._plans[ctx._plan_key]
    kinds = {name: (plain is not None, single) for _, _, _, name, plain, single in plan.run_steps}
    assert kinds["topk"][1] is None, "topk has two outputs: it goes through _store"
    assert kinds["act"][1] is not None and kinds["double"][1] is not None
    if profiled:
        assert times.layers[:3] == ["act", "topk", "double"]
    else:
        assert times.layers == []


def test_wrong_size_result_names_the_layer():
    eng = _engine()
    eng.executor.kernels["act"] = lambda ins, outs: [torch.zeros(5)]
    ctx = eng.create_execution_context()
    with pytest.raises(trt.ExecutionError, match=r"'act'.*produced shape \(5,\)"):
        ctx.infer(x=np.ones((4, 6), np.float32))


def test_extra_results_are_ignored():
    """A single-output step whose kernel returns two tensors: the first is its output (as zip() in _store)."""
    eng = _engine()
    eng.executor.kernels["act"] = lambda ins, outs: [torch.relu(ins[0]) * 1.0, torch.full((9,), 7.0)]
    ctx = eng.create_execution_context()
    x = np.arange(24, dtype=np.float32).reshape(4, 6) - 12
    out = ctx.infer(x=x)
    np.testing.assert_allclose(out["y"], _reference(x)[0], rtol=1e-6)
