"""Turning what users hand us (raw addresses, numpy arrays, torch tensors, DLPack objects) into torch tensors.

What may be handed over is checked in ``arguments.py``; this module only converts."""
from __future__ import annotations

import ctypes
from collections import OrderedDict

import numpy as np
import torch

from ..dtypes import to_torch, torch_dtype
from ..enums import DataType
from ..errors import BindingError
from .arguments import array_problem, device_buffer_problem, host_buffer_problem


class _CudaArray:
    """Minimal ``__cuda_array_interface__`` exporter so torch can view raw device memory without copying."""

    def __init__(self, ptr: int, nbytes: int):
        self.__cuda_array_interface__ = {"shape": (nbytes,), "typestr": "|u1", "data": (ptr, False),
                                         "version": 3, "strides": None}


class AddressCache:
    """Caches byte-tensors wrapping raw addresses, so rebinding the same buffer costs a dict lookup.

    On the CPU every use first checks that the process can read (inputs) or read and write (everything else) the
    whole buffer (``host_mappings.py``), so a wrong pointer is a BindingError, not a segfault. On the GPU a new
    address is refused when CUDA says it is host memory the GPU cannot reach (``device_pointers.py``); other device
    addresses are left to CUDA."""

    def __init__(self, device: torch.device, capacity: int = 256):
        self.device = device
        self._cache: OrderedDict = OrderedDict()
        self._views: dict = {}   # (ptr, shape, dtype) -> (nbytes, typed view): a rebinding costs a lookup
        self._capacity = capacity
        self._host = device.type == "cpu"

    def view(self, ptr: int, shape, dtype: DataType, name: str = "", writable: bool = True) -> torch.Tensor:
        shape = tuple(shape)
        hit = self._views.get((ptr, shape, dtype))
        if hit is not None:   # the same buffer as before: only the (cheap) check that it is still mapped
            nbytes, t = hit
            if self._host:
                why = host_buffer_problem(name, ptr, nbytes, writable)
                if why:
                    raise BindingError(why)
            return t
        tdt = torch_dtype(dtype)
        n = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
        nbytes = n * torch.empty((), dtype=tdt).element_size()
        if nbytes == 0:
            return torch.empty(tuple(shape), dtype=tdt, device=self.device)
        if not ptr:
            raise BindingError(f"tensor {name!r} has a null address; call context.set_tensor_address({name!r}, ptr)")
        if self.device.type == "cpu":
            why = host_buffer_problem(name, ptr, nbytes, writable)
            if why:
                raise BindingError(why)
        key = (ptr, nbytes)
        base = self._cache.get(key)
        if base is None:
            if self.device.type == "cuda":
                why = device_buffer_problem(name, ptr, nbytes, writable, self.device.index or 0)
                if why:
                    raise BindingError(why)
                base = torch.as_tensor(_CudaArray(ptr, nbytes), device=self.device)
            else:
                buf = (ctypes.c_uint8 * nbytes).from_address(ptr)
                base = torch.from_numpy(np.ctypeslib.as_array(buf))
            self._cache[key] = base
            if len(self._cache) > self._capacity:
                evicted = self._cache.popitem(last=False)[0]
                self._views = {k: v for k, v in self._views.items() if k[0] != evicted[0]}
        else:
            self._cache.move_to_end(key)
        t = base.view(tdt).view(tuple(shape))
        if len(self._views) >= self._capacity:
            self._views.clear()
        self._views[(ptr, shape, dtype)] = (nbytes, t)
        return t


def as_array(x, name: str):
    """A numpy array or torch tensor for what the user passed as input ``name``, copying nothing that is already
    one; BindingError for anything no tensor can be made of."""
    if isinstance(x, (torch.Tensor, np.ndarray)):
        a = x
    elif isinstance(x, (list, tuple, int, float, bool, np.generic)):
        try:
            a = np.asarray(x)
        except (ValueError, TypeError, OverflowError) as e:  # ragged nesting, mixed types
            raise BindingError(f"input {name!r}: the nested list cannot be an array ({e}); pass a numpy array or "
                               f"a torch tensor") from None
    elif hasattr(x, "__dlpack__"):
        try:
            a = torch.from_dlpack(x)
        except Exception as e:  # noqa: BLE001 - every exporter fails its own way
            raise BindingError(f"input {name!r}: its DLPack capsule cannot be read by torch ({type(e).__name__}: "
                               f"{e}); pass a numpy array or a torch tensor") from None
    else:
        raise BindingError(f"input {name!r}: cannot use a {type(x).__name__}; pass a numpy array, a torch tensor "
                           f"or an object with __dlpack__")
    why = array_problem(a, name)
    if why:
        raise BindingError(why)
    return a


def as_torch(x, device: torch.device, name: str) -> torch.Tensor:
    """What the user passed as input ``name`` (checked by ``as_array``) as a contiguous torch tensor on ``device``
    (copy only when it must)."""
    a = as_array(x, name)
    if isinstance(a, np.ndarray):
        try:
            a = to_torch(a)  # ml_dtypes arrays (BF16, FP8, INT4, FP4...) in their DataType's storage
        except TypeError as e:  # a numpy dtype torch lacks
            raise BindingError(f"input {name!r}: numpy dtype {a.dtype} has no torch equivalent ({e}); convert it "
                               f"with .astype(...) to the engine's input dtype") from None
    if a.device != device:
        a = a.to(device)
    return a.contiguous()
