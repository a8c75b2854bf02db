"""``inferrt exec`` report in trtexec's layout (options, device, trace, performance summary, warnings, profile) and
trtexec's JSON layouts for --exportTimes, --exportProfile, --exportOutput and --exportLayerInfo."""
from __future__ import annotations

import json
import math

import numpy as np

#: GPU compute time is called unstable above this coefficient of variation (percent), as trtexec warns
UNSTABLE_COV_PERCENT = 1.0
#: enqueue-bound when the median enqueue time exceeds this share of the median compute time
ENQUEUE_BOUND_RATIO = 0.8


def percentile(sorted_ms, p: float) -> float:
    """trtexec's percentile: the value with (1 - p/100) of the queries excluded above it."""
    n = len(sorted_ms)
    exclude = int((100 - p) * n / 100 + 1e-9)   # 1e-9: (100 - 90) * 100 / 100 is 10, not 9.99...
    return float(sorted_ms[max(n - 1 - exclude, 0)])


def stats(values_ms, percentiles) -> dict:
    v = np.sort(np.asarray(values_ms, dtype=np.float64))
    n = len(v)
    median = float(v[n // 2]) if n % 2 else float((v[n // 2 - 1] + v[n // 2]) / 2)
    out = {"min": float(v[0]), "max": float(v[-1]), "mean": float(v.mean()), "median": median}
    out["percentiles"] = {p: percentile(v, p) for p in percentiles}
    out["cov"] = float(v.std() / v.mean() * 100) if v.mean() > 0 else 0.0
    return out


def _pct(p: float) -> str:
    return f"{p:g}%"


def format_stats(label: str, s: dict) -> str:
    pcts = ", ".join(f"percentile({_pct(p)}) = {v:.6g} ms" for p, v in s["percentiles"].items())
    return (f"{label}: min = {s['min']:.6g} ms, max = {s['max']:.6g} ms, mean = {s['mean']:.6g} ms, "
            f"median = {s['median']:.6g} ms, {pcts}")


def query_times(q: dict) -> dict:
    h2d = q["endH2dMs"] - q["startH2dMs"]
    compute = q["endComputeMs"] - q["startComputeMs"]
    d2h = q["endD2hMs"] - q["startD2hMs"]
    return {"enq": q["endEnqMs"] - q["startEnqMs"], "h2d": h2d, "compute": compute, "d2h": d2h,
            "latency": h2d + compute + d2h}


def summarize(trace, percentiles) -> dict:
    per = [query_times(q) for q in trace.queries]
    out = {k: stats([t[k] for t in per], percentiles) for k in ("latency", "enq", "h2d", "compute", "d2h")}
    n = len(per)
    out["queries"] = n
    out["walltime_s"] = trace.walltime_s
    out["throughput_qps"] = n / trace.walltime_s if trace.walltime_s > 0 else math.inf
    out["compute_total_s"] = out["compute"]["mean"] * n / 1e3
    return out


def print_options(say, args, built, trt) -> None:
    say("=== Model Options ===")
    say(f"Format: {'ONNX' if args.onnx else ('plan' if args.load_engine else 'built-in MNIST network')}")
    say(f"Model: {args.onnx or args.load_engine or 'inferrt.models.mnist'}")
    say("=== Build Options ===")
    if args.load_engine:
        say("Engine loaded from a plan: no build options")
    else:
        prec = "FP32" + ("+FP16" if args.fp16 else "") + ("+BF16" if args.bf16 else "")
        tf32 = " (no TF32 on the CPU)" if built.device == "cpu" else ("" if args.no_tf32 else " (TF32 allowed)")
        say(f"Precision: {prec}{tf32}")
        per_layer = args.layer_precisions or args.layer_output_types
        say(f"Precision constraints: {args.precision_constraints or ('prefer' if per_layer else 'none')}")
        lp = ", ".join(f"{k}:{v}" for k, v in args.layer_precision_dict.items())
        say(f"Layer precisions: {lp or '(none)'}")
        lo = ", ".join(f"{k}:{'+'.join(v)}" for k, v in args.layer_output_dict.items())
        say(f"Layer output types: {lo or '(none)'}")
        say(f"Strongly typed: {'Enabled' if args.strongly_typed else 'Disabled'}")
        say(f"Profiling verbosity: {args.verbosity_name}")
        say(f"Optimization profiles: {max(len(args.profile_dicts), 1)}")
        say(f"Error on timing cache miss: {'Enabled' if args.error_on_cache_miss else 'Disabled'}")
        say(f"Builder optimization level: {3 if args.opt_level is None else args.opt_level}")
        pools = ", ".join(f"{k}: {v / 2 ** 20:g} MiB" for k, v in args.mem_pools.items()) or "default"
        say(f"Memory pools: {pools}")
        say(f"Timing cache: {args.timing_cache_file or 'local (not saved)'}")
        say(f"Save engine: {args.save_engine or '(none)'}")
    say("=== Inference Options ===")
    for name, shp in built.run_shapes.items():
        say(f"Input inference shape : {name}={'x'.join(map(str, shp))}")
    say(f"Optimization profile: {args.use_profile}")
    say(f"Iterations: {args.iterations}")
    say(f"Duration: {args.duration:g}s (+ {args.warm_up_ms:g}ms warm up)")
    say(f"Data transfers: {'Disabled' if args.no_data_transfers else 'Enabled'}")
    say(f"CUDA Graph: {'Enabled' if args.use_cuda_graph else 'Disabled'}")
    say(f"Inference streams: {args.inf_streams}")
    say(f"Threads: {'Enabled' if args.threads else 'Disabled'}")
    say(f"Inputs: {', '.join(f'{k}<-{v}' for k, v in args.input_files.items()) or 'random (seed 0)'}")
    say("=== Reporting Options ===")
    say(f"Percentiles: {','.join(f'{p:g}' for p in args.percentile)}")
    say(f"Average over {args.avg_runs} runs")


def print_device(say, built, cpu_threads=None) -> None:
    """``cpu_threads``: the CPU thread count each execution context was given (None: automatic)."""
    say("=== Device Information ===")
    if built.device == "cuda":
        import torch

        i = built.engine.device.index
        p = torch.cuda.get_device_properties(i)
        say(f"Selected Device: {p.name}")
        say(f"Selected Device ID: {i}")
        say(f"Compute Capability: {p.major}.{p.minor}")
        say(f"SMs: {p.multi_processor_count}")
        say(f"Device Global Memory: {p.total_memory // 2 ** 20} MiB")
    else:
        from ..runtime.cpu_threads import auto_threads, usable_cores

        say("Selected Device: CPU (inferrt's CPU path; no GPU is used)")
        if cpu_threads is None:
            say(f"CPU threads: automatic ({auto_threads()} now) of {usable_cores()} usable cores per execution")
        else:
            say(f"CPU threads: {cpu_threads} of {usable_cores()} usable cores per execution")


def print_trace(say, trace, avg_runs: int, gpu: bool) -> None:
    dev = "GPU" if gpu else "Compute"
    say(f"Warmup completed {trace.warmup_queries} queries over {trace.warmup_ms:.0f} ms")
    say(f"Timing trace has {len(trace.queries)} queries over {trace.walltime_s:.6g} s")
    say("=== Trace details ===")
    say(f"Trace averages of {avg_runs} runs:")
    per = [query_times(q) for q in trace.queries]
    groups = [per[i:i + avg_runs] for i in range(0, len(per) - avg_runs + 1, avg_runs)]   # whole groups, as trtexec
    shown = groups if len(groups) <= 400 else groups[:200] + groups[-200:]
    for g in shown:
        k = len(g)
        say(f"Average on {k} runs - {dev} latency: {sum(t['compute'] for t in g) / k:.6g} ms - Host latency: "
            f"{sum(t['latency'] for t in g) / k:.6g} ms (enqueue {sum(t['enq'] for t in g) / k:.6g} ms)")


def print_summary(say, s: dict, gpu: bool, transfers: bool) -> None:
    dev = "GPU" if gpu else "CPU"
    say("=== Performance summary ===")
    say(f"Throughput: {s['throughput_qps']:.6g} qps")
    say(format_stats("Latency", s["latency"]))
    say(format_stats("Enqueue Time", s["enq"]))
    say(format_stats("H2D Latency" if gpu else "H2D Latency (host copy of the inputs)", s["h2d"]))
    say(format_stats(f"{dev} Compute Time", s["compute"]))
    say(format_stats("D2H Latency" if gpu else "D2H Latency (host copy of the outputs)", s["d2h"]))
    say(f"Total Host Walltime: {s['walltime_s']:.6g} s")
    say(f"Total {dev} Compute Time: {s['compute_total_s']:.6g} s")
    if not transfers:
        say("H2D and D2H are 0: --noDataTransfers")
    if not gpu:
        say("On the CPU the engine runs synchronously: Enqueue Time is the engine call itself (= CPU Compute Time), "
            "and H2D / D2H are host memory copies")


def print_explanations(say, gpu: bool) -> None:
    """trtexec's --verbose explanations of the summary's metrics."""
    dev = "GPU" if gpu else "CPU"
    say("=== Explanations of the performance metrics ===")
    say("Total Host Walltime: the host time from when the first query (after warm-ups) is enqueued to when the "
        "last query is completed.")
    say(f"{dev} Compute Time: the {dev} latency to execute the kernels for a query.")
    say(f"Total {dev} Compute Time: the summation of the {dev} Compute Time of all the queries. If this is "
        f"significantly shorter than Total Host Walltime, the {dev} may be under-utilized because of host-side "
        f"overheads or data transfers.")
    say("Throughput: the observed throughput computed by dividing the number of queries by the Total Host "
        "Walltime.")
    say("Enqueue Time: the host latency to enqueue a query." + ("" if gpu else " On the CPU the engine runs "
        "synchronously, so this is the whole engine call."))
    say("H2D Latency: the latency for host-to-device data transfers for input tensors of a single query."
        + ("" if gpu else " On the CPU: the host copy of the inputs into the engine's input tensors."))
    say("D2H Latency: the latency for device-to-host data transfers for output tensors of a single query."
        + ("" if gpu else " On the CPU: the host copy of the outputs."))
    say(f"Latency: the summation of H2D Latency, {dev} Compute Time, and D2H Latency. This is the latency to "
        f"infer a single query.")


def warnings(s: dict, gpu: bool, transfers: bool, streams: int = 1) -> list:
    """trtexec's warnings, in its order: enqueue-bound, H2D-bound, D2H-bound, unstable compute time. The CPU engine
    runs synchronously (its enqueue is its compute), so the enqueue-bound test is for the GPU only."""
    out = []
    dev = "GPU" if gpu else "CPU"
    med = s["compute"]["median"]
    if gpu and s["enq"]["median"] > ENQUEUE_BOUND_RATIO * med:
        out.append("* Throughput may be bound by Enqueue Time rather than GPU Compute and the GPU may be "
                   "under-utilized.")
        out.append("  If not already in use, --useCudaGraph (utilize CUDA graphs where possible) may increase the "
                   "throughput.")
    if transfers and s["h2d"]["median"] >= med:
        out.append(f"* Throughput may be bound by host-to-device transfers for the inputs rather than {dev} Compute "
                   f"and the {dev} may be under-utilized.")
        out.append("  Add --noDataTransfers flag to disable data transfers.")
    if transfers and s["d2h"]["median"] >= med:
        out.append(f"* Throughput may be bound by device-to-host transfers for the outputs rather than {dev} Compute "
                   f"and the {dev} may be under-utilized.")
        out.append("  Add --noDataTransfers flag to disable data transfers.")
    if s["compute"]["cov"] > UNSTABLE_COV_PERCENT:
        out.append(f"* {dev} compute time is unstable, with coefficient of variance = {s['compute']['cov']:.6g}%.")
        out.append("  If not already in use, locking GPU clock frequency or adding --useSpinWait may improve the "
                   "stability." if gpu else "  Other processes on this machine's cores disturb the timing; "
                                             "fewer --cpuThreads or an idle machine may improve the stability.")
    if streams > 1:
        out.append(f"* Multiple inference streams are used ({streams}): a query's latency includes the time it "
                   f"shares the {dev} with the other streams, so latencies are not those of a single stream; "
                   f"Throughput counts the queries of all streams.")
    return out


def export_times(path: str, trace) -> None:
    """trtexec's --exportTimes: one object per query with its timestamps and durations (ms)."""
    rows = []
    for q in trace.queries:
        t = query_times(q)
        row = {k: q[k] for k in ("startEnqMs", "endEnqMs", "startH2dMs", "endH2dMs", "startComputeMs",
                                 "endComputeMs", "startD2hMs", "endD2hMs")}
        row.update({"h2dMs": t["h2d"], "computeMs": t["compute"], "d2hMs": t["d2h"], "latencyMs": t["latency"]})
        rows.append(row)
    _write_json(path, rows)


def profile_rows(times: dict, count: int) -> list:
    total = sum(sum(v) for v in times.values())
    rows = []
    for name, v in times.items():
        rows.append({"name": name, "timeMs": float(sum(v)), "averageMs": float(sum(v) / count),
                     "medianMs": float(np.median(v)), "percentage": float(sum(v) / total * 100) if total else 0.0})
    return rows


def print_profile(say, times: dict, rows: list, count: int) -> None:
    """trtexec's --dumpProfile table: layer, total, average and median time, share; layers that took no time are
    left out, and the Total row's median is that of the per-query totals."""
    shown = [r for r in rows if r["timeMs"] > 0]
    width = max([len(r["name"]) + 1 for r in shown] + [len("Layer")])
    say(f"=== Profile ({count} iterations ) ===")
    say(f"{'Layer':>{width}}   Time (ms)   Avg. Time (ms)   Median Time (ms)   Time %")
    for r in shown:
        say(f"{r['name']:>{width}}{r['timeMs']:12.2f}{r['averageMs']:17.4f}{r['medianMs']:19.4f}"
            f"{r['percentage']:9.1f}")
    total = sum(r["timeMs"] for r in rows)
    per_query = np.sum([v[:count] for v in times.values() if len(v) >= count], axis=0) if times else [0.0]
    say(f"{'Total':>{width}}{total:12.2f}{total / count:17.4f}{float(np.median(per_query)):19.4f}{100.0:9.1f}")


def export_profile(path: str, rows: list, count: int) -> None:
    """trtexec's --exportProfile: [{"count": N}, {"name", "timeMs", "averageMs", "medianMs", "percentage"}...]."""
    _write_json(path, [{"count": count}, *rows])


def output_rows(outs: dict) -> list:
    return [{"name": n, "dimensions": "x".join(str(d) for d in np.shape(v)),
             "values": np.asarray(v).reshape(-1).tolist()} for n, v in outs.items()]


def print_outputs(say, outs: dict) -> None:
    say("Output Tensors:")
    for n, v in outs.items():
        say(f"{n}: ({'x'.join(str(d) for d in np.shape(v))})")
        say(" ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in np.asarray(v).reshape(-1).tolist()))


def export_output(path: str, outs: dict) -> None:
    """trtexec's --exportOutput: [{"name", "dimensions": "AxB", "values": [...]}]."""
    _write_json(path, output_rows(outs))


def layer_info(trt, engine, ctx, as_json: bool) -> str:
    """The engine's layers from its EngineInspector: ONELINE text, or trtexec's --exportLayerInfo JSON."""
    insp = engine.create_engine_inspector()
    insp.execution_context = ctx
    fmt = trt.LayerInformationFormat.JSON if as_json else trt.LayerInformationFormat.ONELINE
    return insp.get_engine_information(fmt)


def _write_json(path: str, doc) -> None:
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
