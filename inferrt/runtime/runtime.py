"""Runtime: deserializes plans into engines (TensorRT semantics: None and a logged error on failure)."""
from __future__ import annotations

from ..enums import ErrorCode
from ..errors import PlanError
from ..logger import Reporter


class Runtime(Reporter):
    def __init__(self, logger=None):
        self.logger = logger
        self.error_recorder = None
        self.DLA_core = -1
        self.num_DLA_cores = 0
        self._max_threads = None     # None: the CPU engines' automatic count (runtime/cpu_threads.py)
        self.gpu_allocator = None
        self.temporary_directory = ""
        self.tempfile_control_flags = 0
        self.engine_host_code_allowed = False

    @property
    def max_threads(self) -> int:
        """The most CPU threads one execution of the CPU engines this runtime loads may use (TensorRT's
        IRuntime.max_threads). Unset, it reads ``INFERRT_CPU_THREADS`` or else the automatic count of
        runtime/cpu_threads.py at this moment; engines loaded after a set use the value set."""
        if self._max_threads is not None:
            return self._max_threads
        from .cpu_threads import auto_threads, env_threads

        try:
            env = env_threads()
        except ValueError:
            env = None
        return env if env is not None else auto_threads()

    @max_threads.setter
    def max_threads(self, value) -> None:
        from .cpu_threads import parse_threads

        try:
            self._max_threads = parse_threads(value, "Runtime.max_threads")
        except ValueError as e:
            self._error(str(e))

    def deserialize_cuda_engine(self, serialized_engine):
        from .load import load_engine
        from .stream_reader import is_stream_reader, read_plan_stream

        try:
            if is_stream_reader(serialized_engine):   # an IStreamReader / IStreamReaderV2
                serialized_engine = read_plan_stream(serialized_engine)
            return load_engine(serialized_engine, self.logger, self.error_recorder, cpu_threads=self._max_threads)
        except PlanError as e:
            self._error(str(e), ErrorCode.INVALID_ARGUMENT)
            return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
