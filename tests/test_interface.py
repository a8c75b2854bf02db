"""The context-manager protocol on every TensorRT interface (``with trt.Builder(logger) as builder:``), as TensorRT 10:
the block yields the object, leaves it usable afterwards, and lets exceptions through."""
from __future__ import annotations

import pytest

import inferrt as trt


def _objects():
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network()
    x = network.add_input("x", trt.float32, (2, 3))
    network.mark_output(network.add_activation(x, trt.ActivationType.RELU).get_output(0))
    config = builder.create_builder_config()
    config.device = "cpu"
    profile = builder.create_optimization_profile()
    parser = trt.OnnxParser(builder.create_network(), logger)
    plan = builder.build_serialized_network(network, config)
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(plan)
    context = engine.create_execution_context()
    return {"Builder": builder, "INetworkDefinition": network, "IBuilderConfig": config,
            "IOptimizationProfile": profile, "OnnxParser": parser, "IHostMemory": plan, "Runtime": runtime,
            "ICudaEngine": engine, "IExecutionContext": context, "IEngineInspector": engine.create_engine_inspector(),
            "ITimingCache": config.create_timing_cache(b"")}


@pytest.mark.parametrize("name", list(_objects()))
def test_with_block_yields_the_object_and_propagates_errors(name):
    obj = _objects()[name]
    with obj as entered:
        assert entered is obj
    with pytest.raises(KeyError, match="inside"):
        with obj:
            raise KeyError("inside")


def test_tensorrt_class_names():
    objs = _objects()
    for name in ("Builder", "INetworkDefinition", "IBuilderConfig", "IOptimizationProfile", "OnnxParser",
                 "IHostMemory", "Runtime", "ICudaEngine", "IExecutionContext", "IEngineInspector", "ITimingCache"):
        assert isinstance(objs[name], getattr(trt, name)), name


def test_objects_stay_usable_after_the_block():
    import numpy as np

    logger = trt.Logger(trt.Logger.ERROR)
    with trt.Builder(logger) as builder, builder.create_network() as network, \
            builder.create_builder_config() as config:
        x = network.add_input("x", trt.float32, (2, 3))
        network.mark_output(network.add_activation(x, trt.ActivationType.RELU).get_output(0))
        config.device = "cpu"
        with builder.build_serialized_network(network, config) as plan:
            pass
    with trt.Runtime(logger) as runtime, runtime.deserialize_cuda_engine(plan) as engine:
        pass
    with engine.create_execution_context() as context:
        pass
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    np.testing.assert_array_equal(context.infer(x=x)[engine.output_names[0]], np.maximum(x, 0))
    assert plan.nbytes == len(plan) > 0
