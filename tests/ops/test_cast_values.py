"""ops/cast_values.py: rounding and saturation onto the low-bit grids, against onnx's reference conversions
(onnx.numpy_helper / ml_dtypes) on every float16 value and on random float32 bit patterns; the GPU must give the
CPU's bits."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import torch
from onnx import numpy_helper

from inferrt.dtypes import to_numpy
from inferrt.enums import DataType as DT
from inferrt.ops.cast_values import to_low_bit

ML = {DT.FP8: ml_dtypes.float8_e4m3fn, DT.FP8_E5M2: ml_dtypes.float8_e5m2, DT.FP4: ml_dtypes.float4_e2m1fn,
      DT.INT4: ml_dtypes.int4, DT.UINT4: ml_dtypes.uint4, DT.E8M0: ml_dtypes.float8_e8m0fnu}


def _inputs():
    """Every float16 value, and 200k random float32 bit patterns (all exponents, all mantissas, NaNs, infs)."""
    half = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
    bits = np.random.default_rng(0).integers(0, 1 << 32, 200_000, dtype=np.uint64).astype(np.uint32)
    return np.concatenate([half, bits.view(np.float32)])


X = _inputs()


def _reference(x, dt, saturate=True, round_mode="up"):
    if dt == DT.E8M0:
        return numpy_helper.to_float8e8m0(x, saturate, round_mode)
    if dt in (DT.FP8, DT.FP8_E5M2) and saturate:
        return numpy_helper.saturate_cast(x, np.dtype(ML[dt]))
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(ML[dt])


def _assert_same_bits(got, want, what):
    g, w = got.astype(np.float64), want.astype(np.float64)
    nan = np.isnan(w)
    bad = np.flatnonzero((np.isnan(g) != nan) | (~nan & ((g != w) | (np.signbit(g) != np.signbit(w)))))
    assert bad.size == 0, f"{what}: {bad.size} mismatches, e.g. x={X[bad[:5]]} got {g[bad[:5]]} want {w[bad[:5]]}"


@pytest.mark.parametrize("dt", [DT.FP8, DT.FP8_E5M2])
@pytest.mark.parametrize("saturate", [True, False])
def test_float8_matches_onnx(dt, saturate):
    got = to_numpy(to_low_bit(torch.from_numpy(X), dt, saturate), dt)
    _assert_same_bits(got, _reference(X, dt, saturate), f"{dt.name} saturate={saturate}")


def test_fp4_matches_onnx_including_ties_and_saturation():
    got = to_numpy(to_low_bit(torch.from_numpy(X), DT.FP4), DT.FP4)
    _assert_same_bits(got, _reference(X, DT.FP4), "FP4")
    ties = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -5.0, 6.5, 1e30], np.float32)
    got = to_low_bit(torch.from_numpy(ties), DT.FP4).float().numpy()
    np.testing.assert_array_equal(got, [0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, -4.0, 6.0, 6.0])


@pytest.mark.parametrize("round_mode", ["up", "down", "nearest"])
@pytest.mark.parametrize("saturate", [True, False])
def test_e8m0_matches_onnx(round_mode, saturate):
    x = np.abs(X)  # negative inputs are unspecified for E8M0
    got = to_low_bit(torch.from_numpy(x), DT.E8M0, saturate, round_mode).view(torch.uint8).numpy()
    want = _reference(x, DT.E8M0, saturate, round_mode).view(np.uint8)
    assert np.array_equal(got, want), f"{np.count_nonzero(got != want)} codes differ"


@pytest.mark.parametrize("dt", [DT.INT4, DT.UINT4])
def test_int4_from_floats_and_integers(dt):
    lo, hi = (-8, 7) if dt == DT.INT4 else (0, 15)
    x = np.linspace(-20, 20, 401, dtype=np.float32)
    got = to_low_bit(torch.from_numpy(x), dt).numpy()
    assert got.dtype == (np.int8 if dt == DT.INT4 else np.uint8)
    want = np.trunc(x)
    want = np.where((want >= lo) & (want <= hi), want, 0)   # out of range: undefined by ONNX; its reference's 0
    np.testing.assert_array_equal(got, want)
    ints = np.arange(-40, 40, dtype=np.int32)              # integers: the high bits are discarded
    got = to_low_bit(torch.from_numpy(ints), dt).numpy().astype(np.int64)
    wrapped = ints & 0xF
    np.testing.assert_array_equal(got, (wrapped ^ 8) - 8 if dt == DT.INT4 else wrapped)


def test_unknown_round_mode_and_non_low_bit_types_are_refused():
    with pytest.raises(ValueError, match="round_mode"):
        to_low_bit(torch.ones(2), DT.E8M0, True, "sideways")
    with pytest.raises(ValueError, match="HALF"):
        to_low_bit(torch.ones(2), DT.HALF)


@pytest.mark.gpu
@pytest.mark.parametrize("dt", [DT.FP8, DT.FP8_E5M2, DT.FP4, DT.INT4, DT.UINT4, DT.E8M0])
@pytest.mark.parametrize("saturate", [True, False])
def test_cuda_gives_the_cpu_bits(dt, saturate):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    x = torch.from_numpy(np.abs(X) if dt == DT.E8M0 else X)
    cpu = to_low_bit(x, dt, saturate)
    gpu = to_low_bit(x.cuda(), dt, saturate).cpu()
    assert gpu.dtype == cpu.dtype
    assert torch.equal(gpu.view(torch.uint8) if gpu.element_size() == 1 else gpu,
                       cpu.view(torch.uint8) if cpu.element_size() == 1 else cpu)
