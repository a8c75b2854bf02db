"""inferrt: a deep-learning inference optimizer and runtime with TensorRT's Python API.

``import inferrt as trt`` runs TensorRT-style code: build a network (network API or ONNX parser), build a plan,
deserialize it with ``Runtime`` and execute it from execution contexts, on the GPU when there is one, else the CPU.
"""
from ._version import TENSORRT_API_VERSION as __version__  # TensorRT's API level, as tensorrt.__version__
from ._version import __version__ as inferrt_version  # inferrt's own release
from .dtypes import nptype, volume
from .enums import *  # noqa: F401,F403 - TensorRT's enums at module level, as tensorrt exposes them
from .enums import DataType
from .errors import (BindingError, BuildError, ExecutionError, InferrtError, NetworkError,  # noqa: F401
                     ParseError, PlanError, ShapeError)
from .host_memory import IHostMemory
from .logger import IErrorRecorder, ILogger, Logger, Severity  # noqa: F401
from .plugin.registry import init_libnvinfer_plugins  # noqa: F401 - light: no torch

float32 = DataType.FLOAT
float16 = DataType.HALF
bfloat16 = DataType.BF16
int8 = DataType.INT8
int32 = DataType.INT32
int64 = DataType.INT64
bool = DataType.BOOL  # noqa: A001 - TensorRT exposes trt.bool
uint8 = DataType.UINT8
fp8 = DataType.FP8
int4 = DataType.INT4
fp4 = DataType.FP4
e8m0 = DataType.E8M0


def _load_engine_api() -> None:
    """Import the network, builder and runtime API (which import PyTorch) into this module; done on first use of
    any of their names, so ``import inferrt`` and the command line's start-up stay light."""
    global _loaded
    if _loaded:
        return
    _loaded = True   # before the import: its modules may look names up here while it runs
    try:
        from . import _engine_api
    except BaseException:
        _loaded = False
        raise
    globals().update(_engine_api.exports())


_loaded = False


def __getattr__(name):
    if not name.startswith("__") and not _loaded:
        _load_engine_api()
        if name in globals():
            return globals()[name]
    if name == "OnnxParser":
        from .onnx.parser import OnnxParser

        return OnnxParser
    if name == "ParserError":
        from .onnx.parser import ParserError

        return ParserError
    raise AttributeError(f"module 'inferrt' has no attribute {name!r}")


def __dir__():
    _load_engine_api()
    return sorted(set(globals()) | {"OnnxParser", "ParserError"})
