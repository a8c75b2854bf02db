"""Networks and helpers for the reduced-precision tests: graphs lowered as a GPU FP16 build lowers them, run on the
CPU in the types the graph says (a simulated FP16 engine: PyTorch's CPU half kernels round like the GPU's)."""
from __future__ import annotations

import numpy as np
import torch

import inferrt as trt
from tests import helpers
from inferrt.builder.lower_network import lower_network
from inferrt.passes.assign_precision import assign_precision
from inferrt.passes.guard_reduced_precision import guard_for_build
from inferrt.passes.pipeline import PassContext, run_pipeline
from inferrt.runtime.executor import Executor
from inferrt.tactics.registry import get_tactic

EW = trt.ElementWiseOperation


class Capture(helpers.CaptureLogger):
    def of(self, severity):
        return [m for s, m in self.messages if s == severity]


def overflow_network(logger=None, shape=(4, 256)):
    """y = relu(log((x * 1000)^2)): the square reaches ~1e7 for |x| ~ 3, far beyond FP16's 65504."""
    builder = trt.Builder(logger or trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, shape)
    k = net.add_constant((1, 1), np.full((1, 1), 1000, np.float32))
    k.name = "thousand"
    scale = net.add_elementwise(x, k.get_output(0), EW.PROD)
    scale.name = "scale"
    sq = net.add_elementwise(scale.get_output(0), scale.get_output(0), EW.PROD)
    sq.name = "square"
    lg = net.add_unary(sq.get_output(0), trt.UnaryOperation.LOG)
    lg.name = "log"
    relu = net.add_activation(lg.get_output(0), trt.ActivationType.RELU)
    relu.name = "relu"
    relu.get_output(0).name = "y"
    net.mark_output(relu.get_output(0))
    return builder, net


def calm_network(logger=None):
    """Two small fully connected layers with ReLU: every value well inside FP16's range."""
    rng = np.random.default_rng(3)
    builder = trt.Builder(logger or trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (8, 16))
    w1 = net.add_constant((16, 32), (rng.standard_normal((16, 32)) * 0.25).astype(np.float32))
    mm1 = net.add_matrix_multiply(x, trt.MatrixOperation.NONE, w1.get_output(0), trt.MatrixOperation.NONE)
    mm1.name = "fc1"
    act = net.add_activation(mm1.get_output(0), trt.ActivationType.RELU)
    act.name = "relu1"
    w2 = net.add_constant((32, 4), (rng.standard_normal((32, 4)) * 0.25).astype(np.float32))
    mm2 = net.add_matrix_multiply(act.get_output(0), trt.MatrixOperation.NONE, w2.get_output(0),
                                  trt.MatrixOperation.NONE)
    mm2.name = "fc2"
    mm2.get_output(0).name = "y"
    net.mark_output(mm2.get_output(0))
    return builder, net


def fp16_config(builder, passes=None, flag=trt.BuilderFlag.FP16):
    config = builder.create_builder_config()
    config.device = "cpu"
    config.set_flag(flag)
    if passes is not None:
        config.passes = passes
    return config


def lower_for_gpu(network, config, profiles=None, log=None, guard=True):
    """The graph a GPU build with ``config`` makes before tactic selection: passes, range guard, precision."""
    log = log or (lambda s, m: None)
    g = lower_network(network)
    run_pipeline(g, PassContext(config, log, "cpu"))
    if guard:
        guard_for_build(g, config, "cpu", profiles or [{}], log)
    assign_precision(g, config, "cuda", log)
    return g


def run_graph(graph, feeds: dict) -> dict:
    """Run ``graph`` on the CPU with the generic tactic, each layer in the type the graph gives it."""
    cpu = torch.device("cpu")
    consts, kernels = {}, {}
    for n in graph.nodes:
        if n.kind == "constant":
            w = n.attrs.weights
            t = w if isinstance(w, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(w))
            consts[n.outputs[0]] = t.reshape(tuple(n.attrs.shape))
        else:
            kernels[n.name] = get_tactic("generic").prepare(n, cpu)
    out = Executor(graph, consts, kernels, cpu).run_eager({k: torch.from_numpy(v) for k, v in feeds.items()})
    return {k: v.float().numpy() for k, v in out.items()}


def kept(graph, constants=False) -> dict:
    """{node name: reason} of the layers (and with ``constants``, the constants) the range guard kept in FLOAT."""
    return {n.name: n.info.keep_float for n in graph.nodes
            if n.info.keep_float is not None and (constants or n.kind != "constant")}
