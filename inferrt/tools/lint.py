"""Static checks of an ONNX model (``inferrt check lint``), reported in Polygraphy's lint JSON layout:

    {"summary": {"passing": [node names], "failing": [node names]},
     "lint_entries": [{"level": "exception" | "warning" | "info", "source": ..., "message": ..., "nodes": [...]}]}

Sources: ``onnx_checker`` (onnx.checker), ``onnx_shape_inference`` (strict shape inference), ``graph`` (dangling
tensors, unused nodes / initializers / inputs, duplicate names, cycles) and ``inferrt_importer`` (ops inferrt's
importer registry has no importer for at the model's opset, and the parser's own import errors). Nothing is run.
"""
from __future__ import annotations

import re

from ..errors import NetworkError
from .onnx_graph import graph_inputs, initializer_names, node_inputs, node_label, toposort, upstream


def _entry(level, source, message, nodes=()):
    return {"level": level, "source": source, "message": message, "nodes": list(nodes)}


def _first(e) -> str:
    """The exception's message on one line (onnx's checker messages span several), at most 400 characters."""
    s = " ".join(line.strip() for line in str(e).strip().splitlines() if line.strip())
    return (s[:397] + "...") if len(s) > 400 else (s or type(e).__name__)


def _named_node(message: str) -> list:
    m = (re.search(r"node name: ([^)]*)\)", message) or re.search(r"Node \(([^)]*)\)", message)
         or re.search(r"node:\s*name:\s*(\S+)\s+OpType", message))
    return [m.group(1)] if m and m.group(1) else []


def _checker(model) -> list:
    from ..onnx import native_worker
    from ..onnx.model_tools import light_copy

    try:
        native_worker.check_model(light_copy(model))
    except Exception as e:  # noqa: BLE001 - ValidationError or the worker's failure
        msg = _first(e)
        return [_entry("exception", "onnx_checker", msg, _named_node(str(e)))]
    return []


def _shape_inference(model) -> list:
    from ..onnx import native_worker
    from ..onnx.model_tools import light_copy

    try:
        native_worker.infer_shapes(light_copy(model), check_type=True, strict_mode=True)
    except Exception as e:  # noqa: BLE001 - InferenceError, ValidationError or the worker's failure
        return [_entry("exception", "onnx_shape_inference", _first(e), _named_node(str(e)))]
    return []


def _structure(model) -> list:
    g = model.graph
    out = []
    labels = [node_label(n, k) for k, n in enumerate(g.node)]
    seen: dict = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    for label, n in seen.items():
        if n > 1 and label:
            out.append(_entry("warning", "graph", f"{n} nodes are named {label!r}; node names should be unique",
                              [label]))
    defined = {v.name for v in g.input} | initializer_names(g)
    producer: dict = {}
    for label, n in zip(labels, g.node):
        for o in n.output:
            if not o:
                continue
            if o in producer or o in defined:
                out.append(_entry("exception", "graph", f"tensor {o!r} is defined more than once (also by "
                                  f"{producer.get(o, 'a graph input or initializer')!r})", [label]))
            producer[o] = label
    known = defined | set(producer)
    read: set = set()
    for label, n in zip(labels, g.node):
        for i in node_inputs(n):
            read.add(i)
            if i not in known:
                out.append(_entry("exception", "graph", f"node {label!r} ({n.op_type}) reads tensor {i!r}, which no "
                                  f"node, graph input or initializer defines (a dangling tensor)", [label]))
    for o in g.output:
        read.add(o.name)
        if o.name not in known:
            out.append(_entry("exception", "graph", f"graph output {o.name!r} is not computed by any node"))
    if not any(e["level"] == "exception" for e in out):
        try:
            toposort(g)
        except NetworkError as e:
            out.append(_entry("exception", "graph", str(e)))
    needed = _needed(g)
    for label, n in zip(labels, g.node):
        if not any(o in needed for o in n.output if o):
            out.append(_entry("warning", "graph", f"node {label!r} ({n.op_type}) is unused: no graph output depends "
                              f"on it (surgeon sanitize --cleanup removes it)", [label]))
    for t in g.initializer:
        if t.name not in read:
            out.append(_entry("warning", "graph", f"initializer {t.name!r} is never read (surgeon sanitize "
                              f"--cleanup removes it)"))
    for v in graph_inputs(g):
        if v.name not in read:
            out.append(_entry("warning", "graph", f"graph input {v.name!r} is never read"))
    return out


def _needed(g) -> set:
    return set(upstream(g, [o.name for o in g.output]))


def _importers(model) -> list:
    """Nodes inferrt cannot import: no importer (nor an ONNX function to expand) at the model's opset, and the
    parser's import errors from OnnxParser.parse into a scratch network (importers build layers, they run nothing)."""
    import inferrt as trt

    from ..onnx import registry
    from ..onnx.model_tools import opset_map

    out = []
    opsets = opset_map(model)
    labels = [node_label(n, k) for k, n in enumerate(model.graph.node)]
    no_importer = set()
    for label, n in zip(labels, model.graph.node):
        dom = "" if n.domain in ("", "ai.onnx") else n.domain
        if dom == "" and n.op_type == "Constant":
            continue
        if registry.lookup(dom, n.op_type, opsets.get(dom, 1)) is None:
            no_importer.add(label)
    logger = trt.Logger(trt.Logger.INTERNAL_ERROR)
    parser = trt.OnnxParser(trt.Builder(logger).create_network(0), logger)
    parser.parse(model.SerializeToString())
    reported = set()
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        desc = err.desc()
        if desc.startswith(("the ONNX checker", "ONNX shape inference")):
            continue   # reported by their own checks
        k = err.node()
        label = labels[k] if 0 <= k < len(labels) else err.node_name()
        out.append(_entry("exception", "inferrt_importer", desc, [label] if label else []))
        reported.add(label)
    for label in sorted(no_importer - reported, key=labels.index):
        n = model.graph.node[labels.index(label)]
        out.append(_entry("info", "inferrt_importer", f"node {label!r}: inferrt has no importer for "
                          f"{n.domain or 'ai.onnx'}::{n.op_type}; the parser expands it through its ONNX function "
                          f"definition", [label]))
    return out


def lint(model) -> dict:
    entries = _structure(model)
    structural = any(e["level"] == "exception" for e in entries)
    entries += _checker(model)
    if not structural:
        entries += _shape_inference(model)
        entries += _importers(model)
    labels = [node_label(n, k) for k, n in enumerate(model.graph.node)]
    failing = {n for e in entries if e["level"] == "exception" for n in e["nodes"]}
    return {"summary": {"passing": [x for x in labels if x not in failing],
                        "failing": [x for x in labels if x in failing]},
            "lint_entries": entries}
