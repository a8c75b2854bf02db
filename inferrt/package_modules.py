"""Filling a registry by importing every module of a package once: op kinds (ops/), network-API families
(ir/api_*.py), ONNX importers (onnx/importers/), tactics (tactics/tactic_*.py) and torch converters register
themselves when their module is imported."""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable

_IMPORTED: set[str] = set()


def import_submodules(package: str, keep: Callable[[str], bool]) -> None:
    """Import the modules of ``package`` (a dotted name) whose names ``keep`` accepts, the first call only. The
    package counts as done before its modules run, so a module that looks an entry up while it is imported does not
    start the imports again."""
    if package in _IMPORTED:
        return
    _IMPORTED.add(package)
    pkg = importlib.import_module(package)
    for m in pkgutil.iter_modules(pkg.__path__):
        if keep(m.name):
            importlib.import_module(f"{package}.{m.name}")
