"""DataType <-> numpy / torch mapping, the module helpers ``volume`` and ``nptype``, and how each DataType is held.

Storage (one element per byte or more; nothing is bit-packed in memory)::

    DataType   torch storage           numpy exchange (ml_dtypes where numpy has no type)
    FLOAT      float32                 float32
    HALF       float16                 float16
    BF16       bfloat16                ml_dtypes.bfloat16
    INT8/UINT8/INT32/INT64/BOOL        their own
    FP8        float8_e4m3fn           ml_dtypes.float8_e4m3fn
    FP8_E5M2   float8_e5m2             ml_dtypes.float8_e5m2
    E8M0       float8_e8m0fnu          ml_dtypes.float8_e8m0fnu
    INT4       int8   (values -8..7)   ml_dtypes.int4
    UINT4      uint8  (values 0..15)   ml_dtypes.uint4
    FP4        float8_e4m3fn (values of the E2M1 grid: 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives)
                                       ml_dtypes.float4_e2m1fn

A logical type whose storage is wider holds *values* of the logical type, exactly, so every layer that reads such a
tensor (Dequantize, Cast, the data-movement layers) sees the right numbers without knowing the logical type; only
the layers that *write* the type (Cast, Quantize) round and saturate onto its grid (``ops/cast_values.py``).
Constants of these types hold ml_dtypes arrays (ONNX's packed 4-bit initializers arrive unpacked: onnx's
numpy_helper unpacks them) and are stored in the plan one element a byte. The low-bit types (``LOW_BIT``) are
storage types: compute layers refuse them, and a Cast or Dequantize layer turns them into a compute type.
"""
from __future__ import annotations

from functools import reduce
from typing import Iterable

import numpy as np

from .enums import DataType

_NP = {
    DataType.FLOAT: np.float32,
    DataType.HALF: np.float16,
    DataType.INT8: np.int8,
    DataType.INT32: np.int32,
    DataType.INT64: np.int64,
    DataType.BOOL: np.bool_,
    DataType.UINT8: np.uint8,
}
_SIZE = {
    DataType.FLOAT: 4, DataType.HALF: 2, DataType.BF16: 2, DataType.INT8: 1, DataType.INT32: 4,
    DataType.INT64: 8, DataType.BOOL: 1, DataType.UINT8: 1, DataType.FP8: 1, DataType.FP8_E5M2: 1,
    DataType.E8M0: 1, DataType.INT4: 1, DataType.UINT4: 1, DataType.FP4: 1,
}
#: ml_dtypes' name of each type numpy lacks (the dtype ONNX's numpy_helper gives such tensors)
_ML_NAMES = {
    DataType.BF16: "bfloat16", DataType.FP8: "float8_e4m3fn", DataType.FP8_E5M2: "float8_e5m2",
    DataType.E8M0: "float8_e8m0fnu", DataType.INT4: "int4", DataType.UINT4: "uint4", DataType.FP4: "float4_e2m1fn",
}
#: The floating-point types layers compute in (and that float-only layers and importers accept); FP8 is a
#: storage type for quantized tensors, not one of them. Import this rather than spelling the tuple again.
FLOAT_TYPES = (DataType.FLOAT, DataType.HALF, DataType.BF16)
#: The 8- and 4-bit floating-point storage types (FP8 is E4M3FN, FP4 is E2M1)
LOW_BIT_FLOATS = (DataType.FP8, DataType.FP8_E5M2, DataType.FP4, DataType.E8M0)
#: Every floating-point storage type: FLOAT_TYPES and the low-bit floats.
FLOATING = (*FLOAT_TYPES, *LOW_BIT_FLOATS)
INTEGER = (DataType.INT8, DataType.INT32, DataType.INT64, DataType.UINT8)
#: Storage-only types: read by Cast, Dequantize and data-movement layers, written by Cast and Quantize, refused by
#: every layer that computes with its inputs.
LOW_BIT = (*LOW_BIT_FLOATS, DataType.INT4, DataType.UINT4)
#: Integer range of the 4-bit integer types
INT4_RANGE = {DataType.INT4: (-8, 7), DataType.UINT4: (0, 15)}


def volume(iterable: Iterable[int]) -> int:
    """Product of the dimensions (1 for an empty shape), as ``tensorrt.volume``."""
    return int(reduce(lambda a, b: a * b, iterable, 1))


def nptype(trt_type: DataType) -> type:
    """The numpy type of a DataType, as ``tensorrt.nptype``; BF16 and the low-bit types have none in numpy itself
    and raise TypeError (``to_numpy`` gives their ml_dtypes arrays)."""
    trt_type = DataType.parse(trt_type)
    if trt_type not in _NP:
        raise TypeError(f"DataType.{trt_type.name} has no numpy equivalent; use torch tensors for it")
    return _NP[trt_type]


def itemsize(dt: DataType) -> int:
    """Bytes one element takes in memory (1 for the unpacked 4-bit types)."""
    if dt not in _SIZE:
        raise TypeError(f"DataType.{dt.name} is not a storage type inferrt can hold in memory")
    return _SIZE[dt]


def from_numpy_dtype(dtype) -> DataType:
    """The DataType of a numpy dtype, ml_dtypes' types included (ml_dtypes.int4 -> INT4, float4_e2m1fn -> FP4...)."""
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return DataType.FLOAT  # TensorRT (and ONNX importers) take doubles as float
    for dt, np_t in _NP.items():
        if np.dtype(np_t) == dtype:
            return dt
    if dtype in (np.dtype(np.uint16), np.dtype(np.int16), np.dtype(np.uint32), np.dtype(np.uint64)):
        return DataType.INT64 if dtype.itemsize >= 4 else DataType.INT32
    for dt, name in _ML_NAMES.items():
        if dtype.name == name:
            return dt
    raise TypeError(f"numpy dtype {dtype} has no inferrt DataType")


def float8_e8m0():
    """torch's float8_e8m0fnu (PyTorch 2.7 and later), None before."""
    import torch

    return getattr(torch, "float8_e8m0fnu", None)


def _storage_table():
    import torch

    table = {
        DataType.FLOAT: torch.float32, DataType.HALF: torch.float16, DataType.BF16: torch.bfloat16,
        DataType.INT8: torch.int8, DataType.INT32: torch.int32, DataType.INT64: torch.int64,
        DataType.BOOL: torch.bool, DataType.UINT8: torch.uint8, DataType.FP8: torch.float8_e4m3fn,
        DataType.FP8_E5M2: torch.float8_e5m2, DataType.INT4: torch.int8, DataType.UINT4: torch.uint8,
        DataType.FP4: torch.float8_e4m3fn,
    }
    if float8_e8m0() is not None:
        table[DataType.E8M0] = float8_e8m0()
    return table


def torch_dtype(dt: DataType):
    """The torch dtype a tensor of ``dt`` is held in (see the module docstring: INT4 in int8, FP4 in E4M3...)."""
    dt = DataType.parse(dt)
    table = _storage_table()
    if dt not in table:
        raise TypeError(f"DataType.{dt.name} needs a newer PyTorch (E8M0 tensors need PyTorch 2.7 or later)")
    return table[dt]


def from_torch_dtype(dtype) -> DataType:
    """The DataType a torch tensor of ``dtype`` holds (int8 -> INT8: a 4-bit type is never guessed)."""
    import torch

    table = {
        torch.float32: DataType.FLOAT, torch.float16: DataType.HALF, torch.bfloat16: DataType.BF16,
        torch.int8: DataType.INT8, torch.int32: DataType.INT32, torch.int64: DataType.INT64,
        torch.bool: DataType.BOOL, torch.uint8: DataType.UINT8, torch.float8_e4m3fn: DataType.FP8,
        torch.float8_e5m2: DataType.FP8_E5M2, torch.float64: DataType.FLOAT,
    }
    if float8_e8m0() is not None:
        table[float8_e8m0()] = DataType.E8M0
    if dtype not in table:
        raise TypeError(f"torch dtype {dtype} has no inferrt DataType")
    return table[dtype]


def ml_dtype(dt: DataType):
    """The ml_dtypes numpy dtype of a type numpy lacks (BF16, FP8, FP8_E5M2, E8M0, INT4, UINT4, FP4)."""
    import ml_dtypes

    if dt not in _ML_NAMES:
        raise TypeError(f"DataType.{dt.name} has a numpy dtype of its own ({np.dtype(_NP[dt]).name})")
    return np.dtype(getattr(ml_dtypes, _ML_NAMES[dt]))


def to_torch(arr):
    """A numpy array (ml_dtypes arrays included) as a torch tensor in its DataType's storage, values unchanged."""
    import torch

    arr = np.asarray(arr)
    if arr.dtype.name in _ML_NAMES.values():
        dt = from_numpy_dtype(arr.dtype)
        wide = arr.astype(np.float32) if dt not in INT4_RANGE else arr.astype(np.int8 if dt == DataType.INT4
                                                                                else np.uint8)
        return torch.from_numpy(np.ascontiguousarray(wide).reshape(arr.shape)).to(torch_dtype(dt))
    return torch.from_numpy(np.ascontiguousarray(arr).reshape(arr.shape))


def to_numpy(tensor, dt: DataType) -> np.ndarray:
    """A tensor held for ``dt`` as a numpy array of ``dt``'s numpy (or ml_dtypes) type, values unchanged."""
    t = tensor.detach().cpu()
    if dt in _ML_NAMES:
        wide = t.to(__import__("torch").float32).numpy() if t.is_floating_point() else t.numpy()
        return wide.astype(ml_dtype(dt))
    return t.numpy()


def array_dtype(w) -> DataType:
    """The DataType of constant weights: a numpy array (ml_dtypes' included) or a torch tensor."""
    if hasattr(w, "detach"):
        return from_torch_dtype(w.dtype)
    return from_numpy_dtype(np.asarray(w).dtype)


def array_numel(w) -> int:
    return int(w.numel()) if hasattr(w, "detach") else int(np.asarray(w).size)


def storage_tensor(w):
    """Constant weights (numpy, ml_dtypes or torch) as a torch tensor in their DataType's storage (no copy when
    the weights already are one)."""
    if hasattr(w, "detach"):
        return w
    return to_torch(w)


def host_array(w) -> np.ndarray:
    """Weights handed to the network API (numpy, ml_dtypes, torch) as a numpy array; torch tensors of types numpy
    lacks (bfloat16, float8) become ml_dtypes arrays."""
    if hasattr(w, "detach"):
        t = w.detach().cpu()
        if t.dtype in _storage_only_torch():
            return to_numpy(t, from_torch_dtype(t.dtype))
        return t.numpy()
    return np.asarray(w)


def _storage_only_torch():
    import torch

    return (torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2, float8_e8m0())
