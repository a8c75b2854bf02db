"""Refit an engine from the FX graph it was built from, with the graph's current weights (what the engine cache does
on a hit; inferrt's OnnxParserRefitter does the same from an ONNX model).

The graph is converted again into a scratch network (no build), so every weight the converters derive from the
module's tensors (a BatchNorm's scale and shift computed from its statistics, a convolution's kernel...) comes out
as a build would see it, under the name the build gave it; each refittable weight of the engine is set from it and
the engine refitted. Constants the engine cannot refit (integer constants: shapes, indices) must equal the plan's.
"""
from __future__ import annotations

import numpy as np

from inferrt.ir.kinds import Kind
from inferrt.logger import ILogger, Severity


class _Collect(ILogger):
    """Keeps the error messages of a Refitter."""

    def __init__(self):
        super().__init__()
        self.errors: list[str] = []

    def log(self, severity, msg):
        if severity <= Severity.ERROR:
            self.errors.append(msg)


def _scratch_weights(gm, specs, settings):
    """{refittable weight name: array} and {constant node name: node} of ``gm`` converted again."""
    from inferrt.builder.builder import Builder
    from inferrt.builder.config import IBuilderConfig
    from inferrt.builder.lower_network import lower_network
    from inferrt.enums import BuilderFlag
    from inferrt.refit.record import RefitRecorder
    from inferrt.torch.convert_graph import build_network, network_flags

    network = Builder(None).create_network(network_flags(settings))
    build_network(gm, network, specs)
    graph = lower_network(network)
    config = IBuilderConfig()
    config.flags = 0
    config.set_flag(BuilderFlag.REFIT)
    found = RefitRecorder(network, graph, config, lambda *a: None).weights
    nodes = {n.name: n for n in graph.nodes}
    return {name: nodes[node].attrs.weights for name, node in found.items()}, nodes


def refit_from_graph(engine, gm, specs, settings) -> str | None:
    """Refit ``engine`` (built by ``convert(gm, ..., refittable=True)``, possibly weight-stripped) with ``gm``'s
    current tensors. Returns None when refitted, else why not (the engine is then unchanged)."""
    from inferrt.refit import Refitter
    from inferrt.torch.converters.context import ConversionError

    state = engine.refit_state
    if state is None:
        return "the cached plan is not refittable"
    try:
        weights, nodes = _scratch_weights(gm, specs, settings)
    except ConversionError as e:
        return f"the graph does not convert again ({e})"
    absent = sorted(set(state.weights) - set(weights))
    if absent:
        return f"the graph has no weights named {', '.join(absent[:4])}, which the cached engine has"
    from inferrt.refit.record import live_nodes

    refit_nodes = {w["node"] for w in state.weights.values()}
    live = live_nodes(state.source)   # a constant no output reads (a parameter's duplicate) cannot matter
    for n in state.source.nodes:
        if n.kind != Kind.CONSTANT or n.name in refit_nodes or n.name not in live:
            continue
        m = nodes.get(n.name)
        if m is None or tuple(m.attrs.shape) != tuple(n.attrs.shape) or \
                np.asarray(m.attrs.weights).tobytes() != np.asarray(n.attrs.weights).tobytes():
            return f"constant {n.name!r} differs from the cached engine's and cannot be refitted"
    collect = _Collect()
    refitter = Refitter(engine, collect)
    refitter.weights_validation = False   # the module's own values (an attention mask may hold -inf)
    ok = all([refitter.set_named_weights(name, weights[name]) for name in state.weights])
    if not (ok and refitter.refit_cuda_engine()):
        return collect.errors[0] if collect.errors else "the refit was refused"
    return None
