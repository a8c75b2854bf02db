"""An ONNX model with a custom op builds through a registered plugin, serializes, and runs after a fresh process
deserializes it (registering the creator by importing its module), matching numpy."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from helpers import assert_close
from onnx import TensorProto, helper

import inferrt as trt
import inferrt.plugin as trtp
from inferrt.errors import ParseError

sys.path.insert(0, str(Path(__file__).parent))
from plugins_for_tests import register_scaled_pad  # noqa: E402

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def _model(op_type="ScaledPad", namespace="tests"):
    attrs = {"scale": 0.25, "pad": 2}
    if namespace is not None:
        attrs["plugin_namespace"] = namespace
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node(op_type, ["r"], ["p"], name="custom", domain="tests", **attrs),
             helper.make_node("Neg", ["p"], ["y"], name="neg")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, 8])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("tests", 1)])


def _reference(x):
    return -np.pad(np.maximum(x.astype(np.float64), 0), ((0, 0), (0, 0), (2, 2))) * 0.25


def test_custom_op_builds_through_plugin_and_runs_in_fresh_process(tmp_path):
    register_scaled_pad()
    model = _model()
    builder = trt.Builder(trt.Logger())
    net = builder.create_network(0)
    parser = trt.OnnxParser(net, trt.Logger())
    assert parser.parse(model.SerializeToString()), [str(parser.get_error(i)) for i in range(parser.num_errors)]
    layer = next(net.get_layer(i) for i in range(net.num_layers) if net.get_layer(i).type == trt.LayerType.PLUGIN_V3)
    assert layer.name == "custom" and layer.get_plugin().scale == 0.25 and layer.get_plugin().pad == 2
    engine = trt.build_engine(net, profiles={"x": ((1, 3, 4), (2, 3, 4), (4, 3, 4))})
    path = tmp_path / "custom.plan"
    trt.save_plan(engine, path)
    x = np.random.default_rng(1).standard_normal((3, 3, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        sys.path.insert(0, {str(HERE)!r})
        import inferrt as trt
        import plugins_for_tests
        plugins_for_tests.register_scaled_pad()
        engine = trt.load_engine({str(path)!r})
        out = engine.create_execution_context().infer({{"x": np.load({str(tmp_path / 'x.npy')!r})}})
        np.save({str(tmp_path / 'y.npy')!r}, out["y"])
    """)
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert_close(np.load(tmp_path / "y.npy"), _reference(x))


def test_custom_op_without_registered_plugin_is_unsupported():
    register_scaled_pad()
    with pytest.raises(ParseError, match="Unknown") as e:
        trt.build_engine(_model(op_type="Unknown").SerializeToString())
    assert "a plugin creator registered under 'Unknown'" in str(e.value)
    # the namespace attribute selects the creator: none is registered in namespace "other"
    with pytest.raises(ParseError, match="ScaledPad"):
        trt.build_engine(_model(namespace="other").SerializeToString())


def test_supports_operator_and_model_see_the_plugin():
    register_scaled_pad()
    builder = trt.Builder(trt.Logger())
    parser = trt.OnnxParser(builder.create_network(0), trt.Logger())
    assert parser.supports_model_v2(_model().SerializeToString())
    onnx.checker.check_model(_model())


def test_aot_attribute_selects_the_implementation():
    """``aot=1`` on a node asks for a decorator plugin's AOT implementation: a plugin with only an impl is refused,
    naming the node; ``aot=0`` builds through the impl."""
    if "tests::Twice" not in trtp.QDP_REGISTRY:
        @trtp.register("tests::Twice")
        def _twice_desc(x: trtp.TensorDesc) -> trtp.TensorDesc:
            return x.like()

        @trtp.impl("tests::Twice")
        def _twice_impl(x: trtp.Tensor, outputs, stream) -> None:
            import torch

            torch.from_dlpack(outputs[0]).copy_(torch.from_dlpack(x) * 2)

    def model(aot):
        node = helper.make_node("Twice", ["x"], ["y"], name="twice", domain="tests", plugin_namespace="tests", aot=aot)
        g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("tests", 1)])

    with pytest.raises(ParseError, match=r"twice.*aot=True but it has no @aot_impl"):
        trt.build_engine(model(1).SerializeToString())
    engine = trt.build_engine(model(0).SerializeToString())
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    assert_close(engine.create_execution_context().infer({"x": x})["y"], x.astype(np.float64) * 2)
