"""Expansion of ONNX function ops: an op without an importer that ONNX defines as a function (a FunctionProto body, or
a context-dependent one built from the node's input types) is replaced by the nodes of its body, bound to the node's
inputs, outputs and attributes; names internal to the body get a unique prefix. Function bodies that depend on the
node, and type inference of the expanded nodes, are built by onnx's C++ code in the helper process
(``native_worker``); a crash there raises NativeFailure, which the parser reports."""
from __future__ import annotations

from . import native_worker


def schema_function(op_type, proto, opset, types, domain=""):
    """The FunctionProto ONNX defines for ``op_type`` at ``opset`` (context-dependent ones need ``proto``)."""
    import onnx
    import onnx.defs

    try:
        schema = onnx.defs.get_schema(op_type, opset, domain)
    except onnx.defs.SchemaError:
        return None
    body = None
    versions = [v for v in getattr(schema, "all_function_opset_versions", []) if v <= opset]
    fv = max(versions) if versions else opset   # the newest function body that this opset may use
    try:
        if schema.has_function:
            data = schema.get_function_with_opset_version(fv)
            body = onnx.FunctionProto.FromString(data) if data else None
        if body is None and schema.has_context_dependent_function:
            if proto is None:
                return True
            in_types = []
            for name in proto.input:
                if name and name not in types:
                    return None
                in_types.append(types[name].SerializeToString() if name else onnx.TypeProto().SerializeToString())
            data = native_worker.context_function(op_type, opset, domain, fv, proto.SerializeToString(), in_types)
            body = onnx.FunctionProto.FromString(data) if data else None
    except native_worker.NativeFailure:
        raise
    except Exception:  # noqa: BLE001 - onnx raises various errors for functions it cannot build
        return None
    if body is None or not len(body.node):
        return None
    return body


def infer_types(node, opsets, types):
    """Add the ONNX types of ``node``'s outputs to ``types`` (nodes made by function expansion have none)."""
    dom = "" if node.domain in ("", "ai.onnx") else node.domain
    try:
        known = {n: types[n] for n in node.input if n and n in types}
        res = native_worker.infer_node_outputs(node.op_type, opsets.get(dom, 1), dom, node, known, opsets)
    except native_worker.NativeFailure:
        raise
    except Exception:  # noqa: BLE001 - missing types leave context-dependent functions unexpanded, nothing worse
        return
    for name, t in res.items():
        types.setdefault(name, t)


def instantiate(node, body, prefix):
    """The nodes of function ``body`` bound to ``node``'s inputs, outputs and attributes."""
    import onnx

    rename = {}
    for formal, actual in zip(body.input, list(node.input) + [""] * len(body.input)):
        rename[formal] = actual
    for formal, actual in zip(body.output, node.output):
        rename[formal] = actual
    attrs = {a.name: a for a in node.attribute}
    defaults = {a.name: a for a in getattr(body, "attribute_proto", [])}
    out = []
    for k, n in enumerate(body.node):
        m = onnx.NodeProto()
        m.CopyFrom(n)
        del m.input[:]
        del m.output[:]
        m.input.extend(rename.get(i, prefix + i) if i else "" for i in n.input)
        m.output.extend(rename.get(o, prefix + o) if o else "" for o in n.output)
        m.name = f"{prefix}{n.name or n.op_type + '_' + str(k)}"
        del m.attribute[:]
        for a in n.attribute:
            if a.ref_attr_name:
                src = attrs.get(a.ref_attr_name) or defaults.get(a.ref_attr_name)
                if src is None:
                    continue
                b = onnx.AttributeProto()
                b.CopyFrom(src)
                b.name = a.name
                m.attribute.append(b)
            elif a.HasField("g") or len(a.graphs):
                b = onnx.AttributeProto()
                b.CopyFrom(a)
                for g in ([b.g] if b.HasField("g") else []) + list(b.graphs):
                    rename_free(g, lambda name: rename.get(name, prefix + name), set())
                m.attribute.append(b)
            else:
                m.attribute.append(a)
        out.append(m)
    return out


def rename_free(graph, fn, outer_local: set) -> None:
    """Rename, in place, the names ``graph`` (and its nested subgraphs) read from its enclosing scope."""
    local = set(outer_local) | {v.name for v in graph.input} | {i.name for i in graph.initializer}
    local |= {o for n in graph.node for o in n.output}
    for n in graph.node:
        for k, name in enumerate(n.input):
            if name and name not in local:
                n.input[k] = fn(name)
        for a in n.attribute:
            for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                rename_free(g, fn, local)
    for o in graph.output:
        if o.name not in local:
            o.name = fn(o.name)


def free_names(graph) -> set:
    """Names a subgraph reads from its outer scope."""
    local = {v.name for v in graph.input} | {i.name for i in graph.initializer}
    local |= {o for n in graph.node for o in n.output}
    need = set()
    for n in graph.node:
        need |= {i for i in n.input if i}
        for a in n.attribute:
            for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                need |= free_names(g)
    need |= {o.name for o in graph.output}
    return need - local
