"""Constant folding of an ONNX model: every node whose inputs are all known ahead of time is evaluated once (by
onnxruntime) and its outputs become initializers.

Known ahead of time: initializers (not also graph inputs, which a caller may override), Constant nodes' outputs,
``Shape`` / ``Size`` of a tensor whose inferred shape is static, and outputs of deterministic ai.onnx nodes without
subgraphs whose inputs are all known. QuantizeLinear / DequantizeLinear are kept unless ``fold_qdq``: folding a
quantized weight's DequantizeLinear would turn an explicitly quantized (strongly typed) model into a float one.
A folded tensor over ``size_threshold`` bytes is not stored: the node computing
it stays, fed by folded (smaller) tensors. Nodes nothing needs any more are removed by ``onnx_graph.cleanup``.
"""
from __future__ import annotations

import numpy as np

from ..errors import NetworkError
from .onnx_graph import (NONDETERMINISTIC_OPS, consumers, initializer_names, node_label, producers, sort_nodes,
                         tensor_types, value_info)


def _static_shape(types, name):
    t = types.get(name)
    if t is None or t[1] is None or not all(isinstance(d, int) for d in t[1]):
        return None
    return t[1]


def _shape_value(node, shape):
    """Shape (with opset-15 start / end) or Size of a tensor of static ``shape``."""
    if node.op_type == "Size":
        return np.array(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    attrs = {a.name: a.i for a in node.attribute}
    return np.array(shape[slice(attrs.get("start", 0), attrs.get("end"))] if "end" in attrs
                    else shape[attrs.get("start", 0):], dtype=np.int64)


#: ops that carry quantization: folded only when asked (``fold_qdq``)
QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}


def _foldable(node, fold_qdq: bool) -> bool:
    if node.domain not in ("", "ai.onnx") or node.op_type in NONDETERMINISTIC_OPS:
        return False
    if node.op_type in QDQ_OPS and not fold_qdq:
        return False
    return not any(a.HasField("g") or len(a.graphs) for a in node.attribute)


def fold_constants(model, size_threshold: int | None = None, log=None, fold_qdq: bool = False) -> int:
    """Fold ``model`` in place; returns the number of nodes folded away."""
    import onnx
    from onnx import numpy_helper

    sort_nodes(model)
    graph = model.graph
    types = tensor_types(model)
    fed = {v.name for v in graph.input}
    known = initializer_names(graph) - fed
    overridable = initializer_names(graph) & fed
    if overridable and log is not None:
        log(f"{len(overridable)} initializer(s) are also graph inputs (a caller may override them), so nodes "
            f"reading them are not folded: {', '.join(sorted(overridable)[:5])}"
            + (", ..." if len(overridable) > 5 else ""))
    shape_values: dict = {}
    folded_nodes = []
    for k, n in enumerate(graph.node):
        ins = [i for i in n.input if i]
        if n.op_type in ("Shape", "Size") and n.domain in ("", "ai.onnx") and ins and ins[0] not in known:
            shape = _static_shape(types, ins[0])
            if shape is not None:
                shape_values[n.output[0]] = _shape_value(n, shape)
                known.add(n.output[0])
                folded_nodes.append(n)
            continue
        if _foldable(n, fold_qdq) and all(i in known for i in ins):
            known.update(o for o in n.output if o)
            folded_nodes.append(n)
    if not folded_nodes:
        return 0
    folded_ids = {id(n) for n in folded_nodes}
    users = consumers(graph)
    outputs = {o.name for o in graph.output}
    # tensors a remaining node (or the graph) reads: the values to compute
    boundary = [o for n in folded_nodes for o in n.output if o and (
        o in outputs or any(id(u) not in folded_ids for u in users.get(o, [])))]
    values = _evaluate(model, folded_nodes, shape_values, boundary, types)
    prod = producers(graph)
    materialize: dict = {}
    stack = list(boundary)
    keep_nodes: set = set()
    while stack:
        t = stack.pop()
        if t in materialize or t not in values:
            continue
        if size_threshold is None or values[t].nbytes <= size_threshold:
            materialize[t] = values[t]
            continue
        n = prod[t]
        keep_nodes.add(id(n))
        stack.extend(i for i in n.input if i and i in values)
    if keep_nodes and log is not None:
        log(f"Kept {len(keep_nodes)} node(s) whose folded outputs exceed {size_threshold} bytes")
    removed = [n for n in folded_nodes if id(n) not in keep_nodes]
    removed_ids = {id(n) for n in removed}
    remaining = [n for n in graph.node if id(n) not in removed_ids]
    new_nodes = []
    for n in remaining:
        c = onnx.NodeProto()
        c.CopyFrom(n)
        new_nodes.append(c)
    del graph.node[:]
    graph.node.extend(new_nodes)
    existing = initializer_names(graph)
    for name, arr in materialize.items():
        if name not in existing:
            graph.initializer.append(numpy_helper.from_array(np.asarray(arr), name))
    produced = {o for n in graph.node for o in n.output}
    for o in graph.output:   # a graph output that became a constant keeps its declared type
        if o.name not in produced and o.name not in materialize and o.name not in existing:
            raise NetworkError(f"folding lost graph output {o.name!r}")  # pragma: no cover - internal check
    return len(removed)


def _evaluate(model, nodes, shape_values, wanted, types) -> dict:
    """Values of ``wanted`` (and every folded node's outputs) computed by onnxruntime on the folded nodes alone."""
    import onnx
    from onnx import numpy_helper

    try:
        import onnxruntime as ort
    except ImportError:
        raise ImportError("constant folding evaluates nodes with onnxruntime; pip install onnxruntime") from None
    graph = model.graph
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    del g.node[:], g.input[:], g.output[:], g.value_info[:]
    g.node.extend(n for n in nodes if n.output[0] not in shape_values)
    for name, arr in shape_values.items():
        g.initializer.append(numpy_helper.from_array(arr, name))
    fed = {v.name for v in graph.input}
    keep = [t for t in g.initializer if t.name not in fed]
    del g.initializer[:]
    g.initializer.extend(keep)
    computed = [o for n in g.node for o in n.output if o]
    for o in computed:
        t = types.get(o)
        g.output.append(value_info(o, *t) if t is not None else onnx.ValueInfoProto(name=o))
    values = {k: v for k, v in shape_values.items()}
    if computed:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
            got = sess.run(computed, {})
        except Exception as e:  # noqa: BLE001 - onnxruntime's exception types
            where = ", ".join(repr(node_label(n, k)) for k, n in enumerate(nodes[:6]))
            raise NetworkError(f"onnxruntime could not evaluate the constant nodes ({where}, ...): {e}; run "
                               f"without --fold-constants") from None
        values.update(zip(computed, (np.asarray(v) for v in got)))
    for name in wanted:
        if name not in values:   # pragma: no cover - every folded output is computed above
            raise NetworkError(f"constant folding did not compute {name!r}")
    return values
