"""Writing values of the low-bit types: rounding and saturation onto each type's grid, as ONNX's Cast and
QuantizeLinear define them (CPU and GPU alike: torch ops only).

    to_low_bit(x, FP8 | FP8_E5M2, saturate)   round to nearest even; saturate=True: +-inf and overflow -> +-max
                                              (448 / 57344); saturate=False: E4M3FN overflow and +-inf -> NaN,
                                              E5M2 overflow -> +-inf
    to_low_bit(x, FP4)                        round to nearest even on the E2M1 grid, always saturating at +-6
                                              (+-inf too); NaN, which E2M1 cannot hold, becomes a zero of the
                                              opposite sign, as in onnx's reference (ml_dtypes)
    to_low_bit(x, E8M0, saturate, round_mode) a power of two 2^-127 .. 2^127 from the float32 exponent, rounded
                                              "up" (default), "down" or "nearest"; NaN and +-inf -> NaN (255)
    to_low_bit(x, INT4 | UINT4)               integers: the high bits discarded (two's complement), as ONNX says;
                                              floats: truncated toward zero (like C), and 0 when that is outside
                                              -8..7 / 0..15 or NaN (ONNX leaves it undefined; its reference gives
                                              0 with ml_dtypes 0.7+, the low four bits with earlier ml_dtypes)

The results are held as ``dtypes.torch_dtype`` says (FP4 values in float8_e4m3fn, INT4 in int8...).
"""
from __future__ import annotations

import torch

from ..dtypes import INT4_RANGE, LOW_BIT, float8_e8m0, torch_dtype
from ..enums import DataType

#: largest finite value of each low-bit float type
FLOAT_MAX = {DataType.FP8: 448.0, DataType.FP8_E5M2: 57344.0, DataType.FP4: 6.0}
#: the smallest magnitude that rounds past the largest finite value (ties to even go down for E4M3FN, up for E5M2)
_E4M3_OVERFLOW = 464.0
_FLOAT8 = (torch.float8_e4m3fn, torch.float8_e5m2, float8_e8m0())


def as_float32(x: torch.Tensor) -> torch.Tensor:
    """``x`` as float32 (exact for every type inferrt holds except large INT32/INT64 values)."""
    return x if x.dtype == torch.float32 else x.to(torch.float32)


def to_low_bit(x: torch.Tensor, dt: DataType, saturate: bool = True, round_mode: str = "up") -> torch.Tensor:
    """``x`` converted to the low-bit type ``dt`` (one of dtypes.LOW_BIT), in ``dt``'s storage dtype."""
    if dt not in LOW_BIT:
        raise ValueError(f"DataType.{dt.name} is not a low-bit type")
    if dt in INT4_RANGE:
        return _to_int4(x, dt)
    f = as_float32(x)
    if dt == DataType.FP4:
        return _to_fp4(f)
    if dt == DataType.E8M0:
        return _to_e8m0(f, saturate, round_mode)
    hi = FLOAT_MAX[dt]
    if saturate:
        f = torch.where(torch.isnan(f), f, f.clamp(-hi, hi))
    elif dt == DataType.FP8:  # E4M3FN has no infinity: overflow is NaN
        f = torch.where(torch.isinf(f) | (f.abs() > _E4M3_OVERFLOW), torch.full_like(f, float("nan")), f)
    else:  # E5M2 overflows to +-inf (the conversion rounds 61440 and beyond to inf itself)
        f = torch.where(f.abs() >= 61440.0, f.sign() * float("inf"), f)
    return f.to(torch_dtype(dt))


def _to_int4(x: torch.Tensor, dt: DataType) -> torch.Tensor:
    if x.dtype in _FLOAT8:
        x = as_float32(x)
    if x.is_floating_point():
        lo, hi = INT4_RANGE[dt]
        t = torch.trunc(torch.nan_to_num(x.to(torch.float64), nan=0.0, posinf=0.0, neginf=0.0))
        x = torch.where((t >= lo) & (t <= hi), t, torch.zeros_like(t))
    v = x.to(torch.int64) & 0xF
    if dt == DataType.INT4:
        v = (v ^ 8) - 8
    return v.to(torch_dtype(dt))


def _to_fp4(f: torch.Tensor) -> torch.Tensor:
    """Round half to even on the E2M1 grid {0, 0.5, 1, 1.5, 2, 3, 4, 6}: within each binade the grid is evenly
    spaced and an even multiple of the spacing is an even mantissa, so torch.round (half to even) of x / spacing
    rounds as the format does."""
    nan = torch.isnan(f)
    a = torch.nan_to_num(f.abs(), nan=0.0).clamp(max=6.0)
    step = torch.where(a < 2.0, torch.full_like(a, 0.5), torch.where(a < 4.0, torch.ones_like(a),
                                                                       torch.full_like(a, 2.0)))
    q = torch.round(a / step) * step
    nan_zero = torch.where(torch.signbit(f), torch.zeros_like(q), torch.full_like(q, -0.0))
    q = torch.where(nan, nan_zero, torch.copysign(q, f))
    return q.to(torch_dtype(DataType.FP4))


def _to_e8m0(f: torch.Tensor, saturate: bool, round_mode: str) -> torch.Tensor:
    """The biased exponent of float32 ``f`` (sign ignored), rounded by the discarded mantissa."""
    bits = f.contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    exp = (bits >> 23) & 0xFF
    mant = bits & 0x7FFFFF
    special = exp == 0xFF
    if round_mode == "up":
        up = mant > 0
    elif round_mode == "nearest":
        guard = (mant & 0x400000) > 0
        rest = (mant & 0x3FFFFF) > 0
        up = guard & (rest | (exp > 0))
    elif round_mode == "down":
        up = torch.zeros_like(special)
    else:
        raise ValueError(f"round_mode {round_mode!r} is not 'up', 'down' or 'nearest'")
    if saturate:
        up = up & (exp != 0xFE)
    exp = exp + up.to(torch.int64)
    exp = torch.where(special, torch.full_like(exp, 0xFF), exp.clamp(max=0xFF))
    return exp.to(torch.uint8).view(torch_dtype(DataType.E8M0))
