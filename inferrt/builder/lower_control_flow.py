"""Lower TensorRT's conditionals and loops (``add_if_conditional``, ``add_loop``) to ``if``/``loop`` nodes.

``lower_network`` lowers a network flat: a construct's boundary layers (``if_condition``, ``if_input``, ``if_output``,
``loop_trip_limit``, ``loop_recurrence``, ``loop_iterator``, ``loop_output``) become nodes like any other. As in
TensorRT, a construct's body is not declared: it is every layer that depends (through dataflow) on the construct's
entry points (conditional inputs; recurrence and iterator outputs) and feeds one of its exits (conditional outputs;
recurrence next values, loop outputs, a WHILE trip limit). ``fold_control_flow`` replaces each construct's boundary
nodes plus body by one ``if`` or ``loop`` node with subgraphs (see ``inferrt.ops.control_flow``): constants that body
layers read are copied into the body, any other value from outside becomes an explicit outer input of the construct.
Nested constructs fold innermost first.
"""
from __future__ import annotations

from ..enums import DataType, LoopOutput, TripLimit
from ..errors import BuildError
from ..ir.graph import Graph, Node
from ..ir.kinds import Kind
from ..ops import Spec
from ..ops.base import Attrs, OpError

BOUNDARY_KINDS = (Kind.IF_CONDITION, Kind.IF_INPUT, Kind.IF_OUTPUT, Kind.LOOP_TRIP_LIMIT, Kind.LOOP_RECURRENCE,
                  Kind.LOOP_ITERATOR, Kind.LOOP_OUTPUT)


def fold_control_flow(g, network) -> None:
    """Replace every conditional/loop of ``network`` (lowered flat into ``g``) by one ``if``/``loop`` node."""
    if not any(n.kind in BOUNDARY_KINDS for n in g.nodes):
        return
    net = network.internal
    by_name = {l.name: l for l in net.layers}
    groups: dict[str, list] = {}
    for n in g.nodes:
        if n.kind in BOUNDARY_KINDS:
            groups.setdefault(n.attrs.group, []).append(n)
    pending = list(groups)
    while pending:
        progressed = False
        for grp in list(pending):
            boundary = groups[grp]
            other = {id(b) for o in pending if o != grp for b in groups[o]}
            folder = _IfFolder if boundary[0].kind.startswith("if_") else _LoopFolder
            f = folder(g, grp, boundary, by_name, {o: groups[o] for o in pending if o != grp}, net)
            if any(id(n) in other for n in f.body_nodes()):
                continue  # an inner construct is still flat inside this one: fold it first
            f.fold()
            pending.remove(grp)
            progressed = True
        if not progressed:
            raise BuildError(f"conditionals/loops {pending} overlap without nesting; each layer may belong to "
                             f"one construct (and its enclosing ones) only")
    g.toposort()


class _Folder:
    def __init__(self, g, group, boundary, by_name, others, net):
        self.g, self.group, self.boundary, self.by_name, self.net = g, group, boundary, by_name, net
        self.others = others   # the constructs not folded yet: {group: boundary nodes}
        layer = by_name.get(boundary[0].name)
        self.label = getattr(net.construct_of(layer), "name", group)
        self.bids = {id(b) for b in boundary}
        self._slices = None

    def of(self, kind):
        return [b for b in self.boundary if b.kind == kind]

    def fail(self, msg):
        raise BuildError(f"{self.label}: {msg}")

    # -- membership
    def group_inputs(self, grp) -> list:
        """Every value an unfolded construct reads at its boundary, recurrence next values included."""
        ins = [i for b in self.others[grp] for i in b.inputs if i]
        for b in self.others[grp]:
            nxt = self.net.recurrence_next(self.by_name.get(b.name)) if b.kind == Kind.LOOP_RECURRENCE else None
            if nxt is not None:
                ins.append(nxt.name)
        return ins

    def dependents(self, starts: set) -> tuple[set, set]:
        """Ids of nodes (not this construct's boundary) that depend on ``starts``, and the values they define.
        An unfolded inner construct counts as one unit: once it reads a dependent value, all of it depends."""
        vals, ids = set(starts), set()
        changed = True
        while changed:
            changed = False
            for n in self.g.nodes:
                if id(n) in self.bids or id(n) in ids:
                    continue
                grp = n.attrs.get("group") if n.kind in BOUNDARY_KINDS else None
                if grp in self.others:
                    if any(i in vals for i in self.group_inputs(grp)):
                        for b in self.others[grp]:
                            ids.add(id(b))
                            vals.update(b.outputs)
                        changed = True
                    continue
                if any(i in vals for i in n.inputs if i):
                    ids.add(id(n))
                    vals.update(n.outputs)
                    changed = True
        return ids, vals

    def slice(self, ends, starts, dep_ids):
        """Body nodes (graph order) feeding ``ends``, constants they read, and the outer values they read."""
        prod = self.g.producers()
        body, consts, outer, seen = set(), set(), [], set()
        stack = list(ends)
        while stack:
            v = stack.pop()
            if not v or v in seen:
                continue
            seen.add(v)
            if v in starts:
                continue
            n = prod.get(v)
            if n is not None and id(n) in dep_ids:
                grp = n.attrs.get("group") if n.kind in BOUNDARY_KINDS else None
                if grp in self.others:  # an inner construct: all of it, and everything it reads
                    if id(n) not in body:
                        body.update(id(b) for b in self.others[grp])
                        stack.extend(self.group_inputs(grp))
                elif id(n) not in body:
                    body.add(id(n))
                    stack.extend(n.inputs)
            elif n is not None and n.kind == Kind.CONSTANT:
                consts.add(id(n))
            else:
                outer.append(v)
        nodes = [n for n in self.g.nodes if id(n) in body or id(n) in consts]
        return nodes, outer

    def subgraph(self, inputs, nodes, outputs, extra_specs):
        sg = Graph()
        sg.inputs = list(inputs)
        sg.outputs = list(outputs)
        sg.nodes = [Node(n.name, n.kind, list(n.inputs), list(n.outputs), Attrs(n.attrs), list(n.origin),
                         n.info.copy()) for n in nodes]
        for v in sg.inputs + [o for n in nodes for o in n.outputs]:
            s = extra_specs.get(v) or self.g.specs.get(v)
            if s is not None:
                sg.specs[v] = Spec(s.dtype, s.shape)
        try:
            sg.toposort()
        except OpError as e:
            self.fail(f"its body cannot be ordered: {e}")
        return sg

    def replace(self, removed_ids: set, node):
        """Swap the construct's nodes for ``node``; body values may not be read outside the construct."""
        g = self.g
        removed_ids = removed_ids | self.bids
        keep = [n for n in g.nodes if id(n) not in removed_ids or n.kind == Kind.CONSTANT]
        exits = {o for b in self.boundary if b.kind in (Kind.IF_OUTPUT, Kind.LOOP_OUTPUT) for o in b.outputs}
        defined_inside = {o for n in g.nodes if id(n) in removed_ids and n.kind != Kind.CONSTANT
                          for o in n.outputs} - exits
        for n in keep:
            bad = [i for i in n.inputs if i in defined_inside]
            if bad:
                self.fail(f"tensor {bad[0]!r} is computed inside the construct but layer {n.name!r} outside it reads "
                          f"it; route it out through a conditional/loop output")
        bad = [o for o in g.outputs if o in defined_inside]
        if bad:
            self.fail(f"network output {bad[0]!r} is computed inside the construct; mark the construct's output "
                      f"(add_output / add_loop_output) instead")
        used = {i for n in keep for i in n.inputs} | set(g.outputs) | set(node.inputs)
        keep = [n for n in keep if n.kind != Kind.CONSTANT or id(n) not in removed_ids or n.outputs[0] in used]
        g.nodes = keep + [node]
        for v in defined_inside:
            g.specs.pop(v, None)
        g.toposort()  # the new node goes where its inputs allow (an enclosing construct slices in graph order)


class _IfFolder(_Folder):
    def body_nodes(self):
        starts = {b.outputs[0] for b in self.of(Kind.IF_INPUT)}
        dep, _ = self.dependents(starts)
        self._dep = dep
        outs = self.of(Kind.IF_OUTPUT)
        self._then = self.slice([o.inputs[0] for o in outs], starts, dep)
        self._else = self.slice([o.inputs[1] for o in outs], starts, dep)
        return [n for n in self._then[0] + self._else[0] if n.kind != Kind.CONSTANT]

    def fold(self):
        conds = self.of(Kind.IF_CONDITION)
        if len(conds) != 1:
            self.fail("call set_condition(tensor) exactly once" if not conds else "set_condition was called twice")
        ins = self.of(Kind.IF_INPUT)
        outs = self.of(Kind.IF_OUTPUT)
        if not outs:
            self.fail("the conditional has no outputs; call add_output(then_tensor, else_tensor)")
        starts = [b.outputs[0] for b in ins]
        outer = []
        for v in self._then[1] + self._else[1]:
            if v not in outer:
                outer.append(v)
        g_in = starts + outer
        then_g = self.subgraph(g_in, self._then[0], [o.inputs[0] for o in outs], {})
        else_g = self.subgraph(g_in, self._else[0], [o.inputs[1] for o in outs], {})
        name = self.g.unique_name(self.label)
        node = Node(name, Kind.IF, [conds[0].inputs[0]] + [b.inputs[0] for b in ins] + outer,
                    [o.outputs[0] for o in outs], Attrs(then_graph=then_g, else_graph=else_g),
                    origin=[b.name for b in self.boundary] + [n.name for n in self._then[0] + self._else[0]
                                                             if n.kind != Kind.CONSTANT])
        body = {id(n) for n in self._then[0] + self._else[0]}
        self.replace(body | self._dep, node)  # dependents outside both branches are dead


class _LoopFolder(_Folder):
    def _parts(self):
        recs = self.of(Kind.LOOP_RECURRENCE)
        iters = self.of(Kind.LOOP_ITERATOR)
        nexts = []
        for r in recs:
            nxt = self.net.recurrence_next(self.by_name.get(r.name))
            if nxt is None:
                self.fail(f"recurrence layer {r.name!r} has no next value; call set_input(1, tensor)")
            nexts.append(nxt.name)
        return recs, iters, nexts

    def body_nodes(self):
        recs, iters, nexts = self._parts()
        starts = {r.outputs[0] for r in recs} | {i.outputs[0] for i in iters}
        dep, _ = self.dependents(starts)
        self._dep = dep
        ends = nexts + [o.inputs[0] for o in self.of(Kind.LOOP_OUTPUT)]
        self._body = self.slice(ends, starts, dep)
        whiles = [t for t in self.of(Kind.LOOP_TRIP_LIMIT) if t.attrs.kind == TripLimit.WHILE]
        self._cond = self.slice([whiles[0].inputs[0]], starts, dep) if whiles else None
        nodes = list(self._body[0]) + (list(self._cond[0]) if self._cond else [])
        return [n for n in nodes if n.kind != Kind.CONSTANT]

    def fold(self):
        recs, iters, nexts = self._parts()
        limits = self.of(Kind.LOOP_TRIP_LIMIT)
        counts = [t for t in limits if t.attrs.kind == TripLimit.COUNT]
        whiles = [t for t in limits if t.attrs.kind == TripLimit.WHILE]
        if len(counts) > 1 or len(whiles) > 1:
            self.fail("a loop takes at most one COUNT and one WHILE trip limit")
        if not limits and not iters:
            self.fail("the loop has no trip limit and no iterator; call add_trip_limit(tensor, TripLimit.COUNT)")
        rec_out = {r.outputs[0]: i for i, r in enumerate(recs)}
        it_name, cd_name = f"{self.label}:iteration", f"{self.label}:condition"
        finals = [None] * len(recs)
        extra_nodes, scans, lasts = [], [], []
        for o in self.of(Kind.LOOP_OUTPUT):
            v, kind = o.inputs[0], o.attrs.kind
            if kind == LoopOutput.LAST_VALUE and v in rec_out:
                i = rec_out[v]
                if finals[i] is None:
                    finals[i] = o.outputs[0]
                else:
                    extra_nodes.append(Node(o.name, Kind.IDENTITY, [finals[i]], [o.outputs[0]], origin=[o.name]))
            elif kind == LoopOutput.LAST_VALUE:
                lasts.append((v, o))
            else:
                scans.append((v, o))
        finals = [f or self.g.unique_name(f"{r.name}:final") for f, r in zip(finals, recs)]
        outer = []
        for v in self._body[1] + (self._cond[1] if self._cond else []):
            if v not in outer and v not in (it_name, cd_name):
                outer.append(v)
        b_in = [it_name, cd_name] + [r.outputs[0] for r in recs] + [i.outputs[0] for i in iters] + outer
        extra = {it_name: Spec(DataType.INT64, ()), cd_name: Spec(DataType.BOOL, ())}
        body = self.subgraph(b_in, self._body[0], [cd_name] + nexts + [v for v, _ in scans] + [v for v, _ in lasts],
                             extra)
        cond_g = None
        if whiles:
            cond_g = self.subgraph(b_in, self._cond[0], [whiles[0].inputs[0]], extra)
        attrs = Attrs(body=body, cond_graph=cond_g, num_carried=len(recs), num_scan_inputs=len(iters),
                      scan_input_axes=tuple(i.attrs.axis for i in iters),
                      scan_input_reverse=tuple(int(i.attrs.reverse) for i in iters),
                      num_scan_outputs=len(scans), scan_output_axes=tuple(o.attrs.axis for _, o in scans),
                      scan_output_reverse=tuple(int(o.attrs.kind == LoopOutput.REVERSE) for _, o in scans),
                      num_last=len(lasts))
        name = self.g.unique_name(self.label)
        node = Node(name, Kind.LOOP, [counts[0].inputs[0] if counts else "", ""] + [r.inputs[0] for r in recs]
                    + [i.inputs[0] for i in iters] + outer,
                    finals + [o.outputs[0] for _, o in scans] + [o.outputs[0] for _, o in lasts], attrs,
                    origin=[b.name for b in self.boundary]
                    + [n.name for n in self._body[0] if n.kind != Kind.CONSTANT])
        for f, r in zip(finals, recs):
            self.g.specs.setdefault(f, self.g.specs.get(r.outputs[0]))
        ids = {id(n) for n in self._body[0]} | ({id(n) for n in self._cond[0]} if self._cond else set())
        self.replace(ids | self._dep, node)
        self.g.nodes.extend(extra_nodes)
