"""Activation ranges (amax: the |x| that maps to the largest quantized value) from calibration statistics.

    max          the largest |x| seen (TensorRT's IInt8MinMaxCalibrator)
    entropy      TensorRT's KL-divergence method (IInt8EntropyCalibrator2): for each candidate threshold of i bins
                 (i >= 128), the reference distribution P is the first i bins of the |x| histogram with everything
                 past them added to bin i; Q is the first i bins without that tail, merged into 128 levels (INT8's
                 positive half; FP8 ranges use the same levels) and spread back evenly over the bins where P is
                 nonzero; the threshold with the smallest KL(P || Q) wins (its upper bin edge). The first bin's
                 count is replaced by the second's: a ReLU's spike of exact zeros would otherwise decide the range
    percentile   the |x| below which ``percentile`` % of the values lie (linear inside the bin)
    mse          the candidate threshold (every bin edge from bin 128 on) whose fake quantization of the histogram's
                 bin centres has the least squared error, on the mode's grid (INT8: 127 steps; FP8 E4M3: amax/448
                 then E4M3 rounding)

Histograms are counts of |x| in equal bins of width ``width`` starting at 0 (``histogram.AbsHistogram``).
"""
from __future__ import annotations

import numpy as np

INT8_LEVELS = 128   # quantization levels of |x| for the KL method (0..127)
FP8_MAX = 448.0


def entropy_amax(counts: np.ndarray, width: float, levels: int = INT8_LEVELS) -> float:
    counts = np.array(counts, np.float64)
    if len(counts) > 1:
        counts[0] = counts[1]   # the spike of exact zeros (ReLU outputs, padding) says nothing about the range
    last = int(np.nonzero(counts)[0][-1]) + 1 if counts.any() else 0
    if last <= levels:
        return last * width if last else 0.0
    cum_tail = np.concatenate([np.cumsum(counts[::-1])[::-1], [0.0]])   # cum_tail[i] = sum(counts[i:])
    best_i, best_kl = last, np.inf
    for i in range(levels, last + 1):
        p = counts[:i].copy()
        p[i - 1] += cum_tail[i]
        edges = (np.arange(levels + 1) * i) // levels
        nz = (p > 0).astype(np.float64)
        sums = np.add.reduceat(counts[:i], edges[:-1])     # Q leaves the clipped tail out: clipping costs
        nzc = np.add.reduceat(nz, edges[:-1])
        per = np.divide(sums, nzc, out=np.zeros_like(sums), where=nzc > 0)
        q = np.repeat(per, np.diff(edges)) * nz
        m = p > 0
        if np.any(q[m] == 0) or np.count_nonzero(m) < 2:
            continue        # Q has no mass where P has (KL infinite), or P has one bin (KL 0 whatever is clipped)
        p /= p.sum()
        q /= q.sum()
        kl = float(np.sum(p[m] * np.log(p[m] / q[m])))
        if kl < best_kl:
            best_kl, best_i = kl, i
    return best_i * width


def percentile_amax(counts: np.ndarray, width: float, percentile: float) -> float:
    counts = np.asarray(counts, np.float64)
    total = counts.sum()
    if total == 0:
        return 0.0
    cdf = np.cumsum(counts) / total
    target = percentile / 100.0
    j = int(np.searchsorted(cdf, target, side="left"))
    j = min(j, len(counts) - 1)
    before = cdf[j - 1] if j else 0.0
    frac = (target - before) / (cdf[j] - before) if cdf[j] > before else 1.0
    return float((j + min(max(frac, 0.0), 1.0)) * width)


def fake_quant(v: np.ndarray, amax, mode: str) -> np.ndarray:
    """|values| ``v`` after symmetric quantization with range ``amax`` (broadcasts) on the mode's grid."""
    amax = np.asarray(amax, np.float64)
    if mode == "fp8":
        import torch

        s = amax / FP8_MAX
        y = np.clip(v / s, 0, FP8_MAX)
        y8 = torch.from_numpy(y.astype(np.float32)).to(torch.float8_e4m3fn).to(torch.float64).numpy()
        return y8 * s
    s = amax / 127.0
    return np.clip(np.round(v / s), 0, 127) * s


def mse_amax(counts: np.ndarray, width: float, mode: str = "int8", start: int = INT8_LEVELS) -> float:
    counts = np.asarray(counts, np.float64)
    last = int(np.nonzero(counts)[0][-1]) + 1 if counts.any() else 0
    if last == 0:
        return 0.0
    nz = np.nonzero(counts)[0]
    centres = (nz + 0.5) * width
    c = counts[nz]
    cands = np.arange(min(start, last), last + 1, dtype=np.float64) * width
    cands = cands[cands > 0]
    best, best_err = last * width, np.inf
    for chunk in np.array_split(cands, max(1, len(cands) // 64)):
        q = fake_quant(centres[None, :], chunk[:, None], mode)
        err = ((q - centres[None, :]) ** 2 * c[None, :]).sum(1)
        k = int(np.argmin(err))
        if err[k] < best_err:
            best_err, best = float(err[k]), float(chunk[k])
    return best


def amax_of(method: str, hist, mode: str, percentile: float = 99.99) -> float:
    """The range ``method`` gives for one activation's statistics (``hist``: an AbsHistogram)."""
    if method == "max":
        return float(hist.amax)
    counts, width = hist.numpy()
    if counts is None:
        return 0.0
    if method == "entropy":
        return min(entropy_amax(counts, width), hist.amax)
    if method == "percentile":
        return min(percentile_amax(counts, width, percentile), hist.amax)
    if method == "mse":
        return min(mse_amax(counts, width, mode), hist.amax)
    raise ValueError(f"unknown calibration method {method!r}")
