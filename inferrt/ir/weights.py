"""``Weights`` (host arrays handed to the network API) and TensorRT's ``Dims`` family."""
from __future__ import annotations

import numpy as np

from ..dtypes import from_numpy_dtype, host_array, nptype
from ..enums import DataType


class Weights:
    """Host weights for a layer: ``Weights(np_array)``, ``Weights(dtype)`` (empty) or ``Weights()``."""

    def __init__(self, a=None):
        if a is None or isinstance(a, DataType):
            self._array = None
            self._dtype = a or DataType.FLOAT
            return
        if isinstance(a, Weights):
            a = a._array
        arr = np.ascontiguousarray(host_array(a))  # torch BF16 / FP8 weights as ml_dtypes arrays
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        self._dtype = from_numpy_dtype(arr.dtype)
        self._array = arr

    @property
    def dtype(self) -> DataType:
        return self._dtype

    @property
    def size(self) -> int:
        return 0 if self._array is None else int(self._array.size)

    @property
    def nbytes(self) -> int:
        return 0 if self._array is None else int(self._array.nbytes)

    def numpy(self) -> np.ndarray:
        if self._array is None:
            return np.zeros((0,), dtype=nptype(self._dtype) if self._dtype != DataType.BF16 else np.float32)
        return self._array

    def __len__(self):
        return self.size

    def __repr__(self):
        return f"Weights(dtype={self._dtype.name}, size={self.size})"


def as_array(w):
    """Weights / numpy / torch / None -> numpy array or None (an empty Weights counts as None)."""
    if w is None:
        return None
    if isinstance(w, Weights):
        return None if w.size == 0 else w.numpy()
    arr = np.ascontiguousarray(host_array(w))
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return arr


class Dims(tuple):
    """TensorRT's Dims: a tuple of ints (-1 marks a dynamic dimension)."""

    MAX_DIMS = 8

    def __new__(cls, shape=()):
        if isinstance(shape, (int, np.integer)):
            shape = (shape,)
        return super().__new__(cls, (int(d) for d in shape))

    def __repr__(self):
        return f"({', '.join(str(d) for d in self)})"

    @property
    def nbDims(self):  # C++ name some samples use
        return len(self)


class Dims2(Dims):
    def __new__(cls, *d):
        return super().__new__(cls, d[0] if len(d) == 1 else d)


Dims3 = Dims4 = DimsHW = DimsExprs = Dims2
Permutation = Dims2
