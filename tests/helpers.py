"""Shared test helpers: build-and-run a network, and compare with a reference at per-dtype tolerances."""
from __future__ import annotations

import numpy as np

import inferrt as trt

#: (rtol, atol) per output dtype, against a float64 reference. "tf32" is a FLOAT engine built with
#: BuilderFlag.TF32 set (the default, as in TensorRT) running on the GPU: its matrix products and convolutions round
#: their inputs to 10 mantissa bits (unit roundoff 2**-11 ~ 4.9e-4 per operand, so ~1e-3 per product), and sums of
#: O(1) random terms then differ from float64 by a few 1e-3 relative, more where terms cancel (hence the atol).
#: Tests that compare FLOAT engines tightly build with TF32 cleared (build_and_run does) and use the float32 row.
TOLERANCES = {
    np.dtype(np.float32): (1e-4, 1e-5),
    np.dtype(np.float16): (1e-2, 1e-3),
    "bfloat16": (2e-2, 1e-2),
    "tf32": (5e-3, 2e-3),
}


class CaptureLogger(trt.ILogger):
    """An ILogger that keeps every message it is sent, as (trt.Severity, text), in ``messages``."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def log(self, severity, msg):
        self.messages.append((trt.Severity.parse(severity), msg))


def tolerance(dtype) -> tuple:
    """(rtol, atol) for ``dtype``: a numpy dtype, or one of the named rows ("bfloat16", "tf32")."""
    if isinstance(dtype, str) and dtype in TOLERANCES:
        return TOLERANCES[dtype]
    return TOLERANCES.get(np.dtype(dtype), TOLERANCES[np.dtype(np.float32)])


def default_config_tolerance(device) -> tuple:
    """(rtol, atol) of a FLOAT engine built with the default builder config on ``device``."""
    return tolerance("tf32" if device == "cuda" else np.float32)


#: an FP16 engine's whole-output error against a float64 reference, as relative L2 (||a - b|| / ||b||): FP16 keeps
#: 11 significant bits (2^-11 ~ 4.9e-4 per rounding); a few dozen layers of roundings, which add up like a random
#: walk, stay well below 1e-2 (PyTorch's own FP16 eager ResNet-50 is ~1.3e-2 from FP32 on its logits)
FP16_ENGINE_REL_L2 = 1e-2


def rel_l2(actual, expected) -> float:
    """||actual - expected|| / ||expected|| in float64."""
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), np.finfo(np.float64).tiny))


def assert_close(actual, expected, dtype=None, rtol=None, atol=None, what="output"):
    """Compare an engine output with a reference (float64 preferred). NaNs must match positions."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != reference {expected.shape}"
    if actual.dtype.kind in "biu" or actual.dtype == np.bool_:
        np.testing.assert_array_equal(actual, expected.astype(actual.dtype), err_msg=what)
        return
    r, a = tolerance(dtype or actual.dtype)
    np.testing.assert_allclose(actual.astype(np.float64), expected.astype(np.float64),
                               rtol=rtol if rtol is not None else r, atol=atol if atol is not None else a,
                               err_msg=what)


def const(network, arr):
    """A constant layer's output holding ``arr``."""
    return network.add_constant(arr.shape, arr).get_output(0)


def assert_build_fails(builder, network, *words):
    """The build raises BuildError mentioning every one of ``words``, and build_serialized_network returns None."""
    import pytest

    with pytest.raises(trt.BuildError) as e:
        builder.build(network, builder.create_builder_config())
    for w in words:
        assert w in str(e.value), f"{w!r} not in {e.value}"
    assert builder.build_serialized_network(network, builder.create_builder_config()) is None


def new_network():
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    return builder, builder.create_network(0)


def add_profiles(builder, config, profiles) -> None:
    """Add one optimization profile to ``config`` per ``{input: (min, opt, max)}`` dict in ``profiles`` (None: none)."""
    for prof in profiles or []:
        p = builder.create_optimization_profile()
        for k, v in prof.items():
            p.set_shape(k, *v)
        config.add_optimization_profile(p)


def build_and_run(builder, network, feeds: dict, device="cpu", profiles=None, tf32=False):
    """Build ``network`` for ``device``, run it on ``feeds`` (numpy), return {output: numpy}. FLOAT layers run in
    IEEE float32 on the GPU unless ``tf32`` (BuilderFlag.TF32 cleared), so results compare at float32 tolerances."""
    config = builder.create_builder_config()
    config.device = device
    if not tf32:
        config.clear_flag(trt.BuilderFlag.TF32)
    add_profiles(builder, config, profiles)
    plan = builder.build(network, config)
    engine = trt.Runtime(builder.logger).deserialize_cuda_engine(plan)
    assert engine is not None, "plan failed to deserialize"
    return engine.create_execution_context().infer(feeds)


def run_layer(add_fn, inputs: dict, device="cpu", mark=None):
    """Make a network whose inputs are ``inputs`` (numpy arrays), call ``add_fn(network, tensors)`` which returns
    a layer (or list of output tensors), mark its outputs and run. Returns the list of outputs (numpy)."""
    builder, network = new_network()
    tensors = [network.add_input(k, trt.DataType.FLOAT if v.dtype == np.float64 else
                                 _dtype(v.dtype), v.shape) for k, v in inputs.items()]
    res = add_fn(network, tensors)
    outs = [res.get_output(i) for i in range(res.num_outputs)] if isinstance(res, trt.ILayer) else list(res)
    for i, t in enumerate(outs):
        t.name = f"out{i}"
        network.mark_output(t)
    feeds = {k: (v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in inputs.items()}
    got = build_and_run(builder, network, feeds, device)
    return [got[f"out{i}"] for i in range(len(outs))]


def _dtype(np_dtype):
    from inferrt.dtypes import from_numpy_dtype

    return from_numpy_dtype(np_dtype)


def lowest_ir(model):
    """``model`` (an onnx.ModelProto, changed in place and returned) stamped with the lowest IR version its opset
    imports need, at least 4 (below it initializers must also be graph inputs), as an exporter at those opsets writes
    it. ``onnx.helper.make_model`` stamps the installed onnx's newest IR version instead, which an older onnxruntime
    refuses ("Unsupported model IR version: 14, max supported IR version: 13")."""
    from inferrt.onnx.model_tools import min_ir_version

    model.ir_version = max(min_ir_version(model), 4)
    return model
