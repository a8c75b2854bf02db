"""Rewrite the graph to the precisions the classifier chose: low precision nodes read and write the low type, FP32
nodes keep float32, and Cast nodes sit only where a value crosses between them.

    value v produced in type P, read in types {P, Q}:   producer -> v (P) ----------------> readers in P
                                                                      \\-> Cast -> v_cast_q -> readers in Q

- a low precision node's lowerable float32 outputs become the low type (a lowered Cast gets ``to`` = low type);
- each reader asks for the type it computes in; one Cast per (value, type), shared by all its readers;
- initializers are converted, not cast: one read in one type is converted in place, one read in both keeps float32
  and gets a converted copy ``<name>_<fp16|bf16>`` (initializers over ``init_conversion_max_bytes`` get a Cast);
- names the outside sees keep their names and types: graph inputs and outputs (float32 when ``keep_io_types``,
  else the low type), and values that subgraphs read by name (their original type). A node writing such a value
  in another type writes ``<name>_<type>`` and a Cast produces the name.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from .classify_nodes import LOW
from .options import SHORT_NAME
from .type_constraints import AGNOSTIC_INPUTS

F32 = TensorProto.FLOAT


@dataclasses.dataclass
class ConversionStats:
    initializers_converted: int = 0  # converted in place
    initializers_copied: int = 0     # kept float32 and given a converted copy
    initializers_cast: int = 0       # over init_conversion_max_bytes: cast at run time
    warnings: list = dataclasses.field(default_factory=list)


class _Names:
    def __init__(self, graph):
        self.taken = {v for n in graph.node for v in list(n.input) + list(n.output)}
        self.taken |= {n.name for n in graph.node}
        self.taken |= {v.name for v in list(graph.input) + list(graph.output) + list(graph.value_info)}
        self.taken |= {t.name for t in graph.initializer}

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name


def _subgraphs(node):
    """The graphs held in a node's attributes (If branches, Loop / Scan bodies)."""
    for a in node.attribute:
        if a.type == AttributeProto.GRAPH:
            yield a.g
        elif a.type == AttributeProto.GRAPHS:
            yield from a.graphs


def subgraph_reads(graph) -> set:
    """Names read by nodes inside the subgraphs of top-level nodes (a superset of their outer-scope reads)."""
    out = set()

    def walk(g):
        for n in g.node:
            out.update(v for v in n.input if v)
            for sg in _subgraphs(n):
                walk(sg)

    for n in graph.node:
        for sg in _subgraphs(n):
            walk(sg)
    return out


def _to_low(arr: np.ndarray, low: int) -> np.ndarray:
    if low == TensorProto.FLOAT16:
        with np.errstate(over="ignore"):   # counted and reported by the caller
            return arr.astype(np.float16)
    import ml_dtypes

    return arr.astype(ml_dtypes.bfloat16)


def _cast_allows(opset: int, low: int) -> bool:
    import onnx.defs

    schema = onnx.defs.get_schema("Cast", opset, "")
    allowed = {c.type_param_str: c.allowed_type_strs for c in schema.type_constraints}
    want = "tensor(float16)" if low == TensorProto.FLOAT16 else "tensor(bfloat16)"
    return all(want in v for v in allowed.values())


def convert(model, decisions: list, types: dict, opts, opset: int) -> ConversionStats:
    """Rewrite ``model`` (at ONNX ``opset``) in place."""
    g = model.graph
    low, short = opts.low, SHORT_NAME
    stats = ConversionStats()
    names = _Names(g)
    input_names = {vi.name for vi in g.input}
    inits = {t.name: t for t in g.initializer if t.name not in input_names}
    lower_io = not opts.keep_io_types and _cast_allows(opset, low)
    if not opts.keep_io_types and not lower_io:
        stats.warnings.append(f"Cast-{opset} cannot take {short[low]}: the graph inputs and outputs stay float32 "
                              f"(as with keep_io_types); raise the opset to convert them")
    io_type = (lambda t: low if t == F32 else t) if lower_io else (lambda t: t)

    # the type each value is produced in, and the type the outside needs it in
    sub_reads = subgraph_reads(g)
    all_inits = {t.name for t in g.initializer}
    produced = {}
    for vi in g.input:
        t = types.get(vi.name)
        produced[vi.name] = t if vi.name in all_inits or vi.name in sub_reads else io_type(t)
    for n, d in zip(g.node, decisions):
        for i, v in enumerate(n.output):
            if v:
                produced[v] = low if d.precision == LOW and i in d.lowered_outputs else types.get(v)
    pinned = {v: types.get(v) for v in sub_reads if v in produced or v in inits}
    for vi in g.output:
        pinned[vi.name] = io_type(types.get(vi.name))

    # what each reader asks for
    wants = {}   # value -> set of types
    reads = []   # (node index, input index, type or None for "as produced")
    for k, (n, d) in enumerate(zip(g.node, decisions)):
        agnostic = AGNOSTIC_INPUTS.get(n.op_type, set())
        for i, v in enumerate(n.input):
            if not v:
                continue
            want = None if i in agnostic else (low if d.precision == LOW and i in d.lowered_inputs else types.get(v))
            reads.append((k, i, want))
            if want is not None:
                wants.setdefault(v, set()).add(want)
    for v, t in pinned.items():
        if t is not None:
            wants.setdefault(v, set()).add(t)

    available = {}     # (value, type) -> name
    head, after = [], {}   # Cast nodes at the graph's start, and after node k

    def add_cast(src, dst_type, into: list, out_name=None, base=None):
        out = out_name or names.fresh(f"{base}_cast_{short.get(dst_type, dst_type)}")
        into.append(helper.make_node("Cast", [src], [out], name=names.fresh(f"{out}_Cast"), to=dst_type))
        return out

    # initializers: convert, copy or cast
    for name, t in inits.items():
        need = wants.get(name, set())
        if t.data_type != F32 or not (need - {F32}):
            available.update({(name, ty): name for ty in need | {t.data_type}})
            continue
        keep_name_type = pinned.get(name) or (F32 if F32 in need else low)
        if opts.init_conversion_max_bytes is not None and 4 * int(np.prod(t.dims)) > opts.init_conversion_max_bytes:
            available[(name, F32)] = name
            available[(name, low)] = add_cast(name, low, head, base=name)
            stats.initializers_cast += 1
            continue
        arr = numpy_helper.to_array(t)
        conv = _to_low(arr, low)
        over = int(np.count_nonzero(np.isfinite(arr) & ~np.isfinite(conv.astype(np.float32))))
        if over:
            stats.warnings.append(f"initializer {name!r}: {over} values overflow {short[low]} to inf (they exceed "
                                  f"its range; the init_max rule was relaxed or overridden for its reader)")
        if keep_name_type == low:
            t.CopyFrom(numpy_helper.from_array(conv, name))
            available[(name, low)] = name
            stats.initializers_converted += 1
            if F32 in need:
                copy = names.fresh(f"{name}_{short[F32]}")
                g.initializer.append(numpy_helper.from_array(arr, copy))
                available[(name, F32)] = copy
                stats.initializers_copied += 1
        else:
            copy = names.fresh(f"{name}_{short[low]}")
            g.initializer.append(numpy_helper.from_array(conv, copy))
            available[(name, F32)] = name
            available[(name, low)] = copy
            stats.initializers_copied += 1

    # values produced by graph inputs and nodes
    def provide(v, into: list, rename_output=None, through=None):
        """Make ``v`` available in every type it is wanted in. ``through``: the input of the retargeted Cast that
        produces ``v``; the other types are cast from it (one Cast, not a Cast of a Cast)."""
        p = produced.get(v)
        need = pinned.get(v)
        src = v
        origin = src if through is None else available.get((through, produced.get(through)), through)
        if need is not None and p is not None and need != p and rename_output is not None:
            src = names.fresh(f"{v}_{short.get(p, p)}")
            rename_output(src)
            origin = src if through is None else origin
            add_cast(origin, need, into, out_name=v)
            available[(v, need)] = v
        available[(v, p)] = src
        for ty in sorted(wants.get(v, set()) - {p, need}):
            if ty is not None and p is not None:
                available[(v, ty)] = add_cast(origin, ty, into, base=v)

    for vi in g.input:
        if vi.name not in inits and vi.name in produced:
            provide(vi.name, head)
    for k, (n, d) in enumerate(zip(g.node, decisions)):
        after[k] = []
        retargeted = n.op_type == "Cast" and d.precision == LOW and 0 in d.lowered_outputs
        for j, v in enumerate(n.output):
            if v:
                def rename(new, n=n, j=j):
                    n.output[j] = new
                provide(v, after[k], rename, through=n.input[0] if retargeted else None)

    # rewrite readers, retarget lowered Casts, retype the graph's inputs and outputs
    originals = [list(n.input) for n in g.node]
    for k, i, want in reads:
        v = originals[k][i]
        if v in inits and want is None:
            want = inits[v].data_type if (v, inits[v].data_type) in available else next(
                ty for (name, ty) in available if name == v)
        key = (v, want if want is not None else produced.get(v))
        if key in available:
            g.node[k].input[i] = available[key]
    for n, d in zip(g.node, decisions):
        if n.op_type == "Cast" and d.precision == LOW and 0 in d.lowered_outputs:
            for a in n.attribute:
                if a.name == "to":
                    a.i = low
    for vi in g.input:
        if vi.name in produced and vi.name not in inits and produced[vi.name] is not None:
            vi.type.tensor_type.elem_type = produced[vi.name]
    for vi in g.output:
        if pinned.get(vi.name) is not None:
            vi.type.tensor_type.elem_type = pinned[vi.name]

    nodes = list(head)
    for k, n in enumerate(g.node):
        nodes.append(n)
        nodes.extend(after[k])
    del g.node[:]
    g.node.extend(nodes)
    del g.value_info[:]   # types changed: shape inference rebuilds them
    return stats
