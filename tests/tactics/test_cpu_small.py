"""``cpu_softmax`` and ``cpu_reshape`` (tactics/tactic_cpu_small.py): chosen on the CPU where they apply, and the
same results as the generic ops (bit-identical: the same PyTorch calls, less Python around them)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import inferrt as trt
from inferrt.tactics.registry import get_tactic
from tests.helpers import new_network


def _engine(net_fn, shapes: dict, generic: bool = False):
    builder, net = new_network()
    ins = {k: net.add_input(k, trt.float32 if k != "shape" else trt.int32, s) for k, s in shapes.items()}
    out = net_fn(net, ins)
    out.name = "y"
    net.mark_output(out)
    cfg = builder.create_builder_config()
    cfg.device = "cpu"
    eng = trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build(net, cfg))
    if generic:   # the same plan with every layer on the generic tactic: the reference
        for n in eng.executor.graph.nodes:
            if n.kind != "constant":
                eng.executor.kernels[n.name] = get_tactic("generic").prepare(n, eng.device)
    return eng


def _tactics(eng):
    return {n.name: n.info.tactic for n in eng.executor.graph.nodes if n.kind != "constant"}


@pytest.mark.parametrize("shape,axes", [((2, 10), 1 << 1), ((2, 3, 5), 1 << 1), ((2, 3, 5), 1 << 2), ((2, 3, 5), 1),
                                        ((2, 3, 4, 5), None)])
def test_softmax_matches_generic_bit_for_bit(shape, axes):
    def net_fn(net, ins):
        sm = net.add_softmax(ins["x"])
        if axes is not None:
            sm.axes = axes
        sm.name = "sm"
        return sm.get_output(0)

    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 4
    eng = _engine(net_fn, {"x": shape})
    assert _tactics(eng)["sm"] == "cpu_softmax"
    got = eng.create_execution_context().infer(x=x)["y"]
    want = _engine(net_fn, {"x": shape}, generic=True).create_execution_context().infer(x=x)["y"]
    np.testing.assert_array_equal(got, want)
    ax = (axes.bit_length() - 1) if axes is not None else max(len(shape) - 3, 0)
    np.testing.assert_allclose(got, torch.softmax(torch.from_numpy(x).double(), ax).numpy(), rtol=1e-6, atol=1e-7)


def test_flatten_of_channels_last_convolution_output():
    """conv (channels-last on the CPU) -> flatten: the reshape cannot be a view, so it runs as cpu_reshape."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)

    def net_fn(net, ins):
        conv = net.add_convolution_nd(ins["x"], 4, (3, 3), w, None)
        conv.padding_nd = (1, 1)
        conv.name = "conv"
        sh = net.add_shuffle(conv.get_output(0))
        sh.reshape_dims = (0, -1)
        sh.name = "flatten"
        return sh.get_output(0)

    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    eng = _engine(net_fn, {"x": x.shape})
    assert _tactics(eng)["flatten"] == "cpu_reshape"
    got = eng.create_execution_context().infer(x=x)["y"]
    want = torch.nn.functional.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1)
    np.testing.assert_allclose(got, want.reshape(2, -1).numpy(), rtol=1e-5, atol=1e-5)


def test_transposing_shuffle_stays_generic():
    def net_fn(net, ins):
        sh = net.add_shuffle(ins["x"])
        sh.first_transpose = (1, 0)
        sh.reshape_dims = (-1,)
        sh.name = "tr"
        return sh.get_output(0)

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    eng = _engine(net_fn, {"x": x.shape})
    assert _tactics(eng)["tr"] != "cpu_reshape"
    np.testing.assert_array_equal(eng.create_execution_context().infer(x=x)["y"], x.T.reshape(-1))
