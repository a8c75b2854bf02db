"""What an ONNX model holds, for ``inferrt inspect model X.onnx``: opsets, inputs and outputs with types and shapes,
initializers (count, bytes, and each with ``weights``), node counts per op type and each node (``layers``) with its
attributes (``attrs``)."""
from __future__ import annotations

from collections import Counter

from .onnx_graph import graph_inputs, node_label, np_dtype


def _vi(v) -> dict:
    tt = v.type.tensor_type if v.type.HasField("tensor_type") else None
    if tt is None:
        return {"name": v.name, "dtype": None, "shape": None}
    dt = np_dtype(tt.elem_type) if tt.elem_type else None
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim] \
        if tt.HasField("shape") else None
    return {"name": v.name, "dtype": dt.name if dt is not None else None, "shape": shape}


def _attr(a):
    from onnx import helper

    if a.HasField("g") or len(a.graphs):
        graphs = ([a.g] if a.HasField("g") else []) + list(a.graphs)
        return [f"<graph {g.name!r}: {len(g.node)} nodes>" for g in graphs]
    if a.HasField("t"):
        return f"<tensor dtype={np_dtype(a.t.data_type)} shape={list(a.t.dims)}>"
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    if isinstance(v, list):
        return [x.decode(errors="replace") if isinstance(x, bytes) else x for x in v]
    return v


def describe_onnx(model, types: dict | None = None) -> dict:
    """``types``: {tensor: (elem_type, shape)} (onnx_graph.tensor_types) to list every typed tensor under
    ``tensors``."""
    g = model.graph
    inits = list(g.initializer)
    total = sum(int(t.raw_data and len(t.raw_data) or _numel(t) * (np_dtype(t.data_type) or _one).itemsize)
                for t in inits)
    return {
        "name": g.name,
        "ir_version": model.ir_version,
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "opsets": {(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        "inputs": [_vi(v) for v in graph_inputs(g)],
        "outputs": [_vi(v) for v in g.output],
        "initializers": [{"name": t.name, "dtype": str(np_dtype(t.data_type)), "shape": list(t.dims)}
                         for t in inits],
        "initializer_bytes": total,
        "op_counts": dict(Counter(n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}::{n.op_type}"
                                  for n in g.node).most_common()),
        "nodes": [{"name": node_label(n, k), "op": n.op_type, "domain": n.domain or "ai.onnx",
                   "inputs": list(n.input), "outputs": list(n.output),
                   "attributes": {a.name: _attr(a) for a in n.attribute}} for k, n in enumerate(g.node)],
        "tensors": {name: {"dtype": str(np_dtype(t[0])), "shape": None if t[1] is None else list(t[1])}
                    for name, t in (types or {}).items()},
    }


class _one:
    itemsize = 1


def _numel(t) -> int:
    n = 1
    for d in t.dims:
        n *= d
    return n


def _fmt_vi(v) -> str:
    shape = "?" if v["shape"] is None else tuple(v["shape"])
    return f"{v['name']} [dtype={v['dtype']}, shape={shape}]"


def _io(names, tensors) -> str:
    def one(n):
        t = tensors.get(n)
        return repr(n) if t is None else f"{n!r} [{t['dtype']}, {'?' if t['shape'] is None else tuple(t['shape'])}]"

    return "[" + ", ".join(one(n) for n in names) + "]"


def format_onnx(d: dict, show=()) -> list:
    opsets = ", ".join(f"{k} {v}" for k, v in d["opsets"].items())
    lines = [f"==== ONNX Model ====", f"Name: {d['name']} | Opsets: {opsets} | IR version {d['ir_version']}"
             + (f" | Producer: {d['producer']}" if d["producer"] else "")]
    lines.append(f"---- {len(d['inputs'])} Graph Input(s) ----")
    lines += [f"    {_fmt_vi(v)}" for v in d["inputs"]]
    lines.append(f"---- {len(d['outputs'])} Graph Output(s) ----")
    lines += [f"    {_fmt_vi(v)}" for v in d["outputs"]]
    lines.append(f"---- {len(d['initializers'])} Initializer(s), {d['initializer_bytes']} bytes ----")
    if "weights" in show:
        lines += [f"    {t['name']} [dtype={t['dtype']}, shape={tuple(t['shape'])}]" for t in d["initializers"]]
    lines.append(f"---- {len(d['nodes'])} Node(s) ----")
    lines.append("    " + ", ".join(f"{op} x{n}" for op, n in d["op_counts"].items()))
    if "layers" in show or "attrs" in show:
        for k, n in enumerate(d["nodes"]):
            lines.append(f"    Node {k} | {n['name']} [Op: {n['op']}]")
            lines.append(f"        {_io(n['inputs'], d['tensors'])} -> {_io(n['outputs'], d['tensors'])}")
            if "attrs" in show:
                for name, v in n["attributes"].items():
                    lines.append(f"        {name} = {v}")
    return lines
