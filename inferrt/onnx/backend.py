"""An ``onnx.backend.base.Backend`` running models with inferrt (used by the ONNX conformance tests).

    from inferrt.onnx.backend import InferrtBackend
    rep = InferrtBackend.prepare(model, "CPU")      # parse (raises ParseError listing every problem)
    outputs = rep.run([x])                           # build for these input shapes (cached), run, return numpy

The model is parsed once in ``prepare``; a plan is built per distinct set of input shapes (a profile with
min = opt = max), on CUDA when asked and available, else on the CPU. Outputs come back with the ONNX graph's
declared element types (inferrt computes DOUBLE as FLOAT; results are cast back).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from ..errors import ParseError
from . import native_worker
from .model_tools import min_ir_version


def _device_name(device) -> str:
    d = str(device or "CPU").upper()
    return "cuda" if d.startswith("CUDA") else "cpu"


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        return False


class InferrtRep(BackendRep):
    def __init__(self, model: onnx.ModelProto, device: str = "CPU", logger=None):
        from ..builder.builder import Builder
        from ..logger import Logger, Severity
        from .parser import OnnxParser

        self.model = model
        self.device = _device_name(device)
        if self.device == "cuda" and not _cuda_available():
            raise RuntimeError("CUDA was requested but no CUDA device is available")
        self.logger = logger or Logger(Severity.INTERNAL_ERROR)  # parse errors are raised as ParseError below
        self.builder = Builder(self.logger)
        self.network = self.builder.create_network(0)
        parser = OnnxParser(self.network, self.logger)
        if not parser.parse(model.SerializeToString()):
            errs = [parser.get_error(i) for i in range(parser.num_errors)]
            raise ParseError("the ONNX model could not be imported:\n  " + "\n  ".join(str(e) for e in errs), errs)
        graph = parser.model.graph
        inits = {i.name for i in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in inits]
        self.output_names = [o.name for o in graph.output]
        self.output_types = [onnx.helper.tensor_dtype_to_np_dtype(o.type.tensor_type.elem_type)
                             if o.type.HasField("tensor_type") and o.type.tensor_type.elem_type else None
                             for o in graph.output]
        self._contexts: dict[tuple, object] = {}

    def _context(self, feeds: dict):
        from ..runtime.runtime import Runtime

        key = tuple((n, tuple(np.shape(feeds[n]))) for n in self.input_names)
        ctx = self._contexts.get(key)
        if ctx is None:
            config = self.builder.create_builder_config()
            config.device = self.device
            # ONNX float is IEEE float32: the conformance adapter does not let products round to TF32
            from ..enums import BuilderFlag

            config.clear_flag(BuilderFlag.TF32)
            dynamic = [t for t in (self.network.get_input(i) for i in range(self.network.num_inputs))
                       if any(d < 0 for d in t.shape)]
            if dynamic:
                prof = self.builder.create_optimization_profile()
                for t in dynamic:
                    shape = tuple(np.shape(feeds[t.name]))
                    prof.set_shape(t.name, shape, shape, shape)
                config.add_optimization_profile(prof)
            plan = self.builder.build(self.network, config)
            engine = Runtime(self.logger).deserialize_cuda_engine(plan)
            if engine is None:
                raise RuntimeError("the plan built for this model failed to deserialize")
            ctx = engine.create_execution_context()
            if len(self._contexts) > 8:
                self._contexts.clear()
            self._contexts[key] = ctx
        return ctx

    def run(self, inputs, **kwargs):
        if isinstance(inputs, dict):
            feeds = dict(inputs)
        else:
            inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
            if len(inputs) != len(self.input_names):
                raise ValueError(f"the model takes {len(self.input_names)} input(s) {self.input_names}, "
                                 f"got {len(inputs)}")
            feeds = dict(zip(self.input_names, inputs))
        feeds = {k: _to_feed(np.asarray(v)) for k, v in feeds.items()}
        got = self._context(feeds).infer(feeds)  # numpy in, numpy out (ml_dtypes arrays for BF16, FP8, INT4...)
        outs = []
        for name, dt in zip(self.output_names, self.output_types):
            v = _to_numpy(got[name])
            outs.append(v.astype(dt) if dt is not None and v.dtype != dt else v)
        return outs


def _to_feed(a: np.ndarray):
    """A numpy input as inferrt takes it: ml_dtypes arrays (BF16, FP8, INT4, FP4...) as they are (the runtime
    reads them), float64 as float32, 16-bit integers as INT32..."""
    from .context import storable_array

    return storable_array(a)


def _to_numpy(v) -> np.ndarray:
    if isinstance(v, np.ndarray):
        return v
    return np.asarray(v)


class InferrtBackend(Backend):
    @classmethod
    def is_compatible(cls, model, device="CPU", **kwargs) -> bool:
        return cls.supports_device(device)

    @classmethod
    def prepare(cls, model, device="CPU", **kwargs) -> InferrtRep:
        if isinstance(model, (bytes, bytearray)):
            model = onnx.load_from_string(bytes(model))
        return InferrtRep(model, device)

    @classmethod
    def run_model(cls, model, inputs, device="CPU", **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node, inputs, device="CPU", outputs_info=None, **kwargs):
        """Run one NodeProto on numpy inputs (types and shapes of outputs are inferred by ONNX)."""
        inputs = [np.asarray(x) for x in inputs]
        names = [n for n in node.input]
        vis = [onnx.helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)
               for n, x in zip(names, inputs) if n]
        outs = [onnx.helper.make_empty_tensor_value_info(o) for o in node.output if o]
        graph = onnx.helper.make_graph([node], "run_node", vis, outs)
        opset = kwargs.get("opset_version", onnx.defs.onnx_opset_version())
        opsets = [onnx.helper.make_opsetid(node.domain or "", opset)]
        model = onnx.helper.make_model(graph, opset_imports=opsets)
        model.ir_version = min_ir_version(model)   # not make_model's default (the installed onnx's newest)
        model = native_worker.infer_shapes(model)  # onnx's C++ inference, where an abort cannot kill this process
        del model.graph.output[:]
        model.graph.output.extend(model.graph.value_info if model.graph.value_info else outs)
        return cls.run_model(model, [x for n, x in zip(names, inputs) if n], device)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        d = str(device).upper()
        if d.startswith("CUDA"):
            return _cuda_available()
        return d.startswith("CPU")


prepare = InferrtBackend.prepare
run_model = InferrtBackend.run_model
run_node = InferrtBackend.run_node
supports_device = InferrtBackend.supports_device
