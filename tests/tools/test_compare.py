"""Error statistics and pass/fail rules of inferrt.tools.compare, against float64 numpy computed here."""
from __future__ import annotations

import numpy as np
import pytest

from inferrt.tools.compare import compare_arrays, compare_outputs, errors, first_divergence, histogram


def test_statistics_match_numpy():
    rng = np.random.default_rng(0)
    b = rng.standard_normal((6, 7)).astype(np.float32)
    a = (b + rng.standard_normal((6, 7)).astype(np.float32) * 1e-3).astype(np.float32)
    c = compare_arrays("o", a, b, atol=1e-2, rtol=0.0)
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    r = d / np.abs(b.astype(np.float64))
    assert c.passed and c.abs_err.max == pytest.approx(d.max()) and c.abs_err.mean == pytest.approx(d.mean())
    assert c.abs_err.median == pytest.approx(np.median(d)) and c.rel_err.max == pytest.approx(r.max())
    assert c.abs_err.argmax == tuple(int(i) for i in np.unravel_index(np.argmax(d), d.shape))
    assert c.required_atol == pytest.approx(d.max()) and c.required_rtol == pytest.approx(r.max())


def test_an_element_passes_when_within_either_tolerance():
    b = np.array([1000.0, 1e-3], np.float32)
    a = np.array([1000.5, 2e-3], np.float32)        # abs 0.5 / rel 5e-4, and abs 1e-3 / rel 1
    assert compare_arrays("o", a, b, atol=1e-2, rtol=1e-3).passed
    c = compare_arrays("o", a, b, atol=1e-4, rtol=1e-3)
    assert not c.passed and c.mismatches == 1
    assert not compare_arrays("o", a, b, atol=1e-2, rtol=1e-4).passed


def test_nan_inf_and_zero_reference_rules():
    d, r = errors(np.array([np.nan, np.inf, 1.0, 0.0, 1.0, np.nan]), np.array([np.nan, np.inf, 0.0, 0.0, -np.inf, 1]))
    assert list(d) == [0.0, 0.0, 1.0, 0.0, np.inf, np.inf]
    assert list(r) == [0.0, 0.0, np.inf, 0.0, np.inf, np.inf]


@pytest.mark.parametrize("stat, atol, passed", [("mean", 0.3, True), ("mean", 0.2, False), ("median", 0.11, True),
                                                ("max", 0.9, False), ("max", 1.0, True)])
def test_statistic_checks(stat, atol, passed):
    b = np.zeros(5, np.float32)
    a = np.array([0.0, 0.1, 0.1, 0.2, 1.0], np.float32)   # mean 0.28, median 0.1, max 1
    assert compare_arrays("o", a, b, atol=atol, rtol=0.0, check_stat=stat).passed is passed


def test_shape_mismatch_missing_outputs_and_per_output_tolerances():
    c = compare_arrays("o", np.zeros((2, 3)), np.zeros((3, 2)), 1, 1)
    assert not c.passed and "shapes differ" in c.problem
    res = compare_outputs({"a": np.ones(2), "b": np.ones(2)}, {"a": np.ones(2) * 1.5, "c": np.ones(2)},
                          {"": 0.0, "a": 0.6}, {"": 0.0}, names=["a", "b"])
    assert res[0].passed and res[0].atol == 0.6
    assert not res[1].passed and res[1].problem == "the reference runner did not produce it"


def test_first_divergence_follows_layer_order():
    order = [("l1", "Relu", ["t1"]), ("l2", "Neg", ["t2"]), ("l3", "Exp", ["t3"])]
    results = {t: compare_arrays(t, np.ones(2) * v, np.ones(2), 0.1, 0.0) for t, v in
               (("t1", 1.0), ("t2", 2.0), ("t3", 3.0))}
    layer, op, bad = first_divergence(order, results)
    assert (layer, op, [c.name for c in bad]) == ("l2", "Neg", ["t2"])
    assert first_divergence(order[:1], results) is None


def test_histogram_counts():
    rows = histogram(np.array([0.0, 0.05, 0.5, 1.0, np.inf]), bins=2)
    assert rows == [(0.0, 0.5, 2), (0.5, 1.0, 2), (float("inf"), float("inf"), 1)]
    assert histogram(np.zeros(3)) == [(0.0, 0.0, 3)]
