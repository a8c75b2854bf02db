"""Runtime: deserializes plans into engines (TensorRT semantics: None and a logged error on failure)."""
from __future__ import annotations

from ..enums import ErrorCode
from ..errors import PlanError
from ..logger import _Reporter


class Runtime(_Reporter):
    def __init__(self, logger=None):
        self.logger = logger
        self.error_recorder = None
        self.DLA_core = -1
        self.num_DLA_cores = 0
        self.max_threads = 1
        self.gpu_allocator = None
        self.temporary_directory = ""
        self.tempfile_control_flags = 0
        self.engine_host_code_allowed = False

    def deserialize_cuda_engine(self, serialized_engine):
        from .load import load_engine
        from .stream_reader import is_stream_reader, read_plan_stream

        try:
            if is_stream_reader(serialized_engine):   # an IStreamReader / IStreamReaderV2
                serialized_engine = read_plan_stream(serialized_engine)
            return load_engine(serialized_engine, self.logger, self.error_recorder)
        except PlanError as e:
            self._error(str(e), ErrorCode.INVALID_ARGUMENT)
            return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
