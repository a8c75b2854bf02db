"""Whether the GPU can reach an address given to a CUDA engine, asked of the CUDA runtime already in the process.

A kernel that dereferences an address the device cannot reach does not fail alone: the CUDA context of the whole
process is lost (every later CUDA call fails). ``cudaPointerGetAttributes`` answers cheaply (no synchronization)
what an address is: device, managed or pinned host memory (usable) or ordinary host memory that CUDA does not know
("unregistered"), which a kernel can read only on systems where the GPU reaches pageable memory (HMM / ATS, device
attribute ``cudaDevAttrPageableMemoryAccess``), and there only when it is mapped (``host_mappings.py``). Device
memory names its GPU: an engine refuses another GPU's memory (its kernels would fault unless peer access happens to
be on).

The check fails open: it uses only a CUDA runtime library PyTorch has already loaded (never loads another), and
any failure to find it or to ask it means "cannot tell", leaving the address to CUDA as TensorRT does. It never
bounds the size of the allocation; only the start address is classified.
"""
from __future__ import annotations

import ctypes
import os
import threading

UNREGISTERED = 0                      # cudaMemoryTypeUnregistered
DEVICE_MEMORY = 2                      # cudaMemoryTypeDevice: memory of one GPU (``device``)
_PAGEABLE_MEMORY_ACCESS = 88           # cudaDevAttrPageableMemoryAccess
_NAMES = ("libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so")


class _Attributes(ctypes.Structure):
    """struct cudaPointerAttributes of CUDA 11 and later: type, device, devicePointer, hostPointer, then reserved
    words (8 longs in CUDA 12 and 13, one of them named in 13); room for twice that, since CUDA writes the whole
    struct it knows and a short buffer would be overrun."""
    _fields_ = [("type", ctypes.c_int), ("device", ctypes.c_int), ("devicePointer", ctypes.c_void_p),
                ("hostPointer", ctypes.c_void_p), ("reserved", ctypes.c_long * 16)]


_lock = threading.Lock()
_cudart = None
_looked = False
_pageable: dict[int, bool] = {}


def _runtime():
    """The CUDA runtime library already loaded in this process (RTLD_NOLOAD: nothing new is loaded), or None."""
    global _cudart, _looked
    with _lock:
        if _looked:
            return _cudart
        _looked = True
        for name in _NAMES:
            try:
                lib = ctypes.CDLL(name, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
                fn, attr = lib.cudaPointerGetAttributes, lib.cudaDeviceGetAttribute
                fn.argtypes = [ctypes.POINTER(_Attributes), ctypes.c_void_p]
                fn.restype = ctypes.c_int
                attr.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_int, ctypes.c_int]
                attr.restype = ctypes.c_int
                lib.cudaGetLastError.restype = ctypes.c_int
            except (OSError, AttributeError):
                continue
            _cudart = lib
            break
        return _cudart


def reaches_pageable(device: int) -> bool:
    """Whether kernels on ``device`` can use ordinary (pageable) host memory (HMM / ATS systems); True when unknown."""
    lib = _runtime()
    if lib is None:
        return True
    if device not in _pageable:
        v = ctypes.c_int(0)
        ok = lib.cudaDeviceGetAttribute(ctypes.byref(v), _PAGEABLE_MEMORY_ACCESS, device) == 0
        if not ok:
            lib.cudaGetLastError()
        _pageable[device] = bool(v.value) if ok else True
    return _pageable[device]


def pointer_kind(ptr: int) -> tuple[int, int] | None:
    """``(cudaMemoryType, device)`` CUDA reports for ``ptr``, or None when it cannot tell us."""
    lib = _runtime()
    if lib is None:
        return None
    attrs = _Attributes()
    if lib.cudaPointerGetAttributes(ctypes.byref(attrs), ctypes.c_void_p(ptr)) != 0:
        lib.cudaGetLastError()   # clear the (non-sticky) error this call left
        return None
    return attrs.type, attrs.device


def owner_gpu(kind: tuple[int, int] | None) -> int | None:
    """The GPU whose device memory a ``pointer_kind`` answer describes (None: host, managed or unknown memory)."""
    return kind[1] if kind is not None and kind[0] == DEVICE_MEMORY else None
