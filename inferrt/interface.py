"""The context-manager protocol TensorRT's Python interfaces share (``with trt.Builder(logger) as builder:``).

As in TensorRT 10, leaving the ``with`` block neither destroys the object nor swallows the exception: the object
lives as long as a reference to it does. Interfaces take it by inheriting ``ContextManaged``.
"""
from __future__ import annotations


class ContextManaged:
    """``__enter__`` returns the object itself; ``__exit__`` lets any exception propagate."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        return False
