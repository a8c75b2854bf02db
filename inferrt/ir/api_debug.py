"""Debug tensors (TensorRT 10): ``mark_debug(tensor)`` keeps a tensor observable in the built engine; at run time
an execution context whose debug state for it is on hands its values to an ``IDebugListener``
(runtime/debug_tensors.py).

A debug tensor is kept through optimization like a network output (layers that produce it are not fused away), but
it is not an I/O tensor of the engine: the context holds its buffer. Marking never changes what the network computes.

``mark_unfused_tensors_as_debug_tensors()`` (TensorRT 10) asks for the tensors that survive optimization instead:
it does not keep any layer from being fused, and ``is_debug_tensor`` does not report them.
"""
from __future__ import annotations

from .network import network_method
from .tensor import ITensor


def debug_tensors(network) -> list:
    """The network's debug tensors, in marking order (stored on the network on first mark)."""
    return network.__dict__.setdefault("_debug_tensors", [])


def _checked(network, tensor, where: str) -> bool:
    if not isinstance(tensor, ITensor) or tensor._network is not network:
        what = f"tensor {tensor.name!r} of another network" if isinstance(tensor, ITensor) else \
            f"a {type(tensor).__name__}"
        network._log_error(f"{where}: expected an ITensor of this network, got {what}")
        return False
    return True


@network_method
def mark_debug(self, tensor) -> bool:
    """Mark ``tensor`` as a debug tensor; True on success (also when it already was one)."""
    if not _checked(self, tensor, "mark_debug"):
        return False
    marked = debug_tensors(self)
    if tensor not in marked:
        marked.append(tensor)
    return True


@network_method
def unmark_debug(self, tensor) -> bool:
    """Undo ``mark_debug``; True on success, False with an error logged when ``tensor`` was not marked."""
    if not _checked(self, tensor, "unmark_debug"):
        return False
    marked = debug_tensors(self)
    if tensor not in marked:
        self._log_error(f"unmark_debug: tensor {tensor.name!r} is not a debug tensor")
        return False
    marked.remove(tensor)
    return True


@network_method
def is_debug_tensor(self, tensor) -> bool:
    return isinstance(tensor, ITensor) and tensor in debug_tensors(self)


def marks_unfused(network) -> bool:
    """Whether ``mark_unfused_tensors_as_debug_tensors`` is in effect for ``network``."""
    return bool(network.__dict__.get("_debug_unfused", False))


@network_method
def mark_unfused_tensors_as_debug_tensors(self) -> bool:
    """Make every tensor that survives optimization a debug tensor (builder/debug_tensors.py says which)."""
    self.__dict__["_debug_unfused"] = True
    return True


@network_method
def unmark_unfused_tensors_as_debug_tensors(self) -> bool:
    self.__dict__["_debug_unfused"] = False
    return True
