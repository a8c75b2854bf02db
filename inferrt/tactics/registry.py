"""The tactic registry. A tactic implements node kinds on a device and prepares a runner for one node.

Every kind has the ``generic`` tactic (the op's PyTorch implementation, CPU and CUDA), so a build never fails
for lack of a fast kernel. Fast tactics register here from their own modules. A tactic with tunable parameters
declares them as its ``space`` (tactics/tuning.py); its runner is made for one point of that space.
"""
from __future__ import annotations

from typing import Callable

from ..ir.kinds import Kind
from ..package_modules import import_submodules
from .tuning import TuningSpace


class Tactic:
    name = ""
    kinds: tuple[str, ...] = ()      # empty = every kind
    devices: tuple[str, ...] = ("cpu", "cuda")
    version = 1
    #: the parameters the autotuner times this tactic over; the default has one point, ``{}``
    space = TuningSpace()
    #: input indices whose values the runner keeps in a prepared form across executions (packed, cast or
    #: re-laid-out weights, cached by address): the tactic is a candidate only where those inputs are computed from
    #: constants alone (tactics/select.py), so new values at a runtime input's address are never read stale
    constant_inputs: tuple[int, ...] = ()

    def supports(self, node, specs, device: str) -> bool:
        return device in self.devices and (not self.kinds or node.kind in self.kinds)

    def prepare(self, node, device, point: dict | None = None) -> Callable:
        """The runner of ``node`` at ``point`` of ``space``; None: the point the build chose for the node
        (``node.info.tactic_point``, stored in the plan), else the space's default. Raises ValueError naming the
        layer when the point does not fit the space."""
        chosen = node.info.tactic_point if point is None else point
        return self.runner(node, device, self.space.resolve(chosen, f"layer {node.name!r} (tactic {self.name})"))

    def runner(self, node, device, point: dict) -> Callable:
        """``run(ins, outs)`` for ``node`` at the checked ``point``: what a tactic implements."""
        raise NotImplementedError


class GenericTactic(Tactic):
    """The op's own PyTorch implementation."""

    name = "generic"

    def supports(self, node, specs, device: str) -> bool:  # plugin layers run only through their plugin's tactic
        return device in self.devices and node.kind != Kind.PLUGIN_V3

    def runner(self, node, device, point):
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


def register_tactic_before(*names: str):
    """``register_tactic``, with the tactic placed ahead of the already registered ``names`` (the CPU runs the first
    fast tactic that supports a node, in registration order): a specialization of a tactic registered in another
    module, which it has to import (and so register) first."""

    def register(cls):
        register_tactic(cls)
        for name in names:      # moved behind the new tactic, in their order
            TACTICS[name] = TACTICS.pop(name)
        return cls

    return register


register_tactic(GenericTactic)
def _load():
    import_submodules(__package__, lambda name: name.startswith("tactic_"))


def get_tactic(name: str) -> Tactic:
    _load()
    if name not in TACTICS:
        raise KeyError(f"unknown tactic {name!r}")
    return TACTICS[name]


def candidates(node, specs, device: str) -> list[Tactic]:
    _load()
    return [t for t in TACTICS.values() if t.supports(node, specs, device)]
