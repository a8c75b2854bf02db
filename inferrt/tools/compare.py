"""Comparing two runners' outputs as Polygraphy does: per-output absolute and relative error statistics and a pass /
fail decision under ``atol`` / ``rtol``.

The second runner is the reference: ``rel = |a - b| / |b|`` (0 where both are 0, inf where only ``b`` is). With the
``elemwise`` check (the default) an element fails when it exceeds both tolerances, so each element needs to meet
only one of them; ``max`` / ``mean`` / ``median`` compare that statistic of the errors instead. NaNs in the same
places, and infinities of the same sign, count as equal; a NaN or infinity on one side only is a mismatch. Integer
and boolean outputs are compared in float64 like the rest (their tolerances are usually 0).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CHECK_STATS = ("elemwise", "max", "mean", "median")


@dataclass
class ErrorStats:
    max: float
    mean: float
    median: float
    argmax: tuple

    def line(self) -> str:
        return (f"max={self.max:.5g} at {self.argmax}, mean={self.mean:.5g}, median={self.median:.5g}")


@dataclass
class OutputComparison:
    name: str
    passed: bool
    atol: float
    rtol: float
    shape: tuple = ()
    dtypes: tuple = ()
    problem: str = ""                # why the arrays could not be compared element by element
    abs_err: ErrorStats | None = None
    rel_err: ErrorStats | None = None
    required_atol: float = 0.0       # the smallest atol (rtol) that alone would pass
    required_rtol: float = 0.0
    mismatches: int = 0              # elements over both tolerances
    histogram: list = field(default_factory=list)  # [(low, high, count)] of the absolute error


def _stats(x: np.ndarray) -> ErrorStats:
    if x.size == 0:
        return ErrorStats(0.0, 0.0, 0.0, ())
    i = int(np.argmax(x))
    return ErrorStats(float(x.reshape(-1)[i]), float(np.mean(x)), float(np.median(x)),
                      tuple(int(v) for v in np.unravel_index(i, x.shape)))


def errors(a, b) -> tuple[np.ndarray, np.ndarray]:
    """(absolute, relative) error of ``a`` against the reference ``b``, float64, with the NaN / inf rules above."""
    a = np.asarray(a).astype(np.float64)
    b = np.asarray(b).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a - b)
    same = (np.isnan(a) & np.isnan(b)) | (a == b)
    diff = np.where(same, 0.0, np.where(np.isnan(diff), np.inf, diff))
    mag = np.abs(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, np.where((mag == 0) | np.isinf(diff), np.inf,
                                                diff / np.where((mag == 0) | np.isinf(mag), 1.0, mag)))
    return diff, rel


def histogram(abs_err: np.ndarray, bins: int = 10) -> list:
    """Counts of the absolute error in ``bins`` even bins from 0 to its largest finite value (a last row counts
    infinite errors)."""
    finite = abs_err[np.isfinite(abs_err)]
    top = float(finite.max()) if finite.size else 0.0
    rows = []
    if finite.size and top == 0:
        rows = [(0.0, 0.0, int(finite.size))]
    elif finite.size:
        counts, edges = np.histogram(finite, bins=bins, range=(0.0, top if top > 0 else 1.0))
        rows = [(float(edges[i]), float(edges[i + 1]), int(c)) for i, c in enumerate(counts)]
    n_inf = int(abs_err.size - finite.size)
    if n_inf:
        rows.append((float("inf"), float("inf"), n_inf))
    return rows


def compare_arrays(name, a, b, atol: float, rtol: float, check_stat: str = "elemwise",
                   with_histogram: bool = False) -> OutputComparison:
    """Compare output ``name`` of runner A (``a``) with the reference ``b``."""
    a, b = np.asarray(a), np.asarray(b)
    c = OutputComparison(name, False, atol, rtol, tuple(a.shape), (a.dtype.name, b.dtype.name))
    if a.shape != b.shape:
        c.problem = f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}"
        return c
    if (a.dtype.kind in "biuf") != (b.dtype.kind in "biuf"):
        c.problem = f"types cannot be compared: {a.dtype.name} vs {b.dtype.name}"
        return c
    diff, rel = errors(a, b)
    c.abs_err, c.rel_err = _stats(diff), _stats(rel)
    c.mismatches = int(np.count_nonzero((diff > atol) & (rel > rtol)))
    if check_stat == "elemwise":
        c.passed = c.mismatches == 0
        c.required_atol, c.required_rtol = c.abs_err.max, c.rel_err.max
    else:
        pick = {"max": lambda s: s.max, "mean": lambda s: s.mean, "median": lambda s: s.median}[check_stat]
        c.required_atol, c.required_rtol = pick(c.abs_err), pick(c.rel_err)
        c.passed = bool(diff.size == 0 or c.required_atol <= atol or c.required_rtol <= rtol)
    if with_histogram and diff.size:
        c.histogram = histogram(diff)
    return c


def tolerance_for(spec: dict, name: str) -> float:
    """``spec``: {output name or '': tolerance} as parsed from ``--atol 1e-5 out:1e-3``."""
    return spec.get(name, spec.get("", 0.0))


def compare_outputs(outs_a: dict, outs_b: dict, atol: dict, rtol: dict, names=None, check_stat: str = "elemwise",
                    with_histogram: bool = False) -> list:
    """Compare the outputs two runners share (or ``names``), in that order. An output missing on one side fails."""
    names = [n for n in outs_a if n in outs_b] if names is None else list(names)
    out = []
    for n in names:
        if n not in outs_a or n not in outs_b:
            side = "the first runner" if n not in outs_a else "the reference runner"
            c = OutputComparison(n, False, tolerance_for(atol, n), tolerance_for(rtol, n))
            c.problem = f"{side} did not produce it"
            out.append(c)
            continue
        out.append(compare_arrays(n, outs_a[n], outs_b[n], tolerance_for(atol, n), tolerance_for(rtol, n),
                                  check_stat, with_histogram))
    return out


def first_divergence(order: list, results: dict):
    """``order``: [(layer, op_type, [output names])] in topological order; ``results``: {output name: comparison}.
    The first (layer, op_type, failing comparisons) whose outputs diverge, or None."""
    for layer, op, outs in order:
        bad = [results[o] for o in outs if o in results and not results[o].passed]
        if bad:
            return layer, op, bad
    return None


def format_comparison(c: OutputComparison, runner_a: str, runner_b: str) -> list:
    """Polygraphy-style report lines for one output (without the [I] prefix)."""
    lines = [f"Comparing Output: '{c.name}' (dtype={c.dtypes[0] if c.dtypes else '?'}, shape={c.shape}) "
             f"| {runner_a} vs. {runner_b}"]
    if c.problem:
        lines.append(f"    FAILED | Output: '{c.name}' | {c.problem}")
        return lines
    lines.append(f"    Tolerance: [abs={c.atol:.5g}, rel={c.rtol:.5g}]")
    lines.append(f"    Absolute Difference | Stats: {c.abs_err.line()}")
    lines.append(f"    Relative Difference | Stats: {c.rel_err.line()}")
    lines.append(f"    Minimum Required Tolerance: [abs={c.required_atol:.5g}] OR [rel={c.required_rtol:.5g}]")
    if c.histogram:
        total = sum(n for _, _, n in c.histogram) or 1
        lines.append("    Absolute Difference Histogram:")
        for lo, hi, n in c.histogram:
            rng = "inf" if lo == float("inf") else ("0" if hi == 0 else f"[{lo:.3g}, {hi:.3g})")
            lines.append(f"        {rng:>24} | {n:8d} | {'#' * round(40 * n / total)}")
    if c.passed:
        lines.append(f"    PASSED | Output: '{c.name}' | Difference is within tolerance "
                     f"(rel={c.rtol:.5g}, abs={c.atol:.5g})")
    else:
        lines.append(f"    FAILED | Output: '{c.name}' | Difference exceeds tolerance (rel={c.rtol:.5g}, "
                     f"abs={c.atol:.5g}); {c.mismatches} element(s) over both")
    return lines
