"""Statistics of one activation over the calibration batches, computed in torch on the device the values live on
(the GPU when calibration runs in inferrt's engine).

``AbsHistogram``: the largest |x| and (``num_bins`` > 0) the histogram of |x| in equal bins over [0, range). The range starts at the first
batch's largest |x|; a later batch that goes past it doubles the bin width (neighbouring bins merged, exactly)
until it fits, so every batch lands in one histogram with no second pass and no interpolation. Counts are exact
integers (``torch.bincount``). Non-finite values are left out and counted.

``ChannelStats``: per channel of the last axis (a MatMul's reduction axis), the largest and the mean |x|, and a
bounded sample of rows of x (for AWQ-lite's error search).
"""
from __future__ import annotations

import numpy as np
import torch

_CHUNK = 1 << 24    # values binned at a time (the int64 bin indices of one chunk: 128 MiB)


def _finite_abs(x) -> tuple:
    """(|x| as a flat float32 tensor of the finite values, number of non-finite values)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    a = x.detach().reshape(-1).float().abs()
    ok = torch.isfinite(a)
    bad = int(a.numel() - int(ok.sum()))
    return (a[ok] if bad else a), bad


class AbsHistogram:
    def __init__(self, num_bins=2048):
        self.num_bins = int(num_bins)
        self.counts = None          # int64 tensor [num_bins]
        self.width = 0.0            # bin width; range = width * num_bins
        self.amax = 0.0             # largest finite |x| seen
        self.nonfinite = 0
        self.zeros = 0              # |x| == 0 values seen before the first nonzero batch fixed the range

    def add(self, x) -> None:
        a, bad = _finite_abs(x)
        self.nonfinite += bad
        if a.numel() == 0:
            return
        m = float(a.max())
        self.amax = max(self.amax, m)
        if not self.num_bins:
            return
        if m == 0.0 and self.counts is None:
            self.zeros += a.numel()
            return
        if self.counts is None:
            self.width = m / self.num_bins
            self.counts = torch.zeros(self.num_bins, dtype=torch.int64, device=a.device)
            self.counts[0] += self.zeros
        while m > self.width * self.num_bins:
            merged = self.counts.view(-1, 2).sum(1)
            self.counts = torch.cat([merged, torch.zeros_like(merged)])
            self.width *= 2.0
        for part in torch.split(a, _CHUNK):      # bounded index memory for large activations
            idx = torch.clamp((part / self.width).long(), max=self.num_bins - 1)
            self.counts += torch.bincount(idx, minlength=self.num_bins).to(self.counts.device)

    def numpy(self) -> tuple:
        """(counts as float64 numpy array, bin width); (None, 0) when every value was 0."""
        if self.counts is None:
            return None, 0.0
        return self.counts.cpu().numpy().astype(np.float64), self.width


class ChannelStats:
    """Per-channel |x| statistics over the last axis, and up to ``max_rows`` rows of x kept for error searches."""

    def __init__(self, max_rows=0, batches=1):
        self.amax = None            # float64 tensor [C]
        self.abs_sum = None
        self.rows = 0
        self.max_rows = int(max_rows)
        self.per_batch = -(-self.max_rows // max(1, int(batches))) if self.max_rows else 0
        self.samples = []

    def add(self, x) -> None:
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(np.ascontiguousarray(x))
        x2 = x.detach().reshape(-1, x.shape[-1]).double()
        a = torch.nan_to_num(x2.abs(), nan=0.0, posinf=0.0)
        amax, s = a.amax(0), a.sum(0)
        if self.amax is None:
            self.amax, self.abs_sum = amax, s
        else:
            self.amax = torch.maximum(self.amax, amax)
            self.abs_sum = self.abs_sum + s
        self.rows += x2.shape[0]
        if self.per_batch and sum(t.shape[0] for t in self.samples) < self.max_rows:
            step = max(1, x2.shape[0] // self.per_batch)
            self.samples.append(x2[::step][: self.per_batch].float())

    def mean_abs(self):
        return self.abs_sum / max(self.rows, 1)

    def sample(self):
        return torch.cat(self.samples)[: self.max_rows] if self.samples else None
