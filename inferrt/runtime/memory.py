"""Activation memory planning: one arena, an offset per tensor, slots reused once a tensor is dead.

Greedy best-fit by size (largest first) over tensor lifetimes, the usual approach of inference runtimes;
tensors whose lifetimes overlap never share bytes.
"""
from __future__ import annotations

ALIGN = 256


def align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


def plan_memory(sizes: dict[str, int], lifetimes: dict[str, tuple[int, int]]) -> tuple[dict[str, int], int]:
    """Offsets for each tensor (bytes) and the arena size. ``lifetimes[name] = (first step, last step)``."""
    order = sorted(sizes, key=lambda k: (-sizes[k], lifetimes[k][0], k))
    placed: list[tuple[int, int, int, int]] = []  # (offset, size, start, end)
    offsets: dict[str, int] = {}
    total = 0
    for name in order:
        size = align(max(sizes[name], 1))
        start, end = lifetimes[name]
        busy = sorted((o, o + s) for o, s, st, en in placed if not (en < start or end < st))
        offset = 0
        best = None
        for lo, hi in busy:
            if lo - offset >= size and (best is None or lo - offset < best[1]):
                best = (offset, lo - offset)
            offset = max(offset, hi)
        chosen = best[0] if best else offset
        offsets[name] = chosen
        placed.append((chosen, size, start, end))
        total = max(total, chosen + size)
    return offsets, total


def lifetimes_of(steps: list[tuple[list[str], list[str]]], keep: set[str]) -> dict[str, tuple[int, int]]:
    """Lifetimes of every value produced by ``steps`` [(inputs, outputs)], ignoring the names in ``keep``."""
    life: dict[str, list[int]] = {}
    for i, (ins, outs) in enumerate(steps):
        for o in outs:
            if o not in keep:
                life.setdefault(o, [i, i])
        for v in ins:
            if v in life:
                life[v][1] = i
    return {k: (a, b) for k, (a, b) in life.items()}
