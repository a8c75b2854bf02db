"""inferrt: a deep-learning inference optimizer and runtime with TensorRT's Python API.

``import inferrt as trt`` runs TensorRT-style code: build a network (network API or ONNX parser), build a plan,
deserialize it with ``Runtime`` and execute it from execution contexts, on the GPU when there is one, else the CPU.
"""
from ._version import __version__
from .dtypes import nptype, volume
from .enums import *  # noqa: F401,F403 - TensorRT's enums at module level, as tensorrt exposes them
from .enums import DataType
from .errors import (BindingError, BuildError, ExecutionError, InferrtError, NetworkError,  # noqa: F401
                     ParseError, PlanError, ShapeError)
from .host_memory import IHostMemory
from .logger import IErrorRecorder, ILogger, Logger, Severity  # noqa: F401
from .ir.weights import Dims, Dims2, Dims3, Dims4, DimsHW, Permutation, Weights  # noqa: F401
from .ir.tensor import ITensor  # noqa: F401
from .ir.layer import *  # noqa: F401,F403
from .ir.layer import ILayer  # noqa: F401
from .ir.network import INetworkDefinition  # noqa: F401
from .builder.builder import Builder  # noqa: F401
from .builder.config import IAlgorithmSelector, IBuilderConfig  # noqa: F401
from .builder.profile import IOptimizationProfile  # noqa: F401
from .runtime.runtime import Runtime  # noqa: F401
from .runtime.engine import ICudaEngine  # noqa: F401
from .runtime.context import IExecutionContext  # noqa: F401
from .runtime.inspector import EngineInspector  # noqa: F401
from .runtime.interfaces import IGpuAllocator, IGpuAsyncAllocator, IOutputAllocator, IProfiler, Profiler  # noqa: F401
from .tactics.timing_cache import ITimingCache, TimingCacheKey, TimingCacheValue  # noqa: F401
from .api import build_engine, load_engine, save_plan  # noqa: F401
from .ir.layer import LAYER_CLASSES as _LAYER_CLASSES

globals().update({_c.__name__: _c for _c in _LAYER_CLASSES.values()})  # layer classes of every api_* module

float32 = DataType.FLOAT
float16 = DataType.HALF
bfloat16 = DataType.BF16
int8 = DataType.INT8
int32 = DataType.INT32
int64 = DataType.INT64
bool = DataType.BOOL  # noqa: A001 - TensorRT exposes trt.bool
uint8 = DataType.UINT8
fp8 = DataType.FP8


def __getattr__(name):
    if name == "OnnxParser":
        from .onnx.parser import OnnxParser

        return OnnxParser
    if name == "ParserError":
        from .onnx.parser import ParserError

        return ParserError
    raise AttributeError(f"module 'inferrt' has no attribute {name!r}")
