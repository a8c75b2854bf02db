"""Run sample batches through a graph in its own types, layer by layer, and record the range of every float32 value.

    batch ─ node 1 ─ v1 ─ node 2 ─ v2 ─ ...        ranges[v] = largest finite |x|, smallest nonzero |x|,
                                                    count of inf/NaN (over every batch)

Each node runs with its op's generic implementation on ``device`` (what the ``generic`` tactic runs), shapes are
inferred from the actual values, and a value is freed after its last reader, so memory stays near one inference's.
The values a fused ``pointwise`` chain computes in registers are recorded too (``inner``), because a generic
implementation of the chain in reduced precision stores them in that precision. The statistics stay on the device
until the end (one synchronization). A time box stops the run early: the nodes not reached are listed in
``unchecked``. A node that cannot run stops the run the same way; observing never fails a build.

Used by ``passes/guard_reduced_precision.py``; nothing here touches global RNG or global PyTorch settings.
"""
from __future__ import annotations

import dataclasses
import time

import torch

from ..dtypes import storage_tensor, torch_dtype
from ..ir.kinds import Kind
from ..ops.base import FOLD_LIMIT

#: seconds the observation may take before it stops (the nodes after the stop are reported as unchecked)
TIME_BOX_S = 60.0


@dataclasses.dataclass
class ValueRange:
    """The range of one float32 value over the sample batches."""

    max_abs: float            # largest finite |x| (0.0 when every element is 0 or non-finite)
    min_abs_nonzero: float    # smallest finite nonzero |x| (inf when there is none)
    nonfinite: int            # number of inf / NaN elements
    numel: int

    def merge(self, other: "ValueRange") -> "ValueRange":
        return ValueRange(max(self.max_abs, other.max_abs), min(self.min_abs_nonzero, other.min_abs_nonzero),
                          self.nonfinite + other.nonfinite, self.numel + other.numel)


@dataclasses.dataclass
class Observation:
    ranges: dict          # value name -> ValueRange (float32 values only)
    inner: dict           # node name -> {register index: ValueRange} (fused pointwise chains)
    unchecked: list       # names of the nodes that did not run (time box, or a failure)
    stopped: str = ""     # why the run stopped early ("" when every node ran on every batch)


def _stats(t: torch.Tensor) -> torch.Tensor:
    """[max finite |x|, min finite nonzero |x|, number of non-finite] as a float64 tensor on t's device."""
    a = t.detach().abs()
    finite = torch.isfinite(a)
    mx = a.masked_fill(~finite, 0.0).max()            # python scalars: no host-to-device copy, no sync
    mn = a.masked_fill(~(finite & (a > 0)), float("inf")).min()
    bad = (~finite).sum()
    return torch.stack([mx.double(), mn.double(), bad.double()])


def constant_values(graph, device) -> dict:
    import warnings

    consts = {}
    with warnings.catch_warnings():   # read-only weight arrays: no op writes its inputs
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        for n in graph.nodes:
            if n.kind == Kind.CONSTANT:
                consts[n.outputs[0]] = storage_tensor(n.attrs.weights).reshape(tuple(n.attrs.shape)).to(device)
    return consts


def last_reads(graph) -> dict:
    last = {}
    for i, n in enumerate(graph.nodes):
        for v in n.inputs:
            if v:
                last[v] = i
    return last


def _host_side(n, ins):
    """Small integer inputs an op reads on the host (reshape dims, slice starts...) handed over as CPU tensors, as
    the executor hands over known shape values."""
    ins = list(ins)
    for k in getattr(n.op, "host_inputs", ()):
        t = ins[k] if k < len(ins) else None
        if t is not None and t.device.type != "cpu" and not t.is_floating_point() and t.numel() <= FOLD_LIMIT:
            host = t.cpu()
            if n.op.host_input_wanted(k, host.numpy()):
                ins[k] = host
    return ins


def run_node(n, ins, device, registers):
    from ..runtime.executor import spec_of

    ins = _host_side(n, ins)
    specs = [None if t is None else spec_of(t) for t in ins]
    out_specs = n.op.infer_all(n.attrs, specs)
    outs = [torch.empty(tuple(s.shape), dtype=torch_dtype(s.dtype), device=device) if s.static else None
            for s in out_specs]
    if n.kind == Kind.POINTWISE:
        from ..ops.pointwise import run_program

        res = [run_program(n.attrs.program, ins, registers)]
    else:
        res = n.op.run(n.attrs, ins, outs)
    if res is not None:
        # None: the op wrote the output it was given
        outs = [o if r is None else r if o is None else (o.copy_(r.reshape(o.shape)) if r.data_ptr() != o.data_ptr()
                                                         else o) for o, r in zip(outs, res)]
    return outs


def observe_ranges(graph, batches: list, device="cpu", time_box_s: float = TIME_BOX_S) -> Observation:
    """Run each batch ({graph input: tensor}) through ``graph`` and return the ranges of its float32 values."""
    device = torch.device(device)
    t_end = time.perf_counter() + time_box_s
    consts = constant_values(graph, device)
    last = last_reads(graph)
    pending: list = []   # (value or node name, register index or None, number of elements, stats tensor)
    ran: set = set()
    stopped = ""

    def record(key, reg, t):
        if isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.numel() > 0:
            pending.append((key, reg, t.numel(), _stats(t)))

    with torch.no_grad():
        for v, t in consts.items():
            record(v, None, t)
        for bi, batch in enumerate(batches):
            vals = dict(consts)
            vals.update({k: t.to(device) for k, t in batch.items()})
            for k in graph.inputs:
                record(k, None, vals.get(k))
            for idx, n in enumerate(graph.nodes):
                if n.kind == Kind.CONSTANT:
                    continue
                if time.perf_counter() > t_end:
                    stopped = f"the time box of {time_box_s:g} s ran out at layer {n.name!r} (batch {bi + 1})"
                    break
                regs: list = []
                try:
                    outs = run_node(n, [vals[i] if i else None for i in n.inputs], device, regs)
                except Exception as e:  # noqa: BLE001 - observing never fails a build
                    stopped = f"layer {n.name!r} ({n.kind}) could not run on the sample data: {type(e).__name__}: {e}"
                    break
                ran.add(n.name)
                for o, t in zip(n.outputs, outs):
                    vals[o] = t
                    record(o, None, t)
                if n.kind == Kind.POINTWISE:
                    prog = n.attrs.program
                    for r, t in enumerate(regs[:-1]):
                        if prog[r][0] not in ("input", "scalar"):
                            record(n.name, r, t)
                for v in n.inputs:
                    if v and last.get(v) == idx and v not in consts:
                        vals.pop(v, None)
            if stopped:
                break
    ranges: dict = {}
    inner: dict = {}
    if pending:
        table = torch.stack([s for *_, s in pending]).cpu().tolist()   # one synchronization
        for (key, reg, numel, _), (mx, mn, bad) in zip(pending, table):
            got = ValueRange(mx, mn, int(bad), numel)
            into = ranges if reg is None else inner.setdefault(key, {})
            k = key if reg is None else reg
            into[k] = into[k].merge(got) if k in into else got
    unchecked = [n.name for n in graph.nodes if n.kind != Kind.CONSTANT and n.name not in ran]
    return Observation(ranges, inner, unchecked, stopped)
