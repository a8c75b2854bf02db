"""The tactic registry. A tactic implements node kinds on a device and prepares a runner for one node.

Every kind has the ``generic`` tactic (the op's PyTorch implementation, CPU and CUDA), so a build never fails
for lack of a fast kernel. Fast tactics register here from their own modules.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable


class Tactic:
    name = ""
    kinds: tuple[str, ...] = ()      # empty = every kind
    devices: tuple[str, ...] = ("cpu", "cuda")
    version = 1

    def supports(self, node, specs, device: str) -> bool:
        return device in self.devices and (not self.kinds or node.kind in self.kinds)

    def prepare(self, node, device) -> Callable:
        raise NotImplementedError


class GenericTactic(Tactic):
    """The op's own PyTorch implementation."""

    name = "generic"

    def prepare(self, node, device):
        op, attrs = node.op, node.attrs

        def run(ins, outs):
            return op.run(attrs, ins, outs)

        return run


TACTICS: dict[str, Tactic] = {}


def register_tactic(cls):
    inst = cls()
    if inst.name in TACTICS:
        raise RuntimeError(f"tactic {inst.name!r} registered twice")
    TACTICS[inst.name] = inst
    return cls


register_tactic(GenericTactic)
_LOADED = False


def _load():
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from .. import tactics

    for m in pkgutil.iter_modules(tactics.__path__):
        if m.name.startswith("tactic_"):
            importlib.import_module(f"{tactics.__name__}.{m.name}")


def get_tactic(name: str) -> Tactic:
    _load()
    if name not in TACTICS:
        raise KeyError(f"unknown tactic {name!r}")
    return TACTICS[name]


def candidates(node, specs, device: str) -> list[Tactic]:
    _load()
    return [t for t in TACTICS.values() if t.supports(node, specs, device)]
