"""DataType <-> numpy / torch mapping and the module helpers ``volume`` and ``nptype``."""
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
    DataType.INT64: 8, DataType.BOOL: 1, DataType.UINT8: 1, DataType.FP8: 1,
}
#: The floating-point types layers compute in (and that float-only layers and importers accept); FP8 is a
#: storage type for quantized tensors, not one of them. Import this rather than spelling the tuple again.
FLOAT_TYPES = (DataType.FLOAT, DataType.HALF, DataType.BF16)
#: Every floating-point storage type: FLOAT_TYPES and FP8.
FLOATING = (*FLOAT_TYPES, DataType.FP8)
INTEGER = (DataType.INT8, DataType.INT32, DataType.INT64, DataType.UINT8)


def volume(iterable: Iterable[int]) -> int:
    """Product of the dimensions (1 for an empty shape), as ``tensorrt.volume``."""
    return int(reduce(lambda a, b: a * b, iterable, 1))


def nptype(trt_type: DataType) -> type:
    """The numpy type of a DataType, as ``tensorrt.nptype``; BF16 and FP8 have none and raise TypeError."""
    trt_type = DataType.parse(trt_type)
    if trt_type not in _NP:
        raise TypeError(f"DataType.{trt_type.name} has no numpy equivalent; use torch tensors for it")
    return _NP[trt_type]


def itemsize(dt: DataType) -> int:
    if dt not in _SIZE:
        raise TypeError(f"DataType.{dt.name} is not a storage type inferrt can hold in memory")
    return _SIZE[dt]


def from_numpy_dtype(dtype) -> DataType:
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return DataType.FLOAT  # TensorRT (and ONNX importers) take doubles as float
    for dt, np_t in _NP.items():
        if np.dtype(np_t) == dtype:
            return dt
    if dtype in (np.dtype(np.uint16), np.dtype(np.int16), np.dtype(np.uint32), np.dtype(np.uint64)):
        return DataType.INT64 if dtype.itemsize >= 4 else DataType.INT32
    raise TypeError(f"numpy dtype {dtype} has no inferrt DataType")


def torch_dtype(dt: DataType):
    import torch

    return {
        DataType.FLOAT: torch.float32, DataType.HALF: torch.float16, DataType.BF16: torch.bfloat16,
        DataType.INT8: torch.int8, DataType.INT32: torch.int32, DataType.INT64: torch.int64,
        DataType.BOOL: torch.bool, DataType.UINT8: torch.uint8, DataType.FP8: torch.float8_e4m3fn,
    }[DataType.parse(dt)]


def from_torch_dtype(dtype) -> DataType:
    import torch

    table = {
        torch.float32: DataType.FLOAT, torch.float16: DataType.HALF, torch.bfloat16: DataType.BF16,
        torch.int8: DataType.INT8, torch.int32: DataType.INT32, torch.int64: DataType.INT64,
        torch.bool: DataType.BOOL, torch.uint8: DataType.UINT8, torch.float8_e4m3fn: DataType.FP8,
        torch.float64: DataType.FLOAT,
    }
    if dtype not in table:
        raise TypeError(f"torch dtype {dtype} has no inferrt DataType")
    return table[dtype]
