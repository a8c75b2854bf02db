"""observe_ranges: the range of every float32 value over sample batches, checked against numpy."""
from __future__ import annotations

import numpy as np
import torch

import inferrt as trt
from inferrt.builder.lower_network import lower_network
from inferrt.builder.observe_ranges import observe_ranges
from inferrt.passes.pipeline import PassContext, run_pipeline
from tests.passes.precision_nets import EW, overflow_network


def _log_network():
    """h = x * 3 ; y = log(h): log of zeros and negatives gives -inf / NaN already in FLOAT."""
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (2, 5))
    h = net.add_elementwise(x, net.add_constant((1, 1), np.full((1, 1), 3, np.float32)).get_output(0), EW.PROD)
    h.get_output(0).name = "h"
    y = net.add_unary(h.get_output(0), trt.UnaryOperation.LOG)
    y.get_output(0).name = "y"
    net.mark_output(y.get_output(0))
    return net


def test_ranges_match_numpy_over_batches():
    b1 = np.array([[0.0, 1e-3, -2.0, 4.0, 0.5], [1.0, 2.0, 3.0, -0.25, 0.0]], np.float32)
    b2 = np.array([[7.0, 1e-4, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0]], np.float32)
    obs = observe_ranges(lower_network(_log_network()), [{"x": torch.from_numpy(b)} for b in (b1, b2)])
    assert obs.stopped == "" and obs.unchecked == []
    both = np.stack([b1, b2])
    h = both * 3
    r = obs.ranges["h"]
    assert r.max_abs == np.abs(h).max() and np.isclose(r.min_abs_nonzero, np.abs(h[h != 0]).min())
    assert r.nonfinite == 0 and r.numel == 20
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log(h)
    fin = np.abs(y[np.isfinite(y)])
    ry = obs.ranges["y"]
    assert ry.nonfinite == int((~np.isfinite(y)).sum()) == 4             # two log(0), two log(negative)
    assert np.isclose(ry.max_abs, fin.max(), rtol=1e-6) and np.isclose(ry.min_abs_nonzero, fin[fin > 0].min())
    assert obs.ranges["x"].max_abs == 7.0


def test_values_inside_a_fused_chain_are_recorded():
    builder, net = overflow_network()
    g = lower_network(net)
    run_pipeline(g, PassContext(None, None, "cpu"))
    (chain,) = [n for n in g.nodes if n.kind == "pointwise"]
    x = np.full((4, 256), 2.0, np.float32)
    obs = observe_ranges(g, [{"x": torch.from_numpy(x)}])
    regs = obs.inner[chain.name]
    assert max(r.max_abs for r in regs.values()) == 4e6                  # (2 * 1000)^2, never stored
    assert np.isclose(obs.ranges["y"].max_abs, np.log(4e6))


def test_a_layer_that_cannot_run_stops_the_observation_without_raising():
    g = lower_network(_log_network())
    obs = observe_ranges(g, [{"x": torch.ones(2, 5, dtype=torch.int32)}])   # a type the graph rejects
    assert obs.stopped and obs.unchecked and "could not run" in obs.stopped
