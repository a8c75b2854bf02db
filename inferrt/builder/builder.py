"""Builder: creates networks, configs and profiles, and builds plans (TensorRT semantics: None + logged error)."""
from __future__ import annotations

from ..device import cuda_available, on_device
from ..enums import ErrorCode
from ..errors import BuildError
from ..host_memory import IHostMemory
from ..ir.network import INetworkDefinition
from ..logger import Reporter, Severity
from .config import IBuilderConfig
from .profile import IOptimizationProfile
from .stream_writer import build_serialized_network_to_stream


class Builder(Reporter):
    def __init__(self, logger=None):
        self.logger = logger
        self.error_recorder = None
        self.gpu_allocator = None
        self.max_threads = 1
        self.num_DLA_cores = 0
        self.max_DLA_batch_size = 1

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        return INetworkDefinition(self, flags)

    def create_builder_config(self) -> IBuilderConfig:
        return IBuilderConfig()

    def create_optimization_profile(self) -> IOptimizationProfile:
        return IOptimizationProfile()

    @property
    def platform_has_fast_fp16(self) -> bool:
        return cuda_available()

    @property
    def platform_has_tf32(self) -> bool:
        if not cuda_available():
            return False
        import torch

        return torch.cuda.get_device_capability()[0] >= 8

    @property
    def platform_has_fast_int8(self) -> bool:
        return cuda_available()

    def is_network_supported(self, network, config) -> bool:
        return not network.internal.layer_errors()

    def build_serialized_network(self, network, config) -> IHostMemory | None:
        try:
            return self.build(network, config)
        except BuildError as e:
            self._error(str(e), ErrorCode.INVALID_CONFIG)
            return None

    build_serialized_network_to_stream = build_serialized_network_to_stream

    def build_engine_with_config(self, network, config):
        plan = self.build_serialized_network(network, config)
        if plan is None:
            return None
        from ..runtime.runtime import Runtime

        rt = Runtime(self.logger)
        rt.error_recorder = self.error_recorder
        with on_device(config.device, "config.device"):   # the engine goes where it was built
            return rt.deserialize_cuda_engine(plan)

    def build(self, network, config=None) -> IHostMemory:
        """Pythonic: build a plan or raise BuildError with every problem found."""
        from .build import build_plan
        from .progress import ProgressDriver

        config = config or self.create_builder_config()
        progress = ProgressDriver(config.progress_monitor)
        try:
            gpu = on_device(config.device, "config.device")   # "cuda:N": tactics are timed and kernels built there
        except ValueError as e:
            progress.close()
            raise BuildError(str(e)) from None
        try:
            with gpu:
                plan = IHostMemory(build_plan(network, config, self._log, progress))
                if getattr(config, "accuracy_check", None) is not None:
                    from .accuracy_check import run_accuracy_check

                    run_accuracy_check(network, config, plan, self._log)
            return plan
        except BuildError:
            raise
        except RuntimeError as e:
            raise BuildError(str(e)) from None
        finally:
            progress.close()   # phases left open by an error or a cancellation are finished

    def reset(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def _log(self, severity, msg):  # noqa: D401 - logger passthrough used by the build pipeline
        if self.logger is not None:
            self.logger.log(Severity.parse(severity), msg)
