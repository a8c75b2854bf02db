"""The ``tensorrt`` alias: lets code and tools written for TensorRT (Polygraphy, scripts that ``import tensorrt``)
run on inferrt without editing them.

Two ways to use it:

- on the path, for other programs: ``PYTHONPATH=$(python -m inferrt.alias) polygraphy run model.onnx --trt``.
  ``path()`` is the folder that holds the ``tensorrt`` package; importing that package puts the ``inferrt`` module
  itself in ``sys.modules["tensorrt"]``, so ``import tensorrt as trt`` gives inferrt, with TensorRT's ``__version__``.
- in-process: ``inferrt.alias.install()`` before anything imports ``tensorrt``.

The folder is never put on the path by installing inferrt, so an installed NVIDIA TensorRT is never shadowed.
"""
from __future__ import annotations

import os
import sys


def path() -> str:
    """The folder to put on ``PYTHONPATH`` (or ``sys.path``) so that ``import tensorrt`` imports inferrt."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "path_entry")


def install() -> None:
    """Make ``import tensorrt`` return inferrt in this process. Raises ImportError naming the module already
    imported when another ``tensorrt`` (NVIDIA's) was imported first, since two TensorRTs cannot share a process."""
    import inferrt

    current = sys.modules.get("tensorrt")
    if current is not None and current is not inferrt:
        raise ImportError(f"a different 'tensorrt' module ({getattr(current, '__file__', current)!r}) is already "
                          f"imported; call inferrt.alias.install() before anything imports tensorrt")
    sys.modules["tensorrt"] = inferrt


def main(argv=None) -> int:
    """``python -m inferrt.alias``: print the folder to put on PYTHONPATH."""
    print(path())
    return 0
