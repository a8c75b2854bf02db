"""IExecutionContext: input shapes, bound addresses, activation memory and execution of one engine."""
from __future__ import annotations

import math

import torch

from ..dtypes import itemsize
from ..enums import DataType, ErrorCode, TensorIOMode
from ..errors import BindingError, InferrtError, ShapeError
from ..ir.weights import Dims
from ..logger import Reporter, Severity
from ..ops import Spec
from .arguments import (ADDRESS_LIMIT, address_problem, device_buffer_problem, feed_of, host_buffer_problem,
                        index_problem, integer, shape_of, stream_handle, stream_problem)
from .buffers import AddressCache, as_array
from .cpu_threads import parse_threads, threads_for_run
from .debug_tensors import DebugTensorsMixin
from .executor import ExecutionError, ShapePlan, nbytes_of
from .tf32 import tf32_mode
from .run_arrays import run_arrays
from .use_guard import DeviceOrder, UseGuard

#: what the TensorRT API reports (False and a logged error) when running fails
_RUN_ERRORS = (InferrtError, RuntimeError, MemoryError, OverflowError)


class IExecutionContext(Reporter, DebugTensorsMixin):
    def __init__(self, engine, allocate: bool = True):
        self.engine = engine
        self.logger = engine.logger
        self.error_recorder = engine.error_recorder
        self.name = ""
        self._profiler = None
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
        self._cpu_threads = None       # None: the engine's (runtime/cpu_threads.py)
        self.last_cpu_threads = 0      # the thread count the last CPU execution used
        self._guard = UseGuard()       # one thread at a time (use_guard.py)
        self._order = DeviceOrder()    # GPU: each execution after the previous one, whatever their streams
        self._reset_shapes()
        if allocate:
            self._arena = torch.empty(max(engine.device_memory_size, 1), dtype=torch.uint8, device=self._device)

    @property
    def profiler(self):
        return self._profiler

    @profiler.setter
    def profiler(self, profiler) -> None:
        if profiler is not None and not callable(getattr(profiler, "report_layer_time", None)):
            raise TypeError(f"context.profiler must be an IProfiler (with report_layer_time(layer_name, ms)) or "
                            f"None, got {type(profiler).__name__}")
        self._profiler = profiler

    @property
    def cpu_threads(self) -> int | None:
        """CPU engines: the intra-op thread count of this context's executions (None: the automatic count of
        runtime/cpu_threads.py). Set it to an integer >= 1, or None to follow the engine (``Runtime.max_threads``,
        then ``INFERRT_CPU_THREADS``). It applies to this context's work on the thread that runs it; PyTorch's
        own setting is restored after each execution."""
        return self._cpu_threads if self._cpu_threads is not None else self.engine.cpu_threads

    @cpu_threads.setter
    def cpu_threads(self, value) -> None:
        self._cpu_threads = parse_threads(value, "context.cpu_threads")

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
        why = index_problem(profile_index, self.engine.num_optimization_profiles, "optimization profile") \
            or stream_problem(stream_handle)
        if why:
            self._error(f"set_optimization_profile_async: {why}")
            return False
        if not self._claim("set_optimization_profile_async", "the optimization profile"):
            return False
        try:
            self._guard.note_write("the optimization profile")
            if int(profile_index) != self._profile:
                self._guard.note_write(*(f"the shape of {n!r}" for n in self.engine.input_names))
                self._profile = int(profile_index)
                self._reset_shapes()
        finally:
            self._guard.exit()
        return True

    # ------------------------------------------------------------------ one thread at a time (use_guard.py)
    def _claim(self, what: str, *settings: str) -> bool:
        """Enter the context's guard without waiting; False (and a logged error) when another thread is inside
        (``settings``: those the refused call would have changed)."""
        if self._guard.try_enter():
            return True
        if settings:
            self._guard.note_refused(what, *settings)
        self._error(self._guard.busy_message(what))
        return False

    def _guarded_store(self, api: str, setting: str, table: dict, name: str, value) -> bool:
        """``table[name] = value`` for the setter ``api`` inside the context's guard, the write noted as ``setting``;
        False (and a logged error) when another thread is inside."""
        if not self._claim(api, setting):
            return False
        try:
            self._guard.note_write(setting)
            table[name] = value
        finally:
            self._guard.exit()
        return True

    def _forget_bindings(self) -> None:
        self._addresses.clear()
        self._reset_shapes()
        self._guard.forget()

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
        shape = shape_of(name, shape)
        err = shape if isinstance(shape, str) else self._shape_error(name, shape)
        if err:
            self._error(f"set_input_shape: {err}")
            return False
        return self._guarded_store("set_input_shape", f"the shape of {name!r}", self._shapes, name, shape)

    def get_tensor_shape(self, name: str) -> Dims:
        mode = self.engine.get_tensor_mode(name)
        if mode == TensorIOMode.INPUT:
            return Dims(self._shapes.get(name, self.engine.get_tensor_shape(name)))
        if mode == TensorIOMode.OUTPUT and self.all_binding_shapes_specified and self._claim("get_tensor_shape"):
            try:
                shp = self._plan().output_shapes[name]
            except (ExecutionError, InferrtError) as e:
                self._error(str(e))
                shp = None
            finally:
                self._guard.exit()
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
        if not missing and self._claim("infer_shapes"):
            try:
                self._plan()
            finally:
                self._guard.exit()
        return missing

    def _plan(self) -> ShapePlan:
        return self._plan_keyed()[0]

    def _plan_keyed(self, input_shapes: tuple | None = None) -> tuple[ShapePlan, tuple]:
        """The plan of the current input shapes and its key (callers hold the guard; ``input_shapes``: those
        shapes in input order, when the caller has them)."""
        self.engine.sync_weights(self)   # fresh plans (and CUDA graphs) after a refit
        if input_shapes is None:
            input_shapes = tuple(self._shapes[n] for n in self.engine.input_names)
        key = (self._profile, input_shapes)
        self._plan_key = key
        plan = self._plans.get(key)
        if plan is None:
            specs = {n: Spec(self.engine.get_tensor_dtype(n), self._shapes[n]) for n in self.engine.input_names}
            plan = ShapePlan(self.engine.executor, specs, self._arena_view)
            if len(self._plans) > 64:
                self._plans.clear()
            self._plans[key] = plan
        return plan, key

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
        why = address_problem("device memory", memory, DataType.UINT8, "set_device_memory")
        n = integer(size)
        if n is not None and not 0 <= n < ADDRESS_LIMIT:
            n = None
        if why or n is None:
            self._error(why or f"set_device_memory: size must be an integer number of bytes, got {size!r}")
            return
        if n < self.engine.device_memory_size:
            self._error(f"device memory of {n} bytes is smaller than the engine's device_memory_size "
                        f"({self.engine.device_memory_size})")
            return
        if not self._claim("set_device_memory", "the device memory"):
            return
        try:
            self._guard.note_write("the device memory")
            self._arena = self._addr_cache.view(int(memory), (n,), DataType.UINT8, "device memory")
            self._user_memory = True
            self._plans.clear()
            self._invalidate_graphs()
        except BindingError as e:
            self._error(f"set_device_memory: {e}")
        finally:
            self._guard.exit()

    def update_device_memory_size_for_shapes(self) -> int:
        if not self.all_binding_shapes_specified:
            self._error("update_device_memory_size_for_shapes: input shapes are not all set; call "
                        "context.set_input_shape for every input first")
            return 0
        if not self._claim("update_device_memory_size_for_shapes"):
            return 0
        try:
            plan = self._plan()
        except (ExecutionError, InferrtError) as e:
            self._error(str(e))
            return 0
        finally:
            self._guard.exit()
        return 0 if plan.eager else plan.arena_bytes

    # ------------------------------------------------------------------ addresses
    def set_tensor_address(self, name: str, memory: int) -> bool:
        mode = self.engine.get_tensor_mode(name)
        if mode == TensorIOMode.NONE:
            self._error(f"set_tensor_address: {name!r} is not an I/O tensor of this engine "
                        f"(I/O tensors: {self.engine.input_names + self.engine.output_names})")
            return False
        dtype = self.engine.get_tensor_dtype(name)
        why = address_problem(name, memory, dtype)
        ptr = 0 if why else int(memory)
        if not why and ptr:   # its first element now, the whole tensor when used
            writable = mode != TensorIOMode.INPUT
            why = host_buffer_problem(name, ptr, itemsize(dtype), writable, whole=False) \
                if self._device.type == "cpu" else \
                device_buffer_problem(name, ptr, itemsize(dtype), writable, self._device.index or 0)
            why = why and f"set_tensor_address: {why}"
        if why:
            self._error(why)
            return False
        return self._guarded_store("set_tensor_address", f"the address of {name!r}", self._addresses, name, ptr)

    def get_tensor_address(self, name: str) -> int:
        return self._addresses.get(name, 0) if isinstance(name, str) else 0

    def set_output_allocator(self, name: str, output_allocator) -> bool:
        if self.engine.get_tensor_mode(name) != TensorIOMode.OUTPUT:
            self._error(f"set_output_allocator: {name!r} is not an output tensor")
            return False
        if output_allocator is not None and not callable(getattr(output_allocator, "reallocate_output_async", None)):
            self._error(f"set_output_allocator: the allocator for {name!r} must be an IOutputAllocator (with "
                        f"reallocate_output_async and notify_shape), got {type(output_allocator).__name__}")
            return False
        if not self._claim("set_output_allocator", f"the output allocator of {name!r}"):
            return False
        try:
            self._guard.note_write(f"the output allocator of {name!r}")
            if output_allocator is None:
                self._allocators.pop(name, None)
            else:
                self._allocators[name] = output_allocator
        finally:
            self._guard.exit()
        return True

    def get_output_allocator(self, name: str):
        return self._allocators.get(name) if isinstance(name, str) else None

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
        why = stream_problem(stream_handle)
        if why:
            self._error(f"execute_async_v3: {why}")
            return False
        if not self._claim("execute_async_v3"):
            return False
        try:
            clash = self._guard.take_clash()
            if clash:
                self._forget_bindings()
                self._error(f"execute_async_v3 refused: {clash}, so its input shapes and tensor addresses may mix "
                            f"several threads' (an execution context may be used by one thread at a time). The "
                            f"context's shapes and addresses were cleared: set them again from one thread, and give "
                            f"each thread its own context (engine.create_execution_context())",
                            ErrorCode.FAILED_EXECUTION)
                return False
            plan, key, io = self._bound_io()
            self._execute(io, self._stream(int(stream_handle)), plan, key)
            return True
        except _RUN_ERRORS as e:
            msg = str(e) if isinstance(e, InferrtError) else f"execution failed: {type(e).__name__}: {e}"
            self._error(msg, ErrorCode.FAILED_EXECUTION)
        finally:
            self._guard.exit()
        return False

    def execute_v2(self, bindings) -> bool:
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        try:
            bindings = list(bindings)
        except TypeError:
            self._error(f"execute_v2 needs a list of {len(names)} addresses (in I/O order: {names}), got "
                        f"{type(bindings).__name__}")
            return False
        if len(bindings) != len(names):
            self._error(f"execute_v2 needs {len(names)} bindings (in I/O order: {names}), got {len(bindings)}")
            return False
        for n, ptr in zip(names, bindings):
            why = address_problem(n, ptr, self.engine.get_tensor_dtype(n), "execute_v2")
            if why:
                self._error(why)
                return False
        if not self._claim("execute_v2", *(f"the address of {n!r}" for n in names)):
            return False
        try:
            self._guard.note_write(*(f"the address of {n!r}" for n in names))
            for n, ptr in zip(names, bindings):
                self._addresses[n] = int(ptr)
            ok = self.execute_async_v3(0)
        finally:
            self._guard.exit()
        if ok and self._device.type == "cuda":
            torch.cuda.default_stream(self._device).synchronize()  # not the device: other threads may capture
        return ok

    def _bound_io(self) -> tuple[ShapePlan, tuple, dict]:
        shapes = self._shapes
        try:
            input_shapes = tuple([shapes[n] for n in self.engine.input_names])
        except KeyError:
            missing = [n for n in self.engine.input_names if n not in shapes]
            raise ShapeError(f"input shapes not set for {missing}; call context.set_input_shape(name, shape)") from None
        plan, key = self._plan_keyed(input_shapes)
        binds = plan.io_binds
        if binds is None:   # once per shape plan: the shapes are the plan's (its key holds the input shapes)
            binds = []
            for name, dtype in self.engine._io_bindings:
                is_input = name in shapes
                shape = shapes[name] if is_input else plan.output_shapes.get(name)
                if shape is not None:   # None: data-dependent output, filled through its output allocator
                    binds.append((name, dtype, tuple(shape), not is_input, bool(math.prod(shape))))
            binds = plan.io_binds = tuple(binds)
        io = {}
        addresses, view = self._addresses, self._addr_cache.view
        for name, dtype, shape, writable, nonempty in binds:
            ptr = addresses.get(name, 0)
            if not ptr and nonempty:
                if name in self._allocators:
                    continue
                raise BindingError(f"tensor {name!r} has no address; call context.set_tensor_address({name!r}, ptr)")
            io[name] = view(ptr, shape, dtype, name, writable)
        return plan, key, io

    def _execute(self, io: dict, stream, plan: ShapePlan, plan_key: tuple) -> dict:
        """Run ``plan`` with ``io`` tensors (all inputs; outputs that are not given are returned). Raises on error.
        Callers hold the guard."""
        self.engine.check_weights()   # a weight-stripped engine runs once refitted
        if self._device.type == "cpu":
            with self._cpu_threads_scope():
                return self._execute_on(io, None, plan, plan_key)
        return self._execute_on(io, stream, plan, plan_key)

    def _cpu_threads_scope(self):
        """The thread count of one CPU execution, applied around it (runtime/cpu_threads.py)."""
        return threads_for_run(self.cpu_threads, self)

    def _execute_on(self, io: dict, stream, plan: ShapePlan, plan_key: tuple) -> dict:
        if self._device.type == "cuda":
            with (torch.cuda.stream(stream) if stream is not None else _null()), tf32_mode(self.engine.tf32):
                return self._run_plan(io, stream, plan, plan_key)
        # the CPU: no stream (_execute passes none) and no TF32 scope, so no scope to enter
        return self._run_plan(io, stream, plan, plan_key)

    def _run_plan(self, io: dict, stream, plan: ShapePlan, plan_key: tuple) -> dict:
        """``_execute_on``'s work inside its stream and TF32 scopes (GPU) or without any (CPU)."""
        self._order.after_previous(stream)
        if plan.eager:
            outs = self.engine.executor.run_eager({n: io[n] for n in self.engine.input_names}, self.profiler)
            self._report_debug(outs, stream)
            self._deliver({o: outs[o] for o in self.engine.output_names if o in outs}, io, stream)
            self._order.mark_done(stream)
            return outs
        self._add_debug_buffers(io, plan, plan_key)
        missing = [o for o in self.engine.output_names if o not in io]
        for o in missing:  # outputs with an allocator but static shape
            io[o] = self._allocate_output(o, plan.output_shapes[o], stream)
        if self._use_graphs():
            key = (plan_key, tuple(sorted((n, t.data_ptr()) for n, t in io.items())))
            self._graph_cache().run(key, lambda: plan.run(io, adopt=not self._user_memory), stream)
        else:
            plan.run(io, self.profiler, self.debug_sync, adopt=not self._user_memory)
        self._order.mark_done(stream)
        self._report_debug(io, stream)
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
        why = address_problem(name, ptr, dt, f"the output allocator of {name!r}")
        if why:
            raise BindingError(why)
        self._addresses[name] = int(ptr)
        return self._addr_cache.view(int(ptr), shape, dt, name)

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
    @property
    def cuda_graphs(self) -> bool:
        """Whether GPU executions are captured once per input-shape set and replayed as CUDA graphs (inferrt's
        default, INFERRT_CUDA_GRAPHS=0 turns it off; not a TensorRT attribute). False: every execution enqueues its
        kernels, as trtexec without --useCudaGraph."""
        return self._graph_cache().enabled

    @cuda_graphs.setter
    def cuda_graphs(self, on: bool) -> None:
        self._graph_cache().enabled = bool(on)

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
        inferrt exceptions (ShapeError, BindingError, ExecutionError) that name the tensor or layer. Calls from
        several threads on one context are serialized (each waits for the one before); ``stream`` (a handle or a
        torch stream) runs a GPU engine on that stream without waiting for the result.
        """
        feed = feed_of(feed, named, self.engine.input_names)
        handle = stream_handle(stream, self._device)
        arrays = {n: as_array(feed[n], n) for n in self.engine.input_names}
        self._guard.enter()
        try:
            # it sets the input shapes: another thread's pending ones are overwritten (its execution is refused)
            self._guard.note_write(*(f"the shape of {n!r}" for n in self.engine.input_names))
            return run_arrays(self, arrays, handle)
        except (MemoryError, torch.OutOfMemoryError) as e:
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ExecutionError(f"not enough memory on {self._device} to run these input shapes ({why}); use "
                                 f"smaller inputs or free memory") from None
        finally:
            self._guard.settle()
            self._guard.exit()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
