"""Execution: per input-shape set, a ``ShapePlan`` binds every tensor to a slot (arena view, engine constant or
user buffer) and lists the steps; running it is a loop over prepared kernels with no allocation.

Networks whose shapes depend on data (NonZero, NMS, loops with data-dependent trip counts) run in *eager* mode:
each node's output shape is inferred from the actual values just before it runs and memory comes from PyTorch's
caching allocator (TensorRT allocates these through IOutputAllocator as well).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ..dtypes import torch_dtype
from ..errors import ExecutionError, InferrtError
from ..ir.kinds import Kind
from ..ops import Spec
from ..ops.base import FOLD_LIMIT, OpError, host_tensor
from .memory import lifetimes_of, plan_memory



def nbytes_of(spec: Spec) -> int:
    return int(np.prod(spec.shape, dtype=np.int64)) * torch.empty((), dtype=torch_dtype(spec.dtype)).element_size()


#: op kinds whose output can often be a view of their input (no kernel, no memory)
VIEW_KINDS = {Kind.SHUFFLE, Kind.SQUEEZE, Kind.UNSQUEEZE, Kind.IDENTITY, Kind.SLICE, Kind.GATHER}


def _meta(spec: Spec, fmt: str | None):
    t = torch.empty(tuple(spec.shape), dtype=torch_dtype(spec.dtype), device="meta")
    if fmt == "NHWC" and t.dim() == 4:
        t = t.contiguous(memory_format=torch.channels_last)
    return t


def _root(t):
    return t._base if t._is_view() else t


def plan_layout(graph, specs: dict, const_names: set):
    """Decide, at concrete shapes, which values are views of others (``aliases``: value -> source value) and which
    are folded host constants; returns (aliases, folded, meta tensors)."""
    keep = set(graph.inputs) | set(graph.outputs) | const_names
    folded = {o for n in graph.nodes for o in n.outputs
              if o not in keep and specs[o].value is not None and all(specs[x].value is not None for x in n.outputs)}
    meta = {k: _meta(specs[k], None) for k in graph.inputs}
    for k in const_names:
        meta[k] = _meta(specs[k], None)
    aliases: dict[str, str] = {}
    for n in graph.nodes:
        if n.kind == Kind.CONSTANT:
            continue
        fmt = n.info.format
        if (n.kind in VIEW_KINDS and len(n.outputs) == 1 and n.outputs[0] not in keep
                and n.outputs[0] not in folded and n.inputs and n.inputs[0] in meta):
            x = meta[n.inputs[0]]
            host = getattr(n.op, "host_inputs", ())
            args = [(host_tensor(specs[i].value)
                     if k in host and specs[i].value is not None and n.op.host_input_wanted(k, specs[i].value)
                     else meta.get(i)) if i else None for k, i in enumerate(n.inputs)]
            try:
                r = n.op.run(n.attrs, args, [_meta(specs[n.outputs[0]], None)])
            except Exception:  # noqa: BLE001 - an op that cannot run on meta tensors is simply not aliased
                r = None
            if r is not None and r[0] is not None and tuple(r[0].shape) == tuple(specs[n.outputs[0]].shape) and (
                    r[0] is x or (r[0]._is_view() and _root(r[0]) is _root(x))):
                aliases[n.outputs[0]] = n.inputs[0]
                meta[n.outputs[0]] = r[0]
                continue
        for o in n.outputs:
            meta[o] = _meta(specs[o], fmt)
    return aliases, folded, meta


def plan_arena(graph, specs: dict, const_names: set) -> tuple[dict, int, set]:
    """Arena offsets for the activations of ``graph`` at concrete ``specs``; also the folded value names."""
    aliases, folded, _ = plan_layout(graph, specs, const_names)
    offsets, total = _offsets(graph, specs, const_names, aliases, folded)
    return offsets, total, folded


def _offsets(graph, specs, const_names, aliases, folded):
    keep = set(graph.inputs) | set(graph.outputs) | const_names

    def root(v):
        while v in aliases:
            v = aliases[v]
        return v

    steps = [([root(i) for i in n.inputs if i], [o for o in n.outputs if o not in aliases]) for n in graph.nodes]
    life = lifetimes_of(steps, keep | folded)
    sizes = {k: nbytes_of(specs[k]) for k in life}
    return plan_memory(sizes, life)


class ShapePlan:
    """Everything needed to run one input-shape set in one context."""

    #: the context's I/O bindings at this plan's shapes (name, dtype, shape, writable, non-empty), made by the
    #: context on first use (context.py ``_bound_io``)
    io_binds = None

    def __init__(self, executor, input_specs: dict, arena_getter):
        g = executor.graph
        self.executor = executor
        try:
            self.specs = g.infer(input_specs)
        except OpError as e:
            raise ExecutionError(str(e)) from None
        except InferrtError:
            raise
        except Exception as e:  # noqa: BLE001 - an op's shape rule failing on these shapes names no layer itself
            raise ExecutionError(f"shape inference at input shapes "
                                 f"{ {k: tuple(v.shape) for k, v in input_specs.items()} } failed: "
                                 f"{type(e).__name__}: {e}") from None
        try:
            self._prepare(executor, arena_getter)
        except InferrtError:
            raise
        except Exception as e:  # noqa: BLE001 - preparing views of constants runs layers (see _prepare)
            raise ExecutionError(f"preparing to run at input shapes "
                                 f"{ {k: tuple(v.shape) for k, v in input_specs.items()} } failed: "
                                 f"{type(e).__name__}: {e}") from None

    def _prepare(self, executor, arena_getter):
        g = executor.graph
        self.eager = any(not s.static for s in self.specs.values())
        self.output_shapes = {o: tuple(self.specs[o].shape) if self.specs[o].static else None for o in g.outputs}
        if self.eager:
            return
        dev = executor.device
        consts = set(executor.consts)
        aliases, folded, meta = plan_layout(g, self.specs, consts)
        offsets, total = _offsets(g, self.specs, consts, aliases, folded)
        self.arena_bytes = total
        arena = arena_getter(total)
        self.slots: dict[str, torch.Tensor] = {}
        for name, off in offsets.items():
            s = self.specs[name]
            n = nbytes_of(s)
            flat = arena[off:off + n].view(torch_dtype(s.dtype))
            m = meta[name]
            self.slots[name] = torch.as_strided(flat, tuple(m.shape), tuple(m.stride()))
        for name in folded:
            self.slots[name] = host_tensor(self.specs[name].value).to(dev)
        self.slots.update(executor.consts)
        self.aliases = aliases
        self.steps = []
        self.view_steps = []
        # graph inputs and outputs (bound per call) and views of them, chains included: views made per call
        per_call = set(g.inputs) | set(g.outputs)
        for n in g.nodes:
            if n.kind == Kind.CONSTANT or (n.outputs and all(o in folded for o in n.outputs)):
                continue
            if n.outputs and n.outputs[0] in aliases:
                on_input = n.inputs[0] in per_call
                self.view_steps.append((n, on_input))
                if on_input:
                    per_call.add(n.outputs[0])
                else:
                    try:
                        self.slots[n.outputs[0]] = n.op.run(n.attrs, [self.slots.get(i) if i else None
                                                                      for i in self._host_side(n)],
                                                            [meta[n.outputs[0]]])[0]
                    except Exception as e:  # noqa: BLE001
                        raise _layer_failed(n.name, e) from e
                continue
            self.steps.append((executor.kernels[n.name], self._host_side(n), n.outputs, n.name))
        # views of graph I/O are made per call (their addresses can change)
        self.input_views = [(n, meta[n.outputs[0]], self._host_side(n)) for n, on_input in self.view_steps
                            if on_input]
        # graph outputs that no step writes (inputs, constants, folded values) get a copy step
        written = {o for _, _, outs, _ in self.steps for o in outs}
        self.copies = [o for o in g.outputs if o not in written]
        # step outputs whose slot may be replaced by the tensor a tactic returns (no copy): not graph outputs and
        # not the source of a view made once here (such a view would keep pointing at the arena slot)
        self.adoptable = frozenset(written - set(g.outputs) - set(aliases.values()))
        self.arena_storage = arena.untyped_storage().data_ptr() if offsets else None
        # the steps as _run_steps reads them: (kernel, input names, output names, layer, the input names again when
        # none is empty (None otherwise: read one by one), the single output's name (None: several outputs))
        self.run_steps = [(fn, ins, outs, name, None if any(not i for i in ins) else tuple(ins),
                           outs[0] if len(outs) == 1 else None) for fn, ins, outs, name in self.steps]

    @staticmethod
    def _store(res, outs, b, slots, adoptable, foreign):
        """Put a step's returned tensors in place: adopted as the slot, or copied into it."""
        for o, dst, r in zip(outs, b, res):
            _store_one(o, dst, r, slots, adoptable, foreign)

    def _host_side(self, n) -> list:
        """Input names for node ``n``, with known shape-tensor inputs (``op.host_inputs``) redirected to CPU copies
        made once here, so the layer reads them without a device-to-host copy."""
        ins = list(n.inputs)
        for idx in getattr(n.op, "host_inputs", ()):
            if idx < len(ins) and ins[idx] and self.specs[ins[idx]].value is not None \
                    and n.op.host_input_wanted(idx, self.specs[ins[idx]].value):
                key = f"{ins[idx]} [host]"
                if key not in self.slots:
                    self.slots[key] = host_tensor(self.specs[ins[idx]].value)
                ins[idx] = key
        return ins

    def run(self, io: dict, profiler=None, sync=False, adopt=True):
        """Run the steps on the bound graph I/O.

        A step either writes its output slots or returns tensors. With ``adopt``, a returned tensor that lives in
        memory of its own (not the arena, not graph I/O) replaces the slot for later steps instead of being copied
        into it, when the value is not a graph output and no view planned once refers to the slot. Inside a CUDA
        graph that memory comes from the graph's pool, so replays still allocate nothing. Off when activations
        must stay in user-supplied memory."""
        slots = dict(self.slots)
        adoptable = self.adoptable if adopt else frozenset()
        foreign = {self.arena_storage} | {t.untyped_storage().data_ptr() for t in io.values()}
        slots.update(io)
        for n, m, ins in self.input_views:
            try:
                slots[n.outputs[0]] = n.op.run(n.attrs, [slots.get(i) if i else None for i in ins], [m])[0]
            except Exception as e:  # noqa: BLE001
                raise _layer_failed(n.name, e) from e
        for o in self.copies:
            try:
                io[o].copy_(self.slots[o].reshape(io[o].shape))
            except Exception as e:  # noqa: BLE001
                raise ExecutionError(f"copying into output {o!r} failed: {type(e).__name__}: {e}") from e
        self._run_steps(slots, adoptable, foreign, profiler, sync)

    def _run_steps(self, slots, adoptable, foreign, profiler, sync):
        """The steps in order. On the CPU every step runs at the execution's thread count, set once around the
        execution (``cpu_threads.threads_for_run``): no step switches it (see ``cpu_threads``, "One count per
        execution").

        The one loop of every device, with or without a profiler: the per-step lists come from ``run_steps``
        (made once per shape plan) and a single output is stored by ``_store_one`` directly, the same rule as
        ``_store`` without building the lists it zips (a small CPU network spends tens of microseconds per
        execution in this loop's Python)."""
        timed = profiler is not None
        for fn, ins, outs, name, plain, out in self.run_steps:
            a = [*map(slots.__getitem__, plain)] if plain is not None else [slots[i] if i else None for i in ins]
            b = [slots[out]] if out is not None else [slots[o] for o in outs]
            if timed:
                _sync(b)
                t0 = time.perf_counter()
            try:
                res = fn(a, b)
            except Exception as e:  # noqa: BLE001 - name the failing layer (bad values, corrupt attributes, ...)
                raise _layer_failed(name, e) from e
            if res is not None:
                try:
                    if out is not None:
                        for r in res:   # the first result only, as zip(outs, b, res) in _store
                            if r is not b[0]:   # (the slot itself: written in place, nothing to store)
                                _store_one(out, b[0], r, slots, adoptable, foreign)
                            break
                    else:
                        self._store(res, outs, b, slots, adoptable, foreign)
                except Exception as e:  # noqa: BLE001 - a result of the wrong size: name the layer
                    raise _layer_failed(name, e) from e
            if timed:
                _sync(b)
                profiler.report_layer_time(name, (time.perf_counter() - t0) * 1e3)
            elif sync:
                _sync(b)


def _store_one(o, dst, r, slots, adoptable, foreign):
    """Put the tensor ``r`` a step returned for output ``o`` (slot ``dst``) in place: adopted as the slot, or
    copied into it (see ``ShapePlan.run``)."""
    if r is None or r.data_ptr() == dst.data_ptr():
        return
    if o in adoptable and r.shape == dst.shape and r.dtype == dst.dtype and r.device == dst.device \
            and r.untyped_storage().data_ptr() not in foreign:
        slots[o] = r  # adopt the returned tensor: later steps read it in place of the slot
    else:
        if r.numel() != dst.numel():
            raise ExecutionError(f"it produced shape {tuple(r.shape)} for output {o!r}, which was planned "
                                 f"as {tuple(dst.shape)}")
        dst.copy_(r.reshape(dst.shape) if r.shape != dst.shape else r)


def _layer_failed(name: str, e: Exception) -> Exception:
    """The error to raise for layer ``name`` failing with ``e``: an inferrt error that names the layer."""
    if isinstance(e, InferrtError):
        return e if repr(name) in str(e) else ExecutionError(f"layer {name!r} failed: {e}")
    return ExecutionError(f"layer {name!r} failed: {type(e).__name__}: {e}")


def _sync(ts):
    for t in ts:
        if t.is_cuda:
            torch.cuda.current_stream(t.device).synchronize()
            return


class Executor:
    """Immutable per-engine execution state: graph, constants on the device, one kernel per node."""

    def __init__(self, graph, consts: dict, kernels: dict, device: torch.device):
        self.graph = graph
        self.consts = consts
        self.kernels = kernels
        self.device = device

    def run_eager(self, io_inputs: dict, profiler=None):
        """Run node by node, inferring shapes from actual values; returns the graph outputs as tensors."""
        vals: dict[str, torch.Tensor] = dict(self.consts)
        vals.update(io_inputs)
        for n in self.graph.nodes:
            if n.kind == Kind.CONSTANT:
                continue
            t0 = time.perf_counter()
            try:
                outs = self._run_node_eager(n, [vals[i] if i else None for i in n.inputs])
            except Exception as e:  # noqa: BLE001 - shape rules, allocation and kernels: name the layer
                raise _layer_failed(n.name, e) from e
            if profiler is not None:
                if self.device.type == "cuda":
                    torch.cuda.current_stream(self.device).synchronize()
                profiler.report_layer_time(n.name, (time.perf_counter() - t0) * 1e3)
            for o, t in zip(n.outputs, outs):
                vals[o] = t
        return {o: vals[o] for o in self.graph.outputs}

    def _run_node_eager(self, n, ins) -> list:
        specs = [None if t is None else spec_of(t) for t in ins]
        try:
            out_specs = n.op.infer_all(n.attrs, specs)
        except OpError as e:
            raise ExecutionError(f"node {n.name!r} ({n.kind}): {e}") from None
        outs = [torch.empty(tuple(s.shape), dtype=torch_dtype(s.dtype), device=self.device)
                if s.static else None for s in out_specs]
        res = self.kernels[n.name](ins, outs)
        if res is not None:
            outs = [r if o is None else (o.copy_(r.reshape(o.shape)) if r.data_ptr() != o.data_ptr() else o)
                    for o, r in zip(outs, res)]
        return outs


def spec_of(t: torch.Tensor) -> Spec:
    from ..dtypes import from_torch_dtype

    s = Spec(from_torch_dtype(t.dtype), tuple(t.shape))
    if t.numel() <= FOLD_LIMIT and not t.is_floating_point():
        s.value = t.detach().cpu().numpy()
    return s
