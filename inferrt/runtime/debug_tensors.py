"""Debug tensors at run time (TensorRT 10): ``IDebugListener`` and the execution context's debug-state API.

The builder keeps each tensor marked with ``network.mark_debug`` as a value the engine writes into a buffer of its
own (``engine.graph.debug``; see builder/debug_tensors.py). The context owns those buffers (one set per input-shape
set, made when that shape set is first run, so nothing is allocated per call afterwards) and, after each execution,
calls ``listener.process_debug_tensor(addr, location, type, shape, name, stream)`` for every debug tensor whose debug
state is on: ``addr`` is the address of its values (device memory on a GPU engine, ``TensorLocation.DEVICE``; host
memory on the CPU, ``TensorLocation.HOST``), ``stream`` the CUDA stream handle the execution ran on (0 on the CPU).
A debug tensor's state is off until ``set_tensor_debug_state`` or ``set_all_tensors_debug_state`` turns it on;
the tensors of ``mark_unfused_tensors_as_debug_tensors`` (``engine.graph.unfused``) are turned on and off together,
by ``set_unfused_tensors_debug_state`` or ``set_all_tensors_debug_state``.
"""
from __future__ import annotations

import torch

from ..dtypes import torch_dtype
from ..enums import TensorLocation
from ..ir.weights import Dims


class IDebugListener:
    """Subclass and implement ``process_debug_tensor``; register with ``context.set_debug_listener``."""

    def __init__(self):
        pass

    def process_debug_tensor(self, addr, location, type, shape, name, stream):  # noqa: A002 - TensorRT's names
        raise NotImplementedError("IDebugListener.process_debug_tensor(addr, location, type, shape, name, stream) "
                                  "must be implemented")


class DebugTensorsMixin:
    """IExecutionContext's debug-tensor methods (TensorRT names) and the hooks its execution paths call."""

    def _debug(self) -> dict:
        return self.__dict__.setdefault("_debug_tensors", {"listener": None, "on": set(), "unfused": False,
                                                            "buffers": {}})

    def _debug_names(self) -> list[str]:
        """Every debug tensor of the engine (buffers are needed for all of them)."""
        return self.engine.graph.debug

    def _marked_names(self) -> list[str]:
        """The debug tensors marked with mark_debug."""
        unfused = set(self.engine.graph.unfused)
        return [n for n in self.engine.graph.debug if n not in unfused]

    def set_debug_listener(self, listener) -> bool:
        if listener is not None and not callable(getattr(listener, "process_debug_tensor", None)):
            self._error(f"set_debug_listener: the listener must be an IDebugListener (with process_debug_tensor), "
                        f"got {type(listener).__name__}")
            return False
        self._debug()["listener"] = listener
        return True

    def get_debug_listener(self):
        return self._debug()["listener"]

    def set_tensor_debug_state(self, name: str, flag: bool) -> bool:
        if name not in self._marked_names():
            self._error(f"set_tensor_debug_state: {name!r} is not a debug tensor of this engine (its debug tensors: "
                        f"{self._marked_names()}); mark it with network.mark_debug(tensor) before building")
            return False
        on = self._debug()["on"]
        on.add(name) if flag else on.discard(name)
        return True

    def get_debug_state(self, name: str) -> bool:
        return name in self._debug()["on"]

    def set_all_tensors_debug_state(self, flag: bool) -> bool:
        self._debug()["on"] = set(self._marked_names()) if flag else set()
        self._debug()["unfused"] = bool(flag)
        return True

    def set_unfused_tensors_debug_state(self, flag: bool) -> bool:
        self._debug()["unfused"] = bool(flag)
        return True

    def get_unfused_tensors_debug_state(self) -> bool:
        return self._debug()["unfused"]

    # ------------------------------------------------------------------ execution hooks
    def _add_debug_buffers(self, io: dict, plan, plan_key) -> None:
        """Put the debug tensors' buffers for this shape set into ``io`` (the executor writes them as outputs)."""
        buffers = self._debug()["buffers"]
        for name in self._debug_names():
            key = (plan_key, name)
            buf = buffers.get(key)
            if buf is None:
                spec = plan.specs[name]
                buf = buffers[key] = torch.empty(tuple(spec.shape), dtype=torch_dtype(spec.dtype), device=self._device)
            io[name] = buf

    def _report_debug(self, values: dict, stream) -> None:
        """Hand each debug tensor whose state is on to the listener (``values``: name -> tensor)."""
        state = self._debug()
        listener = state["listener"]
        unfused = set(self.engine.graph.unfused) if state["unfused"] else set()
        if listener is None or not (state["on"] or unfused):
            return
        handle = int(getattr(stream, "cuda_stream", 0) or 0) if stream is not None else 0
        location = TensorLocation.DEVICE if self._device.type == "cuda" else TensorLocation.HOST
        for name in self._debug_names():
            if (name not in state["on"] and name not in unfused) or name not in values:
                continue
            t = values[name]
            if not t.is_contiguous():
                t = t.contiguous()
                values[name] = t  # kept alive until the listener returns
            listener.process_debug_tensor(t.data_ptr(), location, self.engine.graph.specs[name].dtype,
                                          Dims(tuple(t.shape)), name, handle)
