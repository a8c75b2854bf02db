"""Calibration methods on known distributions, and the growing |x| histogram they read."""
from __future__ import annotations

import numpy as np
import pytest

from inferrt.quantize.calibrators import amax_of, entropy_amax, fake_quant, mse_amax, percentile_amax
from inferrt.quantize.histogram import AbsHistogram, ChannelStats


def _hist(x, batches=4, bins=2048):
    h = AbsHistogram(bins)
    for part in np.array_split(np.asarray(x, np.float32), batches):
        h.add(part)
    return h


def _gauss_with_outliers(n=400_000, seed=0):
    x = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    x[:: n // 20] = 40.0         # 20 outliers at 40 sigma
    return x


def test_histogram_growth_equals_one_histogram_at_the_final_width():
    rng = np.random.default_rng(1)
    parts = [rng.uniform(-1, 1, 5000), rng.uniform(-3, 3, 5000), rng.uniform(-10, 10, 5000)]
    h = AbsHistogram(256)
    for p in parts:
        h.add(p.astype(np.float32))
    counts, width = h.numpy()
    # the range doubled from the first batch's amax until the largest |x| fit
    first = float(np.abs(parts[0].astype(np.float32)).max()) / 256
    assert width == pytest.approx(first * 2 ** np.ceil(np.log2(h.amax / (first * 256))), rel=1e-12)
    a = np.abs(np.concatenate(parts).astype(np.float32))
    ref = np.bincount(np.minimum((a.astype(np.float64) / width).astype(np.int64), 255), minlength=256)
    # merged bins hold what one histogram at the final width holds; only values that sit on a bin edge (to float32
    # rounding of x / width) may land on the other side
    assert counts.sum() == a.size and h.amax == a.max()
    assert np.abs(counts - ref).sum() <= 4


def test_histogram_skips_non_finite_values_and_counts_them():
    h = AbsHistogram(64)
    h.add(np.array([1.0, np.nan, -np.inf, 2.0], np.float32))
    assert h.nonfinite == 2 and h.amax == 2.0 and h.numpy()[0].sum() == 2


def test_max_is_the_largest_magnitude():
    x = _gauss_with_outliers()
    assert amax_of("max", _hist(x, bins=0), "int8") == pytest.approx(40.0)


@pytest.mark.parametrize("p", [99.0, 99.9, 99.99])
def test_percentile_matches_numpy_within_a_bin(p):
    x = np.random.default_rng(2).uniform(-2, 2, 300_000).astype(np.float32)
    h = _hist(x)
    got = amax_of("percentile", h, "int8", p)
    width = h.numpy()[1]
    assert abs(got - np.percentile(np.abs(x), p)) <= width
    assert got == pytest.approx(2 * p / 100, abs=2e-3)


def test_entropy_on_gaussian_with_outliers_clips_far_below_max():
    x = _gauss_with_outliers()
    h = _hist(x)
    ent = amax_of("entropy", h, "int8")
    assert ent < 0.2 * amax_of("max", h, "int8")     # outliers dropped
    assert 2.5 < ent < 6.0                            # keeps the Gaussian's bulk (|x| < 2.5 is 98.8 %)


def test_entropy_of_a_uniform_distribution_keeps_nearly_all_of_it():
    x = np.random.default_rng(3).uniform(-1, 1, 400_000).astype(np.float32)
    assert amax_of("entropy", _hist(x), "int8") > 0.95


def test_entropy_ignores_a_spike_of_zeros():
    rng = np.random.default_rng(4)
    relu = np.maximum(rng.standard_normal(400_000), 0).astype(np.float32)     # half exact zeros
    h = _hist(relu)
    assert amax_of("entropy", h, "int8") > 2.5


def test_entropy_threshold_is_a_bin_edge_and_short_histograms_keep_everything():
    counts = np.zeros(2048)
    counts[:100] = 5.0
    assert entropy_amax(counts, 0.5) == 50.0          # fewer than 128 bins used: nothing to merge, nothing clipped
    x = _gauss_with_outliers(seed=9)
    c, w = _hist(x).numpy()
    got = entropy_amax(c, w)
    assert got / w == pytest.approx(round(got / w)) and got / w >= 128


def test_mse_minimizes_the_histogram_quantization_error():
    x = np.random.default_rng(5).laplace(0, 1, 400_000).astype(np.float32)
    h = _hist(x)
    counts, width = h.numpy()
    got = mse_amax(counts, width, "int8")
    centres = (np.arange(len(counts)) + 0.5) * width

    def err(a):
        return float((counts * (fake_quant(centres, a, "int8") - centres) ** 2).sum())

    for other in (h.amax, got * 0.7, got * 1.4):
        assert err(got) <= err(other)
    assert got < 0.9 * h.amax      # clipping the Laplace tail pays


def test_mse_on_the_fp8_grid_differs_from_int8():
    x = np.random.default_rng(6).laplace(0, 1, 200_000).astype(np.float32)
    h = _hist(x)
    assert amax_of("mse", h, "fp8") != amax_of("mse", h, "int8")


def test_percentile_of_all_zero_values_is_zero():
    h = _hist(np.zeros(100, np.float32))
    for m in ("max", "entropy", "percentile", "mse"):
        assert amax_of(m, h, "int8") == 0.0
    assert percentile_amax(np.zeros(8), 1.0, 99.0) == 0.0


def test_channel_stats_per_last_axis_and_bounded_samples():
    x = np.random.default_rng(7).standard_normal((4, 10, 6)).astype(np.float32)
    st = ChannelStats(max_rows=12, batches=2)
    st.add(x[:2])
    st.add(x[2:])
    np.testing.assert_allclose(st.amax.numpy(), np.abs(x).reshape(-1, 6).max(0), rtol=1e-6)
    np.testing.assert_allclose(st.mean_abs().numpy(), np.abs(x).reshape(-1, 6).mean(0), rtol=1e-6)
    s = st.sample()
    assert s.shape == (12, 6)
    rows = {tuple(np.round(r, 5)) for r in x.reshape(-1, 6)}
    assert all(tuple(np.round(r, 5)) in rows for r in s.numpy())
