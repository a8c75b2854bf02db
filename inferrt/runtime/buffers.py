"""Turning what users hand us (raw addresses, numpy arrays, torch tensors, DLPack objects) into torch tensors."""
from __future__ import annotations

import ctypes
from collections import OrderedDict

import numpy as np
import torch

from ..dtypes import from_torch_dtype, torch_dtype
from ..enums import DataType
from ..errors import BindingError


class _CudaArray:
    """Minimal ``__cuda_array_interface__`` exporter so torch can view raw device memory without copying."""

    def __init__(self, ptr: int, nbytes: int):
        self.__cuda_array_interface__ = {"shape": (nbytes,), "typestr": "|u1", "data": (ptr, False),
                                         "version": 3, "strides": None}


class AddressCache:
    """Caches byte-tensors wrapping raw addresses, so rebinding the same buffer costs a dict lookup."""

    def __init__(self, device: torch.device, capacity: int = 256):
        self.device = device
        self._cache: OrderedDict = OrderedDict()
        self._capacity = capacity

    def view(self, ptr: int, shape, dtype: DataType) -> torch.Tensor:
        tdt = torch_dtype(dtype)
        n = int(np.prod(shape)) if len(shape) else 1
        nbytes = n * torch.empty((), dtype=tdt).element_size()
        if nbytes == 0:
            return torch.empty(tuple(shape), dtype=tdt, device=self.device)
        if not ptr:
            raise BindingError("null address")
        key = (ptr, nbytes)
        base = self._cache.get(key)
        if base is None:
            if self.device.type == "cuda":
                base = torch.as_tensor(_CudaArray(ptr, nbytes), device=self.device)
            else:
                buf = (ctypes.c_uint8 * nbytes).from_address(ptr)
                base = torch.from_numpy(np.ctypeslib.as_array(buf))
            self._cache[key] = base
            if len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return base.view(tdt).view(tuple(shape))


def as_torch(x, device: torch.device, name: str) -> torch.Tensor:
    """numpy / torch / DLPack / array-like -> torch tensor on ``device`` (copy only when it must move)."""
    if isinstance(x, torch.Tensor):
        t = x
    elif isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x).reshape(x.shape)) if x.dtype != np.float64 else torch.from_numpy(x.astype(np.float32))
    elif hasattr(x, "__dlpack__"):
        t = torch.from_dlpack(x)
    elif isinstance(x, (list, tuple, int, float, bool, np.generic)):
        t = torch.as_tensor(np.asarray(x))
    else:
        raise BindingError(f"input {name!r}: cannot use a {type(x).__name__}; pass a numpy array, a torch tensor "
                           f"or an object with __dlpack__")
    if t.device != device:
        t = t.to(device)
    return t


def check_dtype(t: torch.Tensor, expected: DataType, name: str) -> torch.Tensor:
    if t.dtype == torch.float64 and expected == DataType.FLOAT:
        return t.float()
    try:
        got = from_torch_dtype(t.dtype)
    except TypeError:
        got = None
    if got != expected:
        raise BindingError(f"input {name!r} has dtype {t.dtype} but the engine expects {expected.name}; "
                           f"convert it first (for example array.astype(...))")
    return t
