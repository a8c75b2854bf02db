"""IHostMemory: the serialized plan (bytes with TensorRT's ``nbytes`` and ``dtype``)."""
from __future__ import annotations

from .enums import DataType
from .interface import ContextManaged


class IHostMemory(bytes, ContextManaged):
    """A plan in host memory; supports the buffer protocol, ``nbytes`` and ``dtype`` like TensorRT's."""

    @property
    def nbytes(self) -> int:
        return len(self)

    @property
    def dtype(self) -> DataType:
        return DataType.UINT8

    def __repr__(self):
        return f"IHostMemory(nbytes={len(self)})"
