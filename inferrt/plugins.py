"""``init_libnvinfer_plugins``: TensorRT's call that registers its bundled plugin library before parsing.

inferrt bundles no plugin library: the operators TensorRT's ONNX parser maps onto libnvinfer_plugin (InstanceNorm,
GridSample, NMS, ScatterND, the EfficientNMS / BatchedNMS family, ...) are built-in importers and layers, so nothing
has to be registered for the parser to find them. The call validates its arguments, logs at INFO what it did to the
given logger, and returns True, so code written for TensorRT runs unchanged.
"""
from __future__ import annotations

from .logger import Severity


def init_libnvinfer_plugins(logger, namespace: str) -> bool:
    """TensorRT's ``init_libnvinfer_plugins(logger, namespace)``; True when the arguments are valid (TensorRT's
    return value), else a TypeError naming the bad argument."""
    if logger is not None and not callable(getattr(logger, "log", None)):
        raise TypeError(f"init_libnvinfer_plugins: logger must be an ILogger (an object with log(severity, msg)), "
                        f"got {type(logger).__name__}")
    if not isinstance(namespace, str):
        raise TypeError(f"init_libnvinfer_plugins: namespace must be a str ('' for the default namespace), got "
                        f"{type(namespace).__name__}")
    if logger is not None:
        where = f"namespace {namespace!r}" if namespace else "the default namespace"
        logger.log(Severity.INFO, f"init_libnvinfer_plugins ({where}): inferrt has no plugin library to register; "
                                  f"the operators TensorRT implements as bundled plugins are built into its layers")
    return True
