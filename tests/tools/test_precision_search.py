"""The search of ``inferrt debug precision`` (tools/precision_search.py) on a synthetic check: the model passes
exactly when a known set of layers is in FP32; bisect and linear, forward and reverse, find that set."""
from __future__ import annotations

import math

import pytest

from inferrt.tools.precision_search import PrecisionSearchError, search

LAYERS = [f"l{i}" for i in range(12)]


def _needs(*required):
    calls = []

    def passes(fp32):
        calls.append(list(fp32))
        return set(required) <= set(fp32)

    return passes, calls


@pytest.mark.parametrize("mode", ["bisect", "linear"])
@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_finds_the_minimal_set(mode, direction):
    passes, calls = _needs("l3", "l7")
    res = search(LAYERS, passes, mode, direction)
    assert res.fp32_layers == ["l3", "l7"] and res.all_fp32_passes
    assert res.checks == len(calls) == len(res.history)
    # forward: the first 8 layers (l0..l7) are the smallest passing prefix; reverse: l11 back to l3 (9 layers)
    assert res.prefix == (8 if direction == "forward" else 9)


def test_bisect_checks_logarithmically_before_minimizing():
    passes, _ = _needs("l5")
    res = search(LAYERS, passes, "bisect", minimize=False)
    assert res.fp32_layers == LAYERS[:6]
    assert res.checks <= 2 + math.ceil(math.log2(len(LAYERS)))
    lin = search(LAYERS, _needs("l5")[0], "linear", minimize=False)
    assert lin.fp32_layers == LAYERS[:6] and lin.checks == 2 + 6


def test_nothing_needed_and_nothing_helps():
    res = search(LAYERS, lambda s: True)
    assert res.fp32_layers == [] and res.checks == 2 and res.all_fp32_passes
    res = search(LAYERS, lambda s: False)
    assert not res.all_fp32_passes and res.checks == 1


def test_bad_mode():
    with pytest.raises(PrecisionSearchError, match="mode"):
        search(LAYERS, lambda s: True, "random")
    with pytest.raises(PrecisionSearchError, match="direction"):
        search(LAYERS, lambda s: True, direction="sideways")
