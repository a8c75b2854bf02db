"""PyTorch integration (Torch-TensorRT's role):

- ``torch.compile(model, backend="inferrt", options={...})``: registered when this package is imported; each
  graph dynamo captures is built into engines on its first call per input signature.
- ``inferrt.torch.compile(module, example_inputs, dynamic_shapes=...)``: ahead of time through ``torch.export``;
  aten ops convert straight to network layers (``converters/``), ops without a converter stay in PyTorch, Dim
  ranges become optimization profiles; ``dryrun=True`` returns a report of what runs where and why.
- ``inferrt.torch.save(compiled, path)`` / ``inferrt.torch.load(path)``: plans + JSON metadata + the PyTorch parts
  in torch.export's format; loading builds nothing.

The package is ``inferrt.torch``; inside inferrt every import of PyTorch is absolute, so it never shadows ``torch``.
"""
from __future__ import annotations

from inferrt.torch.aot import compile  # noqa: A004
from inferrt.torch.backend import register_backend
from inferrt.torch.compiled_module import CompiledModule
from inferrt.torch.partition import DryRunReport
from inferrt.torch.serialize import load, save
from inferrt.torch.settings import CompileSettings

register_backend()

__all__ = ["compile", "save", "load", "CompiledModule", "CompileSettings", "DryRunReport"]
