"""Statistics of a builder graph's values over calibration batches: the graph runs in FLOAT, layer by layer, on
the engine's device (each node with its op's generic implementation, as ``builder/observe_ranges.py`` runs it),
and every value named in ``names`` is added to its statistic (an ``inferrt.quantize`` ``AbsHistogram``) while it
is alive; a value is freed after its last reader, so memory stays near one inference's.

Used by TensorRT 10's INT8 calibrators inside the builder (``builder/calibrate.py``). Unlike the range guard's
observation, a node that cannot run fails the calibration: its ranges are needed to build.
"""
from __future__ import annotations

import contextlib

import torch

from ..builder.observe_ranges import constant_values, last_reads, run_node
from ..errors import BuildError
from ..ir.kinds import Kind


def _no_tf32(device):
    """The FP32 function's ranges: TF32 off on CUDA for the calibration runs (restored after)."""
    if torch.device(device).type != "cuda":
        return contextlib.nullcontext()
    from ..runtime.tf32 import tf32_mode

    return tf32_mode(False)


def graph_stats(graph, batches, names, make_stat, device="cpu") -> tuple[dict, int]:
    """Run each batch ({graph input: tensor}) of the iterable ``batches`` through ``graph``; returns ({name:
    statistic} for the float32 values of ``names`` that were computed, number of batches run)."""
    device = torch.device(device)
    wanted = set(names)
    stats: dict = {}
    last = last_reads(graph)
    count = 0

    def add(name, t):
        if name in wanted and isinstance(t, torch.Tensor) and t.dtype == torch.float32:
            if name not in stats:
                stats[name] = make_stat()
            stats[name].add(t)

    with torch.no_grad(), _no_tf32(device):
        consts = constant_values(graph, device)
        for bi, batch in enumerate(batches):
            vals = dict(consts)
            vals.update({k: t.to(device) for k, t in batch.items()})
            for k in (list(consts) if bi == 0 else []) + list(graph.inputs):   # constants: once
                add(k, vals.get(k))
            for idx, n in enumerate(graph.nodes):
                if n.kind == Kind.CONSTANT:
                    continue
                try:
                    outs = run_node(n, [vals[i] if i else None for i in n.inputs], device, [])
                except Exception as e:  # noqa: BLE001 - name the layer whatever failed
                    raise BuildError(f"INT8 calibration: layer {n.name!r} ({n.kind}) failed on calibration batch "
                                     f"{bi}: {type(e).__name__}: {e}; check the shapes and values the calibrator's "
                                     f"get_batch returns") from None
                for o, t in zip(n.outputs, outs):
                    vals[o] = t
                    add(o, t)
                for v in n.inputs:
                    if v and last.get(v) == idx and v not in consts:
                        vals.pop(v, None)
            count += 1
    return stats, count
