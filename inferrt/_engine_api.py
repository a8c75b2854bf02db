"""The network, builder and runtime API that ``inferrt/__init__.py`` exposes on first use (these import PyTorch)."""
from .ir.weights import Dims, Dims2, Dims3, Dims4, DimsHW, Permutation, Weights  # noqa: F401
from .ir.tensor import ITensor  # noqa: F401
from .ir.layer import *  # noqa: F401,F403
from .ir.layer import ILayer  # noqa: F401
from .ir.layer import LAYER_CLASSES
from .ir.network import INetworkDefinition  # noqa: F401
from .ir.api_control_flow import IIfConditional, ILoop  # noqa: F401
from .builder.builder import Builder  # noqa: F401
from .builder.config import IAlgorithmSelector, IBuilderConfig  # noqa: F401
from .builder.accuracy_check import AccuracyCheck, AccuracyReport  # noqa: F401
from .builder.algorithm import IAlgorithm, IAlgorithmContext, IAlgorithmIOInfo, IAlgorithmVariant  # noqa: F401
from .builder.profile import IOptimizationProfile  # noqa: F401
from .builder.calibrators import IInt8Calibrator, IInt8EntropyCalibrator, IInt8EntropyCalibrator2, IInt8LegacyCalibrator, IInt8MinMaxCalibrator  # noqa: F401,E501
from .builder.progress import IProgressMonitor  # noqa: F401
from .builder.stream_writer import IStreamWriter  # noqa: F401
from .runtime.runtime import Runtime  # noqa: F401
from .runtime.engine import ICudaEngine  # noqa: F401
from .runtime.context import IExecutionContext  # noqa: F401
from .runtime.inspector import EngineInspector  # noqa: F401
from .runtime.inspector import EngineInspector as IEngineInspector  # noqa: F401 - TensorRT's name
from .runtime.debug_tensors import IDebugListener  # noqa: F401
from .runtime.stream_reader import IStreamReader, IStreamReaderV2  # noqa: F401
from .runtime.interfaces import IGpuAllocator, IGpuAsyncAllocator, IOutputAllocator, IProfiler, Profiler  # noqa: F401
from .tactics.timing_cache import ITimingCache, TimingCacheKey, TimingCacheValue  # noqa: F401
from .refit import OnnxParserRefitter, Refitter  # noqa: F401
from .api import build_engine, load_engine, save_plan  # noqa: F401
from .plugin.trt_names import *  # noqa: F401,F403 - IPluginV3, get_plugin_registry, PluginField...


def exports() -> dict:
    """{name: object} of this module's public names and the layer classes of every api_* module."""
    names = {k: v for k, v in globals().items() if not k.startswith("_") and k not in ("exports", "LAYER_CLASSES")}
    names.update({c.__name__: c for c in LAYER_CLASSES.values()})
    return names
