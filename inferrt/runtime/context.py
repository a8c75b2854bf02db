"""IExecutionContext: input shapes, bound addresses, activation memory and execution of one engine."""
from __future__ import annotations

import numpy as np
import torch

from ..dtypes import torch_dtype
from ..enums import DataType, ErrorCode, TensorIOMode
from ..errors import BindingError, InferrtError, ShapeError
from ..ir.weights import Dims
from ..logger import Severity, _Reporter
from ..ops import Spec
from .buffers import AddressCache, as_torch, check_dtype
from .tf32 import tf32_mode
from .executor import ExecutionError, ShapePlan, nbytes_of


class IExecutionContext(_Reporter):
    def __init__(self, engine, allocate: bool = True):
        self.engine = engine
        self.logger = engine.logger
        self.error_recorder = engine.error_recorder
        self.name = ""
        self.profiler = None
        self.debug_sync = False
        self.enqueue_emits_profile = True
        self.persistent_cache_limit = 0
        self.nvtx_verbosity = engine.profiling_verbosity
        self.temporary_allocator = None
        self._profile = 0
        self._shapes: dict[str, tuple] = {}
        self._addresses: dict[str, int] = {}
        self._allocators: dict = {}
        self._plans: dict = {}
        self._device = engine.device
        self._addr_cache = AddressCache(self._device)
        self._streams: dict[int, object] = {}
        self._arena = None
        self._user_memory = False
        self._input_consumed_event = None
        self._graphs = None
        self._static_io: dict = {}
        self._plan_key = None
        self._reset_shapes()
        if allocate:
            self._arena = torch.empty(max(engine.device_memory_size, 1), dtype=torch.uint8, device=self._device)

    # ------------------------------------------------------------------ profiles and shapes
    def _reset_shapes(self):
        self._shapes = {}
        for name in self.engine.input_names:
            shp = tuple(self.engine.get_tensor_shape(name))
            if all(d >= 0 for d in shp):
                self._shapes[name] = shp

    @property
    def active_optimization_profile(self) -> int:
        return self._profile

    def set_optimization_profile_async(self, profile_index: int, stream_handle: int = 0) -> bool:
        if not 0 <= profile_index < self.engine.num_optimization_profiles:
            self._error(f"optimization profile {profile_index} does not exist; the engine has "
                        f"{self.engine.num_optimization_profiles}")
            return False
        if profile_index != self._profile:
            self._profile = profile_index
            self._reset_shapes()
        return True

    def _shape_error(self, name: str, shape: tuple) -> str | None:
        eng = self.engine
        if eng.get_tensor_mode(name) != TensorIOMode.INPUT:
            return f"{name!r} is not an input tensor of this engine; inputs are {eng.input_names}"
        decl = tuple(eng.get_tensor_shape(name))
        if len(shape) != len(decl):
            return f"input {name!r}: shape {shape} has rank {len(shape)} but the engine expects rank {len(decl)} {decl}"
        mn, _, mx = (tuple(x) for x in eng.get_tensor_profile_shape(name, self._profile))
        for i, (d, dd, lo, hi) in enumerate(zip(shape, decl, mn, mx)):
            if dd >= 0 and d != dd:
                return f"input {name!r}: dimension {i} is {d} in {shape} but the engine fixes it to {dd}"
            if not lo <= d <= hi:
                return (f"input {name!r}: shape {shape} is outside optimization profile {self._profile}: dimension {i} "
                        f"is {d} but must be within [{lo}, {hi}] (min {mn}, max {mx}); use a shape inside the "
                        f"profile or rebuild with a wider profile")
        return None

    def set_input_shape(self, name: str, shape) -> bool:
        try:
            shape = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            self._error(f"input {name!r}: shape {shape!r} is not a sequence of integers")
            return False
        err = self._shape_error(name, shape)
        if err:
            self._error(err)
            return False
        self._shapes[name] = shape
        return True

    def get_tensor_shape(self, name: str) -> Dims:
        mode = self.engine.get_tensor_mode(name)
        if mode == TensorIOMode.INPUT:
            return Dims(self._shapes.get(name, self.engine.get_tensor_shape(name)))
        if mode == TensorIOMode.OUTPUT and self.all_binding_shapes_specified:
            try:
                shp = self._plan().output_shapes[name]
            except (ExecutionError, InferrtError) as e:
                self._error(str(e))
                shp = None
            if shp is not None:
                return Dims(shp)
        return self.engine.get_tensor_shape(name)

    def get_tensor_strides(self, name: str) -> Dims:
        shp = tuple(self.get_tensor_shape(name))
        strides, acc = [], 1
        for d in reversed(shp):
            strides.append(acc)
            acc *= max(d, 1)
        return Dims(tuple(reversed(strides)))

    @property
    def all_binding_shapes_specified(self) -> bool:
        return all(n in self._shapes for n in self.engine.input_names)

    @property
    def all_shape_inputs_specified(self) -> bool:
        return True

    def infer_shapes(self) -> list[str]:
        missing = [n for n in self.engine.input_names if n not in self._shapes]
        if not missing:
            self._plan()
        return missing

    def _plan(self) -> ShapePlan:
        key = (self._profile, tuple(self._shapes[n] for n in self.engine.input_names))
        self._plan_key = key
        plan = self._plans.get(key)
        if plan is None:
            specs = {n: Spec(self.engine.get_tensor_dtype(n), self._shapes[n]) for n in self.engine.input_names}
            plan = ShapePlan(self.engine.executor, specs, self._arena_view)
            if len(self._plans) > 64:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _arena_view(self, nbytes: int) -> torch.Tensor:
        if self._arena is None:
            raise BindingError("this context has no device memory: set context.device_memory (or use "
                               "engine.create_execution_context()) before executing")
        if nbytes > self._arena.numel():
            if self._user_memory:
                raise BindingError(f"these shapes need {nbytes} bytes of activation memory but the memory given "
                                   f"holds {self._arena.numel()}")
            self._log(Severity.VERBOSE, f"growing activation memory from {self._arena.numel()} to {nbytes} bytes")
            self._arena = torch.empty(nbytes, dtype=torch.uint8, device=self._device)
            self._plans.clear()
            self._invalidate_graphs()
        return self._arena

    # ------------------------------------------------------------------ memory
    @property
    def device_memory(self) -> int:
        return 0 if self._arena is None else self._arena.data_ptr()

    @device_memory.setter
    def device_memory(self, ptr: int) -> None:
        self.set_device_memory(ptr, self.engine.device_memory_size)

    def set_device_memory(self, memory: int, size: int) -> None:
        if size < self.engine.device_memory_size:
            self._error(f"device memory of {size} bytes is smaller than the engine's device_memory_size "
                        f"({self.engine.device_memory_size})")
            return
        self._arena = self._addr_cache.view(int(memory), (int(size),), DataType.UINT8)
        self._user_memory = True
        self._plans.clear()
        self._invalidate_graphs()

    def update_device_memory_size_for_shapes(self) -> int:
        plan = self._plan()
        return 0 if plan.eager else plan.arena_bytes

    # ------------------------------------------------------------------ addresses
    def set_tensor_address(self, name: str, memory: int) -> bool:
        if self.engine.get_tensor_mode(name) == TensorIOMode.NONE:
            self._error(f"set_tensor_address: {name!r} is not an I/O tensor of this engine "
                        f"(I/O tensors: {self.engine.input_names + self.engine.output_names})")
            return False
        self._addresses[name] = int(memory)
        return True

    def get_tensor_address(self, name: str) -> int:
        return self._addresses.get(name, 0)

    def set_output_allocator(self, name: str, output_allocator) -> bool:
        if self.engine.get_tensor_mode(name) != TensorIOMode.OUTPUT:
            self._error(f"set_output_allocator: {name!r} is not an output tensor")
            return False
        self._allocators[name] = output_allocator
        return True

    def get_output_allocator(self, name: str):
        return self._allocators.get(name)

    def get_max_output_size(self, name: str) -> int:
        shp = tuple(self.get_tensor_shape(name))
        if all(d >= 0 for d in shp):
            return nbytes_of(Spec(self.engine.get_tensor_dtype(name), shp))
        return 0

    def set_input_consumed_event(self, event) -> bool:
        self._input_consumed_event = event
        return True

    def get_input_consumed_event(self):
        return self._input_consumed_event

    def report_to_profiler(self) -> bool:
        return True

    # ------------------------------------------------------------------ execution
    def _stream(self, handle: int):
        if self._device.type != "cuda":
            return None
        if not handle:
            return torch.cuda.default_stream(self._device)
        s = self._streams.get(handle)
        if s is None:
            s = self._streams[handle] = torch.cuda.ExternalStream(handle, device=self._device)
        return s

    def execute_async_v3(self, stream_handle: int = 0) -> bool:
        try:
            io = self._bound_io()
            self._execute(io, self._stream(int(stream_handle or 0)))
            return True
        except (InferrtError, ExecutionError) as e:
            self._error(str(e), ErrorCode.FAILED_EXECUTION)
        except RuntimeError as e:  # errors raised by kernels (out-of-range indices, ...)
            self._error(f"execution failed: {e}", ErrorCode.FAILED_EXECUTION)
        return False

    def execute_v2(self, bindings) -> bool:
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        if len(bindings) != len(names):
            self._error(f"execute_v2 needs {len(names)} bindings (in I/O order: {names}), got {len(bindings)}")
            return False
        for n, ptr in zip(names, bindings):
            self._addresses[n] = int(ptr)
        ok = self.execute_async_v3(0)
        if ok and self._device.type == "cuda":
            torch.cuda.default_stream(self._device).synchronize()  # not the device: other threads may capture
        return ok

    def _bound_io(self) -> dict:
        if not self.all_binding_shapes_specified:
            missing = [n for n in self.engine.input_names if n not in self._shapes]
            raise ShapeError(f"input shapes not set for {missing}; call context.set_input_shape(name, shape)")
        plan = self._plan()
        io = {}
        for name in self.engine.input_names + self.engine.output_names:
            ptr = self._addresses.get(name, 0)
            shape = self._shapes[name] if name in self._shapes else plan.output_shapes.get(name)
            if shape is None:  # data-dependent output: filled through its output allocator
                continue
            vol = int(np.prod(shape))
            if not ptr and vol:
                if name in self._allocators:
                    continue
                raise BindingError(f"tensor {name!r} has no address; call context.set_tensor_address({name!r}, ptr)")
            io[name] = self._addr_cache.view(ptr, shape, self.engine.get_tensor_dtype(name))
        return io

    def _execute(self, io: dict, stream) -> dict:
        """Run with ``io`` tensors (all inputs; outputs that are not given are returned). Raises on error."""
        plan = self._plan()
        ctx = torch.cuda.stream(stream) if stream is not None else _null()
        with ctx, (tf32_mode(self.engine.tf32) if self._device.type == "cuda" else _null()):
            if plan.eager:
                outs = self.engine.executor.run_eager({n: io[n] for n in self.engine.input_names}, self.profiler)
                self._deliver(outs, io, stream)
                return outs
            missing = [o for o in self.engine.output_names if o not in io]
            for o in missing:  # outputs with an allocator but static shape
                io[o] = self._allocate_output(o, plan.output_shapes[o], stream)
            if self._use_graphs():
                key = (self._plan_key, tuple(sorted((n, t.data_ptr()) for n, t in io.items())))
                self._graph_cache().run(key, lambda: plan.run(io, adopt=not self._user_memory), stream)
            else:
                plan.run(io, self.profiler, self.debug_sync, adopt=not self._user_memory)
            for o in missing:
                alloc = self._allocators.get(o)
                if alloc is not None:
                    alloc.notify_shape(o, Dims(plan.output_shapes[o]))
        return io

    def _allocate_output(self, name, shape, stream):
        alloc = self._allocators.get(name)
        if alloc is None:
            raise BindingError(f"tensor {name!r} has no address; call context.set_tensor_address")
        dt = self.engine.get_tensor_dtype(name)
        size = nbytes_of(Spec(dt, shape))
        ptr = alloc.reallocate_output_async(name, self._addresses.get(name, 0), max(size, 1), 256,
                                            getattr(stream, "cuda_stream", 0) if stream is not None else 0)
        if not ptr and size:
            raise BindingError(f"output allocator returned a null address for {name!r} ({size} bytes)")
        self._addresses[name] = int(ptr)
        return self._addr_cache.view(int(ptr), shape, dt)

    def _deliver(self, outs: dict, io: dict, stream):
        for name, t in outs.items():
            if name in self._allocators:
                dst = self._allocate_output(name, tuple(t.shape), stream)
                dst.copy_(t)
                self._allocators[name].notify_shape(name, Dims(tuple(t.shape)))
            elif name in io:
                if tuple(io[name].shape) != tuple(t.shape):
                    raise BindingError(f"output {name!r} has shape {tuple(t.shape)} at run time but its buffer "
                                       f"was sized for {tuple(io[name].shape)}")
                io[name].copy_(t)
            else:
                raise BindingError(f"output {name!r} has a data-dependent shape; register an IOutputAllocator "
                                   f"with context.set_output_allocator({name!r}, allocator)")

    # ------------------------------------------------------------------ CUDA graphs
    def _use_graphs(self) -> bool:
        return (self._device.type == "cuda" and self.profiler is None and not self.debug_sync
                and self._graph_cache().enabled)

    def _graph_cache(self):
        if self._graphs is None:
            from .cuda_graphs import GraphCache

            self._graphs = GraphCache(self._device, log=self._log)
        return self._graphs

    def _invalidate_graphs(self):
        if self._graphs is not None:
            self._graphs.clear()
        self._static_io.clear()

    # ------------------------------------------------------------------ Pythonic layer
    def infer(self, feed=None, stream=None, **named):
        """Run on arrays: ``context.infer({"x": array})`` or ``context.infer(x=array)``.

        Inputs may be numpy arrays, torch tensors (any device) or DLPack objects. Returns ``{output name: array}``:
        numpy arrays when the inputs were numpy, torch tensors on the engine's device otherwise. Raises
        inferrt exceptions (ShapeError, BindingError, ExecutionError) that name the tensor or layer.
        """
        feed = dict(feed or {}, **named) if not isinstance(feed, (list, tuple)) else \
            dict(zip(self.engine.input_names, feed), **named)
        names = self.engine.input_names
        extra = set(feed) - set(names)
        if extra:
            raise BindingError(f"unknown input(s) {sorted(extra)}; this engine's inputs are {names}")
        missing = [n for n in names if n not in feed]
        if missing:
            raise BindingError(f"missing input(s) {missing}; this engine's inputs are {names}")
        want_numpy = not any(isinstance(v, torch.Tensor) for v in feed.values())
        io = {}
        for n in names:
            t = check_dtype(as_torch(feed[n], self._device, n), self.engine.get_tensor_dtype(n), n).contiguous()
            err = self._shape_error(n, tuple(t.shape))
            if err:
                raise ShapeError(err)
            self._shapes[n] = tuple(t.shape)
            io[n] = t
        plan = self._plan()
        if not plan.eager:
            if self._use_graphs():  # stable buffers per shape set, so CUDA graphs replay across calls
                static = self._static_io.get(self._plan_key)
                if static is None:
                    static = {n: torch.empty_like(t) for n, t in io.items()}
                    for o in self.engine.output_names:
                        static[o] = torch.empty(plan.output_shapes[o], device=self._device,
                                                dtype=torch_dtype(self.engine.get_tensor_dtype(o)))
                    self._static_io[self._plan_key] = static
                for n in names:
                    static[n].copy_(io[n])
                self._execute(dict(static), self._stream(stream or 0))
                outs = {o: static[o].clone() for o in self.engine.output_names}
            else:
                for o in self.engine.output_names:
                    io[o] = torch.empty(plan.output_shapes[o], dtype=torch_dtype(self.engine.get_tensor_dtype(o)),
                                        device=self._device)
                self._execute(io, self._stream(stream or 0))
                outs = {o: io[o] for o in self.engine.output_names}
        else:
            with (torch.cuda.stream(self._stream(stream or 0)) if self._device.type == "cuda" else _null()):
                outs = self.engine.executor.run_eager(io, self.profiler)
        if self._device.type == "cuda":
            torch.cuda.current_stream(self._device).synchronize() if not stream else None
        if want_numpy:
            return {k: _to_numpy(v) for k, v in outs.items()}
        return outs

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _to_numpy(t: torch.Tensor):
    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.cpu().numpy().copy() if t.device.type == "cpu" else t.cpu().numpy()


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
