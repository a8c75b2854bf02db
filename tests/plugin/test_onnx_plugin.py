"""An ONNX model with a custom op builds through a registered plugin (a V3 plugin, a decorator plugin's JIT impl, its
AOT Triton kernel), serializes, and runs after a fresh process deserializes it, matching numpy, on the CPU and the
GPU."""
from __future__ import annotations

import json
import os
import subprocess
import sys
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
from tests.helpers import lowest_ir  # noqa: E402

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
EXAMPLES = ROOT / "examples" / "plugins"
sys.path.insert(0, str(EXAMPLES))


def _model(op_type="ScaledPad", namespace="tests"):
    attrs = {"scale": 0.25, "pad": 2}
    if namespace is not None:
        attrs["plugin_namespace"] = namespace
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node(op_type, ["r"], ["p"], name="custom", domain="tests", **attrs),
             helper.make_node("Neg", ["p"], ["y"], name="neg")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, 8])])
    return lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("tests", 1)]))


def _reference(x):
    return -np.pad(np.maximum(x.astype(np.float64), 0), ((0, 0), (0, 0), (2, 2))) * 0.25


def _scaled_add_model(aot: int):
    """x, y -> relu(x) -> example::scaled_add(relu(x), y, alpha=0.5) -> neg: the shipped Triton AOT example's op
    (examples/plugins/triton_aot_plugin.py) as an ONNX custom op, ``aot`` picking its implementation."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("scaled_add", ["r", "y"], ["s"], name="custom", domain="example", alpha=0.5, aot=aot,
                              plugin_namespace="example"),
             helper.make_node("Neg", ["s"], ["out"], name="neg")]
    io_ = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 64]) for n in ("x", "y", "out")]
    g = helper.make_graph(nodes, "g", io_[:2], io_[2:])
    return lowest_ir(helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("example", 1)]))


#: mode -> (model, profiles, the loading process's registration code, inputs, output name, float64 reference)
def _case(mode, rng):
    x = rng.standard_normal((3, 3, 4) if mode == "v3" else (3, 64)).astype(np.float32)
    if mode == "v3":   # an IPluginV3 with its creator class: the loading process registers the creator
        return (_model(), {"x": ((1, 3, 4), (2, 3, 4), (4, 3, 4))},
                "import plugins_for_tests; plugins_for_tests.register_scaled_pad()", {"x": x}, "y", _reference(x))
    y = rng.standard_normal((3, 64)).astype(np.float32)
    ref = -(np.maximum(x.astype(np.float64), 0) + 0.5 * y.astype(np.float64))
    profile = ((1, 64), (4, 64), (8, 64))
    return (_scaled_add_model(1 if mode == "aot" else 0), {"x": profile, "y": profile}, "import triton_aot_plugin",
            {"x": x, "y": y}, "out", ref)


FRESH_PROCESS = """
import json, sys
import numpy as np
sys.path[:0] = [{here!r}, {examples!r}]
import inferrt as trt
import inferrt.plugin as trtp
{register}
engine = trt.load_engine({plan!r})
node = next(n for n in engine.graph.nodes if n.kind == "plugin_v3")
out = engine.create_execution_context().infer({{k: np.load(v) for k, v in {inputs!r}.items()}})
np.save({result!r}, np.asarray(out[{output!r}].cpu() if hasattr(out[{output!r}], "cpu") else out[{output!r}]))
print(json.dumps({{"aot": bool(node.attrs.plugin.aot), "registry": sorted(trtp.QDP_REGISTRY),
                  "example_imported": "triton_aot_plugin" in sys.modules}}))
"""


@pytest.mark.parametrize("mode", ["v3", "jit", "aot"])
def test_custom_op_builds_through_plugin_and_runs_in_fresh_process(mode, device, tmp_path):
    """The ONNX custom op builds through its registered plugin, the plan is saved, and a fresh process loads and
    runs it. JIT plugins (a V3 creator, a decorator plugin's impl) are recreated from the registry, so that process
    imports their definitions first; an AOT plugin built on the GPU carries its Triton kernel in the plan and the
    process imports nothing (on the CPU an AOT layer runs the impl, recorded as a JIT plugin)."""
    register_scaled_pad()
    import triton_aot_plugin  # noqa: F401 - registers example::scaled_add (impl and aot_impl)

    model, profiles, register, inputs, output, ref = _case(mode, np.random.default_rng(1))
    builder = trt.Builder(trt.Logger())
    net = builder.create_network(0)
    parser = trt.OnnxParser(net, trt.Logger())
    assert parser.parse(model.SerializeToString()), [str(parser.get_error(i)) for i in range(parser.num_errors)]
    layer = next(net.get_layer(i) for i in range(net.num_layers) if net.get_layer(i).type == trt.LayerType.PLUGIN_V3)
    assert layer.name == "custom"
    if mode == "v3":
        assert layer.get_plugin().scale == 0.25 and layer.get_plugin().pad == 2
    else:
        assert layer.get_plugin().inferrt_aot == (mode == "aot")
    engine = trt.build_engine(net, profiles=profiles, device=device)
    carries_kernel = mode == "aot" and device == "cuda"
    node = next(n for n in engine.graph.nodes if n.kind == "plugin_v3")
    assert bool(node.attrs.get("aot_kernel")) == carries_kernel
    path = tmp_path / "custom.plan"
    trt.save_plan(engine, path)
    files = {}
    for name, arr in inputs.items():
        files[name] = str(tmp_path / f"{name}.npy")
        np.save(files[name], arr)
    script = FRESH_PROCESS.format(here=str(HERE), examples=str(EXAMPLES), plan=str(path), inputs=files,
                                  output=output, result=str(tmp_path / "result.npy"),
                                  register="" if carries_kernel else register)
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr[-3000:]
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    assert seen["aot"] == carries_kernel
    if carries_kernel:   # the kernel came from the plan: no Python definition of the plugin in that process
        assert seen["registry"] == [] and not seen["example_imported"]
    assert_close(np.load(tmp_path / "result.npy"), ref)


def test_plan_of_unregistered_plugin_is_refused_in_fresh_process(tmp_path):
    """A JIT plugin's plan loaded where its creator is not registered: a PlanError naming the plugin and saying how
    to register it."""
    register_scaled_pad()
    engine = trt.build_engine(_model(), profiles={"x": ((1, 3, 4), (2, 3, 4), (4, 3, 4))}, device="cpu")
    path = tmp_path / "custom.plan"
    trt.save_plan(engine, path)
    script = f"""
import inferrt as trt
try:
    trt.load_engine({str(path)!r})
except trt.PlanError as e:
    print(e)
else:
    raise SystemExit("loaded a plan whose plugin is not registered")
"""
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert "ScaledPad" in r.stdout and "register" in r.stdout


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
        return lowest_ir(helper.make_model(
            g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("tests", 1)]))

    with pytest.raises(ParseError, match=r"twice.*aot=True but it has no @aot_impl"):
        trt.build_engine(model(1).SerializeToString())
    engine = trt.build_engine(model(0).SerializeToString())
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    assert_close(engine.create_execution_context().infer({"x": x})["y"], x.astype(np.float64) * 2)
