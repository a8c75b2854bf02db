"""Plugin enqueue buffers: TensorRT-style addresses that also carry the torch tensor.

``enqueue(input_desc, output_desc, inputs, outputs, workspace, stream)`` receives each buffer as a
``TensorPointer``: an ``int`` (the device address, or the host address on the CPU), so TensorRT plugin code that
wraps addresses with cupy (``cp.cuda.UnownedMemory(inputs[0], ...)``) or ctypes runs unchanged, with the torch
tensor at ``.tensor`` for plugins written against PyTorch. ``as_torch(ptr, desc)`` gives a torch tensor for either
kind of address (a plain int is wrapped without a copy), ``as_numpy`` a numpy view of a host buffer.
"""
from __future__ import annotations

import ctypes

import numpy as np

from ..dtypes import nptype, torch_dtype


class TensorPointer(int):
    """An address (``int``) with the tensor it points into at ``.tensor``."""

    tensor = None

    def __new__(cls, tensor):
        self = int.__new__(cls, tensor.data_ptr() if tensor is not None else 0)
        self.tensor = tensor
        return self

    def __repr__(self):
        t = self.tensor
        return f"TensorPointer(0x{int(self):x}, shape={tuple(t.shape)}, dtype={t.dtype})" if t is not None else \
            f"TensorPointer(0x{int(self):x})"


def _dims(desc):
    dims = getattr(desc, "dims", desc)
    return tuple(int(d) for d in dims)


def as_torch(ptr, desc, device=None):
    """The torch tensor at ``ptr`` described by ``desc`` (a PluginTensorDesc, or anything with ``dims``/``shape``
    and ``type``/``dtype``). A TensorPointer gives its own tensor; a plain address is wrapped without a copy, as a
    CUDA tensor when ``device`` is CUDA (default: CUDA when available) and a host tensor otherwise."""
    import torch

    if isinstance(ptr, TensorPointer) and ptr.tensor is not None:
        return ptr.tensor
    dims = _dims(getattr(desc, "dims", None) or getattr(desc, "shape", ()))
    dtype = getattr(desc, "type", None) or getattr(desc, "dtype")
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        class _Cai:
            __cuda_array_interface__ = {"shape": dims, "typestr": np.dtype(_np(dtype)).str,
                                        "data": (int(ptr), False), "version": 3}
        return torch.as_tensor(_Cai(), device=device).view(torch_dtype(dtype))
    return torch.from_numpy(as_numpy(ptr, desc)).view(torch_dtype(dtype))


def as_numpy(ptr, desc) -> np.ndarray:
    """A numpy view of the host buffer at ``ptr`` (CPU engines); described by ``desc``."""
    if isinstance(ptr, TensorPointer) and ptr.tensor is not None:
        if ptr.tensor.is_cuda:
            raise ValueError("as_numpy: this buffer is on the GPU; use as_torch (or cupy) for device buffers")
    dims = _dims(getattr(desc, "dims", None) or getattr(desc, "shape", ()))
    dt = np.dtype(_np(getattr(desc, "type", None) or getattr(desc, "dtype")))
    n = int(np.prod(dims)) if dims else 1
    buf = (ctypes.c_char * (n * dt.itemsize)).from_address(int(ptr))
    return np.frombuffer(buf, dtype=dt).reshape(dims)


def _np(dtype):
    from ..enums import DataType

    dt = DataType.parse(dtype)
    if dt == DataType.BF16:
        return np.uint16   # viewed as bfloat16 by torch
    return nptype(dt)
