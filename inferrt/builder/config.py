"""IBuilderConfig: flags, memory pools, optimization profiles and build knobs."""
from __future__ import annotations

from ..enums import (BuilderFlag, DeviceType, EngineCapability, HardwareCompatibilityLevel, MemoryPoolType,
                     PreviewFeature, ProfilingVerbosity, QuantizationFlag, TacticSource, TilingOptimizationLevel)
from ..interface import ContextManaged

_DEFAULT_POOLS = {
    MemoryPoolType.WORKSPACE: 1 << 40, MemoryPoolType.DLA_MANAGED_SRAM: 1 << 20,
    MemoryPoolType.DLA_LOCAL_DRAM: 1 << 30, MemoryPoolType.DLA_GLOBAL_DRAM: 1 << 29,
    MemoryPoolType.TACTIC_DRAM: 1 << 40, MemoryPoolType.TACTIC_SHARED_MEMORY: 228 << 10,
}


class IAlgorithmSelector:
    """Restricts and observes the builder's tactic choices, with TensorRT 10's signature (builder/algorithm.py).

    ``select_algorithms(context, choices)`` receives the layer's IAlgorithmContext and an IAlgorithm per tactic that
    can implement it, and returns the allowed ones as indices into ``choices`` (or tactic names, since an IAlgorithm
    is a str equal to its tactic's name, e.g. ``"generic"``, ``"cudnn_conv_bias_relu"``); an empty list keeps them
    all. After selection, ``report_algorithms(contexts, choices)`` is called once with every layer and the algorithm
    chosen for it. Set it as ``config.algorithm_selector``.
    """

    def __init__(self):
        pass

    def select_algorithms(self, context, choices: list) -> list:
        return list(range(len(choices)))

    def report_algorithms(self, contexts: list, choices: list) -> None:
        return None


class IBuilderConfig(ContextManaged):
    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.flags = 1 << BuilderFlag.TF32
        self._pools = dict(_DEFAULT_POOLS)
        self._profiles: list = []
        self._rejected_profiles: list = []
        #: inferrt: DETAILED by default (TensorRT: LAYER_NAMES_ONLY); the inspector shows fused layers' origins,
        #: tactics and precisions at no run-time cost. LAYER_NAMES_ONLY and NONE show less (runtime/inspector.py)
        self.profiling_verbosity = ProfilingVerbosity.DETAILED
        self._opt_level = 3
        self.avg_timing_iterations = 1
        self.max_num_tactics = -1
        self._tactic_sources = (1 << TacticSource.EDGE_MASK_CONVOLUTIONS) | (1 << TacticSource.JIT_CONVOLUTIONS)
        self.hardware_compatibility_level = HardwareCompatibilityLevel.NONE
        self.engine_capability = EngineCapability.STANDARD
        self.default_device_type = DeviceType.GPU
        self.DLA_core = -1
        self.int8_calibrator = None
        self.algorithm_selector = None
        self.profile_stream = 0
        self.progress_monitor = None
        self.max_aux_streams = -1
        self.tiling_optimization_level = TilingOptimizationLevel.NONE
        self.l2_limit_for_tiling = -1
        self.quantization_flags = 0
        self._preview: dict = {PreviewFeature.PROFILE_SHARING_0806: True}
        self._timing_cache = None
        self._calibration_profile = None
        #: inferrt: "cpu", "cuda" or None (the GPU when there is one, else the CPU; $INFERRT_DEVICE overrides)
        self.device = None
        #: inferrt: dump the graph after every pass and check the IR's invariants
        self.debug_passes = False
        #: inferrt: with FP16 or BF16, run sample data through the network in FLOAT at build time and keep in FLOAT
        #: the layers whose values the reduced type cannot hold (passes/guard_reduced_precision.py); False: off
        self.fp16_range_guard = True
        #: inferrt: sample batches for that check, an iterable of {input name: array} (at most 4 are used); None:
        #: batches from ``int8_calibrator`` when set, else generated data (builder/sample_inputs.py)
        self.calibration_data = None
        #: inferrt: an AccuracyCheck: after the build, run the plan and an FP32 reference on sample data and report
        #: per-layer error (builder/accuracy_check.py); None: off
        self.accuracy_check = None

    # ------------------------------------------------------------------ flags
    def set_flag(self, flag) -> None:
        self.flags |= 1 << BuilderFlag.parse(flag)

    def clear_flag(self, flag) -> None:
        self.flags &= ~(1 << BuilderFlag.parse(flag))

    def get_flag(self, flag) -> bool:
        return bool(self.flags >> BuilderFlag.parse(flag) & 1)

    def set_quantization_flag(self, flag) -> None:
        self.quantization_flags |= 1 << QuantizationFlag.parse(flag)

    def clear_quantization_flag(self, flag) -> None:
        self.quantization_flags &= ~(1 << QuantizationFlag.parse(flag))

    def get_quantization_flag(self, flag) -> bool:
        return bool(self.quantization_flags >> QuantizationFlag.parse(flag) & 1)

    def set_preview_feature(self, feature, enable: bool) -> None:
        self._preview[PreviewFeature.parse(feature)] = bool(enable)

    def get_preview_feature(self, feature) -> bool:
        return self._preview.get(PreviewFeature.parse(feature), False)

    # ------------------------------------------------------------------ pools
    def set_memory_pool_limit(self, pool, pool_size: int) -> None:
        if int(pool_size) < 0:
            raise ValueError(f"memory pool limit must be >= 0, got {pool_size}")
        self._pools[MemoryPoolType.parse(pool)] = int(pool_size)

    def get_memory_pool_limit(self, pool) -> int:
        return self._pools[MemoryPoolType.parse(pool)]

    # ------------------------------------------------------------------ profiles
    def add_optimization_profile(self, profile) -> int:
        if getattr(profile, "_errors", None):
            self._rejected_profiles.append(list(profile._errors))  # reported by the build: never lost silently
            return -1
        if not profile:
            return -1
        self._profiles.append(profile)
        return len(self._profiles) - 1

    @property
    def num_optimization_profiles(self) -> int:
        return len(self._profiles)

    def set_calibration_profile(self, profile) -> bool:
        self._calibration_profile = profile
        return True

    def get_calibration_profile(self):
        return self._calibration_profile

    # ------------------------------------------------------------------ knobs
    @property
    def builder_optimization_level(self) -> int:
        return self._opt_level

    @builder_optimization_level.setter
    def builder_optimization_level(self, level: int) -> None:
        if not 0 <= int(level) <= 5:
            raise ValueError(f"builder_optimization_level must be 0..5, got {level}")
        self._opt_level = int(level)

    def set_tactic_sources(self, tactic_sources: int) -> bool:
        self._tactic_sources = int(tactic_sources)
        return True

    def get_tactic_sources(self) -> int:
        return self._tactic_sources

    # ------------------------------------------------------------------ DLA (no DLA here; kept for API parity)
    def set_device_type(self, layer, device_type) -> None:
        DeviceType.parse(device_type)

    def get_device_type(self, layer):
        return DeviceType.GPU

    def is_device_type_set(self, layer) -> bool:
        return False

    def reset_device_type(self, layer) -> None:
        pass

    def can_run_on_DLA(self, layer) -> bool:
        return False

    # ------------------------------------------------------------------ timing cache (filled by the tactics issue)
    def create_timing_cache(self, serialized_timing_cache=b""):
        from ..tactics.timing_cache import ITimingCache

        return ITimingCache.deserialize(bytes(serialized_timing_cache))

    def set_timing_cache(self, cache, ignore_mismatch: bool = False) -> bool:
        self._timing_cache = cache
        return True

    def get_timing_cache(self):
        return self._timing_cache
