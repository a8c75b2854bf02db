"""NVIDIA's Polygraphy, unmodified, with inferrt as its TensorRT (``tensorrt`` alias on PYTHONPATH), run as a user
runs it: ``polygraphy inspect model``, ``convert``, ``inspect model`` of the plan, ``inspect tactics`` and ``run``.

Polygraphy's TrtRunner allocates device memory and streams through libcudart itself (polygraphy/cuda/cuda.py), so
``run --trt`` needs a GPU: on the CPU it builds the engine and creates the execution context, then stops at
``cuda.Stream()`` in TrtRunner.activate_impl; that is checked here, the full run under the gpu marker.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import tools_gpu_model

pytest.importorskip("polygraphy")

ROOT = Path(__file__).resolve().parents[2]


def _env():
    from inferrt.alias import path

    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), path()]), POLYGRAPHY_AUTOINSTALL_DEPS="0")


def polygraphy(*argv, cwd):
    code = "import sys\nfrom polygraphy.tools import main\nsys.argv[0] = 'polygraphy'\nsys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=_env(),
                          cwd=cwd, timeout=600)


@pytest.fixture
def model(tmp_path):
    """Conv (with bias) -> Relu -> Add(relu, conv): the builder fuses Relu and Add into one pointwise layer."""
    tools_gpu_model.conv_model(str(tmp_path / "model.onnx"))
    return tmp_path / "model.onnx"


def test_polygraphy_imports_inferrt_as_tensorrt(tmp_path):
    code = ("from polygraphy.mod.trt_importer import lazy_import_trt\ntrt = lazy_import_trt()\n"
            "import inferrt\nprint(trt.__version__, trt.Builder is inferrt.Builder, trt.inferrt_version)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import inferrt

    assert r.stdout.split() == [inferrt.__version__, "True", inferrt.inferrt_version]


def test_inspect_onnx_model_as_trt_network(model):
    r = polygraphy("inspect", "model", str(model), "--display-as=trt", "--show", "layers", "attrs",
                   cwd=model.parent)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "Explicit Batch Network" in out and "---- 3 Layer(s) ----" in out
    assert "conv [Op: LayerType.CONVOLUTION]" in out and "add [Op: LayerType.ELEMENTWISE]" in out
    assert "conv.num_output_maps = 4" in out and "conv.kernel_size_nd = (3, 3)" in out
    assert "relu.alpha = 0.0" in out and "add.op = ElementWiseOperation.SUM" in out
    assert "{x [dtype=float32, shape=(-1, 3, 8, 8)]}" in out
    assert "<Error" not in out and "._" not in out   # every attribute readable, no private members listed


def test_convert_then_inspect_the_plan(model):
    plan = model.parent / "model.plan"
    r = polygraphy("convert", str(model), "-o", str(plan), "--trt-min-shapes", "x:[1,3,8,8]", "--trt-opt-shapes",
                   "x:[2,3,8,8]", "--trt-max-shapes", "x:[4,3,8,8]", cwd=model.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    assert plan.stat().st_size > 0
    import inferrt

    engine = inferrt.load_engine(str(plan))
    assert engine.input_names == ["x"] and engine.output_names == ["y"]
    assert [tuple(s) for s in engine.get_tensor_profile_shape("x", 0)] == [(1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8)]

    r = polygraphy("inspect", "model", str(plan), "--show", "layers", cwd=model.parent)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "Explicit Batch Engine" in out and "---- 1 Profile(s) (2 Tensor(s) Each) ----" in out
    assert "Shapes: min=(1, 3, 8, 8), opt=(2, 3, 8, 8), max=(4, 3, 8, 8)" in out
    assert f"---- {engine.num_layers} Layer(s) ----" in out
    info = json.loads(engine.create_engine_inspector().get_engine_information(inferrt.LayerInformationFormat.JSON))
    for layer in info["Layers"]:   # every engine layer, with its tensors in TensorRT's Format/Datatype spelling
        assert f"| {layer['Name']} [Op: {layer['LayerType']}]" in out
        for t in layer["Inputs"] + layer["Outputs"]:
            assert f"{t['Name']} [dtype=float32" in out
    assert "Format: Row major linear FP32" in out


def test_convert_records_and_replays_tactics(model):
    tactics = model.parent / "tactics.json"
    r = polygraphy("convert", str(model), "-o", str(model.parent / "a.plan"), "--save-tactics", str(tactics),
                   cwd=model.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    replay = json.loads(tactics.read_text())["replay"]
    import inferrt

    engine = inferrt.load_engine(str(model.parent / "a.plan"))
    assert sorted(replay) == sorted(n.name for n in engine.graph.nodes if n.kind != "constant")
    conv = replay["conv"]
    assert [i["strides"] for i in conv["inputs"]] == [[192, 64, 8, 1], [27, 9, 3, 1], [1]]
    assert conv["outputs"][0]["dtype"] == "DataType.FLOAT"
    r = polygraphy("convert", str(model), "-o", str(model.parent / "b.plan"), "--load-tactics", str(tactics),
                   cwd=model.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    r = polygraphy("inspect", "tactics", str(tactics), cwd=model.parent)
    assert r.returncode == 0 and "Layer: conv" in r.stdout + r.stderr


def test_convert_with_debug_tensors(model):
    plan = model.parent / "debug.plan"
    r = polygraphy("convert", str(model), "-o", str(plan), "--mark-debug", "r",
                   "--mark-unfused-tensors-as-debug-tensors", cwd=model.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    import inferrt

    engine = inferrt.load_engine(str(plan))
    assert engine.num_io_tensors == 2 and engine.is_debug_tensor("r")   # kept apart from the relu+add fusion
    # the conv output c, which the fused layer reads, is channels-last (convolution regions are NHWC on the CPU as on
    # the GPU), and such values are not unfused debug tensors (builder/debug_tensors.py): none is left
    from inferrt.tactics.select import nhwc_values

    assert engine.graph.unfused == [] and "c" in nhwc_values(engine.graph)


def _has_cuda():
    import torch

    return torch.cuda.is_available()


def test_run_trt_on_the_cpu_stops_only_at_polygraphys_cuda_calls(model):
    if _has_cuda():
        pytest.skip("a GPU is present: test_run_trt_against_onnxruntime runs the whole comparison")
    r = polygraphy("run", str(model), "--trt", "--onnxrt", cwd=model.parent)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    # inferrt's part (parse, build, deserialize, execution context) finished
    assert "Finished engine building" in out and "Activating and starting inference" in out
    # and Polygraphy's own CUDA wrapper is what stopped it: cudaStreamCreate failed (error 35: no driver), or no
    # libcudart could be loaded at all
    assert "CUDA Error" in out or "libcudart" in out, out[-3000:]


@pytest.mark.gpu
def test_run_trt_against_onnxruntime(model):
    r = polygraphy("run", str(model), "--trt", "--onnxrt", "--trt-min-shapes", "x:[1,3,8,8]",
                   "--trt-opt-shapes", "x:[2,3,8,8]", "--trt-max-shapes", "x:[4,3,8,8]",
                   "--input-shapes", "x:[2,3,8,8]", "--atol", "1e-4", "--rtol", "1e-4", cwd=model.parent)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "PASSED | Output: 'y'" in out and "PASSED | All outputs matched" in out


@pytest.mark.gpu
def test_run_trt_with_debug_tensors(model):
    """--mark-debug r: TrtRunner's IDebugListener copies the debug tensor off the device and adds it to the outputs;
    its values must be onnxruntime's for the same (default, seeded) inputs with r made an ONNX output."""
    from polygraphy.comparator import RunResults

    trt_json, ort_json = model.parent / "trt.json", model.parent / "ort.json"
    r = polygraphy("run", str(model), "--trt", "--mark-debug", "r", "--input-shapes", "x:[2,3,8,8]",
                   "--save-outputs", str(trt_json), cwd=model.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    r = polygraphy("run", str(model), "--onnxrt", "--onnx-outputs", "r", "y", "--input-shapes", "x:[2,3,8,8]",
                   "--save-outputs", str(ort_json), cwd=model.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    (_, trt_runs), = RunResults.load(str(trt_json)).items()
    (_, ort_runs), = RunResults.load(str(ort_json)).items()
    trt_out, ort_out = trt_runs[0], ort_runs[0]
    assert set(trt_out.keys()) == {"r", "y"}
    for name in ("r", "y"):
        np.testing.assert_allclose(np.asarray(trt_out[name]), np.asarray(ort_out[name]), rtol=1e-4, atol=1e-4)
