"""Converters from aten op overloads to network layers, one file per op family.

A converter is ``fn(ctx, node) -> value`` registered for one or more ``torch.ops.aten.*`` overloads (or Python
callables such as ``operator.getitem``) with :func:`converter`. It reads its arguments with ``ctx.arg`` /
``ctx.tensor`` and builds layers through ``ctx.network.add_*`` (the TensorRT network API); it never runs math on
data. A converter may also say when a particular node is out of its reach (``supports=``), so that node stays in
PyTorch instead of failing the build.
"""
from __future__ import annotations

from typing import Callable

from inferrt.package_modules import import_submodules


class Converter:
    __slots__ = ("fn", "supports", "name")

    def __init__(self, fn: Callable, supports: Callable | None, name: str):
        self.fn = fn
        self.supports = supports
        self.name = name


_REGISTRY: dict = {}


def converter(*targets, supports: Callable | None = None):
    """Register ``fn(ctx, node)`` for each of ``targets`` (aten OpOverloads or Python callables).
    ``supports(node) -> str | None``: a reason the node cannot convert (None when it can)."""
    def deco(fn):
        for t in targets:
            _REGISTRY[t] = Converter(fn, supports, f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}")
        return fn
    return deco


def lookup(target) -> Converter | None:
    _load()
    return _REGISTRY.get(target)


def target_name(target) -> str:
    """``aten.add.Tensor`` for an OpOverload, the qualified name of a Python callable otherwise."""
    name = getattr(target, "_name", None)
    if name is not None and hasattr(target, "overloadpacket"):
        ns, _, op = name.partition("::")
        return f"{ns}.{op}" if "." in op else f"{ns}.{op}.{target._overloadname}"
    return f"{getattr(target, '__module__', '')}.{getattr(target, '__name__', repr(target))}".lstrip(".")


def registered() -> list[str]:
    _load()
    return sorted(target_name(t) for t in _REGISTRY)


def _load():
    import_submodules(__name__, lambda name: name != "context")
