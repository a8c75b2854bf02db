"""Keep in FLOAT the layers whose values FP16 (or BF16) cannot hold, found by running sample data in FLOAT.

    sample batch ─ graph in FLOAT (after fusion) ─ range of every value v ─┬─ max |v| > limit      (overflow)
                                                                           └─ max |v| < floor      (precision lost)
    the layer that writes v and every layer that reads v ─ info.keep_float = reason ─ assign_precision runs them
    in FLOAT; their other inputs and outputs are cast at their boundary, the rest of the network is lowered

Runs on the graph the fusion passes produced, just before ``assign_precision``: those nodes are what runs, and a
node's outputs are exactly the values stored in the reduced type, so a fused layer is decided by its own outputs
(a convolution whose BatchNorm was folded in is judged on the normalized values, not on the raw convolution that
no longer exists). The values a fused ``pointwise`` chain computes in registers are checked too: its generic
implementation computes in the type of its inputs. Running before fusion and mapping the decisions back through
``origin`` would judge values that are never stored and keep whole fused layers in FLOAT for them.

Why the readers too: a value out of FP16's range written in FLOAT and cast to FP16 for its reader is inf there. A
layer kept in FLOAT reads its FLOAT inputs as they are and casts its output back for lowered readers, so only the
offending layers and their immediate readers pay.

Limits (``limits``): overflow when the largest finite |x| seen exceeds the type's largest finite value divided by
``OVERFLOW_MARGIN`` = 4 (16376 for FP16): a factor 2 for accumulation and rounding inside the layer, a factor 2 for
real inputs larger than the sample. BF16 has float32's exponent range; only values near float32's limits (such as
``finfo(float32).min`` attention masks) overflow it. Precision lost when every nonzero |x| is below
``PRECISION_STEPS`` = 16 steps of the type's smallest subnormal (9.5e-7 for FP16): such a value keeps fewer than 4
significant bits in the reduced type, or flushes to 0. Non-finite values already present in FLOAT are left out of
the ranges (the rule is: no inf or NaN where FLOAT has none).

Never overridden: layers whose precision or output types the user set (``layer.precision``,
``set_output_type``); a finding on such a layer is a WARNING and the layer stays as set. ``config.fp16_range_guard
= False`` turns the guard off. The sample data comes from ``builder/sample_inputs.py``; the observation (one pass
per batch, time-boxed) from ``builder/observe_ranges.py``.
"""
from __future__ import annotations

import torch

from ..dtypes import torch_dtype
from ..enums import DataType
from ..ir.kinds import Kind
from ..logger import Severity

OVERFLOW_MARGIN = 4
PRECISION_STEPS = 16


def limits(target: DataType) -> tuple[float, float]:
    """(overflow limit, precision floor) for values that will be stored in ``target``."""
    fi = torch.finfo(torch_dtype(target))
    return fi.max / OVERFLOW_MARGIN, fi.smallest_normal * fi.eps * PRECISION_STEPS


def why_unsafe(r, target: DataType) -> str | None:
    """Why a value with range ``r`` (a ValueRange) cannot be held in ``target``; None when it can."""
    limit, floor = limits(target)
    fi = torch.finfo(torch_dtype(target))
    name = target.name
    if r.max_abs > limit:
        return (f"max |value| {r.max_abs:.4g} is above {limit:.6g} ({name}'s largest value {fi.max:.6g} / "
                f"{OVERFLOW_MARGIN}, a margin for accumulation and for inputs larger than the sample)")
    if 0 < r.max_abs < floor:
        return (f"max |value| {r.max_abs:.3g} is below {floor:.3g} ({PRECISION_STEPS} steps of {name}'s smallest "
                f"subnormal {fi.smallest_normal * fi.eps:.3g}): {name} keeps fewer than 4 significant bits of it "
                f"or flushes it to 0")
    return None


def _label(n) -> str:
    origin = [o for o in n.origin if o != n.name]
    return f"{n.name!r}" + (f" (fused from {', '.join(map(repr, origin))})" if origin else "")


def decide(graph, observation, target: DataType) -> dict[str, str]:
    """{node name: reason} for the nodes that must run in FLOAT, user-set ones included (see ``mark``)."""
    producers = graph.producers()
    consumers = graph.consumers()
    keep: dict[str, str] = {}
    for v, r in observation.ranges.items():
        why = why_unsafe(r, target)
        if why is None:
            continue
        if v in producers:
            keep.setdefault(producers[v].name, f"its output {v!r}: {why}")
        for n in consumers.get(v, []):
            keep.setdefault(n.name, f"its input {v!r}: {why}")
    for name, regs in observation.inner.items():
        for reg, r in sorted(regs.items()):
            why = why_unsafe(r, target)
            if why is not None:
                keep.setdefault(name, f"the value it computes in register {reg}: {why}")
                break
    return keep


def mark(graph, keep: dict[str, str], target: DataType, log) -> list[tuple[str, str]]:
    """Set ``info.keep_float`` on the nodes of ``keep`` the user did not pin; log each. Returns the marked
    (node name, reason) pairs."""
    marked = []
    for n in graph.nodes:
        why = keep.get(n.name)
        if why is None:
            continue
        pinned = n.info.user_set()
        if pinned:
            log(Severity.WARNING, f"{target.name} range guard: layer {_label(n)} would need FLOAT ({why}) but its "
                                  f"{' and '.join(pinned).replace('_', ' ')} was set by the user; kept as set")
            continue
        n.info.keep_float = why
        marked.append((n.name, why))
        if n.kind != Kind.CONSTANT:
            log(Severity.INFO, f"{target.name} range guard: layer {_label(n)} kept in FLOAT: {why}")
    return marked


def guard_reduced_precision(graph, target: DataType, batches: list, log, device="cpu", time_box_s=None,
                            source: str = "") -> list[tuple[str, str]]:
    """Observe ``batches`` through ``graph`` in FLOAT, mark the layers that must stay in FLOAT, log them. Returns
    the marked (node name, reason) pairs."""
    from ..builder.observe_ranges import TIME_BOX_S, observe_ranges

    obs = observe_ranges(graph, batches, device, TIME_BOX_S if time_box_s is None else time_box_s)
    if obs.stopped:
        log(Severity.WARNING, f"{target.name} range guard: {obs.stopped}; {len(obs.unchecked)} layers were not "
                              f"checked and are lowered to {target.name} unchecked")
    marked = mark(graph, decide(graph, obs, target), target, log)
    layers = {n.name for n in graph.nodes if n.kind != Kind.CONSTANT}
    kept = [m for m, _ in marked if m in layers]
    log(Severity.INFO, f"{target.name} range guard: {len(kept)} of {len(layers)} layers kept in FLOAT"
                       + (f" (sample data: {source})" if source else ""))
    return marked


def requested_precision(config) -> DataType | None:
    """The reduced type the flags ask for (FP16 before BF16), whatever the device; None for none."""
    from ..enums import BuilderFlag

    if config.get_flag(BuilderFlag.FP16):
        return DataType.HALF
    if config.get_flag(BuilderFlag.BF16):
        return DataType.BF16
    return None


def guard_for_build(graph, config, device: str, profiles: list, log) -> list[tuple[str, str]]:
    """The builder's entry: runs when FP16 or BF16 is requested and ``config.fp16_range_guard`` is on. On the CPU,
    where every layer runs in FLOAT, the decision is still made, logged and recorded in the plan, so it can be
    seen and tested anywhere."""
    target = requested_precision(config)
    if target is None:
        return []
    if not getattr(config, "fp16_range_guard", True):
        log(Severity.INFO, f"{target.name} range guard: off (config.fp16_range_guard = False); every float layer "
                           f"is lowered without a range check")
        return []
    from ..builder.sample_inputs import sample_batches

    batches, source = sample_batches(graph, config, profiles, device)
    return guard_reduced_precision(graph, target, batches, log, device, source=source)
