"""An ONNX model's weights are refittable under their initializer names (TensorRT's OnnxParser naming), also where the
importer reshapes them (a bias broadcast to the activation's rank, LayerNormalization's scale and bias): a refit by
those names reaches the engine, never leaving a stale copy behind."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import inferrt as trt
from tests.helpers import lowest_ir

LOGGER = trt.Logger(trt.Logger.ERROR)


def _weights(seed):
    rng = np.random.default_rng(seed)
    return {"fc.weight": rng.standard_normal((8, 16)).astype(np.float32),
            "fc.bias": rng.standard_normal(16).astype(np.float32),
            "ln.weight": rng.uniform(0.5, 1.5, 16).astype(np.float32),
            "ln.bias": rng.standard_normal(16).astype(np.float32)}


def _model(w) -> bytes:
    """y = LayerNorm(x @ W + b) over the last axis, x of shape (n, 4, 8): the bias and the LayerNorm parameters are
    rank 1, broadcast to rank 3 by the importer."""
    nodes = [helper.make_node("MatMul", ["x", "fc.weight"], ["m"], name="fc/MatMul"),
             helper.make_node("Add", ["m", "fc.bias"], ["h"], name="fc/Add"),
             helper.make_node("LayerNormalization", ["h", "ln.weight", "ln.bias"], ["y"], name="ln", axis=-1,
                              epsilon=1e-5)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, 16])],
                          [numpy_helper.from_array(a, k) for k, a in w.items()])
    m = lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    onnx.checker.check_model(m)
    return m.SerializeToString()


def _build(data, flags=()):
    builder = trt.Builder(LOGGER)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, LOGGER)
    assert parser.parse(data)
    config = builder.create_builder_config()
    config.device = "cpu"
    for f in flags:
        config.set_flag(f)
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (1, 4, 8), (2, 4, 8), (3, 4, 8))
    config.add_optimization_profile(profile)
    return trt.Runtime(LOGGER).deserialize_cuda_engine(bytes(builder.build_serialized_network(network, config)))


X = np.random.default_rng(9).standard_normal((2, 4, 8)).astype(np.float32)


def _run(engine):
    return np.asarray(engine.create_execution_context().infer({"x": X})["y"])


def _reference(w):
    h = X.astype(np.float64) @ w["fc.weight"] + w["fc.bias"]
    mu, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
    return (h - mu) / np.sqrt(var + 1e-5) * w["ln.weight"] + w["ln.bias"]


def test_every_initializer_is_refittable_by_its_name():
    old, new = _weights(0), _weights(1)
    engine = _build(_model(old), [trt.BuilderFlag.REFIT])
    refitter = trt.Refitter(engine, LOGGER)
    assert sorted(refitter.get_all_weights()) == sorted(old)
    for name in old:
        np.testing.assert_array_equal(np.asarray(refitter.get_named_weights(name).numpy()).reshape(-1),
                                      old[name].reshape(-1))


def test_refit_by_initializer_name_reaches_reshaped_copies():
    """One weight at a time: each refit changes the output as a fresh build with that weight does."""
    old, new = _weights(0), _weights(1)
    engine = _build(_model(old), [trt.BuilderFlag.REFIT])
    refitter = trt.Refitter(engine, LOGGER)
    current = dict(old)
    for name in ("fc.bias", "ln.weight", "ln.bias", "fc.weight"):
        assert refitter.set_named_weights(name, new[name])
        assert refitter.refit_cuda_engine()
        assert refitter.changed_weights == [name]
        current[name] = new[name]
        after = _run(engine)
        np.testing.assert_array_equal(after, _run(_build(_model(current))))
        np.testing.assert_allclose(after, _reference(current), rtol=1e-4, atol=1e-5)
