"""ONNX graph helpers shared by the tools: loading and saving, topological order, producers and consumers, tensor
types from shape inference, extracting the subgraph between tensors, removing dead nodes and initializers, and
marking every intermediate tensor as a graph output.

Shape inference and the checker run through inferrt.onnx.native_worker (onnx's C++ entry points in a helper process),
so a malformed model gives an error instead of taking the process down.
"""
from __future__ import annotations

import os

from ..errors import NetworkError

#: ops whose outputs are not a function of their inputs: never folded or evaluated ahead of time
NONDETERMINISTIC_OPS = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial",
                        "Bernoulli"}


def load_model(path):
    """An ONNX model from ``path`` with its external data (read from next to the model)."""
    import onnx

    if not os.path.isfile(path):
        raise NetworkError(f"cannot read ONNX model {path!r}: no such file")
    try:
        return onnx.load(path, load_external_data=True)
    except Exception as e:  # noqa: BLE001 - protobuf and external-data errors have many types
        raise NetworkError(f"cannot read ONNX model {path!r}: {type(e).__name__}: {e}") from None


def save_model(model, path) -> None:
    """Write ``model`` to ``path``; models over protobuf's 2 GiB keep their weights in ``<path>.data``."""
    import onnx

    big = model.ByteSize() > (1 << 31) - (1 << 20)
    onnx.save(model, path, save_as_external_data=big, location=os.path.basename(path) + ".data" if big else None)


def node_label(node, index: int) -> str:
    """A node's name, or ``<op>_<index>`` for an unnamed one."""
    return node.name or f"{node.op_type}_{index}"


def initializer_names(graph) -> set:
    return {t.name for t in graph.initializer} | {s.values.name for s in graph.sparse_initializer}


def graph_inputs(graph) -> list:
    """The graph inputs a caller feeds (initializers listed as inputs are left out)."""
    inits = initializer_names(graph)
    return [v for v in graph.input if v.name not in inits]


def subgraph_names(node) -> set:
    """Names a node's subgraph attributes (If / Loop / Scan bodies) read from the enclosing graph."""
    out: set = set()
    for a in node.attribute:
        for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
            local = {v.name for v in g.input} | initializer_names(g)
            for n in g.node:
                local.update(o for o in n.output if o)
            for n in g.node:
                out.update(i for i in n.input if i and i not in local)
                out.update(x for x in subgraph_names(n) if x not in local)
    return out


def node_inputs(node) -> list:
    """Every tensor a node reads: its inputs, then what its subgraphs capture."""
    return [i for i in node.input if i] + sorted(subgraph_names(node) - set(node.input))


def set_repeated(field, items) -> None:
    """Make the repeated protobuf ``field`` hold copies of ``items`` (which may be its own elements)."""
    copies = []
    for x in items:
        c = type(x)()
        c.CopyFrom(x)
        copies.append(c)
    del field[:]
    field.extend(copies)


def producers(graph) -> dict:
    return {o: n for n in graph.node for o in n.output if o}


def upstream(graph, start, stop=(), prod=None) -> list:
    """Every tensor ``start`` depends on (``start`` included), walking back through producers and what their
    subgraphs capture, in visit order; a tensor in ``stop`` is listed but not walked past."""
    prod = producers(graph) if prod is None else prod
    seen: dict = {}
    stack = list(start)
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen[t] = None
        if t not in stop and t in prod:
            stack.extend(node_inputs(prod[t]))
    return list(seen)


def consumers(graph) -> dict:
    out: dict = {}
    for n in graph.node:
        for i in node_inputs(n):
            out.setdefault(i, []).append(n)
    return out


def toposort(graph) -> list:
    """The graph's nodes in topological order (stable: ready nodes keep their file order). NetworkError naming the
    nodes on a cycle or reading a tensor nothing defines."""
    import heapq

    known = {v.name for v in graph.input} | initializer_names(graph)
    prod = {}
    for k, n in enumerate(graph.node):
        for o in n.output:
            if o:
                prod[o] = k
    waiting = []
    users: dict = {}
    for k, n in enumerate(graph.node):
        deps = set()
        for i in node_inputs(n):
            if i in known:
                continue
            if i not in prod:
                raise NetworkError(f"node {node_label(n, k)!r} ({n.op_type}) reads tensor {i!r}, which no node, "
                                   f"graph input or initializer defines")
            if prod[i] != k:
                deps.add(prod[i])
        waiting.append(len(deps))
        for d in deps:
            users.setdefault(d, []).append(k)
    ready = [k for k, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        k = heapq.heappop(ready)
        order.append(graph.node[k])
        for u in users.get(k, []):
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(graph.node):
        stuck = [node_label(n, k) for k, n in enumerate(graph.node) if waiting[k] > 0]
        raise NetworkError(f"the graph has a cycle through nodes {', '.join(map(repr, stuck[:8]))}")
    return order


def sort_nodes(model) -> None:
    """Put the top-level nodes in topological order, in place."""
    order = toposort(model.graph)
    set_repeated(model.graph.node, order)


def _type_of(vi):
    """(elem_type, shape) of a ValueInfoProto's tensor type; shape is a tuple of ints / dim_param strings / None,
    or None when the rank is unknown; None for a value that is not a typed tensor."""
    if not vi.type.HasField("tensor_type") or not vi.type.tensor_type.elem_type:
        return None
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return tt.elem_type, None
    dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim)
    return tt.elem_type, dims


def tensor_types(model, infer: bool = True) -> dict:
    """{tensor name: (elem_type, shape)} of every typed value: graph inputs and outputs, value_info, initializers,
    and (``infer``) what ONNX shape inference adds. A model shape inference fails on keeps its declared types."""
    from ..onnx import native_worker
    from ..onnx.model_tools import light_copy

    graph = model.graph
    if infer:
        try:
            graph = native_worker.infer_shapes(light_copy(model)).graph
        except Exception:  # noqa: BLE001 - lint reports inference failures; here declared types are the fallback
            graph = model.graph
    out = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        t = _type_of(vi)
        if t is not None:
            out[vi.name] = t
    for t in model.graph.initializer:
        out[t.name] = (t.data_type, tuple(t.dims))
    return out


def np_dtype(elem_type):
    import numpy as np
    import onnx

    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, TypeError):
        return None


def elem_type_of(dtype_name: str) -> int:
    """ONNX elem_type for a numpy dtype name ('float32', 'int64', ...); NetworkError listing the choices."""
    import numpy as np
    import onnx

    try:
        return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype_name))
    except (TypeError, KeyError, ValueError):
        raise NetworkError(f"{dtype_name!r} is not a data type; use a numpy name such as float32, float16, int64, "
                           f"int32, int8, uint8 or bool") from None


def value_info(name: str, elem_type: int, shape):
    from onnx import helper

    return helper.make_tensor_value_info(name, elem_type, None if shape is None else list(shape))


def _new_model(model, nodes, inputs, outputs, initializers, value_infos):
    import onnx

    m = onnx.ModelProto()
    for f in ("ir_version", "producer_name", "producer_version", "domain", "model_version", "doc_string"):
        setattr(m, f, getattr(model, f))
    m.opset_import.extend(model.opset_import)
    m.functions.extend(model.functions)
    m.metadata_props.extend(model.metadata_props)
    g = m.graph
    g.name = model.graph.name
    g.node.extend(nodes)
    g.input.extend(inputs)
    g.output.extend(outputs)
    g.initializer.extend(initializers)
    g.value_info.extend(value_infos)
    return m


def extract(model, inputs, outputs, types: dict | None = None):
    """The subgraph of ``model`` computing tensors ``outputs`` from tensors ``inputs``.

    ``inputs``: {name: (elem_type, shape) or None}; None takes the type from ``types`` (default: shape inference).
    ``outputs``: names, or {name: elem_type or None}. Nodes are kept when an output needs them; the walk back stops
    at the given inputs and at initializers. NetworkError when a tensor is unknown, when an output needs a graph
    input that ``inputs`` leaves out, or when a type cannot be found."""
    graph = model.graph
    types = tensor_types(model) if types is None else types
    prod = producers(graph)
    inits = {t.name: t for t in graph.initializer}
    orig_inputs = {v.name: v for v in graph_inputs(graph)}
    out_types = dict(outputs) if isinstance(outputs, dict) else {o: None for o in outputs}
    for name in list(inputs) + list(out_types):
        if name not in prod and name not in inits and name not in orig_inputs:
            raise NetworkError(f"the model has no tensor {name!r}")
    for name in inputs:
        if name in inits:
            raise NetworkError(f"{name!r} is an initializer (a weight), not a tensor computed from the inputs; "
                               f"give an activation tensor instead")
    keep_nodes: set = set()
    used_inits: set = set()
    for t in upstream(graph, out_types, set(inputs) | set(inits), prod):
        if t in inputs:
            continue
        if t in inits:
            used_inits.add(t)
        elif t in prod:
            keep_nodes.add(id(prod[t]))
        elif t in orig_inputs:
            raise NetworkError(f"the subgraph needs graph input {t!r}, which is not among its inputs; add it to "
                               f"the inputs (or choose inputs that cut it off)")
        else:
            raise NetworkError(f"tensor {t!r} is read but not defined in the model")
    nodes = [n for n in graph.node if id(n) in keep_nodes]
    in_vis = []
    for name, given in inputs.items():
        t = given or types.get(name)
        if t is None:
            raise NetworkError(f"the type of input tensor {name!r} is unknown (shape inference gives none); give "
                               f"it as name:shape:dtype")
        in_vis.append(value_info(name, t[0], t[1]))
    out_vis = []
    for name, elem in out_types.items():
        t = types.get(name)
        if elem is None and t is None:
            raise NetworkError(f"the data type of output tensor {name!r} is unknown (shape inference gives none); "
                               f"give it as name:dtype")
        out_vis.append(value_info(name, elem or t[0], t[1] if t is not None and (elem in (None, t[0])) else None))
    produced = {o for n in nodes for o in n.output}
    boundary = set(inputs) | set(out_types)
    vis = [value_info(k, *types[k]) for k in sorted(produced - boundary) if k in types]
    return _new_model(model, nodes, in_vis, out_vis, [t for t in graph.initializer if t.name in used_inits], vis)


def cleanup(model, remove_unused_inputs: bool = False) -> dict:
    """Remove, in place, nodes no graph output depends on, initializers nothing reads and value_info of removed
    tensors (and graph inputs nothing reads when ``remove_unused_inputs``). Returns the counts removed."""
    graph = model.graph
    prod = producers(graph)
    needed = set(upstream(graph, [o.name for o in graph.output], prod=prod))
    keep = {id(prod[t]) for t in needed if t in prod}
    removed = {"nodes": 0, "initializers": 0, "inputs": 0}
    nodes = [n for n in graph.node if id(n) in keep]
    removed["nodes"] = len(graph.node) - len(nodes)
    if removed["nodes"]:
        set_repeated(graph.node, nodes)
    inits = [t for t in graph.initializer if t.name in needed]
    dropped = {t.name for t in graph.initializer} - {t.name for t in inits}
    removed["initializers"] = len(graph.initializer) - len(inits)
    if removed["initializers"]:
        set_repeated(graph.initializer, inits)
    # an initializer also listed as a graph input (IR < 4) leaves with its input, which would else become required
    inputs = [v for v in graph.input if v.name not in dropped and (v.name in needed or not remove_unused_inputs)]
    removed["inputs"] = len(graph.input) - len(inputs) - len(dropped & {v.name for v in graph.input})
    if len(inputs) != len(graph.input):
        set_repeated(graph.input, inputs)
    alive = {o for n in graph.node for o in n.output}
    vis = [v for v in graph.value_info if v.name in alive]
    if len(vis) != len(graph.value_info):
        set_repeated(graph.value_info, vis)
    return removed


def mark_all(model, types: dict | None = None):
    """A copy of ``model`` whose graph outputs are its own outputs followed by every other tensor a (non-Constant)
    node computes, in topological order. Returns (model, [(node label, op_type, [output names])] in that order)."""
    import onnx

    types = tensor_types(model) if types is None else types
    m = onnx.ModelProto()
    m.CopyFrom(model)
    sort_nodes(m)
    listed = {o.name for o in m.graph.output}
    order = []
    for k, n in enumerate(m.graph.node):
        if n.op_type == "Constant" and n.domain in ("", "ai.onnx"):
            continue
        outs = [o for o in n.output if o]
        order.append((node_label(n, k), n.op_type, outs))
        for o in outs:
            if o in listed:
                continue
            listed.add(o)
            t = types.get(o)
            m.graph.output.append(value_info(o, *t) if t is not None else onnx.ValueInfoProto(name=o))
    return m, order
