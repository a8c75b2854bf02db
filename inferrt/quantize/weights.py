"""Weight quantization in numpy: the scales, the quantized values and their ONNX initializers.

    INT8   per channel of the output-channel axis, symmetric: scale_c = amax_c / 127, q = clip(rint(w / s), -127, 127)
    FP8    per tensor: scale = amax / 448, q = E4M3(clip(w / s, -448, 448)) (round to nearest even)
    INT4   blocks of ``block`` along the reduction (input-channel) axis, per output channel, symmetric:
           scale = amax_block / 7, q = clip(rint(w / s), -8, 7); ONNX packs two INT4 values per byte, the
           element with the lower index in the low nibble

A zero amax gets scale 1 (its values are all 0 and quantize to 0 with any scale). ``rint`` rounds half to even as
QuantizeLinear does.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

FP8_MAX = 448.0


def _safe(scale: np.ndarray) -> np.ndarray:
    s = np.asarray(scale, np.float32)
    return np.where(s > 0, s, np.float32(1.0)).astype(np.float32)


def int8_per_channel(w: np.ndarray, axis: int) -> tuple:
    """(int8 values, float32 scales [w.shape[axis]])."""
    axis = axis % w.ndim
    other = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.abs(w).max(axis=other) if other else np.abs(w)
    scale = _safe(amax.astype(np.float32) / np.float32(127.0))
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.rint(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def fp8_per_tensor(w: np.ndarray) -> tuple:
    """(E4M3 bit patterns as uint8, float32 scalar scale)."""
    import torch

    scale = _safe(np.float32(np.abs(w).max() if w.size else 0.0) / np.float32(FP8_MAX))
    y = np.clip(w.astype(np.float32) / scale, -FP8_MAX, FP8_MAX)
    bits = torch.from_numpy(np.ascontiguousarray(y)).to(torch.float8_e4m3fn).view(torch.uint8).numpy()
    return bits, np.float32(scale)


def fp8_bits_to_float(bits: np.ndarray) -> np.ndarray:
    import torch

    return torch.from_numpy(np.array(bits, np.uint8)).view(torch.float8_e4m3fn).float().numpy()


def int4_blocks(w: np.ndarray, axis: int, block: int) -> tuple:
    """(int8 holding values in [-8, 7], float32 scales with w.shape[axis] replaced by ceil(n / block))."""
    axis = axis % w.ndim
    n = w.shape[axis]
    nb = -(-n // block)
    pad = nb * block - n
    wm = np.moveaxis(w.astype(np.float32), axis, 0)
    if pad:
        wm = np.concatenate([wm, np.zeros((pad,) + wm.shape[1:], np.float32)])
    blocks = wm.reshape((nb, block) + wm.shape[1:])
    scale = _safe(np.abs(blocks).max(axis=1) / np.float32(7.0))                  # [nb, ...]
    q = np.clip(np.rint(blocks / scale[:, None]), -8, 7).astype(np.int8)
    q = q.reshape((nb * block,) + wm.shape[1:])[:n]
    return np.moveaxis(q, 0, axis), np.moveaxis(scale, 0, axis)


def int4_dequant(q: np.ndarray, scale: np.ndarray, axis: int, block: int) -> np.ndarray:
    """What DequantizeLinear with ``block_size`` computes: q * scale, each scale repeated over its block."""
    axis = axis % q.ndim
    s = np.repeat(scale, block, axis=axis)
    s = np.take(s, np.arange(q.shape[axis]), axis=axis)
    return q.astype(np.float32) * s


def pack_int4(q: np.ndarray) -> bytes:
    """Two's complement nibbles of the flattened values, the even index in the low nibble; odd counts padded."""
    flat = (q.reshape(-1).astype(np.int16) & 0xF).astype(np.uint8)
    if flat.size % 2:
        flat = np.concatenate([flat, np.zeros(1, np.uint8)])
    return (flat[0::2] | (flat[1::2] << 4)).astype(np.uint8).tobytes()


def int4_initializer(name: str, q: np.ndarray) -> TensorProto:
    t = TensorProto(name=name, data_type=TensorProto.INT4, dims=list(q.shape))
    t.raw_data = pack_int4(q)
    return t


def fp8_initializer(name: str, bits: np.ndarray) -> TensorProto:
    t = TensorProto(name=name, data_type=TensorProto.FLOAT8E4M3FN, dims=list(bits.shape))
    t.raw_data = np.ascontiguousarray(bits, np.uint8).tobytes()
    return t


def int8_initializer(name: str, q: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(q, np.int8), name)


def float_initializer(name: str, a) -> TensorProto:
    return numpy_helper.from_array(np.asarray(a, np.float32), name)


def zero_point(name: str, elem_type: int, shape=()) -> TensorProto:
    """A zero point of ``elem_type`` (INT8 / FLOAT8E4M3FN / INT4) and ``shape``, all zeros."""
    n = int(np.prod(shape)) if shape else 1
    if elem_type == TensorProto.INT4:
        return int4_initializer(name, np.zeros(shape, np.int8))
    if elem_type == TensorProto.FLOAT8E4M3FN:
        return fp8_initializer(name, np.zeros(shape, np.uint8))
    return helper.make_tensor(name, elem_type, list(shape), [0] * n)
