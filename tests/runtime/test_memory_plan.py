"""Activation memory planning: never two live tensors in the same bytes, never a larger arena than the former
O(n^2) greedy planner (kept here as the reference), near-linear time (a 30,000-layer plan loads and runs)."""
from __future__ import annotations

import os
import random
import sys

import numpy as np
import pytest

import inferrt as trt
from inferrt.runtime import memory
from inferrt.runtime.memory import align, plan_memory

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "plan"))
from plan_tools import frame_manifest, softmax_chain_manifest  # noqa: E402


def _reference(sizes, lifetimes):
    """The former planner: largest first, tightest gap among the placed tensors alive at the same time."""
    placed, offsets, total = [], {}, 0
    for name in sorted(sizes, key=lambda k: (-sizes[k], lifetimes[k][0], k)):
        size = align(max(sizes[name], 1))
        start, end = lifetimes[name]
        busy = sorted((o, o + s) for o, s, st, en in placed if not (en < start or end < st))
        offset, best = 0, None
        for lo, hi in busy:
            if lo - offset >= size and (best is None or lo - offset < best[1]):
                best = (offset, lo - offset)
            offset = max(offset, hi)
        chosen = best[0] if best else offset
        offsets[name] = chosen
        placed.append((chosen, size, start, end))
        total = max(total, chosen + size)
    return offsets, total


def _random_case(rng: random.Random, n: int, steps: int, long_lived: float):
    sizes, life = {}, {}
    for i in range(n):
        a = rng.randrange(steps)
        span = rng.randrange(steps) if rng.random() < long_lived else rng.randrange(4)
        sizes[f"v{i}"] = rng.choice((0, 1, 100, 256, 1000, 4096, 65536, rng.randrange(1, 1 << 20)))
        life[f"v{i}"] = (a, min(steps - 1, a + span))
    return sizes, life


def _check_valid(sizes, life, offsets, total):
    assert set(offsets) == set(sizes)
    items = sorted(sizes, key=lambda k: life[k][0])
    for k in items:
        assert offsets[k] % memory.ALIGN == 0 and offsets[k] >= 0
        assert offsets[k] + align(max(sizes[k], 1)) <= total
    # live at the same step -> disjoint bytes (checked step by step)
    steps = {t for k in items for t in range(life[k][0], life[k][1] + 1)}
    for t in steps:
        live = sorted((offsets[k], offsets[k] + align(max(sizes[k], 1)))
                      for k in items if life[k][0] <= t <= life[k][1])
        for (a0, a1), (b0, b1) in zip(live, live[1:]):
            assert a1 <= b0, f"step {t}: [{a0}, {a1}) overlaps [{b0}, {b1})"


@pytest.mark.parametrize("seed", range(12))
def test_never_worse_than_the_former_planner_and_no_overlap(seed):
    rng = random.Random(seed)
    sizes, life = _random_case(rng, rng.randrange(1, 250), rng.randrange(1, 60), rng.choice((0.0, 0.1, 0.5)))
    offsets, total = plan_memory(sizes, life)
    _check_valid(sizes, life, offsets, total)
    ref_offsets, ref_total = _reference(sizes, life)
    assert total <= ref_total
    assert memory._greedy_by_size(sizes, life, 1 << 30) == (ref_offsets, ref_total)   # same greedy, faster
    sweep_offsets, sweep_total = memory._sweep(sizes, life)
    _check_valid(sizes, life, sweep_offsets, sweep_total)
    assert total == min(ref_total, sweep_total)


def test_many_values_alive_together_use_the_sweep_in_near_linear_time():
    """30,000 values alive across the whole graph (every pair overlaps): the greedy gives up at its budget."""
    n = 30_000
    sizes = {f"v{i}": 256 * (1 + i % 7) for i in range(n)}
    life = {f"v{i}": (i, n) for i in range(n)}
    assert memory._greedy_by_size(sizes, life, 64 * n) is None
    offsets, total = plan_memory(sizes, life)
    assert total == sum(align(v) for v in sizes.values())      # all alive at the last step: exactly their sum, no waste
    assert len(set(offsets.values())) == n


def test_empty():
    assert plan_memory({}, {}) == ({}, 0)


# ------------------------------------------------------------------------------------------- a 30,000-layer plan
def _chain_plan(layers: int) -> bytes:
    """x[N, 5] -> softmax -> softmax -> ... (``layers`` times) -> y, as a CPU plan with its exact device memory."""
    from inferrt.ir.graph import Graph
    from inferrt.runtime.profile_memory import WHICH, arena_bytes, profile_input_specs

    manifest = softmax_chain_manifest(layers)
    graph = Graph.from_json(manifest["graph"], None)
    shapes = manifest["profiles"][0]["shapes"]
    manifest["profiles"][0]["device_memory"] = max(
        arena_bytes(graph, graph.infer(profile_input_specs(graph, shapes, w))) for w in range(len(WHICH)))
    return frame_manifest(manifest)


def test_30000_layer_plan_loads_and_runs_its_first_inference():
    plan = _chain_plan(30_000)
    engine = trt.load_engine(plan)
    assert engine.num_layers == 30_000
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    y = engine.create_execution_context().infer(x=x)["y"]
    ref = x.astype(np.float64)
    for _ in range(30_000):   # softmax converges to uniform after the first few applications
        e = np.exp(ref - ref.max(axis=1, keepdims=True))
        ref = e / e.sum(axis=1, keepdims=True)
        if np.abs(ref - 0.2).max() < 1e-12:
            break
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
