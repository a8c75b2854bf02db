"""Q/DQ fusion on the ONNX models inferrt.quantize writes (INT8, FP8, INT4 weight-only) and on the TensorRT 10 INT8
calibrator path: the engine runs its convolutions and products as quantized layers, no dequantize of constants is
left, and the outputs agree with onnxruntime's run of the fake-quantized model (or with the FP32 engine within
quantization error for the calibrator)."""
from __future__ import annotations

import functools

import numpy as np
import pytest

import inferrt as trt
from inferrt.api import build_engine
from inferrt.enums import DataType as DT
from inferrt.passes.pipeline import PIPELINE
from inferrt.quantize import quantize
from tests.helpers import rel_l2
from tests.quantize.models import gemm_model, ort_run, resblock_model

RNG = np.random.default_rng(17)


@functools.lru_cache(maxsize=None)
def _quantized(case, mode):
    src, feed = ((resblock_model(opset=21), {"x": RNG.standard_normal((2, 4, 8, 8)).astype(np.float32)})
                 if case == "resblock" else
                 (gemm_model(opset=21), {"x": RNG.standard_normal((3, 4, 16)).astype(np.float32)}))
    return quantize(src, mode, "max", calibration_data=feed, progress=False).model, feed


def _const_dequantize_left(graph):
    prod = graph.producers()
    return [n.name for n in graph.nodes if n.kind == "dequantize" and prod.get(n.inputs[0]) is not None
            and prod[n.inputs[0]].kind == "constant"]


def test_pipeline_order():
    names = [p[0] for p in PIPELINE]
    assert names.index("fold_constants") < names.index("propagate_dequantize") < \
        names.index("fold_batchnorm_into_weights")
    assert names.index("fuse_conv_matmul_epilogue") < names.index("fuse_qdq") < names.index("fuse_horizontal_matmuls")


@pytest.mark.parametrize("case, mode, convs, matmuls, input_type", [
    ("resblock", "int8", 3, 1, DT.INT8), ("resblock", "fp8", 3, 1, DT.FP8),
    ("gemms", "int8", 0, 3, DT.INT8), ("gemms", "int4_rtn", 0, 3, DT.FLOAT), ("gemms", "int4_awq", 0, 3, DT.FLOAT)])
def test_quantizer_output_runs_as_quantized_layers(case, mode, convs, matmuls, input_type):
    model, feed = _quantized(case, mode)
    engine = build_engine(model, device="cpu", profiles={k: (v.shape, v.shape, v.shape) for k, v in feed.items()})
    graph = engine.graph
    q = [n for n in graph.nodes if n.kind in ("quantized_conv", "quantized_matmul")]
    assert sum(n.kind == "quantized_conv" for n in q) == convs
    assert sum(n.kind == "quantized_matmul" for n in q) == matmuls
    assert {n.attrs.input_type for n in q} == {input_type}
    assert not _const_dequantize_left(graph)
    got = engine.create_execution_context().infer(feed)
    for o, want in zip(model.graph.output, ort_run(model, feed)):
        g = np.asarray(got[o.name], np.float64)
        # float rounding of a different accumulation order can flip a rounding of an inner quantized activation:
        # one step of it moves the output by far less than this
        assert np.max(np.abs(g - want)) <= 1e-2 * max(float(np.abs(want).max()), 1.0), o.name
        assert rel_l2(g, want) < 1e-3, o.name


def test_int8_calibrator_build_runs_quantized_convolutions():
    from tests.builder.calibration_nets import Calibrator, batches, build, conv_net

    builder, net = conv_net()
    engine = build(builder, net, Calibrator(trt.IInt8EntropyCalibrator2, batches()))
    q = [n for n in engine.graph.nodes if n.kind == "quantized_conv"]
    assert len(q) == 2 and all(n.attrs.input_type == DT.INT8 for n in q)
    assert not _const_dequantize_left(engine.graph)
    # the residual add keeps its fake-quantized input (TensorRT's placement: the add's inputs are quantized)
    assert [s[0] for s in q[1].attrs.epilogue] == ["add"]


def test_quantized_convolutions_run_channels_last():
    model, feed = _quantized("resblock", "int8")
    engine = build_engine(model, device="cpu", profiles={k: (v.shape, v.shape, v.shape) for k, v in feed.items()})
    convs = [n for n in engine.graph.nodes if n.kind == "quantized_conv"]
    assert convs and all(n.info.format == "NHWC" for n in convs)
