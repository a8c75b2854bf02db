"""What a refittable build records in the plan (the manifest's ``refit`` section), and how a STRIP_PLAN build leaves
the refittable weights out of it.

The recipe from original weights to the engine's constants is the build itself: the plan keeps the graph as it was
before any optimization (``source``: the lowered network, weights as constant nodes, each refittable one named),
the passes the build ran and the flags they read. A refit puts the new weights into ``source`` and runs those same
passes again (inferrt/refit/recompute.py), so a weight folded (BatchNorm into a convolution), fused, transposed,
concatenated or cast is recomputed by the code that computed it at build time. Weights the engine holds unchanged
are one blob in the plan, shared by the two graphs (plan/format.py's BlobWriter stores an array once).

Section fields: ``mode`` (REFIT, REFIT_IDENTICAL or REFIT_INDIVIDUAL), ``stripped`` (bool), ``passes`` (names, in
order), ``flags`` (builder flag names), ``source`` (Graph JSON), ``weights`` ({name: {node, dtype, shape,
sha256}}: every refittable weight, its constant node in ``source`` and the digest of the values it was built with),
``stripped_nodes`` (engine constant nodes stored without their values), ``digest`` (over every weight's sha256).
"""
from __future__ import annotations

import hashlib

import numpy as np

from ..enums import BuilderFlag
from ..ir.kinds import Kind
from ..logger import Severity
from ..plan.format import BlobWriter

MODES = ("REFIT", "REFIT_IDENTICAL", "REFIT_INDIVIDUAL")
#: weights of these dtypes are refittable (integer constants are shapes, indices and axes: never weights)
FLOAT_KINDS = ("f",)


def refit_mode(config) -> str | None:
    """The refit mode ``config`` asks for, None for a plain build. STRIP_PLAN alone means REFIT_IDENTICAL, as
    trtexec's --stripWeights does: the plan is refitted with the weights it was built with."""
    for name in ("REFIT_INDIVIDUAL", "REFIT", "REFIT_IDENTICAL"):
        if config.get_flag(BuilderFlag[name]):
            return name
    return "REFIT_IDENTICAL" if config.get_flag(BuilderFlag.STRIP_PLAN) else None


def digest_of(arr) -> str:
    """SHA-256 of a weight's dtype, shape and bytes."""
    h = hashlib.sha256()
    if hasattr(arr, "numpy") and not isinstance(arr, np.ndarray):   # a torch tensor (bfloat16)
        import torch

        h.update(str(arr.dtype).encode() + repr(tuple(arr.shape)).encode())
        h.update(arr.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        return h.hexdigest()
    a = np.ascontiguousarray(arr)
    h.update(a.dtype.str.encode() + repr(tuple(a.shape)).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def overall_digest(weights: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(weights):
        h.update(name.encode() + b"\x00" + weights[name]["sha256"].encode())
    return h.hexdigest()


def _is_float(arr) -> bool:
    if hasattr(arr, "is_floating_point"):
        return bool(arr.is_floating_point())
    return np.asarray(arr).dtype.kind in FLOAT_KINDS


def guarded_ids(graph, nodes: set, mode: str) -> set:
    """ids of the weights of ``nodes`` that the value-based rewrites must leave alone (passes/eliminate_noops.py,
    passes/eliminate_common_subexpressions.py): every refittable weight of more than one value, unless ``mode`` is
    REFIT_IDENTICAL. Single values (epsilons, the scales a fusion matches) stay visible to the fusions; a refit
    that changes one of those is refused (refit/recompute.py)."""
    if mode == "REFIT_IDENTICAL":
        return set()
    return {id(n.attrs.weights) for n in graph.nodes if n.name in nodes and n.kind == Kind.CONSTANT
            and int(np.prod(n.attrs.shape)) > 1}


def strippable_nodes(engine_graph, source, refit_nodes: set) -> list[str]:
    """The engine's float constants made from refittable weights: a constant that is one (same array) or whose
    origin names a layer a refittable weight came from. Leaving one out of the plan more than needed costs nothing
    (a refit recomputes every constant), only plan size."""
    refit = [n for n in source.nodes if n.name in refit_nodes]
    ids = {id(n.attrs.weights) for n in refit}
    origins = {o for n in refit for o in n.origin}
    return [n.name for n in engine_graph.nodes if n.kind == Kind.CONSTANT and (
        id(n.attrs.weights) in ids or (set(n.origin) & origins and _is_float(n.attrs.weights)))]


def live_nodes(graph) -> set:
    """Names of the nodes the graph's outputs (and debug tensors) depend on."""
    producers = graph.producers()
    live, todo = set(), [producers[t] for t in list(graph.outputs) + list(graph.debug) if t in producers]
    while todo:
        n = todo.pop()
        if n.name in live:
            continue
        live.add(n.name)
        todo.extend(producers[t] for t in n.inputs if t and t in producers)
    return live


class RefitRecorder:
    """Made after lowering (``source``: the graph before the passes); ``section`` writes the manifest section once
    the engine graph is final."""

    def __init__(self, network, graph, config, log, marks: set | None = None):
        from ..ir.api_refit import refittable_marks, weight_names
        from ..passes.pipeline import snapshot_graph

        self.mode = refit_mode(config)
        self.stripped = bool(config.get_flag(BuilderFlag.STRIP_PLAN))
        self.flags = [f.name for f in BuilderFlag if config.get_flag(f)]
        named = {key: name for key, (_, name) in weight_names(network).items()}
        marks = refittable_marks(network) if marks is None else marks
        self.weights: dict[str, str] = {}     # weight name -> source constant node name
        # weights no output depends on are not refittable: a refit of them would report success and change nothing
        # (an importer that made a new constant from an initializer's values leaves the initializer's unused)
        live = live_nodes(graph)
        for n in graph.nodes:
            if n.kind != Kind.CONSTANT or n.attrs.weights is None or not _is_float(n.attrs.weights) or \
                    n.name not in live:
                continue
            # unnamed: the constant's node name, "<layer> [<role>]" for weights a layer was given (a convolution's
            # kernel), the layer's name for a constant layer (weights an ONNX importer derived from initializers)
            name = named.get(id(n.attrs.weights), n.name)
            if name is None or name in self.weights:
                continue
            if self.mode == "REFIT_INDIVIDUAL" and name not in marks:
                continue
            self.weights[name] = n.name
        if self.mode == "REFIT_INDIVIDUAL" and marks - set(self.weights):
            log(Severity.WARNING, f"weights {sorted(marks - set(self.weights))} are marked refittable but no layer "
                                  f"of the network uses them as weights; they are not refittable")
        # value-based rewrites (x * 1 dropped, equal constants merged) must not use refittable weights: a refit
        # may change them. REFIT_IDENTICAL promises the same values, so it keeps those rewrites
        graph.refit_weights = guarded_ids(graph, set(self.weights.values()), self.mode)
        nodes, inputs, outputs, specs = snapshot_graph(graph)
        from ..ir.graph import Graph

        self.source = Graph()
        self.source.nodes, self.source.inputs, self.source.outputs, self.source.specs = nodes, inputs, outputs, specs
        if not self.weights:
            hint = " (mark weights with network.mark_weights_refittable)" if self.mode == "REFIT_INDIVIDUAL" else ""
            log(Severity.WARNING, f"BuilderFlag.{self.mode} is set but the network has no refittable weights (no "
                                  f"float weights{' marked refittable' if hint else ''}); it has no effect{hint}")
        log(Severity.INFO, f"refittable engine ({self.mode}{', weights stripped' if self.stripped else ''}): "
                           f"{len(self.weights)} refittable weights")

    def blob_writer(self, engine_graph) -> BlobWriter:
        """The plan's BlobWriter: with STRIP_PLAN, refittable weights and the engine constants made from them are
        stored as empty arrays (their values come back by refit)."""
        if not self.stripped:
            self.stripped_nodes = []
            return BlobWriter()
        self.stripped_nodes = strippable_nodes(engine_graph, self.source, set(self.weights.values()))
        by_name = {n.name: n for n in self.source.nodes}
        strip_ids = {id(by_name[node].attrs.weights) for node in self.weights.values()}
        strip_ids |= {id(n.attrs.weights) for n in engine_graph.nodes if n.name in self.stripped_nodes}
        return _StrippingBlobs(strip_ids)

    def section(self, engine_graph, blobs, passes: list[str]) -> dict:
        by_name = {n.name: n for n in self.source.nodes}
        weights = {}
        for name, node in self.weights.items():
            w = by_name[node].attrs.weights
            weights[name] = {"node": node, "dtype": str(w.dtype).removeprefix("torch."),
                             "shape": [int(d) for d in by_name[node].attrs.shape], "sha256": digest_of(w)}
        return {"mode": self.mode, "stripped": self.stripped, "passes": list(passes), "flags": self.flags,
                "source": self.source.to_json(blobs), "weights": weights,
                "stripped_nodes": list(getattr(self, "stripped_nodes", [])), "digest": overall_digest(weights)}


class _StrippingBlobs(BlobWriter):
    """A BlobWriter that stores the arrays of ``strip_ids`` as empty arrays of their dtype."""

    def __init__(self, strip_ids: set):
        super().__init__()
        self._strip = strip_ids
        self._empty: dict = {}

    def add(self, arr) -> int:
        if id(arr) not in self._strip:
            return super().add(arr)
        key = str(arr.dtype)
        if key not in self._empty:
            if hasattr(arr, "new_empty"):
                self._empty[key] = arr.new_empty((0,))
            else:
                self._empty[key] = np.empty((0,), dtype=arr.dtype)
        return super().add(self._empty[key])
