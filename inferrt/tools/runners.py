"""The two kinds of runner the tools compare: an inferrt engine built from an ONNX model with a given configuration,
and onnxruntime on the same model. Each takes ``{input name: numpy array}`` and returns ``{output name: numpy}``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class InferrtConfig:
    """What an inferrt runner builds with: the device ('cpu', 'cuda' or None for the default), reduced precisions,
    TF32 for FLOAT layers on the GPU (off by default here, so FP32 comparisons are tight) and the builder
    optimization level (None: the default)."""
    device: str | None = None
    fp16: bool = False
    bf16: bool = False
    tf32: bool = False
    opt_level: int | None = None

    def label(self) -> str:
        parts = [self.device or "default-device"]
        parts += [p for p, on in (("fp16", self.fp16), ("bf16", self.bf16), ("tf32", self.tf32)) if on]
        if self.opt_level is not None:
            parts.append(f"opt{self.opt_level}")
        return "inferrt-runner[" + ",".join(parts) + "]"


class InferrtRunner:
    def __init__(self, model, config: InferrtConfig, iterations: list, name: str | None = None, logger=None):
        """Builds ``model`` (ModelProto) now, with one optimization profile covering the shapes in ``iterations``
        for inputs whose declared shape is dynamic. Raises ParseError / BuildError."""
        import inferrt as trt

        self.name = name or config.label()
        logger = logger or trt.Logger(trt.Logger.ERROR)
        builder = trt.Builder(logger)
        bconfig = builder.create_builder_config()
        if config.device is not None:
            bconfig.device = config.device
        if not config.tf32:
            bconfig.clear_flag(trt.BuilderFlag.TF32)
        if config.opt_level is not None:
            bconfig.builder_optimization_level = config.opt_level
        self.engine = trt.build_engine(model, fp16=config.fp16, bf16=config.bf16, logger=logger, config=bconfig,
                                       profiles=self._dynamic_profile(model, iterations) or None)
        self.context = self.engine.create_execution_context()

    @staticmethod
    def _dynamic_profile(model, iterations):
        from ..api import profile_spanning
        from .make_inputs import input_metadata

        meta = input_metadata(model)
        prof = profile_spanning(iterations) if iterations and iterations[0] else {}
        return {n: p for n, p in prof.items() if n in meta and not all(isinstance(d, int) for d in meta[n][1])}

    def infer(self, feed: dict) -> dict:
        outs = self.context.infer({n: np.ascontiguousarray(a) for n, a in feed.items()})
        return {n: np.asarray(v) for n, v in outs.items()}


class OnnxrtRunner:
    def __init__(self, model, providers=("CPUExecutionProvider",), name: str = "onnxrt-runner"):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ImportError("comparing against onnxruntime needs the onnxruntime package (pip install "
                              "onnxruntime), or compare two inferrt configurations with --reference inferrt") from None
        self.name = name
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(model.SerializeToString(), opts, providers=list(providers))
        self.output_names = [o.name for o in self.session.get_outputs()]

    def infer(self, feed: dict) -> dict:
        values = self.session.run(self.output_names, feed)
        return dict(zip(self.output_names, (np.asarray(v) for v in values)))
