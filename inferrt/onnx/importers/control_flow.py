"""ONNX If, Loop and Scan onto the ``if`` and ``loop`` subgraph ops (``inferrt/ops/control_flow.py``).

Each branch/body is imported into its own scratch network (through ``ctx.import_subgraph``) and lowered to a
Graph. Outer-scope values it reads become explicit inputs of the node, except known constants (initializers,
Constant outputs, folded shapes), which are copied into the subgraph as constant layers. Nested control flow
works the same way one level down: the inner node's scratch network captures from the outer body's.
"""
from __future__ import annotations

import numpy as np

from ...enums import DataType, ParserErrorCode
from ...ir.kinds import Kind
from ...ops import Spec
from ..registry import importer


def _spec_shape(ctx, t, what):
    producer = ctx.network.internal.producer(t)
    spec = ctx.network.internal.spec(t) if producer is not None else None
    shape = spec.shape if spec is not None else tuple(t.shape)
    if shape is None:
        ctx.fail(f"{what} {t.name!r} has an unknown rank (it comes out of layer {producer.name!r}, whose output "
                 f"rank could not be inferred: an If whose branches give different ranks); declare the value's "
                 f"shape in the branch outputs' types", ParserErrorCode.UNSUPPORTED_NODE_SHAPE)
    return tuple(shape)


def declared_shape(value_info):
    """The shape a ValueInfoProto declares (-1 for symbolic or absent dims), or None when it declares no rank."""
    tp = value_info.type
    if not tp.HasField("tensor_type") or not tp.tensor_type.HasField("shape"):
        return None
    return [int(d.dim_value) if d.HasField("dim_value") else -1 for d in tp.tensor_type.shape.dim]


def branch_declared_shapes(then_graph, else_graph):
    """Per If output, the shape the branches declare: dims that differ become -1; the one declared shape when only
    one branch declares one; None where neither does or the declared ranks differ."""
    res = []
    for t, e in zip(then_graph.output, else_graph.output):
        a, b = declared_shape(t), declared_shape(e)
        if a is None or b is None:
            res.append(a if b is None else b)
        elif len(a) != len(b):
            res.append(None)
        else:
            res.append([x if x == y else -1 for x, y in zip(a, b)])
    return res


def import_body(ctx, graph_proto, bound, what):
    """Import ``graph_proto`` into a scratch network. ``bound``: [(name, dtype, shape)] for the subgraph inputs
    (in order). Returns (Graph, [(name, parent ITensor)] for the Graph's extra inputs, in order)."""
    from ...builder.lower_network import lower_network
    from ...ir.network import INetworkDefinition

    net = INetworkDefinition(builder=ctx.network.builder)
    net.name = f"{ctx.network.name}/{what}"
    inputs = {}
    for name, dtype, shape in bound:
        t = net.add_input(name, dtype, shape)
        if t is None:
            ctx.fail(f"{what}: cannot bind subgraph input {name!r} ({'; '.join(net.internal.logged_errors())})",
                     ParserErrorCode.INVALID_GRAPH)
        inputs[name] = t
    captured: dict[str, tuple] = {}

    def outer(name):
        if name in captured:
            return captured[name][0]
        if not ctx.has(name):
            raise KeyError(name)
        val = ctx.value(name)
        if val is not None:
            arr = np.asarray(val)
            t = net.add_constant(arr.shape, np.ascontiguousarray(arr)).get_output(0)
            captured[name] = (t, None)
            return t
        parent = ctx.tensor(name)
        val = ctx.value_of(parent)
        if val is not None:  # a constant of an enclosing body: copy it again
            t = net.add_constant(np.shape(val), np.ascontiguousarray(val)).get_output(0)
            captured[name] = (t, None)
            return t
        t = net.add_input(name, parent.dtype, _spec_shape(ctx, parent, "outer-scope tensor"))
        captured[name] = (t, parent)
        return t

    outer.has = ctx.has  # probing a name (the subgraph's topological sort) must not capture it,
    outer.value = ctx.value  # and an importer reading a known value (Squeeze's axes) sees the outer constant
    outs = ctx.import_subgraph(graph_proto, outer_scope=outer, inputs=inputs, network=net)
    errors = net.internal.layer_errors() + net.internal.logged_errors()
    if errors:
        ctx.fail(f"{what}: " + "; ".join(errors), ParserErrorCode.INVALID_GRAPH)
    g = lower_network(net)
    g.outputs = [t.name for t in outs]
    g.remove_dead()
    return g, [(k, p) for k, (_, p) in captured.items() if p is not None]


def _scalar(ctx, name, dtype, what):
    t = ctx.tensor(name)
    if t.dtype != dtype:
        t = ctx.cast(t, dtype)
    shape = _spec_shape(ctx, t, what)
    if shape != ():
        if any(d > 1 for d in shape):
            ctx.fail(f"{what} {name!r} must hold one value, got shape {shape}", ParserErrorCode.INVALID_NODE)
        t = ctx.reshape(t, (), zero_copies=False)
    return t


def _add(ctx, node, kind, inputs, attrs, n_out):
    layer = ctx.network.internal.add_layer(kind, inputs, attrs, num_outputs=n_out)
    if all(l.name != node.name for l in ctx.network.internal.layers):  # keep names unique
        layer.name = node.name
    error = ctx.network.internal.layer_error(layer)
    if error:
        ctx.fail(error, ParserErrorCode.INVALID_NODE)
    return [layer.get_output(i) if i < n_out and o else None for i, o in enumerate(node.outputs)]


# ----------------------------------------------------------------------------------------------- If
@importer("If", since=1)
def if_(ctx, node):
    known = ctx.value(node.input(0))
    if known is not None and np.asarray(known).size == 1:  # a constant condition: inline the branch it picks
        branch = "then_branch" if bool(np.asarray(known).reshape(-1)[0]) else "else_branch"
        outs = ctx.import_subgraph(node.attr(branch))
        if len(outs) != len(node.outputs):
            ctx.fail(f"{branch} has {len(outs)} outputs but the node has {len(node.outputs)}",
                     ParserErrorCode.INVALID_NODE)
        return outs
    cond = _scalar(ctx, node.input(0), DataType.BOOL, "condition")
    tg, tp = import_body(ctx, node.attr("then_branch"), [], f"{node.name}/then_branch")
    eg, ep = import_body(ctx, node.attr("else_branch"), [], f"{node.name}/else_branch")
    if len(tg.outputs) != len(eg.outputs) or len(tg.outputs) != len(node.outputs):
        ctx.fail(f"then_branch has {len(tg.outputs)} outputs and else_branch {len(eg.outputs)}, but the node has "
                 f"{len(node.outputs)}; all three must agree", ParserErrorCode.INVALID_NODE)
    outer = dict(tp + ep)
    for g in (tg, eg):  # both branches take the union of the outer values, in one order
        for nm, p in outer.items():
            if nm not in g.inputs:
                g.specs[nm] = Spec(p.dtype, _spec_shape(ctx, p, "outer-scope tensor"))
        g.inputs = list(outer)
    attrs = {"then_graph": tg, "else_graph": eg,
             "output_shapes": branch_declared_shapes(node.attr("then_branch"), node.attr("else_branch"))}
    return _add(ctx, node, Kind.IF, [cond] + list(outer.values()), attrs, len(node.outputs))


# ----------------------------------------------------------------------------------------------- Loop
def _free_condition(g) -> None:
    """Point the body's condition output at its condition input when it is a copy of it or constant true, so a
    trip-count loop keeps a static shape."""
    prod = g.producers()
    v = g.outputs[0]
    while v in prod and prod[v].kind in (Kind.IDENTITY, Kind.CAST) and prod[v].inputs:
        v = prod[v].inputs[0]
    n = prod.get(v)
    true_const = n is not None and n.kind == Kind.CONSTANT and n.attrs.weights is not None \
        and np.asarray(n.attrs.weights).size == 1 and bool(np.asarray(n.attrs.weights).reshape(-1)[0])
    if v == g.inputs[1] or true_const:
        g.outputs[0] = g.inputs[1]
        g.remove_dead()


@importer("Loop", since=1)
def loop(ctx, node):
    body = node.attr("body")
    trip = _scalar(ctx, node.input(0), DataType.INT64, "trip count M") if node.input(0) else None
    cond = _scalar(ctx, node.input(1), DataType.BOOL, "condition") if node.input(1) else None
    carried = [ctx.tensor(v) for v in node.inputs[2:]]
    names = [vi.name for vi in body.input]
    n = len(carried)
    if len(names) != 2 + n:
        ctx.fail(f"body has {len(names)} inputs but the node gives it {2 + n} (iteration, condition, {n} carried)",
                 ParserErrorCode.INVALID_NODE)
    n_scan = len(body.output) - 1 - n
    if n_scan < 0 or len(node.outputs) > n + n_scan:
        ctx.fail(f"body has {len(body.output)} outputs; expected condition + {n} carried + scan outputs matching the "
                 f"node's {len(node.outputs)} outputs", ParserErrorCode.INVALID_NODE)
    bound = [(names[0], DataType.INT64, ()), (names[1], DataType.BOOL, ())]
    bound += [(nm, t.dtype, _spec_shape(ctx, t, "loop-carried value")) for nm, t in zip(names[2:], carried)]
    g, outer = import_body(ctx, body, bound, f"{node.name}/body")
    _free_condition(g)
    attrs = {"body": g, "num_carried": n, "num_scan_outputs": n_scan}
    return _add(ctx, node, Kind.LOOP, [trip, cond] + carried + [p for _, p in outer], attrs, n + n_scan)


# ----------------------------------------------------------------------------------------------- Scan
def _drop(shape, axis):
    axis %= len(shape)
    return shape[:axis] + shape[axis + 1:]


@importer("Scan", since=9)
def scan_9(ctx, node):
    body = node.attr("body")
    k = int(node.attr("num_scan_inputs"))
    ins = [ctx.tensor(v) for v in node.inputs]
    n = len(ins) - k
    if n < 0:
        ctx.fail(f"num_scan_inputs is {k} but the node has only {len(ins)} inputs", ParserErrorCode.INVALID_NODE)
    s = len(body.output) - n
    in_axes = list(node.attr("scan_input_axes", [0] * k))
    in_dirs = list(node.attr("scan_input_directions", [0] * k))
    out_axes = list(node.attr("scan_output_axes", [0] * s))
    out_dirs = list(node.attr("scan_output_directions", [0] * s))
    names = [vi.name for vi in body.input]
    if len(names) != n + k:
        ctx.fail(f"body has {len(names)} inputs but the node has {n} states and {k} scan inputs",
                 ParserErrorCode.INVALID_NODE)
    g, outer = _scan_body(ctx, node, body, names, ins[:n], ins[n:], in_axes)
    attrs = {"body": g, "num_carried": n, "num_scan_inputs": k, "scan_input_axes": in_axes,
             "scan_input_reverse": in_dirs, "num_scan_outputs": s, "scan_output_axes": out_axes,
             "scan_output_reverse": out_dirs}
    return _add(ctx, node, Kind.LOOP, [None, None] + ins + [p for _, p in outer], attrs, n + s)


def _scan_body(ctx, node, body, names, states, scans, axes, batch_dims=0):
    it, cd = f"{node.name}:iteration", f"{node.name}:condition"
    bound = [(it, DataType.INT64, ()), (cd, DataType.BOOL, ())]
    for nm, t in zip(names, states):
        bound.append((nm, t.dtype, _spec_shape(ctx, t, "scan state")[batch_dims:]))
    for nm, t, ax in zip(names[len(states):], scans, axes):
        shape = _spec_shape(ctx, t, "scan input")[batch_dims:]
        if not -len(shape) <= ax < len(shape):
            ctx.fail(f"scan axis {ax} is out of range for scan input {t.name!r} of rank {len(shape)}",
                     ParserErrorCode.INVALID_NODE)
        bound.append((nm, t.dtype, _drop(shape, ax)))
    g, outer = import_body(ctx, body, bound, f"{node.name}/body")
    g.outputs = [cd] + g.outputs
    return g, outer


@importer("Scan", since=8)
def scan_8(ctx, node):
    """Opset 8: inputs carry a leading batch axis and the scan runs per batch entry along axis 1. Built as a loop
    over the batch whose body is the loop over time."""
    from ...ir.graph import Graph, Node
    from ...ops.base import Attrs

    body = node.attr("body")
    k = int(node.attr("num_scan_inputs"))
    seq = node.input(0)
    ins = [ctx.tensor(v) for v in node.inputs[1:]]
    n = len(ins) - k
    s = len(body.output) - n
    if seq:
        lens = ctx.value(seq)
        full = {_spec_shape(ctx, t, "scan input")[1] for t in ins[n:]}
        if lens is None or len(full) != 1 or -1 in full or not np.all(np.asarray(lens) == full.pop()):
            ctx.fail("Scan-8 with sequence_lens shorter than the scanned axis is not supported; "
                     "remove sequence_lens or upgrade the model to opset 9+", ParserErrorCode.UNSUPPORTED_NODE_INPUT)
    dirs = list(node.attr("directions", [0] * k))
    names = [vi.name for vi in body.input]
    inner, outer = _scan_body(ctx, node, body, names, ins[:n], ins[n:], [0] * k, batch_dims=1)
    inner_attrs = Attrs(body=inner, cond_graph=None, num_carried=n, num_scan_inputs=k,
                        scan_input_axes=(0,) * k, scan_input_reverse=tuple(dirs), num_scan_outputs=s,
                        scan_output_axes=(0,) * s, scan_output_reverse=(0,) * s, num_last=0)
    ob = Graph()
    pre = f"{node.name}:batch"
    slices = [f"{pre}:in{i}" for i in range(len(ins))]
    results = [f"{pre}:out{i}" for i in range(n + s)]
    ob.inputs = [f"{pre}:iteration", f"{pre}:condition"] + slices + [nm for nm, _ in outer]
    ob.specs[ob.inputs[0]] = Spec(DataType.INT64, ())
    ob.specs[ob.inputs[1]] = Spec(DataType.BOOL, ())
    for nm, t in zip(slices, ins):
        ob.specs[nm] = Spec(t.dtype, _spec_shape(ctx, t, "scan input")[1:])
    for nm, p in outer:
        ob.specs[nm] = Spec(p.dtype, _spec_shape(ctx, p, "outer-scope tensor"))
    ob.nodes = [Node(f"{node.name}:time", "loop", ["", ""] + slices + [nm for nm, _ in outer], results, inner_attrs,
                     origin=[node.name])]
    inferred = ob.infer()
    for r in results:
        ob.specs[r] = inferred[r]
    ob.outputs = [ob.inputs[1]] + results
    attrs = {"body": ob, "num_carried": 0, "num_scan_inputs": n + k, "num_scan_outputs": n + s}
    return _add(ctx, node, Kind.LOOP, [None, None] + ins + [p for _, p in outer], attrs, n + s)
