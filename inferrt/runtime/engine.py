"""ICudaEngine: an immutable, deserialized plan (weights on the device, prepared kernels, I/O metadata)."""
from __future__ import annotations

import threading

import torch

from ..dtypes import storage_tensor, torch_dtype
from ..enums import (DataType, EngineCapability, ErrorCode, ExecutionContextAllocationStrategy, ProfilingVerbosity,
                     SerializationFlag, TensorFormat, TensorIOMode, TensorLocation)
from ..host_memory import IHostMemory
from ..ir.graph import Graph
from ..ir.kinds import Kind
from ..ir.weights import Dims
from ..logger import Reporter
from ..plan.schema import Manifest
from ..tactics.registry import get_tactic
from .executor import Executor


class ICudaEngine(Reporter):
    def __init__(self, plan: bytes, manifest: Manifest, blobs, logger=None, error_recorder=None, graph=None,
                 cpu_threads=None):
        self.logger = logger
        self.error_recorder = error_recorder
        self._plan = plan
        self._manifest = manifest
        self.device_kind = manifest.device_kind
        self.device = torch.device("cuda", torch.cuda.current_device()) if self.device_kind == "cuda" \
            else torch.device("cpu")
        self.graph: Graph = graph if graph is not None else Graph.from_json(manifest.graph, blobs)
        self._io = manifest.io
        self._io_index = {e.name: i for i, e in enumerate(self._io)}
        #: (name, DataType) of the inputs then the outputs: what every execution binds, looked up once
        self._io_bindings = tuple((e.name, DataType[e.dtype]) for mode in ("INPUT", "OUTPUT")
                                  for e in self._io if e.mode == mode)
        self._profiles = manifest.profiles
        self.name = manifest.name
        self.profiling_verbosity = ProfilingVerbosity[manifest.profiling_verbosity]
        self.engine_capability = EngineCapability.STANDARD
        #: BuilderFlag.TF32 at build time: FLOAT products and convolutions may use TF32 (see runtime/tf32.py)
        self.tf32 = manifest.tf32
        self._lock = threading.Lock()
        #: CPU engines: intra-op threads per execution (None: automatic; runtime/cpu_threads.py)
        self.cpu_threads = cpu_threads if cpu_threads is not None else self._env_threads()
        #: the plan's compiled GPU kernels (kernel_store's entry form, file contents included): what a plan written
        #: again from this engine (refit/reserialize.py) carries, since the blobs are numbered anew there
        self.kernel_entries: list[dict] = []
        if self.device_kind == "cuda" and manifest.kernels:
            self.kernel_entries = self._install_kernels(manifest.kernels, blobs, len(plan))
        from ..refit.state import refit_state

        #: the refit section of the plan (inferrt/refit/state.py), None for an engine built without REFIT
        self._refit = refit_state(manifest, blobs, len(plan), self.graph)
        self._weights_version = 0
        self._plan_stale = False
        consts, kernels = {}, {}
        for n in self.graph.nodes:
            if n.kind == Kind.CONSTANT:
                consts[n.outputs[0]] = storage_tensor(n.attrs.weights).reshape(tuple(n.attrs.shape)).to(self.device)
            else:
                kernels[n.name] = get_tactic(n.info.tactic or "generic").prepare(n, self.device)
        self.executor = Executor(self.graph, consts, kernels, self.device)

    def _env_threads(self):
        from .cpu_threads import env_threads

        try:
            return env_threads()
        except ValueError as e:
            self._error(f"{e}; using the automatic CPU thread count")
            return None

    @staticmethod
    def _install_kernels(entries, blobs, plan_size) -> list[dict]:
        """Check the plan's compiled kernels and make them Triton's for this process (see tactics/kernel_store.py);
        the checked entries, with their files' contents."""
        from ..tactics.kernel_store import entries_of, install_checked, validate

        kernels = validate(entries, blobs, plan_size)
        install_checked(kernels)
        return entries_of(kernels)

    # ------------------------------------------------------------------ I/O metadata
    @property
    def num_io_tensors(self) -> int:
        return len(self._io)

    def get_tensor_name(self, index: int) -> str:
        return self._io[_index(index, len(self._io), "I/O tensor index")].name

    def __getitem__(self, index):
        return self.get_tensor_name(index)

    def _entry(self, name):
        i = self._io_index.get(name) if isinstance(name, str) else None
        return None if i is None else self._io[i]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        e = self._entry(name)
        return TensorIOMode.NONE if e is None else TensorIOMode[e.mode]

    def get_tensor_shape(self, name: str) -> Dims:
        e = self._entry(name)
        return Dims(e.shape) if e else Dims(())

    def get_tensor_dtype(self, name: str) -> DataType:
        e = self._entry(name)
        return DataType[e.dtype] if e else DataType.FLOAT

    def is_debug_tensor(self, name: str) -> bool:
        """Whether ``name`` was marked with network.mark_debug (runtime/debug_tensors.py); as in TensorRT, the
        tensors of mark_unfused_tensors_as_debug_tensors are not reported here."""
        return name in self.graph.debug and name not in self.graph.unfused

    def get_tensor_location(self, name: str) -> TensorLocation:
        return TensorLocation.DEVICE if self.device_kind == "cuda" else TensorLocation.HOST

    def get_tensor_format(self, name: str, profile_index: int = 0) -> TensorFormat:
        return TensorFormat.LINEAR

    def get_tensor_format_desc(self, name: str, profile_index: int = 0) -> str:
        return "Row major linear format"

    def get_tensor_vectorized_dim(self, name: str, profile_index: int = 0) -> int:
        return -1

    def get_tensor_components_per_element(self, name: str, profile_index: int = 0) -> int:
        return 1

    def get_tensor_bytes_per_component(self, name: str, profile_index: int = 0) -> int:
        return torch.empty((), dtype=torch_dtype(self.get_tensor_dtype(name))).element_size()

    def is_shape_inference_io(self, name: str) -> bool:
        return False

    def get_tensor_profile_shape(self, name: str, profile_index: int):
        profile_index = _index(profile_index, len(self._profiles), "optimization profile")
        s = self._profiles[profile_index].shapes.get(name) if isinstance(name, str) else None
        if s is None:
            if self.get_tensor_mode(name) != TensorIOMode.INPUT:
                return []
            shp = self.get_tensor_shape(name)
            return [shp, shp, shp]
        return [Dims(x) for x in s]

    def get_tensor_profile_values(self, name: str, profile_index: int):
        return []

    # ------------------------------------------------------------------ engine facts
    @property
    def num_optimization_profiles(self) -> int:
        return len(self._profiles)

    @property
    def num_layers(self) -> int:
        return sum(1 for n in self.graph.nodes if n.kind != Kind.CONSTANT)

    @property
    def device_memory_size(self) -> int:
        return max((p.device_memory for p in self._profiles), default=0)

    device_memory_size_v2 = device_memory_size

    def get_device_memory_size_for_profile(self, profile_index: int) -> int:
        return self._profiles[_index(profile_index, len(self._profiles), "optimization profile")].device_memory

    get_device_memory_size_for_profile_v2 = get_device_memory_size_for_profile

    @property
    def refittable(self) -> bool:
        return self._refit is not None

    @property
    def missing_weights(self) -> list[str]:
        """Refittable weights a weight-stripped plan still lacks (inferrt: the engine does not run until a refit
        sets them all)."""
        return [] if self._refit is None else sorted(self._refit.missing)

    # ------------------------------------------------------------------ refit's access (inferrt/refit/)
    @property
    def refit_state(self):
        """The refit section of the plan (inferrt/refit/state.py), None for an engine built without REFIT."""
        return self._refit

    def swap_weights(self, nodes, consts: dict, kernels: dict) -> None:
        """Install refitted graph ``nodes`` with their device constants and prepared kernels, all at once: contexts
        drop their shape plans and CUDA graphs before their next run (``sync_weights``) and the next ``serialize``
        writes the new weights."""
        with self._lock:
            self.graph.nodes[:] = nodes
            self.executor = Executor(self.graph, consts, kernels, self.device)
            self._weights_version = getattr(self, "_weights_version", 0) + 1
            self._plan_stale = True

    def sync_weights(self, context) -> None:
        """Called by a context before it plans a run: after a refit, drop the context's shape plans and CUDA graphs
        (they hold the old constants and kernels)."""
        if context.__dict__.get("_weights_seen", 0) != self._weights_version:
            context._plans.clear()
            context._invalidate_graphs()
            context._weights_seen = self._weights_version

    def check_weights(self) -> None:
        """Called before every run: a weight-stripped engine does not run until a refit has set all its weights."""
        if self._refit is not None and self._refit.missing:
            from ..errors import ExecutionError

            missing = self.missing_weights
            raise ExecutionError(f"the engine was loaded from a weight-stripped plan and {len(missing)} of its weights "
                                 f"have not been refitted ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}"
                                 f"); refit them first (inferrt.OnnxParserRefitter(refitter, logger).refit_from_file("
                                 f"model), then refitter.refit_cuda_engine())")

    @property
    def has_implicit_batch_dimension(self) -> bool:
        return False

    @property
    def num_aux_streams(self) -> int:
        return 0

    @property
    def hardware_compatibility_level(self):
        from ..enums import HardwareCompatibilityLevel

        return HardwareCompatibilityLevel.NONE

    @property
    def tactic_sources(self) -> int:
        return 0

    @property
    def streamable_weights_size(self) -> int:
        return 0

    # ------------------------------------------------------------------ factories
    def serialize(self) -> IHostMemory:
        if self._plan_stale:   # refitted: the plan carries the new weights (stripped ones stay stripped)
            from ..refit.reserialize import reserialize

            self._plan = reserialize(self)
            self._plan_stale = False
        return IHostMemory(self._plan)

    def create_serialization_config(self):
        from ..refit.reserialize import ISerializationConfig

        return ISerializationConfig()

    def serialize_with_config(self, config) -> IHostMemory | None:
        """TensorRT 10: SerializationFlag.EXCLUDE_WEIGHTS writes a refittable engine without its refittable weights
        (refit/reserialize.py); None and a logged error for an engine built without REFIT (it could never get its
        weights back)."""
        from ..refit.reserialize import ISerializationConfig, serialize_with_config

        if not isinstance(config, ISerializationConfig):
            raise TypeError(f"serialize_with_config takes the ISerializationConfig of "
                            f"engine.create_serialization_config(), got {type(config).__name__}")
        if config.get_flag(SerializationFlag.EXCLUDE_WEIGHTS) and self._refit is None:
            self._error("serialize_with_config: SerializationFlag.EXCLUDE_WEIGHTS needs an engine built with "
                        "BuilderFlag.REFIT (or REFIT_IDENTICAL / REFIT_INDIVIDUAL): without a refit the weights "
                        "could never be put back", ErrorCode.INVALID_ARGUMENT)
            return None
        return serialize_with_config(self, config)

    def create_execution_context(self, strategy=ExecutionContextAllocationStrategy.STATIC):
        from .context import IExecutionContext

        allocate = ExecutionContextAllocationStrategy.parse(strategy) != ExecutionContextAllocationStrategy.USER_MANAGED
        try:
            return IExecutionContext(self, allocate=allocate)
        except (RuntimeError, MemoryError) as e:  # TensorRT semantics: None and a logged error
            why = str(e).splitlines()[0] if str(e) else repr(e)
            self._error(f"cannot create an execution context: its {self.device_memory_size} bytes of activation "
                        f"memory could not be allocated on {self.device} ({why}); free memory, or use "
                        f"create_execution_context_without_device_memory() and set context.device_memory",
                        ErrorCode.FAILED_ALLOCATION)
            return None

    def create_execution_context_without_device_memory(self):
        from .context import IExecutionContext

        return IExecutionContext(self, allocate=False)

    def create_engine_inspector(self):
        from .inspector import EngineInspector

        return EngineInspector(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    # ------------------------------------------------------------------ Pythonic helpers
    @property
    def input_names(self) -> list[str]:
        return [e.name for e in self._io if e.mode == "INPUT"]

    @property
    def output_names(self) -> list[str]:
        return [e.name for e in self._io if e.mode == "OUTPUT"]

    @property
    def manifest(self) -> dict:
        """The plan's manifest as JSON (as stored in the plan)."""
        return self._manifest.raw

    @property
    def plan_info(self) -> Manifest:
        """The plan's checked manifest, typed (plan/schema.py)."""
        return self._manifest


def _index(value, count: int, what: str) -> int:
    """An index argument: TypeError when it is not an integer, IndexError when out of range (TensorRT's bindings)."""
    if type(value) is int and 0 <= value < count:   # the common case, first
        return value
    from .arguments import index_problem, integer

    why = index_problem(value, count, what)
    if why:
        raise (TypeError if integer(value) is None else IndexError)(why)
    return integer(value)
