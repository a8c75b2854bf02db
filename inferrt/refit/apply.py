"""Put recomputed constants into a live engine: new device constants and freshly prepared kernels (a tactic caches
weights it prepared, e.g. a channels-last kernel, keyed by their address, so every runner is made again), swapped
in at once; each execution context sees the new weights version and drops its shape plans and captured CUDA graphs
before its next run (ICudaEngine.sync_weights)."""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..ir.kinds import Kind
from ..tactics.registry import get_tactic


def apply_updates(engine, updates: dict) -> None:
    """``updates``: {node name: new attrs} (recompute.changed_nodes). Everything that can fail happens before the
    engine is touched."""
    nodes = [dataclasses.replace(n, attrs=updates[n.name]) if n.name in updates else n for n in engine.graph.nodes]
    consts, kernels = {}, {}
    old = engine.executor.consts
    for n in nodes:
        if n.kind == Kind.CONSTANT:
            if n.name not in updates and n.outputs[0] in old:
                consts[n.outputs[0]] = old[n.outputs[0]]
                continue
            w = n.attrs.weights
            t = w if isinstance(w, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(w))
            consts[n.outputs[0]] = t.reshape(tuple(n.attrs.shape)).to(engine.device)
        else:
            kernels[n.name] = get_tactic(n.info.tactic or "generic").prepare(n, engine.device)
    from ..runtime.executor import Executor

    with engine._lock:
        engine.graph.nodes[:] = nodes
        engine.executor = Executor(engine.graph, consts, kernels, engine.device)
        engine._weights_version = getattr(engine, "_weights_version", 0) + 1
        engine._plan_stale = True
