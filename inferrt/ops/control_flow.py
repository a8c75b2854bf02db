"""Control flow: ``if`` and ``loop`` nodes that carry subgraphs, plus the boundary layers of TensorRT's API.

``if``   inputs  [condition, *outer]; attrs ``then_graph``/``else_graph`` (Graphs whose inputs bind to ``outer``
         in order and whose outputs are the node's outputs). Branch outputs may differ in shape; then the node's
         output shape is only known once the condition is (the runtime's eager path runs it). ``output_shapes``
         (optional, one entry per output: a list of dims with -1 for unknown, or null) is the shape the model
         declares for an output; it gives the output its rank where the branches' inferred ranks differ or are
         unknown, and each run checks the branch's result against it.

``loop`` inputs  [trip_count | "", condition | "", *carried (N), *scanned (K), *outer (M)]
         body inputs  [iteration (INT64 scalar), condition (BOOL scalar), *carried, *scan slices, *outer]
         body outputs [condition, *carried_next (N), *scan_outputs (S), *last_values (L)]
         node outputs [*carried_final (N), *scan_outputs stacked (S), *last_values (L)]
         ``cond_graph`` (optional, TensorRT's WHILE trip limit): same inputs as the body, one BOOL output that is
         evaluated *before* each iteration. A body whose condition output is its condition input never stops on
         its own. It covers ONNX Loop (trip count and/or condition, scan outputs stacked on axis 0), ONNX Scan
         (scanned inputs with axes and directions, no trip count) and TensorRT's ILoop.

The subgraphs run through ``run_graph``, a small interpreter (``ops/subgraph.py``): each node's output shapes are
inferred from the actual values, outputs are allocated, and the node's generic PyTorch implementation runs.

The boundary kinds (``if_condition``, ``if_input``, ``if_output``, ``loop_trip_limit``, ``loop_recurrence``,
``loop_iterator``, ``loop_output``) exist only in networks built with ``add_if_conditional``/``add_loop``; the
builder folds them into ``if``/``loop`` nodes (``inferrt.builder.lower_control_flow``).
"""
from __future__ import annotations

import numpy as np
import torch

from ..dtypes import from_torch_dtype, torch_dtype
from ..enums import DataType, LayerType, LoopOutput, TripLimit
from .base import BOOL, GRAPH, INT, INTS, JSON, STR, Enum, OpDef, OpError, Spec, register
from .subgraph import declared_dtype, device_of, infer_graph, merge_specs, run_graph, spec_of, truth


# ----------------------------------------------------------------------------------------------- if
@register
class If(OpDef):
    kind = "if"
    layer_type = LayerType.CONDITION
    attrs = {"then_graph": (GRAPH, None), "else_graph": (GRAPH, None), "output_shapes": (JSON, None)}
    inputs = ("condition", "outer")
    min_inputs = 1

    @staticmethod
    def _declared(a, i):
        shapes = a.get("output_shapes") or ()
        return None if i >= len(shapes) or shapes[i] is None else tuple(int(d) for d in shapes[i])

    def _with_declared(self, a, specs):
        """``specs`` with the declared shapes filling in what inference left unknown (a rank, or -1 dims)."""
        res = []
        for i, s in enumerate(specs):
            d = self._declared(a, i)
            if d is not None and s.shape is None:
                s = Spec(s.dtype, d)
            elif d is not None and len(d) != len(s.shape):
                raise OpError(f"output {i} has rank {len(s.shape)} (shape {s.shape}) but the model declares rank "
                              f"{len(d)} ({d}); fix the branch or the declared output type")
            elif d is not None:
                for k, (x, y) in enumerate(zip(s.shape, d)):
                    if x >= 0 and y >= 0 and x != y:
                        raise OpError(f"output {i} has dim {k} = {x} but the model declares {y} (shape {d})")
                s = Spec(s.dtype, tuple(x if x >= 0 else y for x, y in zip(s.shape, d)), s.value)
            res.append(s)
        return res

    def _graphs(self, a):
        if a.then_graph is None or a.else_graph is None:
            raise OpError("both then_graph and else_graph must be set")
        if len(a.then_graph.outputs) != len(a.else_graph.outputs):
            raise OpError(f"then branch has {len(a.then_graph.outputs)} outputs but else branch has "
                          f"{len(a.else_graph.outputs)}; both branches must produce the same number of outputs")
        return a.then_graph, a.else_graph

    def infer(self, a, ins):
        tg, eg = self._graphs(a)
        cond = ins[0]
        if cond.shape is not None and any(d > 1 for d in cond.shape):
            raise OpError(f"condition must hold one value, got shape {cond.shape}")
        outer = ins[1:]
        if cond.value is not None:
            g, label = (tg, "then branch") if bool(np.asarray(cond.value).reshape(-1)[0]) else (eg, "else branch")
            specs = infer_graph(g, outer, label)
            return self._with_declared(a, [Spec(specs[o].dtype, specs[o].shape, specs[o].value) for o in g.outputs])
        ts = infer_graph(tg, outer, "then branch")
        es = infer_graph(eg, outer, "else branch")
        return self._with_declared(a, [merge_specs(ts[t], es[e], f"output {i} of the branches")
                                       for i, (t, e) in enumerate(zip(tg.outputs, eg.outputs))])

    def run(self, a, ins, outs):
        tg, eg = self._graphs(a)
        take_then = truth(ins[0], "if condition")
        g = tg if take_then else eg
        label = "then branch" if take_then else "else branch"
        res = run_graph(g, list(ins[1:]), device_of(ins, outs), label)
        for i, r in enumerate(res):
            d = self._declared(a, i)
            if d is not None and (r.dim() != len(d) or any(y >= 0 and x != y for x, y in zip(r.shape, d))):
                raise RuntimeError(f"{label}: output {i} has shape {tuple(r.shape)} but the model declares {d}; the "
                                   f"layers after the if were built for the declared shape")
        return res


# ----------------------------------------------------------------------------------------------- loop
@register
class Loop(OpDef):
    kind = "loop"
    layer_type = LayerType.LOOP_OUTPUT
    attrs = {
        "body": (GRAPH, None),
        "cond_graph": (GRAPH, None),
        "num_carried": (INT, 0),
        "num_scan_inputs": (INT, 0),
        "scan_input_axes": (INTS, ()),
        "scan_input_reverse": (INTS, ()),
        "num_scan_outputs": (INT, 0),
        "scan_output_axes": (INTS, ()),
        "scan_output_reverse": (INTS, ()),
        "num_last": (INT, 0),
    }
    inputs = ("trip_count", "condition", "values")
    min_inputs = 0
    data_dependent = True

    # -- layout helpers
    def _split(self, a, ins):
        n, k = a.num_carried, a.num_scan_inputs
        ins = list(ins) + [None] * max(0, 2 + n + k - len(ins))
        return ins[0], ins[1], ins[2:2 + n], ins[2 + n:2 + n + k], ins[2 + n + k:]

    def _check(self, a, n_ins):
        body = a.body
        if body is None:
            raise OpError("the loop has no body graph")
        n, k, s, last = a.num_carried, a.num_scan_inputs, a.num_scan_outputs, a.num_last
        n_ins = max(n_ins, 2)  # absent trailing trip count / condition
        if n_ins < 2 + n + k:
            raise OpError(f"expects at least {2 + n + k} inputs (trip count, condition, {n} carried, {k} scanned), "
                          f"got {n_ins}")
        m = n_ins - 2 - n - k
        if len(body.inputs) != 2 + n + k + m:
            raise OpError(f"body takes {len(body.inputs)} inputs but the loop feeds it {2 + n + k + m} "
                          f"(iteration, condition, {n} carried, {k} scan slices, {m} outer values)")
        if len(body.outputs) != 1 + n + s + last:
            raise OpError(f"body has {len(body.outputs)} outputs but the loop expects {1 + n + s + last} "
                          f"(condition, {n} carried, {s} scan outputs, {last} last values)")
        for name, v, cnt in (("scan_input_axes", a.scan_input_axes, k), ("scan_input_reverse", a.scan_input_reverse, k),
                             ("scan_output_axes", a.scan_output_axes, s),
                             ("scan_output_reverse", a.scan_output_reverse, s)):
            if len(v) not in (0, cnt):
                raise OpError(f"{name} has {len(v)} entries but there are {cnt} scanned values")

    @staticmethod
    def _axis(axes, i, default=0):
        return axes[i] if axes else default

    def _trip_count_known(self, a, trip, cond, scans, scan_axes):
        """The number of iterations when it is known from specs, else None."""
        body = a.body
        runs_free = body.outputs[0] == body.inputs[1] and a.cond_graph is None
        if not runs_free:
            return None
        if cond is not None:
            if cond.value is None:
                return None
            if not bool(np.asarray(cond.value).reshape(-1)[0]):
                return 0
        count = None
        if trip is not None:
            if trip.value is None:
                return None
            count = max(int(np.asarray(trip.value).reshape(-1)[0]), 0)
        for i, s in enumerate(scans):
            if s.shape is None:
                return None
            d = s.shape[scan_axes[i]]
            if d < 0:
                return None
            count = d if count is None else min(count, d)
        return count

    def infer(self, a, ins):
        self._check(a, len(ins))
        trip, cond, carried, scans, outer = self._split(a, ins)
        n, k, s = a.num_carried, a.num_scan_inputs, a.num_scan_outputs
        body = a.body
        scan_axes = []
        slice_specs = []
        for i, sp in enumerate(scans):
            if sp.shape is None:
                raise OpError(f"scanned input {i} has unknown rank")
            ax = self._axis(a.scan_input_axes, i)
            if not -len(sp.shape) <= ax < len(sp.shape):
                raise OpError(f"scan axis {ax} is out of range for scanned input {i} of rank {len(sp.shape)}")
            ax %= len(sp.shape)
            scan_axes.append(ax)
            slice_specs.append(Spec(sp.dtype, sp.shape[:ax] + sp.shape[ax + 1:]))
        if trip is None and cond is None and not scans and body.outputs[0] == body.inputs[1] and a.cond_graph is None:
            raise OpError("the loop has no trip count, no condition and no scanned input, and its body never sets "
                          "the condition to false: it would never end; give it a trip count or a condition")
        for what, sp in (("trip count", trip), ("condition", cond)):
            if sp is not None and sp.shape is not None and any(d > 1 for d in sp.shape):
                raise OpError(f"{what} must hold one value, got shape {sp.shape}")
        it = Spec(DataType.INT64, ())
        cd = Spec(DataType.BOOL, ())
        names = body.inputs[2:2 + n]
        state = [Spec(declared_dtype(body, nm, c.dtype), c.shape) for nm, c in zip(names, carried)]
        for _ in range(8):  # fixpoint: carried shapes that change across iterations become dynamic
            specs = infer_graph(body, [it, cd] + state + slice_specs + list(outer), "loop body")
            c_out = specs.get(body.outputs[0]) if body.outputs else None
            if c_out is not None and c_out.shape is not None and any(d > 1 or d == 0 for d in c_out.shape):
                raise OpError(f"the loop body's condition output must hold one value, got shape {c_out.shape}")
            if a.cond_graph is not None:
                infer_graph(a.cond_graph, [it, cd] + state + slice_specs + list(outer), "loop condition")
            nxt = [specs[o] for o in body.outputs[1:1 + n]]
            merged = [merge_specs(c, x, f"carried value {i} (initial vs. body output)")
                      for i, (c, x) in enumerate(zip(state, nxt))]
            if [m.shape for m in merged] == [c.shape for c in state]:
                break
            state = merged
        count = self._trip_count_known(a, trip, cond, scans, scan_axes)
        outs = [Spec(c.dtype, c.shape) for c in state]
        if count == 0:
            outs = [Spec(st.dtype, c.shape, c.value if st.dtype == c.dtype else None)
                    for st, c in zip(state, carried)]
        for i, o in enumerate(body.outputs[1 + n:1 + n + s]):
            per = specs[o]
            if per.shape is None:
                outs.append(Spec(per.dtype, None))
                continue
            ax = self._axis(a.scan_output_axes, i)
            r = len(per.shape) + 1
            if not -r <= ax < r:
                raise OpError(f"scan output axis {ax} is out of range for scan output {i} of rank {r}")
            ax %= r
            outs.append(Spec(per.dtype, per.shape[:ax] + (-1 if count is None else count,) + per.shape[ax:]))
        for o in body.outputs[1 + n + s:]:
            outs.append(Spec(specs[o].dtype, specs[o].shape))
        return outs

    def run(self, a, ins, outs):
        self._check(a, len(ins))
        trip, cond, carried, scans, outer = self._split(a, ins)
        n, k, s, last_n = a.num_carried, a.num_scan_inputs, a.num_scan_outputs, a.num_last
        body = a.body
        dev = device_of(ins, outs)
        limit = None if trip is None else max(int(trip.reshape(-1)[0].item()), 0)
        go = True if cond is None else truth(cond, "loop condition")
        axes = [self._axis(a.scan_input_axes, i) % scans[i].dim() for i in range(k)]
        for i, x in enumerate(scans):
            limit = x.shape[axes[i]] if limit is None else min(limit, x.shape[axes[i]])
        free = body.outputs[0] == body.inputs[1] and a.cond_graph is None
        if limit is None and free and cond is None:
            raise RuntimeError("loop has no trip count, no condition and no scanned input: it would never end")
        state = [t.to(torch_dtype(declared_dtype(body, nm, from_torch_dtype(t.dtype)))) if t.is_floating_point()
                 else t for nm, t in zip(body.inputs[2:2 + n], carried)]
        scan_acc: list[list] = [[] for _ in range(s)]
        last = [None] * last_n
        i = 0
        while go and (limit is None or i < limit):
            slices = [x.select(axes[j], x.shape[axes[j]] - 1 - i if self._axis(a.scan_input_reverse, j, 0) else i)
                      for j, x in enumerate(scans)]
            it = torch.tensor(i, dtype=torch.int64, device=dev)
            cd = torch.tensor(True, device=dev)
            feed = [it, cd] + state + slices + list(outer)
            if a.cond_graph is not None:
                go = truth(run_graph(a.cond_graph, feed, dev, "loop condition")[0], "loop condition")
                if not go:
                    break
            res = run_graph(body, feed, dev, f"loop body (iteration {i})")
            go = truth(res[0], "loop body's condition output")
            state = res[1:1 + n]
            for j in range(s):
                scan_acc[j].append(res[1 + n + j])
            last = res[1 + n + s:]
            i += 1
        results = list(state)
        per_iter = None
        for j in range(s):
            ax = self._axis(a.scan_output_axes, j)
            items = scan_acc[j][::-1] if self._axis(a.scan_output_reverse, j, 0) else scan_acc[j]
            if items:
                results.append(torch.stack(items, dim=ax % (items[0].dim() + 1)))
                continue
            if per_iter is None:
                per_iter = self._zero_trip_specs(a, ins, state)
            sp = per_iter[1 + n + j]
            if not sp.static:
                raise RuntimeError(f"loop ran zero iterations and scan output {j}'s per-iteration shape is unknown")
            shp = list(sp.shape)
            shp.insert(ax % (len(shp) + 1), 0)
            results.append(torch.empty(shp, dtype=torch_dtype(sp.dtype), device=dev))
        if last_n and i == 0:
            raise RuntimeError("loop ran zero iterations, so the last value of a body tensor is undefined; "
                               "give the loop at least one iteration or use a recurrence output instead")
        return results + list(last)

    def _zero_trip_specs(self, a, ins, state):
        trip, cond, carried, scans, outer = self._split(a, ins)
        sl = []
        for i, x in enumerate(scans):
            ax = self._axis(a.scan_input_axes, i) % x.dim()
            sp = spec_of(x)
            sl.append(Spec(sp.dtype, sp.shape[:ax] + sp.shape[ax + 1:]))
        feed = [Spec(DataType.INT64, ()), Spec(DataType.BOOL, ())] + [spec_of(t) for t in state] + sl + \
            [None if t is None else spec_of(t) for t in outer]
        specs = infer_graph(a.body, feed, "loop body")
        return [specs[o] for o in a.body.outputs]


# ----------------------------------------------------------------------------------------------- boundary layers
class _Boundary(OpDef):
    """A boundary layer of TensorRT's conditional/loop API; folded into an ``if``/``loop`` node when building."""

    def run(self, a, ins, outs):
        raise RuntimeError(f"a {self.kind} layer of construct {a.group!r} was not folded into its if/loop node; "
                           f"build the network with Builder.build_serialized_network")

    def foldable(self, a):
        return False


@register
class IfCondition(_Boundary):
    kind = "if_condition"
    layer_type = LayerType.CONDITION
    attrs = {"group": (STR, "")}
    inputs = ("condition",)
    num_outputs = 0

    def infer(self, a, ins):
        c = ins[0]
        if c.dtype != DataType.BOOL:
            raise OpError(f"the condition must be a BOOL tensor, got {c.dtype.name}; compare or cast it first")
        if c.shape is not None and len(c.shape) != 0:
            raise OpError(f"the condition must be a 0-D (scalar) tensor, got shape {c.shape}; reshape it to ()")
        return []


@register
class IfInput(_Boundary):
    kind = "if_input"
    layer_type = LayerType.CONDITIONAL_INPUT
    attrs = {"group": (STR, "")}

    def infer(self, a, ins):
        return [Spec(ins[0].dtype, ins[0].shape, ins[0].value)]


@register
class IfOutput(_Boundary):
    kind = "if_output"
    layer_type = LayerType.CONDITIONAL_OUTPUT
    attrs = {"group": (STR, "")}
    inputs = ("then", "else")
    min_inputs = 2

    def infer(self, a, ins):
        return [merge_specs(ins[0], ins[1], "then and else outputs")]


@register
class TripLimitOp(_Boundary):
    kind = "loop_trip_limit"
    layer_type = LayerType.TRIP_LIMIT
    attrs = {"group": (STR, ""), "kind": (Enum(TripLimit), TripLimit.COUNT)}
    num_outputs = 0

    def infer(self, a, ins):
        t = ins[0]
        if t.shape is not None and len(t.shape) != 0:
            raise OpError(f"the trip limit must be a 0-D (scalar) tensor, got shape {t.shape}")
        if a.kind == TripLimit.COUNT and t.dtype not in (DataType.INT32, DataType.INT64):
            raise OpError(f"a COUNT trip limit must be INT32 or INT64, got {t.dtype.name}")
        if a.kind == TripLimit.WHILE and t.dtype != DataType.BOOL:
            raise OpError(f"a WHILE trip limit must be BOOL, got {t.dtype.name}")
        return []


@register
class Recurrence(_Boundary):
    kind = "loop_recurrence"
    layer_type = LayerType.RECURRENCE
    attrs = {"group": (STR, "")}
    inputs = ("initial", "next")

    def infer(self, a, ins):
        return [Spec(ins[0].dtype, ins[0].shape)]


@register
class Iterator(_Boundary):
    kind = "loop_iterator"
    layer_type = LayerType.ITERATOR
    attrs = {"group": (STR, ""), "axis": (INT, 0), "reverse": (BOOL, False)}

    def infer(self, a, ins):
        x = ins[0]
        if x.shape is None:
            return [Spec(x.dtype, None)]
        r = len(x.shape)
        if not -r <= a.axis < r:
            raise OpError(f"axis {a.axis} is out of range for a tensor of rank {r}")
        ax = a.axis % r
        return [Spec(x.dtype, x.shape[:ax] + x.shape[ax + 1:])]


@register
class LoopOutputOp(_Boundary):
    kind = "loop_output"
    layer_type = LayerType.LOOP_OUTPUT
    attrs = {"group": (STR, ""), "kind": (Enum(LoopOutput), LoopOutput.LAST_VALUE), "axis": (INT, 0)}
    inputs = ("value", "length")

    def infer(self, a, ins):
        x = ins[0]
        if a.kind == LoopOutput.LAST_VALUE or x.shape is None:
            return [Spec(x.dtype, x.shape)]
        r = len(x.shape) + 1
        if not -r <= a.axis < r:
            raise OpError(f"axis {a.axis} is out of range for the concatenated output of rank {r}")
        ax = a.axis % r
        n = -1
        if len(ins) > 1 and ins[1] is not None and ins[1].value is not None:
            n = int(np.asarray(ins[1].value).reshape(-1)[0])
        return [Spec(x.dtype, x.shape[:ax] + (n,) + x.shape[ax:])]
