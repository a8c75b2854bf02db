"""Activation memory planning: one arena, an offset per tensor, slots reused once a tensor is dead.

Two planners, both O(n log n) in the number of values ``n`` (plus, for the first, the number of pairs of values
whose lifetimes overlap, capped), and the smaller arena wins (ties go to the first):

* greedy best-fit by size (largest first), the usual approach of inference runtimes: each tensor takes the
  tightest gap between the tensors already placed that are alive at the same time. Those are found through a
  segment tree over time steps (alive at the tensor's first step) and a list of placed tensors sorted by first step
  (starting inside its lifetime), so the work is the number of overlapping pairs, not n^2. When a graph makes that
  number explode (thousands of values alive together), the greedy stops after ``OVERLAP_BUDGET`` pairs and only the
  second planner is used.
* a sweep in time order with a best-fit free list (coalescing neighbours), the dynamic allocator's view, which never
  looks at more than the free blocks.

Lifetimes are inclusive step ranges: tensors whose ranges share a step never share bytes.
"""
from __future__ import annotations

import bisect
import heapq

ALIGN = 256
OVERLAP_BUDGET_PER_VALUE = 64
OVERLAP_BUDGET_MIN = 1 << 20


def align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


def plan_memory(sizes: dict[str, int], lifetimes: dict[str, tuple[int, int]]) -> tuple[dict[str, int], int]:
    """Offsets for each tensor (bytes) and the arena size. ``lifetimes[name] = (first step, last step)``."""
    if not sizes:
        return {}, 0
    sweep = _sweep(sizes, lifetimes)
    greedy = _greedy_by_size(sizes, lifetimes, max(OVERLAP_BUDGET_MIN, OVERLAP_BUDGET_PER_VALUE * len(sizes)))
    if greedy is not None and greedy[1] <= sweep[1]:
        return greedy
    return sweep


class _Stabbing:
    """Segment tree over time steps [0, n): ``add`` an interval with a payload; ``at(t)`` yields the payloads of
    intervals containing step t."""

    def __init__(self, n: int):
        self.size = 1
        while self.size < max(n, 1):
            self.size *= 2
        self.nodes: dict[int, list] = {}

    def add(self, lo: int, hi: int, item) -> None:  # inclusive [lo, hi]
        lo += self.size
        hi += self.size + 1
        while lo < hi:
            if lo & 1:
                self.nodes.setdefault(lo, []).append(item)
                lo += 1
            if hi & 1:
                hi -= 1
                self.nodes.setdefault(hi, []).append(item)
            lo //= 2
            hi //= 2

    def at(self, t: int):
        i = t + self.size
        while i:
            yield from self.nodes.get(i, ())
            i //= 2


def _greedy_by_size(sizes, lifetimes, budget: int):
    steps = {t for k in sizes for t in lifetimes[k]}
    index = {t: i for i, t in enumerate(sorted(steps))}   # compress step numbers
    stab = _Stabbing(len(index))
    starts: list[tuple[int, int]] = []                     # (first step, id) of placed tensors, sorted
    placed: list[tuple[int, int]] = []                     # id -> (offset, end offset)
    offsets: dict[str, int] = {}
    total = 0
    work = 0
    for name in sorted(sizes, key=lambda k: (-sizes[k], lifetimes[k][0], k)):
        size = align(max(sizes[name], 1))
        start, end = index[lifetimes[name][0]], index[lifetimes[name][1]]
        busy = list(stab.at(start))                         # alive at our first step
        lo = bisect.bisect_right(starts, (start, len(placed)))
        hi = bisect.bisect_right(starts, (end, len(placed)))
        busy += [placed[i] for _, i in starts[lo:hi]]       # starting during our lifetime
        work += len(busy)
        if work > budget:
            return None
        busy.sort()
        offset, best = 0, None
        for b_lo, b_hi in busy:
            if b_lo - offset >= size and (best is None or b_lo - offset < best[1]):
                best = (offset, b_lo - offset)
            offset = max(offset, b_hi)
        chosen = best[0] if best else offset
        offsets[name] = chosen
        ident = len(placed)
        placed.append((chosen, chosen + size))
        stab.add(start, end, placed[ident])
        bisect.insort(starts, (start, ident))
        total = max(total, chosen + size)
    return offsets, total


def _sweep(sizes, lifetimes):
    """Time-ordered allocation from a best-fit free list; a free block at the top of the arena is extended."""
    slots = {k: align(max(sizes[k], 1)) for k in sizes}
    order = sorted(slots, key=lambda k: (lifetimes[k][0], -slots[k], k))
    free_by_size: list[tuple[int, int]] = []   # sorted (size, offset)
    free_at: dict[int, int] = {}               # offset -> size
    free_end: dict[int, int] = {}              # end offset -> offset
    releases: list[tuple[int, int, int]] = []  # heap of (last step, offset, size)
    offsets: dict[str, int] = {}
    top = 0

    def take(offset, size):
        free_by_size.pop(bisect.bisect_left(free_by_size, (size, offset)))
        del free_at[offset]
        del free_end[offset + size]

    def give(offset, size):
        nxt = free_at.get(offset + size)
        if nxt is not None:
            take(offset + size, nxt)
            size += nxt
        prv = free_end.get(offset)
        if prv is not None:
            psize = free_at[prv]
            take(prv, psize)
            offset, size = prv, size + psize
        bisect.insort(free_by_size, (size, offset))
        free_at[offset] = size
        free_end[offset + size] = offset

    for name in order:
        size = slots[name]
        first, last = lifetimes[name]
        while releases and releases[0][0] < first:          # dead before this tensor's first step
            _, off, sz = heapq.heappop(releases)
            give(off, sz)
        i = bisect.bisect_left(free_by_size, (size, -1))
        if i < len(free_by_size):
            fsize, off = free_by_size[i]
            take(off, fsize)
            if fsize > size:
                give(off + size, fsize - size)
        else:
            tail = free_end.get(top)                         # a free block touching the top grows into the new slot
            if tail is not None:
                take(tail, top - tail)
                off = tail
            else:
                off = top
            top = max(top, off + size)
        offsets[name] = off
        heapq.heappush(releases, (last, off, size))
    return offsets, top


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
