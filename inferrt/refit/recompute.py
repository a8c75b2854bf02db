"""Recompute an engine's constants from new original weights by running the build's passes again.

    source graph (original weights, the new ones put in) ─ the build's passes ─ POST_PIPELINE ─ refit graph
    refit graph vs engine graph: same nodes, kinds, wiring, attributes and value types ──> the new arrays

The passes are the code that made the engine's constants at build time, so a refit gives the constants a fresh
build with the new weights would (BatchNorm folded into a convolution's kernel, horizontally merged products,
pre-transposed or cast weights...). The reduced-precision range guard is not run again (it needs the build's sample
data): the engine's own decisions (``info.keep_float``) are copied onto the refit graph before precision is assigned.
When the new weights make the passes build a different engine (a weight the build folded into a layer's parameters,
such as a scalar a fusion matched, changed value), the refit is refused: ``StructureChanged`` names the layer.
"""
from __future__ import annotations

import numpy as np

from ..enums import BuilderFlag
from ..ir.graph import Graph
from ..ir.kinds import Kind
from ..ops.base import Attrs


class StructureChanged(Exception):
    """The new weights change the optimized network itself, not only its constants."""


def _config(state):
    from ..builder.config import IBuilderConfig

    config = IBuilderConfig()
    config.flags = 0
    for name in state.flags:
        if name in BuilderFlag.__members__:
            config.set_flag(BuilderFlag[name])
    config.passes = list(state.passes)
    config.fp16_range_guard = False
    return config


def _copy(graph: Graph) -> Graph:
    from ..passes.pipeline import snapshot_graph

    g = Graph()
    g.nodes, g.inputs, g.outputs, g.specs = snapshot_graph(graph)
    return g


def recompute(state, engine_graph: Graph, weights: dict, device: str, profiles: list, log) -> Graph:
    """The graph the build's passes make from ``state.source`` with ``weights`` ({source node name: array}) put in;
    raises StructureChanged when it is not the engine's graph with other constants."""
    from ..passes.pipeline import PIPELINE, PassContext, run_pipeline

    g = _copy(state.source)
    for n in g.nodes:
        if n.name in weights:
            n.attrs = Attrs(n.attrs)
            n.attrs.weights = weights[n.name].reshape(tuple(n.attrs.weights.shape))   # as the build had them
    from .record import guarded_ids

    g.refit_weights = guarded_ids(g, {w["node"] for w in state.weights.values()}, state.mode)
    config = _config(state)
    ctx = PassContext(config, lambda sev, msg: None, device, profiles)
    run_pipeline(g, ctx, [p for p in PIPELINE if p[0] in set(state.passes)])
    kept = {n.name: n.info.keep_float for n in engine_graph.nodes if n.info.keep_float is not None}
    for n in g.nodes:
        if n.name in kept:
            n.info.keep_float = kept[n.name]
    from ..passes.pipeline import POST_PIPELINE

    run_pipeline(g, ctx, [p for p in POST_PIPELINE if p[0] != "guard_reduced_precision"], required=True)
    for name in g.inputs:
        g.specs[name] = engine_graph.specs[name]
    with_default_attrs(g)
    same_structure(g, engine_graph)
    return g


def with_default_attrs(graph: Graph) -> None:
    """Give every node (and the nodes of its subgraphs) the attributes a plan load gives it: each attribute of its
    op that the node leaves unset takes the op's default. Passes create some layers with only the attributes they
    set (assign_precision's casts carry ``to_type`` alone), while the engine's graph comes from the plan, where
    ``Graph.from_json`` starts every node from ``op.default_attrs()``: compared as they are, a cast the FP16 build
    inserted would look like a changed layer."""
    for n in graph.nodes:
        defaults = n.op.default_attrs()
        missing = [k for k in defaults if k not in n.attrs]
        if missing:
            n.attrs = Attrs(n.attrs)
            for k in missing:
                n.attrs[k] = defaults[k]
        for v in n.attrs.values():
            if isinstance(v, Graph):
                with_default_attrs(v)


def _is_array(v) -> bool:
    return isinstance(v, np.ndarray) or (hasattr(v, "dtype") and hasattr(v, "shape") and hasattr(v, "numpy"))


def _same_value(a, b) -> bool:
    if a is b:
        return True
    if _is_array(a) and _is_array(b):
        if tuple(a.shape) != tuple(b.shape) or str(a.dtype) != str(b.dtype):
            return False
        return _bytes(a) == _bytes(b)
    return a == b


def _bytes(a) -> bytes:
    if isinstance(a, np.ndarray):
        return np.ascontiguousarray(a).tobytes()
    import torch

    return a.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def same_structure(new: Graph, old: Graph, where: str = "") -> None:
    """Raise StructureChanged unless ``new`` is ``old`` with other values in arrays of the same shape and dtype."""
    if [n.name for n in new.nodes] != [n.name for n in old.nodes]:
        gone = [n.name for n in old.nodes if n.name not in {m.name for m in new.nodes}]
        extra = [n.name for n in new.nodes if n.name not in {m.name for m in old.nodes}]
        raise StructureChanged(f"{where}the optimized network has other layers with the new weights (layers no "
                               f"longer made: {gone[:5]}; new layers: {extra[:5]})")
    for a, b in zip(new.nodes, old.nodes):
        if (a.kind, a.inputs, a.outputs) != (b.kind, b.inputs, b.outputs):
            raise StructureChanged(f"{where}layer {b.name!r} is built differently with the new weights: it would be "
                                   f"{a.kind} {a.inputs} -> {a.outputs}, not {b.kind} {b.inputs} -> {b.outputs}")
        if set(a.attrs) != set(b.attrs):
            raise StructureChanged(f"{where}layer {b.name!r} ({b.kind}) has other attributes with the new weights "
                                   f"(only the engine's layer has {sorted(set(b.attrs) - set(a.attrs))}, only the "
                                   f"recomputed one has {sorted(set(a.attrs) - set(b.attrs))})")
        for k in a.attrs:
            x, y = a.attrs[k], b.attrs[k]
            if isinstance(x, Graph) and isinstance(y, Graph):
                same_structure(x, y, f"{where}in the subgraph {k!r} of layer {b.name!r}: ")
            elif _is_array(x) and _is_array(y):
                if a.kind == Kind.CONSTANT and k == "weights":   # a constant's values: read at attrs.shape
                    x, y = x.reshape(-1), y.reshape(-1)
                if tuple(x.shape) != tuple(y.shape) or str(x.dtype) != str(y.dtype):
                    raise StructureChanged(f"{where}the weights of layer {b.name!r} ({k}) would have shape "
                                           f"{tuple(x.shape)} {x.dtype}, not {tuple(y.shape)} {y.dtype}")
            elif (x is None) != (y is None) or (x is not None and not _same_value(x, y)):
                raise StructureChanged(f"{where}attribute {k!r} of layer {b.name!r} would be {x!r}, not {y!r}: "
                                       f"a refittable weight was folded into it at build time")
    for v, s in old.specs.items():
        t = new.specs.get(v)
        if t is not None and (t.dtype != s.dtype or (s.shape is not None and t.shape is not None
                                                     and tuple(t.shape) != tuple(s.shape))):
            raise StructureChanged(f"{where}value {v!r} would be {t.dtype.name} {t.shape}, not {s.dtype.name} "
                                   f"{s.shape}")


def changed_nodes(new: Graph, old: Graph) -> dict:
    """{node name: new attrs} for every node whose arrays differ (constants and layers holding weights)."""
    out = {}
    for a, b in zip(new.nodes, old.nodes):
        if any(not _same_value(a.attrs[k], b.attrs[k]) for k in a.attrs
               if _is_array(a.attrs[k]) or isinstance(a.attrs[k], Graph)):
            out[b.name] = a.attrs
    return out


def constant_nodes(graph: Graph) -> dict:
    return {n.name: n for n in graph.nodes if n.kind == Kind.CONSTANT}
