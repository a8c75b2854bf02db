"""Reducing a failing ONNX model to a small failing subgraph by bisection (Polygraphy's ``debug reduce --mode
bisect``).

``fails(model) -> bool`` says whether a candidate still shows the failure. With the nodes in topological order:

1. outputs: bisect on the number of leading nodes kept, a prefix whose outputs are every tensor it computes that a
   later node (or the graph) reads; the smallest failing prefix ends at the culprit. Then only that last node's
   outputs are tried as the outputs.
2. inputs: bisect on the number of leading nodes cut off; the tensors the rest reads from the cut part become graph
   inputs (typed from shape inference; Constant nodes are never cut off, they move along with their readers).

Both assume, as Polygraphy's bisect does, that a failure appears at one place and shows in everything downstream of
it; the two steps repeat until the model stops shrinking.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import NetworkError
from .onnx_graph import extract, graph_inputs, node_inputs, sort_nodes, tensor_types, upstream


@dataclass
class ReduceResult:
    model: object
    checks: int = 0
    steps: list = field(default_factory=list)   # human-readable log of accepted reductions


def _is_constant(node) -> bool:
    return node.op_type == "Constant" and node.domain in ("", "ai.onnx")


class _Reducer:
    def __init__(self, fails, types, log):
        self.fails, self.types, self.log = fails, types, log
        self.checks = 0

    def test(self, candidate) -> bool:
        self.checks += 1
        return bool(self.fails(candidate))

    def _build(self, model, inputs, outputs):
        try:
            return extract(model, inputs, outputs, self.types)
        except NetworkError:
            return None   # not expressible (an input or output without a known type): not a candidate

    def prefix(self, model, k: int):
        nodes = model.graph.node
        kept = nodes[:k]
        later_reads = {i for n in nodes[k:] for i in node_inputs(n)} | {o.name for o in model.graph.output}
        outs = [o for n in kept if not _is_constant(n) for o in n.output if o and o in later_reads]
        if not outs:
            return None
        ins = self._needed_inputs(model, outs)
        return None if ins is None else self._build(model, ins, outs)

    def _needed_inputs(self, model, outs):
        """The original graph inputs ``outs`` depend on, typed as declared."""
        inputs = {v.name for v in graph_inputs(model.graph)}
        return {t: self.types.get(t) for t in upstream(model.graph, outs, inputs) if t in inputs}

    def suffix(self, model, j: int):
        nodes = model.graph.node
        cut = [n for n in nodes[:j] if not _is_constant(n)]
        cut_out = {o for n in cut for o in n.output if o}
        orig_inputs = {v.name for v in graph_inputs(model.graph)}
        cut_ids = {id(n) for n in cut}
        rest = [n for n in nodes if id(n) not in cut_ids]
        reads = [i for n in rest for i in node_inputs(n)]
        ins = {}
        for t in reads:
            if (t in cut_out or t in orig_inputs) and t not in ins:
                ty = self.types.get(t)
                if ty is None:
                    return None
                ins[t] = ty
        outs = [o.name for o in model.graph.output if o.name not in cut_out]
        if not outs:
            return None
        return self._build(model, ins, outs)

    def bisect(self, lo: int, hi: int, make, want_smallest: bool):
        """The smallest (or largest) index in [lo, hi] whose candidate fails, assuming one boundary; ``hi`` (or
        ``lo``) is known to fail. Returns (index, candidate model or None when it is the known one)."""
        best, best_model = (hi, None) if want_smallest else (lo, None)
        a, b = lo, hi
        while a < b:
            mid = (a + b) // 2 if want_smallest else (a + b + 1) // 2
            cand = make(mid)
            ok = cand is not None and self.test(cand)
            if want_smallest:
                if ok:
                    best, best_model, b = mid, cand, mid
                else:
                    a = mid + 1
            else:
                if ok:
                    best, best_model, a = mid, cand, mid
                else:
                    b = mid - 1
        return best, best_model


def reduce_model(model, fails, log=None) -> ReduceResult:
    """The smallest failing subgraph of ``model`` bisection finds. NetworkError when ``model`` itself passes."""
    import onnx

    log = log or (lambda msg: None)
    current = onnx.ModelProto()
    current.CopyFrom(model)
    sort_nodes(current)
    types = tensor_types(current)
    r = _Reducer(fails, types, log)
    if not r.test(current):
        raise NetworkError("the check passes on the original model: there is no failure to reduce (make the check "
                           "fail on the model first)")
    res = ReduceResult(current)
    while True:
        before = len(current.graph.node)
        n = len(current.graph.node)
        k, cand = r.bisect(1, n, lambda k: r.prefix(current, k), want_smallest=True)
        if cand is not None:
            current = cand
            sort_nodes(current)
            res.steps.append(f"outputs: kept the first {k} of {n} node(s)")
            log(res.steps[-1])
        last = [nd for nd in current.graph.node if not _is_constant(nd)]
        if last:
            own = [o for o in last[-1].output if o]
            if sorted(own) != sorted(o.name for o in current.graph.output):
                ins = r._needed_inputs(current, own)
                cand = r._build(current, ins, own) if ins is not None else None
                if cand is not None and r.test(cand):
                    current = cand
                    sort_nodes(current)
                    res.steps.append(f"outputs: only node {last[-1].name or last[-1].op_type!r}'s outputs")
                    log(res.steps[-1])
        n = len(current.graph.node)
        j, cand = r.bisect(0, max(n - 1, 0), lambda j: r.suffix(current, j), want_smallest=False)
        if cand is not None:
            current = cand
            sort_nodes(current)
            res.steps.append(f"inputs: cut off the first {j} of {n} node(s)")
            log(res.steps[-1])
        if len(current.graph.node) >= before:
            break
    res.model, res.checks = current, r.checks
    return res
