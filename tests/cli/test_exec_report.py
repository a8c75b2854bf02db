"""``inferrt exec`` report and exports: trtexec's statistics, summary lines, warnings and JSON layouts."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from inferrt.cli import exec_report as report
from inferrt.cli.exec_run import Trace
from inferrt.cli.main import main

FAST = ("--duration", "0", "--warmUp", "0", "--device", "cpu")
STATS = ("Latency", "Enqueue Time", r"H2D Latency \(host copy of the inputs\)", "CPU Compute Time",
         r"D2H Latency \(host copy of the outputs\)")


def test_percentile_and_median_follow_trtexec():
    v = np.arange(1, 101, dtype=float)                      # 1..100 ms
    s = report.stats(v[::-1], [90, 95, 99, 100])
    assert (s["min"], s["max"], s["median"], s["mean"]) == (1, 100, 50.5, 50.5)
    assert s["percentiles"] == {90: 90.0, 95: 95.0, 99: 99.0, 100: 100.0}
    assert report.stats([3.0, 1.0, 2.0], [50])["median"] == 2.0
    assert report.percentile([5.0], 99) == 5.0
    assert s["cov"] == pytest.approx(np.std(v) / np.mean(v) * 100)


def _trace(compute, h2d=0.01, d2h=0.01, enq=0.1):
    t, qs = 0.0, []
    for c in compute:
        q = {"startH2dMs": t, "endH2dMs": t + h2d, "startComputeMs": t + h2d, "endComputeMs": t + h2d + c,
             "startD2hMs": t + h2d + c, "endD2hMs": t + h2d + c + d2h, "startEnqMs": t + h2d}
        q["endEnqMs"] = q["startEnqMs"] + enq
        qs.append(q)
        t = q["endD2hMs"]
    return Trace(qs, 0, 0.0, t / 1e3)


def test_summary_is_consistent():
    s = report.summarize(_trace([1.0, 2.0, 3.0, 4.0]), [50])
    assert s["queries"] == 4 and s["throughput_qps"] == pytest.approx(4 / s["walltime_s"])
    assert s["latency"]["mean"] == pytest.approx(2.52) and s["compute_total_s"] == pytest.approx(0.010)


def test_warnings():
    steady = report.summarize(_trace([1.0] * 20), [99])
    assert report.warnings(steady, gpu=True, transfers=True) == []
    noisy = report.warnings(report.summarize(_trace([1.0, 3.0] * 10), [99]), gpu=True, transfers=True)
    assert any("GPU compute time is unstable, with coefficient of variance = 50%" in w for w in noisy)
    enq = report.warnings(report.summarize(_trace([1.0] * 10, enq=0.9), [99]), gpu=True, transfers=True)
    assert any("bound by Enqueue Time" in w for w in enq) and any("--useCudaGraph" in w for w in enq)
    assert not any("Enqueue" in w for w in report.warnings(report.summarize(_trace([1.0] * 10, enq=0.9), [99]),
                                                           gpu=False, transfers=True))
    h2d = report.warnings(report.summarize(_trace([1.0] * 10, h2d=2.0), [99]), gpu=True, transfers=True)
    assert any("host-to-device transfers" in w for w in h2d) and any("--noDataTransfers" in w for w in h2d)
    d2h = report.warnings(report.summarize(_trace([1.0] * 10, d2h=2.0), [99]), gpu=True, transfers=True)
    assert any("device-to-host transfers" in w for w in d2h)


def _stat_line(out, label):
    (line,) = [ln for ln in out.splitlines() if re.match(rf"\[I\] {label}: ", ln)]
    nums = {k: float(v) for k, v in re.findall(r"(min|max|mean|median|percentile\(\d+(?:\.\d+)?%\)) = "
                                                r"([0-9.e+-]+) ms", line)}
    return nums


def test_report_layout_and_exports(capsys, tmp_path):
    times, prof, layers = (tmp_path / f for f in ("times.json", "profile.json", "layers.json"))
    rc = main(["exec", *FAST, "--batch", "2", "--iterations", "7", "--percentile", "50,90", "--avgRuns", "3",
               "--exportTimes", str(times), "--exportProfile", str(prof), "--exportLayerInfo", str(layers),
               "--dumpProfile", "--dumpLayerInfo", "--dumpOutput", "--threads", "--profilingVerbosity=detailed"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    for head in ("=== Model Options ===", "=== Build Options ===", "=== Inference Options ===",
                 "=== Reporting Options ===", "=== Device Information ===", "=== Trace details ===",
                 "=== Performance summary ===", "=== Profile (7 iterations ) ==="):
        assert f"[I] {head}" in out, head
    assert re.search(r"\[I\] Engine built in \d+\.\d+ sec\.", out)
    assert re.search(r"\[I\] Created engine with size: \d+\.\d+ MiB", out)
    assert re.search(r"\[I\] Throughput: [0-9.e+]+ qps", out)
    assert "[I] Timing trace has 7 queries" in out and "[I] Threads: Enabled" in out
    assert len(re.findall(r"\[I\] Average on 3 runs", out)) == 2 and "[I] Average on 1 runs" not in out
    for label in STATS:
        s = _stat_line(out, label)
        assert set(s) == {"min", "max", "mean", "median", "percentile(50%)", "percentile(90%)"}, label
        assert s["min"] <= s["median"] <= s["max"] and s["min"] <= s["mean"] <= s["max"], (label, s)
    lat, comp = _stat_line(out, "Latency"), _stat_line(out, "CPU Compute Time")
    assert lat["min"] >= comp["min"] and lat["mean"] >= comp["mean"]
    assert re.search(r"\[I\] Total Host Walltime: [0-9.e+-]+ s", out)
    assert re.search(r"\[I\] Total CPU Compute Time: [0-9.e+-]+ s", out)

    rows = json.loads(times.read_text())
    assert len(rows) == 7
    for r in rows:
        assert set(r) == {"startEnqMs", "endEnqMs", "startH2dMs", "endH2dMs", "startComputeMs", "endComputeMs",
                          "startD2hMs", "endD2hMs", "h2dMs", "computeMs", "d2hMs", "latencyMs"}
        assert r["startH2dMs"] <= r["endH2dMs"] <= r["startComputeMs"] < r["endComputeMs"] <= r["startD2hMs"]
        assert r["latencyMs"] == pytest.approx(r["h2dMs"] + r["computeMs"] + r["d2hMs"])
        assert r["computeMs"] == pytest.approx(r["endComputeMs"] - r["startComputeMs"])
    assert all(a["endD2hMs"] <= b["startH2dMs"] for a, b in zip(rows, rows[1:]))

    p = json.loads(prof.read_text())
    assert p[0] == {"count": 7}
    names = [r["name"] for r in p[1:]]
    assert names[:2] == ["conv1", "pool1"] and "softmax" in names
    for r in p[1:]:
        assert set(r) == {"name", "timeMs", "averageMs", "medianMs", "percentage"}
        assert r["averageMs"] == pytest.approx(r["timeMs"] / 7)
    assert sum(r["percentage"] for r in p[1:]) == pytest.approx(100)
    table = out[out.index("=== Profile (7 iterations ) ==="):].splitlines()
    assert re.match(r"\[I\] +Layer +Time \(ms\) +Avg\. Time \(ms\) +Median Time \(ms\) +Time %$", table[1])
    total = [ln for ln in table if re.match(r"\[I\] +Total ", ln)][0].split()
    assert float(total[2]) == pytest.approx(sum(r["timeMs"] for r in p[1:]), abs=0.01) and total[-1] == "100.0"
    assert float(total[3]) == pytest.approx(float(total[2]) / 7, abs=1e-3)

    info = json.loads(layers.read_text())
    engine_layers = [L["Name"] for L in info["Layers"]]          # the profile's layers are the engine's layers,
    assert [n for n in engine_layers if n in names] == names      # in order (a flatten view reports no time)
    assert len(names) >= len(engine_layers) - 1
    assert info["Bindings"] == ["x", "prob"]
    assert info["Layers"][0]["Inputs"][0]["Dimensions"] == [2, 1, 28, 28]
    assert "[I] Layer Information:" in out
    assert "[I] Output Tensors:" in out and "[I] prob: (2x10)" in out


def test_no_data_transfers_reports_zero_copies(capsys, tmp_path):
    times = tmp_path / "t.json"
    assert main(["exec", *FAST, "--iterations", "3", "--noDataTransfers", "--exportTimes", str(times)]) == 0
    out = capsys.readouterr().out
    assert "[I] Data transfers: Disabled" in out and "H2D and D2H are 0: --noDataTransfers" in out
    rows = json.loads(times.read_text())
    assert all(r["h2dMs"] < 0.05 and r["d2hMs"] < 0.05 for r in rows)   # nothing but two clock reads


def test_verbose_explains_the_metrics(capsys):
    assert main(["exec", *FAST, "--iterations", "2"]) == 0
    out = capsys.readouterr().out
    assert "Explanations of the performance metrics are printed in the verbose logs." in out
    assert main(["exec", *FAST, "--iterations", "2", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "=== Explanations of the performance metrics ===" in out
    assert "[I] Latency: the summation of H2D Latency, CPU Compute Time, and D2H Latency." in out


def test_duration_and_warm_up_are_times(capsys):
    assert main(["exec", "--device", "cpu", "--iterations", "1", "--duration", "0.3", "--warmUp", "100"]) == 0
    out = capsys.readouterr().out
    n, secs = re.search(r"Timing trace has (\d+) queries over ([0-9.]+) s", out).groups()
    assert float(secs) >= 0.3 and int(n) >= 2
    assert int(re.search(r"Warmup completed (\d+) queries over (\d+) ms", out).group(2)) >= 100


def test_skip_inference_with_timing_cache_and_build_options(capsys, tmp_path):
    cache, plan = tmp_path / "tc.bin", tmp_path / "m.plan"
    argv = ["exec", *FAST, "--skipInference", "--timingCacheFile", str(cache), "--memPoolSize", "workspace:64",
            "--builderOptimizationLevel", "0", "--saveEngine", str(plan)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Skipped inference phase since --skipInference is added." in out
    assert "Performance summary" not in out and "[output]" not in out
    assert "[I] Memory pools: WORKSPACE: 64 MiB" in out and "[I] Builder optimization level: 0" in out
    assert cache.read_bytes() and plan.stat().st_size > 0
    assert main(argv) == 0                                   # the written cache is read back
    assert "timing cache entries from" in capsys.readouterr().out
    cache.write_bytes(b"garbage")
    assert main(argv) == 2 and "is not a timing cache" in capsys.readouterr().err


def test_unwritable_export_is_a_clear_error(capsys, tmp_path):
    rc = main(["exec", *FAST, "--iterations", "1", "--exportTimes", str(tmp_path / "no" / "t.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot write" in err and "t.json" in err


@pytest.mark.gpu
@pytest.mark.parametrize("graph", [False, True])
def test_gpu_report_and_times(capsys, tmp_path, graph):
    times, prof = tmp_path / "t.json", tmp_path / "p.json"
    argv = ["exec", "--duration", "0", "--warmUp", "50", "--device", "cuda", "--batch", "8", "--iterations", "20",
            "--exportTimes", str(times), "--exportProfile", str(prof)] + (["--useCudaGraph"] if graph else [])
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"[I] CUDA Graph: {'Enabled' if graph else 'Disabled'}" in out and "[I] Selected Device ID: 0" in out
    for label in ("Latency", "Enqueue Time", "H2D Latency", "GPU Compute Time", "D2H Latency"):
        s = _stat_line(out, label)
        assert s["min"] <= s["median"] <= s["max"], label
    assert "Total GPU Compute Time" in out and "(host copy" not in out
    rows = json.loads(times.read_text())
    assert len(rows) == 20
    for r in rows:   # CUDA events on one stream: H2D, compute, D2H back to back; the host enqueue inside the trace
        assert r["startH2dMs"] <= r["endH2dMs"] == r["startComputeMs"] <= r["endComputeMs"] == r["startD2hMs"]
        assert r["computeMs"] > 0 and r["h2dMs"] >= 0 and r["d2hMs"] >= 0
        assert r["startEnqMs"] <= r["endEnqMs"]
        assert r["latencyMs"] == pytest.approx(r["h2dMs"] + r["computeMs"] + r["d2hMs"])
    p = json.loads(prof.read_text())
    assert p[0] == {"count": 20} and sum(r["percentage"] for r in p[1:]) == pytest.approx(100)


@pytest.mark.gpu
def test_gpu_layer_precisions_keep_one_layer_in_float(capsys, tmp_path):
    layers = tmp_path / "l.json"
    rc = main(["exec", "--device", "cuda", "--fp16", "--layerPrecisions", "conv2:fp32", "--precisionConstraints",
               "obey", "--skipInference", "--exportLayerInfo", str(layers), "--profilingVerbosity=detailed"])
    assert rc == 0, capsys.readouterr().err
    found = json.loads(layers.read_text())["Layers"]

    def precision_of(name):   # the (possibly fused) layer that computes the network layer ``name``
        (hit,) = [L["Precision"] for L in found if L["LayerType"] != "cast" and (L["Name"] == name or name in
                                                                                  L["Origin"])]
        return hit

    assert precision_of("conv2") == "FLOAT" and precision_of("conv1") == "HALF", found


def test_cpu_threads_is_per_context_and_leaves_torch_alone(capsys):
    import torch

    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    torch.set_num_threads(other)
    try:
        assert main(["exec", *FAST, "--iterations", "1", "--cpuThreads", "3"]) == 0
        assert "[I] CPU threads: 3 of" in capsys.readouterr().out
        assert torch.get_num_threads() == other     # the process's own setting is back after the run
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [[], ["--threads"]])
def test_several_inference_streams(capsys, tmp_path, threads):
    times = tmp_path / "t.json"
    assert main(["exec", *FAST, "--iterations", "3", "--infStreams", "2", "--exportTimes", str(times),
                 *threads]) == 0
    out = capsys.readouterr().out
    assert "[I] Inference streams: 2" in out
    n = int(re.search(r"Timing trace has (\d+) queries", out).group(1))
    assert n >= 6 and (threads or n % 2 == 0)          # at least --iterations per stream; whole rounds without threads
    assert "[W] * Multiple inference streams are used (2)" in out
    rows = json.loads(times.read_text())
    assert len(rows) == n and [r["startH2dMs"] for r in rows] == sorted(r["startH2dMs"] for r in rows)
    if not threads:    # one thread: the CPU engine runs the streams' queries one after another
        assert all(a["endD2hMs"] <= b["startH2dMs"] for a, b in zip(rows, rows[1:]))


@pytest.mark.gpu
@pytest.mark.parametrize("threads", [[], ["--threads"]])
def test_gpu_several_inference_streams(capsys, tmp_path, threads):
    times = tmp_path / "t.json"
    rc = main(["exec", "--duration", "0", "--warmUp", "20", "--device", "cuda", "--iterations", "5", "--infStreams",
               "3", "--exportTimes", str(times), *threads])
    out, err = capsys.readouterr()
    assert rc == 0, err
    rows = json.loads(times.read_text())
    assert len(rows) >= 15 and all(r["computeMs"] > 0 for r in rows)
    assert "[W] * Multiple inference streams are used (3)" in out
