"""Weight names and refittability on INetworkDefinition (TensorRT's ``set_weights_name``,
``mark_weights_refittable``, ``unmark_weights_refittable``, ``are_weights_marked_refittable``).

A name belongs to one weights array (the array a layer holds: ``Weights(a)`` and ``a`` name the same values); the
builder finds named weights among the network's constants when it builds a refittable engine
(inferrt/refit/record.py). Float weights left unnamed are refittable too, under a name the builder gives them:
``"<layer name> [<role>]"`` for weights handed to a layer (e.g. ``"conv1 [kernel]"``), the layer's name for a
constant layer.
Marks matter with ``BuilderFlag.REFIT_INDIVIDUAL`` only: then exactly the marked weights are refittable.
"""
from __future__ import annotations

from .network import network_method
from .weights import as_array


def weight_names(network) -> dict:
    """id(array) -> (array, name) of the named weights of ``network`` (the array is kept so its id stays valid)."""
    return network.__dict__.setdefault("_weight_names", {})


def refittable_marks(network) -> set:
    """Names marked with ``mark_weights_refittable``."""
    return network.__dict__.setdefault("_refit_marks", set())


def _log_error(network, msg: str) -> None:
    """Log (TensorRT's False + error); not recorded as a network error, so the network still builds."""
    from ..logger import Severity

    logger = getattr(network.builder, "logger", None)
    if logger is not None:
        logger.log(Severity.ERROR, msg)
    if network.error_recorder is not None:
        from ..enums import ErrorCode

        network.error_recorder.report_error(ErrorCode.INVALID_ARGUMENT, msg)


def _array_of(weights):
    try:
        arr = as_array(weights)
    except (TypeError, ValueError):
        return None
    return arr


@network_method
def set_weights_name(self, weights, name: str) -> bool:
    """Name ``weights`` (the array a layer holds) so a Refitter can set them by name. False (and a logged error)
    for empty weights, a non-string name, or a name that already names other weights."""
    arr = _array_of(weights)
    if arr is None or arr.size == 0:
        _log_error(self, f"set_weights_name({name!r}): the weights are empty; name the weights a layer holds")
        return False
    if not isinstance(name, str) or not name:
        _log_error(self, f"set_weights_name: the name must be a non-empty string, got {name!r}")
        return False
    names = weight_names(self)
    for key, (other, taken) in names.items():
        if taken == name and key != id(arr):
            _log_error(self, f"set_weights_name: {name!r} already names other weights (shape {other.shape}); weight "
                            f"names must be unique")
            return False
    names[id(arr)] = (arr, name)
    return True


def _known(network, name: str, where: str) -> bool:
    if any(n == name for _, n in weight_names(network).values()):
        return True
    _log_error(network, f"{where}({name!r}): no weights are named {name!r}; name them first with "
                       f"network.set_weights_name(weights, {name!r})")
    return False


@network_method
def mark_weights_refittable(self, name: str) -> bool:
    """Mark the weights named ``name`` refittable (used with BuilderFlag.REFIT_INDIVIDUAL)."""
    if not _known(self, name, "mark_weights_refittable"):
        return False
    refittable_marks(self).add(name)
    return True


@network_method
def unmark_weights_refittable(self, name: str) -> bool:
    """Undo ``mark_weights_refittable``."""
    if not _known(self, name, "unmark_weights_refittable"):
        return False
    refittable_marks(self).discard(name)
    return True


@network_method
def are_weights_marked_refittable(self, name: str) -> bool:
    return name in refittable_marks(self)
