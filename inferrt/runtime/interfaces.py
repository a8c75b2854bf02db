"""User-implemented interfaces of the runtime: IOutputAllocator, IProfiler / Profiler, IGpuAllocator."""
from __future__ import annotations


class IOutputAllocator:
    """Supplies memory for outputs whose shape is only known after execution (data-dependent shapes)."""

    def reallocate_output(self, tensor_name: str, memory: int, size: int, alignment: int) -> int:
        raise NotImplementedError

    def reallocate_output_async(self, tensor_name: str, memory: int, size: int, alignment: int, stream: int) -> int:
        return self.reallocate_output(tensor_name, memory, size, alignment)

    def notify_shape(self, tensor_name: str, shape) -> None:
        raise NotImplementedError


class IProfiler:
    """Receives per-layer execution times (milliseconds) after each execution when set on a context."""

    def report_layer_time(self, layer_name: str, ms: float) -> None:
        raise NotImplementedError


class Profiler(IProfiler):
    """Default profiler: prints each layer's time."""

    def report_layer_time(self, layer_name: str, ms: float) -> None:
        print(f"{layer_name}: {ms:.4f}ms")


class IGpuAllocator:
    def allocate(self, size: int, alignment: int, flags: int) -> int:
        raise NotImplementedError

    def deallocate(self, memory: int) -> bool:
        raise NotImplementedError


class IGpuAsyncAllocator(IGpuAllocator):
    def allocate_async(self, size, alignment, flags, stream):
        return self.allocate(size, alignment, flags)

    def deallocate_async(self, memory, stream):
        return self.deallocate(memory)
