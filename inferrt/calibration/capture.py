"""Run the FP32 model on calibration feeds and hand back the values a calibration looks at.

The values asked for (``names``; None: every top-level node output) become graph outputs of a copy of the model, so
one run per feed returns them all. Two runners:

- ``OrtRunner``: onnxruntime on the CPU, graph optimizations off (each value is computed as the model writes it);
  returns numpy arrays. onnxruntime here is the CPU build.
- ``EngineRunner``: inferrt's own engine on CUDA (FP32, TF32 off, optimization level 0 so nothing is timed, a
  profile spanning the feeds' shapes); returns
  torch tensors on the GPU, so statistics can be computed there without copying activations to the host.

``make_runner(..., device="auto")`` takes the engine when ``torch.cuda.is_available()``, else onnxruntime; when the
engine cannot build the model it warns and falls back to onnxruntime. Only one feed's values are alive at a time.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import BuildError, InferrtError
from ..onnx.model_tools import first_line


def probe_model(model, names=None):
    """A copy of ``model`` whose graph outputs also hold ``names`` (None: every top-level node output)."""
    import onnx

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    have = {o.name for o in probe.graph.output}
    inputs = {i.name for i in probe.graph.input}
    wanted = names if names is not None else [o for n in probe.graph.node for o in n.output]
    for name in wanted:
        if name and name not in have and name not in inputs:
            probe.graph.output.append(onnx.ValueInfoProto(name=name))   # the runner types it
            have.add(name)
    return probe


class OrtRunner:
    """onnxruntime CPU session over the probe model: ``run(feed) -> {name: numpy array}``."""

    device = "cpu"

    def __init__(self, model, names=None, tool="calibration"):
        try:
            import onnxruntime as ort
        except ImportError:
            raise BuildError(f"{tool} measures value ranges with onnxruntime, which is not installed; "
                             f"pip install onnxruntime") from None
        probe = probe_model(model, names)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        so.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(probe.SerializeToString(), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise BuildError(f"onnxruntime cannot load the FP32 model to measure its value ranges: {first_line(e)}; "
                             f"the model must run in onnxruntime for {tool} to calibrate it") from None
        self.names = [o.name for o in self.session.get_outputs()]
        self.inputs = {i.name for i in model.graph.input}
        self.wanted = None if names is None else list(names)

    def run(self, feed, index=0) -> dict:
        try:
            outs = self.session.run(self.names, feed)
        except Exception as e:  # noqa: BLE001
            raise BuildError(f"onnxruntime failed to run the FP32 model on calibration feed {index}: "
                             f"{first_line(e)}; check the calibration data's shapes and values") from None
        got = dict(zip(self.names, outs))
        got.update({k: np.asarray(v) for k, v in feed.items()})
        return got if self.wanted is None else {n: got[n] for n in self.wanted if n in got}


class EngineRunner:
    """inferrt engine over the probe model: ``run(feed) -> {name: torch tensor on the engine's device}`` (CUDA
    for calibration; the CPU engine computes the same values, which is how it is tested without a GPU)."""

    def __init__(self, model, names, feeds, tool="calibration", device="cuda"):
        from ..api import build_engine, profile_spanning
        from ..builder.builder import Builder
        from ..enums import BuilderFlag
        from ..logger import Logger, Severity

        probe = probe_model(model, names)
        logger = Logger(Severity.ERROR)
        config = Builder(logger).create_builder_config()
        config.clear_flag(BuilderFlag.TF32)     # ranges of the FP32 function, not of TF32 products
        config.builder_optimization_level = 0  # a few calibration runs: no tactic timing (first fast tactic)
        self.device = device
        self.engine = build_engine(probe, device=device, profiles=profile_spanning(feeds), config=config, logger=logger)
        self.context = self.engine.create_execution_context()
        self.inputs = {i.name for i in model.graph.input}
        self.wanted = list(names) if names is not None else None
        self.tool = tool

    def run(self, feed, index=0) -> dict:
        import torch

        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for k, v in feed.items()}
        try:
            got = dict(self.context.infer(tensors))
        except InferrtError as e:
            raise BuildError(f"inferrt's engine failed to run the FP32 model on calibration feed {index} "
                             f"({self.tool}): "
                             f"{first_line(e)}; check the calibration data's shapes and values") from None
        got.update(tensors)
        return got if self.wanted is None else {n: got[n] for n in self.wanted if n in got}


def resolve_device(device) -> str:
    """"cuda" or "cpu" for ``device`` in ("auto", "cuda", "cpu")."""
    if device not in ("auto", "cuda", "cpu"):
        raise ValueError(f"calibration device must be 'auto', 'cuda' or 'cpu', got {device!r}")
    if device != "auto":
        if device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise BuildError("calibration device 'cuda' was asked for but torch sees no CUDA GPU; pass "
                                 "device='cpu' (onnxruntime) or 'auto'")
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def make_runner(model, names, feeds, device="auto", tool="calibration"):
    """The runner for ``device`` ("auto": inferrt's engine on CUDA when there is a GPU, else onnxruntime CPU)."""
    where = resolve_device(device)
    if where == "cuda":
        try:
            return EngineRunner(model, names, feeds, tool)
        except Exception as e:  # noqa: BLE001 - any failure to build falls back (with a warning) under "auto"
            if device == "cuda":
                raise BuildError(f"inferrt cannot build the FP32 model on CUDA for calibration: {first_line(e)}; "
                                 f"pass device='cpu' to calibrate in onnxruntime") from None
            warnings.warn(f"inferrt cannot build the FP32 model on CUDA for calibration ({first_line(e)}); "
                          f"calibrating in onnxruntime on the CPU instead", stacklevel=3)
    return OrtRunner(model, names, tool)


def capture(runner, feeds, progress=False, desc="calibrating"):
    """Yield ``{name: array}`` per feed, with a tqdm progress bar over the feeds when ``progress``."""
    it = enumerate(feeds)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=len(feeds), desc=desc, unit="batch")
    for k, feed in it:
        yield runner.run(feed, k)
