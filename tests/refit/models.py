"""Models for the refit tests: the ONNX models of tests/passes/onnx_models.py with other weights, and builds."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

import inferrt as trt

SHAPES = {"resnet": {"x": ((1, 3, 16, 16), (2, 3, 16, 16), (2, 3, 16, 16))},
          "bert": {"ids": ((1, 8), (2, 8), (2, 8)), "attn": ((1, 8), (2, 8), (2, 8))}}


def model(kind: str) -> bytes:
    from tests.passes.onnx_models import bert_onnx, resnet_onnx

    return resnet_onnx() if kind == "resnet" else bert_onnx(layers=2)


def retrained(data: bytes, seed: int = 1) -> bytes:
    """The same model with every learned float weight (more than one value) changed: a retrained copy."""
    m = onnx.load_from_string(data)
    rng = np.random.default_rng(seed)
    for i, init in enumerate(m.graph.initializer):
        a = numpy_helper.to_array(init)
        if a.dtype == np.float32 and a.size > 1:
            b = a * rng.uniform(0.5, 1.5, a.shape).astype(np.float32) + rng.normal(0, 0.05, a.shape).astype(np.float32)
            if "running_var" in init.name:
                b = np.abs(b) + 0.1
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(b.astype(np.float32), init.name))
    return m.SerializeToString()


def build(data: bytes, kind: str, device: str = "cpu", flags=(), logger=None) -> bytes:
    logger = logger or trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(data), [str(parser.get_error(i)) for i in range(parser.num_errors)]
    config = builder.create_builder_config()
    config.device = device
    config.clear_flag(trt.BuilderFlag.TF32)
    for f in flags:
        config.set_flag(f)
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in SHAPES[kind].items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    assert plan is not None
    return bytes(plan)


def feed(kind: str, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    if kind == "resnet":
        return {"x": rng.standard_normal((2, 3, 16, 16)).astype(np.float32)}
    return {"ids": rng.integers(0, 50, (2, 8)).astype(np.int64), "attn": np.ones((2, 8), np.int64)}


def run(engine, inputs: dict) -> dict:
    ctx = engine.create_execution_context()
    out = ctx.infer(inputs)
    return {k: np.asarray(v.cpu() if hasattr(v, "cpu") else v) for k, v in out.items()}
