"""inferrt's exceptions, raised by the Pythonic layer (TensorRT-named APIs log and return None/False instead)."""


class InferrtError(Exception):
    """Base class of every error inferrt raises."""


class NetworkError(InferrtError):
    """The network definition is invalid (names the layer or tensor)."""


class BuildError(InferrtError):
    """The builder could not produce a plan; the message carries the logged errors."""


class PlanError(InferrtError):
    """A plan file is corrupt, truncated, or was built for another device kind or format version."""


class ShapeError(InferrtError):
    """An input shape is missing, outside the active optimization profile, or inconsistent."""


class ExecutionError(InferrtError, RuntimeError):
    """Running an engine failed; the message names the layer (bad index values, assertion, ...)."""


class BindingError(InferrtError):
    """A tensor address or buffer is missing, of the wrong type, or too small."""


class ParseError(InferrtError):
    """An ONNX model could not be imported; ``errors`` lists every ParserError."""

    def __init__(self, message, errors=()):
        super().__init__(message)
        self.errors = list(errors)
