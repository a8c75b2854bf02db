"""``inferrt exec`` flag parsing: trtexec's shape / pool / percentile syntax and contradictory flags, refused before
anything is built."""
from __future__ import annotations

import pytest

from inferrt.cli.exec_args import (ExecArgError, check_exec_arguments, parse_mem_pools, parse_percentiles,
                                   parse_shape_spec)
from inferrt.cli.main import main


def test_shape_spec():
    assert parse_shape_spec("--shapes", "x:1x3x224x224,y:2x10") == {"x": (1, 3, 224, 224), "y": (2, 10)}
    assert parse_shape_spec("--shapes", "input:0:4x6") == {"input:0": (4, 6)}   # the last ':' splits
    assert parse_shape_spec("--shapes", "'x':3") == {"x": (3,)}
    assert parse_shape_spec("--shapes", None) == {}


@pytest.mark.parametrize("spec, why", [("1x2x3", "not like name"), ("x:1xax3", "not like name"),
                                       ("x:1x-2", "not like name"), ("x:1,x:2", "'x' is given twice")])
def test_bad_shape_spec(spec, why):
    with pytest.raises(ExecArgError, match=why) as info:
        parse_shape_spec("--minShapes", spec)
    assert str(info.value).startswith("--minShapes")


def test_mem_pools():
    assert parse_mem_pools("workspace:1024") == {"WORKSPACE": 1024 << 20}
    assert parse_mem_pools("workspace:2G") == {"WORKSPACE": 2 << 30}
    assert parse_mem_pools("workspace:512K") == {"WORKSPACE": 512 << 10}
    with pytest.raises(ExecArgError, match="unknown pool 'gpu'"):
        parse_mem_pools("gpu:1")
    with pytest.raises(ExecArgError, match="'dlaSRAM' is not used by inferrt"):
        parse_mem_pools("dlaSRAM:1")
    with pytest.raises(ExecArgError, match="not like workspace:1024"):
        parse_mem_pools("workspace:lots")


def test_percentiles():
    assert parse_percentiles("90,95,99") == [90.0, 95.0, 99.0]
    assert parse_percentiles("99.9") == [99.9]
    with pytest.raises(Exception, match=r"\[0, 100\]"):
        parse_percentiles("101")


def _parse(*argv):
    import argparse

    from inferrt.cli.exec_args import add_exec_arguments

    p = argparse.ArgumentParser()
    add_exec_arguments(p)
    args = p.parse_args(list(argv))
    check_exec_arguments(args)
    return args


def test_defaults_are_trtexecs():
    a = _parse()
    assert (a.iterations, a.duration, a.warm_up_ms, a.avg_runs, a.percentile) == (10, 3.0, 200.0, 10,
                                                                                 [90.0, 95.0, 99.0])
    assert not (a.fp16 or a.bf16 or a.no_tf32 or a.use_cuda_graph or a.no_data_transfers or a.threads)


def test_best_enables_every_reduced_precision_and_cpu_sets_the_device():
    a = _parse("--best", "--cpu")
    assert a.fp16 and a.bf16 and a.device == "cpu"


@pytest.mark.parametrize("argv, flags", [
    (["--onnx", "m.onnx", "--loadEngine", "m.plan"], ["--onnx", "--loadEngine"]),
    (["--loadEngine", "m.plan", "--saveEngine", "n.plan"], ["--saveEngine", "--loadEngine"]),
    (["--loadEngine", "m.plan", "--minShapes", "x:1"], ["--minShapes", "--loadEngine"]),
    (["--loadEngine", "m.plan", "--fp16"], ["--fp16", "--loadEngine"]),
    (["--loadEngine", "m.plan", "--timingCacheFile", "c"], ["--timingCacheFile", "--loadEngine"]),
    (["--skipInference", "--exportTimes", "t.json"], ["--exportTimes", "--skipInference"]),
    (["--skipInference", "--dumpProfile"], ["--dumpProfile", "--skipInference"]),
    (["--cpu", "--device", "cuda"], ["--cpu", "--device=cuda"]),
    (["--device", "tpu"], ["--device"]),
])
def test_contradictory_flags_are_errors_before_any_build(capsys, argv, flags):
    with pytest.raises(ExecArgError) as info:
        _parse(*argv)
    assert all(f in str(info.value) for f in flags), str(info.value)
    assert main(["exec", *argv]) == 2          # the command refuses them too, with no build line and no traceback
    out, err = capsys.readouterr()
    assert "[build]" not in out and "Engine built" not in out and err.startswith("error: ")


def test_reduced_precision_on_the_cpu_is_an_error_not_ignored(capsys):
    for flag in ("--fp16", "--bf16", "--best"):
        assert main(["exec", "--cpu", flag]) == 2
        out, err = capsys.readouterr()
        assert f"{flag} cannot be honoured on the CPU" in err and "Engine built" not in out
    # --noTF32 asks for full FLOAT, which is all the CPU does: honoured, and said so
    assert main(["exec", "--cpu", "--noTF32", "--skipInference"]) == 0
    assert "[I] Precision: FP32 (no TF32 on the CPU)" in capsys.readouterr().out


def test_cuda_graph_on_the_cpu_is_an_error(capsys):
    assert main(["exec", "--cpu", "--useCudaGraph"]) == 2
    assert "--useCudaGraph needs a GPU engine" in capsys.readouterr().err


def test_argparse_rejects_bad_numbers(capsys):
    for argv in (["--iterations", "0"], ["--duration", "-1"], ["--builderOptimizationLevel", "7"],
                 ["--percentile", "x"], ["--warmUp", "soon"]):
        with pytest.raises(SystemExit) as info:
            main(["exec", *argv])
        assert info.value.code == 2, argv
        assert argv[0] in capsys.readouterr().err


def test_no_abbreviations():
    """argparse would take --warm for --warmUp or --warmup; trtexec spells flags out, and so must users."""
    with pytest.raises(SystemExit):
        main(["exec", "--warm", "5"])


def test_device_index_beyond_the_machine_is_an_error(capsys):
    import torch

    n = torch.cuda.device_count()
    assert main(["exec", "--device", str(n)]) == 2
    err = capsys.readouterr().err
    assert f"--device={n}: there" in err and f"{n} CUDA device(s)" in err


def test_layer_precisions_spec():
    from inferrt.cli.exec_layers import parse_layer_spec

    assert parse_layer_spec("--layerPrecisions", "conv1:fp32,*:fp16") == {"conv1": "FLOAT", "*": "HALF"}
    with pytest.raises(ExecArgError, match="--layerPrecisions: layer 'conv1': type 'int8' is not one inferrt builds"):
        parse_layer_spec("--layerPrecisions", "conv1:int8")
    with pytest.raises(ExecArgError, match="'conv1' is given twice"):
        parse_layer_spec("--layerPrecisions", "conv1:fp32,conv1:fp16")
    with pytest.raises(ExecArgError, match="more than one"):
        parse_layer_spec("--layerPrecisions", "c*n*:fp32")
    assert parse_layer_spec("--layerOutputTypes", "split:fp16+fp32,c*:fp32", multi=True) == \
        {"split": ("HALF", "FLOAT"), "c*": ("FLOAT",)}


@pytest.mark.parametrize("argv, why", [
    (["--fp8", "--stronglyTyped"], "--fp8 and --stronglyTyped contradict each other"),
    (["--layerPrecisions", "conv1:fp32", "--precisionConstraints", "none"], "contradict each other"),
    (["--layerPrecisions", "convX:fp32"], "the network has no layer 'convX'; its layers are 'conv1'"),
    (["--layerPrecisions", "conv1:fp16"], "layer 'conv1' in HALF needs --fp16"),
    (["--loadEngine", "m.plan", "--errorOnTimingCacheMiss"], "--errorOnTimingCacheMiss is a build flag"),
])
def test_precision_flags_inferrt_cannot_honour_are_errors(capsys, argv, why):
    assert main(["exec", "--cpu", *argv]) == 2
    out, err = capsys.readouterr()
    assert why in err and "Engine built" not in out


def test_fp8_sets_the_builder_flag_and_builds(capsys):
    assert main(["exec", "--cpu", "--skipInference", "--fp8", "--verbose"]) == 0
    out, err = capsys.readouterr()
    assert "Engine built" in out and "FP8 Q/DQ in the network run as quantized layers" in out + err


def test_layer_precisions_build_with_prefer(capsys):
    assert main(["exec", "--cpu", "--skipInference", "--layerPrecisions", "*:fp32",
                 "--errorOnTimingCacheMiss"]) == 0
    out = capsys.readouterr().out
    assert "using --precisionConstraints=prefer" in out and "[I] Precision constraints: prefer" in out
    assert "[I] Layer precisions: *:FLOAT" in out and "[I] Error on timing cache miss: Enabled" in out
