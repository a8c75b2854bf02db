"""Checks of what callers hand the runtime: indices, shapes, addresses, stream handles and arrays.

The one home for argument checking of ``IExecutionContext``, ``ICudaEngine`` and the Pythonic ``infer``. Functions
named ``*_problem`` return a message (or None) for the TensorRT API, which logs it and returns False; the others
raise BindingError / ShapeError for the Pythonic layer. Every message names the tensor and says how to fix it.
"""
from __future__ import annotations

import numpy as np
import torch

from ..dtypes import LOW_BIT, from_numpy_dtype, from_torch_dtype, itemsize, torch_dtype
from ..enums import DataType
from ..errors import BindingError
from .device_pointers import UNREGISTERED, owner_gpu, pointer_kind, reaches_pageable
from .host_mappings import host_range_problem

ADDRESS_LIMIT = 2 ** 64
MAX_RANK = 64   # far beyond any engine's inputs (TensorRT allows 8); longer "shapes" are not read to the end
#: numpy dtype kinds that never hold tensor numbers: object, str, bytes, structured/void, datetime, timedelta
_NOT_NUMBERS = {"O": "Python objects", "U": "strings", "S": "byte strings", "V": "structured records",
                "M": "datetimes", "m": "timedeltas", "c": "complex numbers"}


def integer(value) -> int | None:
    """``value`` as an int when it is an integer (int, numpy integer, 0-d integer tensor), else None; bools and
    floats are not integers here, as in TensorRT's bindings."""
    if type(value) is int:   # the common case, first
        return value
    if isinstance(value, bool) or isinstance(value, (float, np.floating)):
        return None
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.dtype.is_floating_point or value.is_complex() or value.dtype == torch.bool \
                or value.is_meta:
            return None
        return int(value.item())
    try:
        return int(value.__index__())
    except (AttributeError, TypeError):
        return None


def index_problem(value, count: int, what: str) -> str | None:
    i = integer(value)
    if i is None:
        return f"{what} must be an integer, got {type(value).__name__} {str(value)[:40]}"
    if not 0 <= i < count:
        return f"{what} {i} is out of range: there are {count} (valid: 0 to {count - 1})"
    return None


def shape_of(name: str, shape) -> tuple | str:
    """A shape argument as a tuple of ints, or the message saying why it is not one."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        return f"input {name!r}: shape {str(shape)[:80]!r} is not a sequence of integers"
    dims = []
    for d in shape:
        if len(dims) == MAX_RANK:
            return f"input {name!r}: shape {str(shape)[:80]} has more than {MAX_RANK} dimensions"
        i = integer(d)
        if i is None:
            return (f"input {name!r}: shape {str(shape)[:80]} is not a sequence of integers "
                    f"(dimension {len(dims)} is {type(d).__name__} {str(d)[:40]})")
        dims.append(i)
    return tuple(dims)


def address_problem(name: str, value, dtype: DataType, what: str = "set_tensor_address") -> str | None:
    """What is wrong with ``value`` as the address of tensor ``name`` before it is used (null is allowed: it unbinds);
    ``what`` names the call in the message."""
    ptr = integer(value)
    if ptr is None:
        return (f"{what}: the address of {name!r} must be an integer (a pointer), got "
                f"{type(value).__name__}; pass array.ctypes.data for numpy or tensor.data_ptr() for torch")
    if not 0 <= ptr < ADDRESS_LIMIT:
        return (f"{what}: {ptr} is not an address (addresses are integers in [0, 2**64)) for {name!r}; "
                f"pass array.ctypes.data for numpy or tensor.data_ptr() for torch")
    try:
        size = itemsize(dtype)
    except TypeError:
        size = 1
    if ptr % size:
        return (f"{what}: address {ptr:#x} of {name!r} is not aligned to its {dtype.name} elements "
                f"({size} bytes); use a buffer whose address is a multiple of {size}")
    return None


def host_buffer_problem(name: str, ptr: int, nbytes: int, writable: bool, whole: bool = True) -> str | None:
    """Why the process cannot use host memory [ptr, ptr + nbytes) for tensor ``name`` (None when it can);
    ``whole``: nbytes is the tensor's size (not only its first element's, as when its shape is not known yet)."""
    why = host_range_problem(ptr, nbytes, writable)
    if why is None:
        return None
    size = f"of at least {nbytes} bytes" if whole else "large enough for the tensor"
    return (f"the buffer of tensor {name!r} at {ptr:#x} cannot be used: {why}; bind a live host buffer {size} "
            f"(for example np.empty(shape, dtype).ctypes.data) with context.set_tensor_address({name!r}, ptr)")


def device_buffer_problem(name: str, ptr: int, nbytes: int, writable: bool, device: int) -> str | None:
    """Why a kernel on CUDA ``device`` cannot use [ptr, ptr + nbytes) for tensor ``name`` (None when it can, or when
    CUDA cannot tell): memory of another GPU, or ordinary host memory unless the GPU reaches pageable memory and the
    range is mapped."""
    kind = pointer_kind(ptr)
    owner = owner_gpu(kind)
    if owner is not None and owner != device:
        return (f"the buffer of tensor {name!r} at {ptr:#x} is memory of GPU {owner} but the engine runs on GPU "
                f"{device}; bind memory of GPU {device} (a tensor on cuda:{device}) with "
                f"context.set_tensor_address({name!r}, ptr)")
    if kind is None or kind[0] != UNREGISTERED:
        return None
    if reaches_pageable(device):
        why = host_range_problem(ptr, nbytes, writable)
    else:
        why = f"{ptr:#x} is ordinary host memory, which this GPU cannot read or write"
    if why is None:
        return None
    return (f"the buffer of tensor {name!r} at {ptr:#x} cannot be used by the GPU: {why}; bind device memory "
            f"(tensor.data_ptr() of a CUDA tensor) or pinned host memory with "
            f"context.set_tensor_address({name!r}, ptr)")


def stream_problem(value) -> str | None:
    h = integer(value)
    if h is None:
        return (f"the stream handle must be an integer (a cudaStream_t, 0 for the default stream), got "
                f"{type(value).__name__}; for a torch stream pass stream.cuda_stream")
    if not 0 <= h < ADDRESS_LIMIT:
        return f"the stream handle {h} is not a cudaStream_t (an integer in [0, 2**64))"
    return None


def stream_handle(stream, device=None) -> int:
    """The Pythonic layer's ``stream=`` argument: None, a handle, or a torch stream (which must belong to the
    engine's ``device``: a stream of another GPU cannot order its work)."""
    if stream is None:
        return 0
    if hasattr(stream, "cuda_stream"):
        where = getattr(stream, "device", None)
        if device is not None and getattr(device, "type", None) == "cuda" and where is not None and where != device:
            raise BindingError(f"the stream is a stream of {where} but the engine runs on {device}; pass a stream "
                               f"of {device} (torch.cuda.Stream(device={device.index})) or none")
        stream = stream.cuda_stream
    why = stream_problem(stream)
    if why:
        raise BindingError(why)
    return integer(stream)


# ---------------------------------------------------------------------- arrays of the Pythonic layer
def feed_of(feed, named: dict, names: list) -> dict:
    """``infer``'s inputs as {name: value}: a dict, a list in input order, keywords; every input, no other."""
    if isinstance(feed, (list, tuple)):
        if len(feed) > len(names):
            raise BindingError(f"{len(feed)} inputs given but this engine has {len(names)}: {names}")
        feed = dict(zip(names, feed))
    elif feed is None:
        feed = {}
    elif not isinstance(feed, dict):
        raise BindingError(f"infer takes a dict {{input name: array}}, a list of arrays in input order {names} "
                           f"or keyword arguments, not a {type(feed).__name__}")
    feed = dict(feed, **named)
    extra = [k for k in feed if k not in names]
    if extra:
        raise BindingError(f"unknown input(s) {sorted(map(str, extra))}; this engine's inputs are {names}")
    missing = [n for n in names if n not in feed]
    if missing:
        raise BindingError(f"missing input(s) {missing}; this engine's inputs are {names}")
    return feed


def _dtype_fix(name: str, what: str) -> str:
    return (f"input {name!r} holds {what}, which no inferrt tensor can; pass numbers (for example "
            f"np.asarray(value, dtype=np.float32))")


def array_problem(x, name: str) -> str | None:
    """Kinds of arrays no tensor can be made of (checked before anything is copied)."""
    if isinstance(x, np.ndarray):
        kind = x.dtype.kind
        if kind in _NOT_NUMBERS and not _ml_dtype(x.dtype):
            return _dtype_fix(name, f"{_NOT_NUMBERS[kind]} (numpy dtype {x.dtype})")
        if not x.dtype.isnative:
            return (f"input {name!r} is a {'big' if x.dtype.byteorder == '>' else 'little'}-endian numpy array "
                    f"(dtype {x.dtype.str}), not in this machine's byte order; convert it with "
                    f"array.astype(array.dtype.newbyteorder('='))")
        if kind == "f" and x.dtype.itemsize > 8:
            return f"input {name!r} has numpy dtype {x.dtype} (extended precision); convert it with .astype(np.float32)"
        return None
    if isinstance(x, torch.Tensor):
        if x.is_meta:
            return (f"input {name!r} is a meta tensor: it has a shape but no data; pass a tensor on the CPU or a "
                    f"GPU")
        if x.layout != torch.strided:
            return f"input {name!r} is a {x.layout} tensor; pass a dense one (tensor.to_dense())"
        if getattr(x, "is_nested", False):
            return f"input {name!r} is a nested tensor; pass one dense tensor per call"
        if x.is_quantized:
            return f"input {name!r} is a quantized torch tensor; pass tensor.dequantize() (or int8 data)"
        if x.is_complex():
            return _dtype_fix(name, f"complex numbers (torch dtype {x.dtype})")
        return None
    return None


_ML_TYPES = (*LOW_BIT, DataType.BF16)


def _ml_dtype(dtype) -> bool:
    """Whether a numpy dtype is one of ml_dtypes' (bfloat16, float8_*, int4, uint4, float4_e2m1fn) inferrt holds."""
    try:
        return from_numpy_dtype(dtype) in _ML_TYPES
    except TypeError:
        return False


def check_dtype(t: torch.Tensor, expected: DataType, name: str) -> torch.Tensor:
    """``t`` in the engine's dtype for ``name`` (float64 becomes float32 for FLOAT inputs), else BindingError. A
    tensor in a type's storage is accepted for it (int8 for INT4, uint8 for UINT4, float8_e4m3fn for FP4: see
    dtypes.py); its values must lie on that type's grid."""
    if t.dtype == torch.float64 and expected == DataType.FLOAT:
        return t.float()
    try:
        got = from_torch_dtype(t.dtype)
    except TypeError:
        got = None
    if got != expected and not (expected in LOW_BIT and torch_dtype(expected) == t.dtype):
        raise BindingError(f"input {name!r} has dtype {t.dtype} but the engine expects {expected.name}; "
                           f"convert it first (for example array.astype(...))")
    return t
