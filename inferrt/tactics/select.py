"""Tactic selection: every supported candidate of every node; on the CPU and at optimization level 0 the
first (generic) one; the autotuner (GPU) times candidates and records winners in the timing cache."""
from __future__ import annotations

from .registry import candidates

HANDLED_FLAGS: set = set()


def select_tactics(graph, specs, device: str, config, log) -> None:
    for n in graph.nodes:
        if n.kind == "constant":
            continue
        cands = candidates(n, specs, device)
        if not cands:
            raise RuntimeError(f"no tactic implements node {n.name!r} ({n.kind}) on {device}")
        n.info["tactic"] = cands[0].name
