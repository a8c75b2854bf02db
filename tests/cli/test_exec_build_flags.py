"""``inferrt exec`` build flags: --stronglyTyped, --layerOutputTypes / --layerPrecisions (one-wildcard specs checked
against the network before the build), --profilingVerbosity (what the layer info shows)
(--refit / --stripWeights: tests/cli/test_exec_refit.py; --int8 / --calib: tests/cli/test_exec_int8.py)."""
from __future__ import annotations

import json

import pytest

import inferrt as trt
from inferrt.builder.builder import Builder
from inferrt.cli.main import main

FAST = ("--duration", "0", "--warmUp", "0", "--iterations", "1", "--device", "cpu")


@pytest.fixture
def built(monkeypatch):
    """The network and config each exec build got: [(network, config)]."""
    seen = []
    original = Builder.build

    def spy(self, network, config=None):
        seen.append((network, config))
        return original(self, network, config)

    monkeypatch.setattr(Builder, "build", spy)
    return seen


def _run(capsys, *argv):
    rc = main(["exec", *FAST, *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _layer_info(capsys, tmp_path, *argv):
    path = tmp_path / "layers.json"
    rc, out, err = _run(capsys, "--skipInference", "--profilingVerbosity=detailed", "--exportLayerInfo", str(path),
                        *argv)
    assert rc == 0, err
    return json.loads(path.read_text())["Layers"]


def _layer_of(layers, name):
    (hit,) = [L for L in layers if L["Name"] == name or name in L["Origin"]]
    return hit


def test_strongly_typed_builds_a_strongly_typed_network(capsys, built):
    rc, out, err = _run(capsys, "--stronglyTyped", "--skipInference")
    assert rc == 0, err
    (network, _), = built
    assert network.get_flag(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    assert "[I] Strongly typed: Enabled" in out
    built.clear()
    assert _run(capsys, "--skipInference")[0] == 0
    assert not built[0][0].get_flag(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


@pytest.mark.parametrize("flag", ["--fp16", "--bf16", "--best", "--precisionConstraints=obey",
                                  "--layerPrecisions=conv1:fp32", "--layerOutputTypes=conv1:fp32"])
def test_strongly_typed_refuses_precision_flags(capsys, built, flag):
    rc, out, err = _run(capsys, "--stronglyTyped", flag)
    assert rc == 2 and f"{flag.split('=')[0]} and --stronglyTyped contradict each other" in err
    assert built == [] and "Engine built" not in out


def test_layer_output_types_reach_the_layers_and_change_the_plan(capsys, tmp_path, built):
    fused = _layer_info(capsys, tmp_path)
    assert _layer_of(fused, "relu1")["Name"] == "conv1"             # relu1 is fused into conv1 by default
    built.clear()
    layers = _layer_info(capsys, tmp_path, "--layerOutputTypes=relu*:fp32", "--precisionConstraints=obey")
    (network, config), = built
    by_name = {network.get_layer(i).name: network.get_layer(i) for i in range(network.num_layers)}
    for name in ("relu1", "relu2", "relu3"):                          # the wildcard reached every relu
        assert by_name[name].output_type_is_set(0) and by_name[name].get_output_type(0) == trt.DataType.FLOAT
    assert not by_name["conv1"].output_type_is_set(0)
    assert config.get_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    assert _layer_of(layers, "relu1")["Name"] == "relu1"             # a constrained layer is not fused away
    assert len(layers) > len(fused)


def test_layer_precision_wildcards_pick_the_last_matching_pattern(capsys, built):
    rc, out, err = _run(capsys, "--skipInference", "--layerPrecisions=fc*:fp32,conv1:fp32")
    assert rc == 0, err
    (network, config), = built
    set_on = sorted(network.get_layer(i).name for i in range(network.num_layers)
                    if network.get_layer(i).precision_is_set)
    assert set_on == ["conv1", "fc1", "fc1.add_bias", "fc1.bias", "fc1.weight", "fc2", "fc2.add_bias", "fc2.bias",
                      "fc2.weight"]
    assert config.get_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
    assert "Set layer conv1 to precision FLOAT" in out


@pytest.mark.parametrize("argv, why", [
    (["--layerOutputTypes=convX:fp32"], "--layerOutputTypes: the network has no layer 'convX'; its layers are "
                                        "'conv1', 'relu1'"),
    (["--layerOutputTypes=dense*:fp32"], "--layerOutputTypes: no layer matches 'dense*'"),
    (["--layerPrecisions=*pool:fp32"], "--layerPrecisions: no layer matches '*pool'"),
    (["--layerOutputTypes=conv1:fp16+fp32"], "layer 'conv1' has 1 outputs but 2 types are given"),
    (["--layerOutputTypes=conv1:fp16"], "--layerOutputTypes: layer 'conv1' in HALF needs --fp16"),
    (["--layerOutputTypes=conv1:int8"], "type 'int8' is not one inferrt builds"),
    (["--layerOutputTypes=conv1:fp32", "--precisionConstraints=none"], "--layerOutputTypes and "
                                                                       "--precisionConstraints=none contradict"),
    (["--layerOutputTypes=c**:fp32"], "more than one '*'"),
])
def test_layer_spec_errors_come_before_the_build(capsys, built, argv, why):
    rc, out, err = _run(capsys, *argv)
    assert rc == 2 and why in err, err
    assert built == [] and "Engine built" not in out


def test_profiling_verbosity_decides_what_the_layer_info_shows(capsys, tmp_path):
    shown = {}
    for verbosity in ("layer_names_only", "detailed", "none", None):
        path = tmp_path / f"{verbosity}.json"
        plan = tmp_path / f"{verbosity}.plan"
        argv = ["--skipInference", "--dumpLayerInfo", "--exportLayerInfo", str(path), "--saveEngine", str(plan)]
        rc, out, err = _run(capsys, *argv, *([f"--profilingVerbosity={verbosity}"] if verbosity else []))
        assert rc == 0, err
        dump = out[out.index("[I] Layer Information:"):].splitlines()[1:]
        dump = [ln for ln in dump if not ln.startswith("[I]")]
        shown[verbosity] = (json.loads(path.read_text()), dump, trt.load_engine(str(plan)))
    names, names_dump, names_engine = shown["layer_names_only"]
    detailed, detailed_dump, _ = shown["detailed"]
    none, none_dump, _ = shown["none"]
    assert shown[None][:2] == shown["layer_names_only"][:2]        # trtexec's default: layer names only
    assert names["Layers"] == [L["Name"] for L in detailed["Layers"]] and names["Layers"][0] == "conv1"
    assert names_dump == names["Layers"]
    assert detailed["Layers"][0]["Origin"] == ["conv1", "relu1"] and "TacticName" in detailed["Layers"][0]
    assert detailed_dump[0].startswith("conv1: fused_conv (") and "tactic=" in detailed_dump[0]
    assert none["Layers"] == [] and none_dump in ([], [""]) and none["Bindings"] == ["x", "prob"]
    assert names_engine.profiling_verbosity == trt.ProfilingVerbosity.LAYER_NAMES_ONLY
    insp = names_engine.create_engine_inspector()                  # the API's inspector follows the plan too
    assert insp.get_layer_information(0, trt.LayerInformationFormat.JSON) == '"conv1"'
    assert insp.get_layer_information(0, trt.LayerInformationFormat.ONELINE) == "conv1"


def test_profiling_verbosity_aliases_and_load_engine(capsys):
    rc, out, err = _run(capsys, "--skipInference", "--profilingVerbosity=verbose")
    assert rc == 0 and "[W] --profilingVerbosity=verbose is deprecated; use --profilingVerbosity=detailed" in out
    assert "[I] Profiling verbosity: DETAILED" in out
    rc, out, err = _run(capsys, "--loadEngine", "x.plan", "--profilingVerbosity=detailed")
    assert rc == 2 and "--profilingVerbosity is a build flag" in err
    with pytest.raises(SystemExit):                                 # argparse: not one of the choices
        main(["exec", "--profilingVerbosity=loud"])
    assert "invalid choice: 'loud'" in capsys.readouterr().err


@pytest.mark.gpu
def test_gpu_output_types_follow_the_layer_precision(capsys, tmp_path):
    layers = _layer_info(capsys, tmp_path, "--device=cuda", "--fp16", "--layerPrecisions=conv2:fp32",
                         "--layerOutputTypes=conv2:fp32,relu1:fp16", "--precisionConstraints=obey")
    conv2 = _layer_of(layers, "conv2")
    # the inspector spells types as TensorRT does: "Row major linear FP32" / "Channel last FP16 format"
    assert conv2["Precision"] == "FLOAT" and " FP32" in conv2["Outputs"][0]["Format/Datatype"]
    assert " FP16" in _layer_of(layers, "relu1")["Outputs"][0]["Format/Datatype"]
    rc = main(["exec", *FAST[:-2], "--device=cuda", "--fp16", "--layerOutputTypes=conv2:fp32"])
    err = capsys.readouterr().err
    assert rc == 2 and "layer 'conv2' computes in HALF" in err and "--layerPrecisions=conv2:fp32" in err
