"""The models ``inferrt debug precision`` tries: an FP32 ONNX model with some layers kept in FP32 and the rest in a
reduced precision, made one of three ways, and the built-in check that compares its engine with the FP32 engine.

    way               precision     what keeps a layer in FP32
    autocast          fp16, bf16    ``inferrt.autocast(nodes_to_exclude=...)`` -> strongly typed ONNX (TensorRT 11)
    quantize          int8, fp8     ``inferrt.quantize(nodes_to_exclude=...)`` -> Q/DQ ONNX
    layer-precision   fp16, bf16    the FP32 network built with BuilderFlag.FP16/BF16 and OBEY_PRECISION_CONSTRAINTS,
                                    ``layer.precision = FLOAT`` on the layers of the kept nodes (TensorRT 10); the
                                    builder's own FP16 range guard is off, so only the kept layers stay FLOAT

The candidate layers are named by their ONNX nodes: those AutoCast converts when nothing is excluded and no range
rule applies (``data_max`` and ``init_max`` off), those the quantizer quantizes, or every node that makes layers.
Node names are matched exactly (``re.escape``), never as patterns.
"""
from __future__ import annotations

import dataclasses
import re

import numpy as np

WAYS = {"fp16": ("autocast", "layer-precision"), "bf16": ("autocast", "layer-precision"), "int8": ("quantize",),
        "fp8": ("quantize",)}


@dataclasses.dataclass(frozen=True)
class Target:
    precision: str                    # fp16 | bf16 | int8 | fp8
    way: str                          # autocast | quantize | layer-precision
    device: str                       # cpu | cuda
    calibration_method: str | None = None   # int8 / fp8


def _exact(names) -> list:
    return [re.escape(n) + r"\Z" for n in names]


def _autocast(model, target, feeds, exclude):
    from ..autocast import autocast

    return autocast(model, low_precision_type=target.precision, nodes_to_exclude=_exact(exclude),
                    data_max=float("inf"), init_max=float("inf"), keep_io_types=True, calibration_data=feeds)


def _quantize(model, target, feeds, exclude):
    from ..quantize import quantize

    return quantize(model, target.precision, target.calibration_method, calibration_data=feeds,
                    nodes_to_exclude=_exact(exclude), progress=False)


def _layer_nodes(network) -> dict:
    """{ONNX node name: [layers it made]} from the parser's ``onnx:<op>:<name>`` layer metadata."""
    out: dict = {}
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        meta = getattr(layer, "metadata", "") or ""
        if meta.startswith("onnx:"):
            out.setdefault(meta.split(":", 2)[2], []).append(layer)
    return out


def candidates(model, target: Target, feeds: list) -> list:
    """The node names the search may keep in FP32, in graph order."""
    if target.way == "autocast":
        return [n.name for n in _autocast(model, target, feeds, []).report.converted]
    if target.way == "quantize":
        done = set(_quantize(model, target, feeds, []).report.quantized_nodes)
        return [n.name for n in model.graph.node if n.name in done]
    import inferrt as trt

    from ..api import network_from

    logger = trt.Logger(trt.Logger.ERROR)
    made = _layer_nodes(network_from(model, trt.Builder(logger), logger))
    return [n.name for n in model.graph.node if n.name in made]


def converted_model(model, target: Target, feeds: list, fp32_nodes: list):
    """The ONNX model with ``fp32_nodes`` kept in FP32 (autocast / quantize ways)."""
    if target.way == "autocast":
        return _autocast(model, target, feeds, fp32_nodes).model
    if target.way == "quantize":
        return _quantize(model, target, feeds, fp32_nodes).model
    raise ValueError(f"the {target.way} way builds no ONNX model")


def _profiles(feeds):
    from ..api import profile_spanning

    return profile_spanning(feeds)


def build(model, target: Target | None, feeds: list, fp32_nodes=(), device: str | None = None):
    """The engine of ``model`` (TF32 off) on ``device`` (default: the target's): FP32 when ``target`` is None;
    else with ``fp32_nodes`` kept in FP32 the target's way."""
    import inferrt as trt

    from ..api import network_from, build_engine

    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    device = device or (target.device if target is not None else None)
    if target is None or target.way == "layer-precision":
        network = network_from(model, builder, logger)
        if target is not None:
            config.set_flag(trt.BuilderFlag.FP16 if target.precision == "fp16" else trt.BuilderFlag.BF16)
            config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
            config.fp16_range_guard = False
            made = _layer_nodes(network)
            for name in fp32_nodes:
                for layer in made.get(name, []):
                    layer.precision = trt.DataType.FLOAT
                    for j in range(layer.num_outputs):
                        if layer.get_output(j).dtype == trt.DataType.FLOAT:
                            layer.set_output_type(j, trt.DataType.FLOAT)
        source = network
    else:
        source = converted_model(model, target, feeds, fp32_nodes)
    return build_engine(source, device=device, logger=logger, config=config, profiles=_profiles(feeds))


def run(engine, feeds: list) -> dict:
    """{output: [float64 array per feed]}."""
    ctx = engine.create_execution_context()
    outs: dict = {}
    for feed in feeds:
        for k, v in ctx.infer({n: np.ascontiguousarray(a) for n, a in feed.items()}).items():
            outs.setdefault(k, []).append(np.asarray(v, np.float64))
    return outs


def compare(got: dict, want: dict, tolerance) -> list:
    """TensorError per reference output (``tolerance``: an AccuracyCheck carrying max_rel_l2 / atol / rtol)."""
    from ..builder.accuracy_check import TensorError, judge

    out = []
    for name, ref in want.items():
        if name not in got:
            out.append(TensorError(name, "", "output", float("inf"), float("inf"), 0, False))
            continue
        out.append(judge(name, "", "output", got[name], ref, tolerance))
    return out
