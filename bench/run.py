"""inferrt against PyTorch eager and torch.compile, in one process on one GPU.

    python bench/run.py                         # every model, batch 1 and 64, FP16, eager + compile(ro)
    python bench/run.py --models resnet50 --batches 64 --modes eager,ro,ma
    python bench/run.py --small --device cpu    # tiny configs on the CPU (smoke test)

Prints a table (milliseconds, median of CUDA-event-timed runs after warm-up; ratio = best PyTorch / inferrt, so
> 1 means inferrt is faster) and writes JSON (--json). Outputs are checked against eager before timing. The models
are what users bring: transformers' default SDPA attention (``--attn eager`` for the older rows) exported by torch's
default dynamo exporter (``--exporter torchscript``: dynamo=False), and PyTorch's baselines time that same module.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import inferrt  # noqa: E402
from models import export_onnx, make_model  # noqa: E402

_BENCH = os.path.dirname(os.path.abspath(__file__))


def keep_bench_last():
    """bench/kernels.py must not shadow the `kernels` package transformers imports: move bench/ to the end of the
    path (each bench script calls this once its own bench/ imports are done)."""
    while _BENCH in sys.path:
        sys.path.remove(_BENCH)
    sys.path.append(_BENCH)


keep_bench_last()


def time_fn(fn, device, warmup=10, iters=50):
    for _ in range(warmup):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
        times = []
        for _ in range(iters):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        return float(np.median(times))
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def rel_err(a, b):
    a, b = a.double().cpu(), b.double().cpu()
    return float((a - b).norm() / max(b.norm(), 1e-12))


def bench_row(name, batch, device, dtype, modes, small, iters, profile=False, attn="sdpa", exporter="dynamo"):
    """One row: the module as users make it (transformers' ``attn`` implementation, PyTorch's default sdpa unless
    asked otherwise), exported by ``exporter`` (torch's default dynamo exporter, or torchscript); PyTorch's
    baselines time that same module."""
    model, inputs, names, dyn = make_model(name, batch, small, attn=attn)
    row = {"model": name, "batch": batch, "exporter": exporter}
    if name in ("bert_base", "gpt2"):
        row["attn"] = attn
    onnx_bytes = export_onnx(model, inputs, names, dyn, dynamo=exporter == "dynamo")
    # correctness reference: onnxruntime (CPU, float32) on the very ONNX file inferrt builds from
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    ref_onnx = torch.from_numpy(sess.run(None, {n: x.numpy() for n, x in zip(names, inputs)})[0])
    del sess
    dev_inputs = [x.to(device) for x in inputs]
    model = model.to(device)
    if dtype == torch.float16:
        model = model.half()
    fin = [x.to(dtype) if x.is_floating_point() else x for x in dev_inputs]
    with torch.inference_mode():
        ref = model(*fin)
        row["torch_vs_onnx_err"] = rel_err(ref.float(), ref_onnx)  # how faithful the export is
        if "eager" in modes:
            row["eager_ms"] = time_fn(lambda: model(*fin), device, iters=iters)
        for mode, key in (("ro", "reduce-overhead"), ("ma", "max-autotune")):
            if mode in modes:
                torch._dynamo.reset()
                t0 = time.perf_counter()
                cm = torch.compile(model, mode=key)
                cm(*fin)
                out = cm(*fin).clone()  # CUDA-graph outputs are overwritten by the next call
                row[f"compile_{mode}_s"] = round(time.perf_counter() - t0, 1)
                row[f"{mode}_ms"] = time_fn(lambda: cm(*fin), device, iters=iters)
                row[f"{mode}_err"] = rel_err(out.float(), ref.float())
    # inferrt: build from the FP32 ONNX export with FP16 allowed; I/O stays FP32 for float inputs
    t0 = time.perf_counter()
    engine = inferrt.build_engine(onnx_bytes, fp16=(dtype == torch.float16), device=device,
                                  profiles={n: (tuple(x.shape),) * 3 for n, x in zip(names, inputs)})
    row["build_s"] = round(time.perf_counter() - t0, 2)
    plan = engine.serialize()
    row["plan_mb"] = round(len(plan) / 2**20, 1)
    t0 = time.perf_counter()
    engine = inferrt.load_engine(plan)
    ctx = engine.create_execution_context()
    feeds = {n: x for n, x in zip(names, dev_inputs)}
    for n, x in feeds.items():
        ctx.set_input_shape(n, tuple(x.shape))
        ctx.set_tensor_address(n, x.data_ptr())
    out_name = engine.output_names[0]
    shape = tuple(ctx.get_tensor_shape(out_name))
    out = torch.empty(shape, dtype=torch.float32 if engine.get_tensor_dtype(out_name) == inferrt.float32
                      else torch.float16, device=device)
    ctx.set_tensor_address(out_name, out.data_ptr())
    stream = torch.cuda.current_stream().cuda_stream if device == "cuda" else 0
    assert ctx.execute_async_v3(stream)
    if device == "cuda":
        torch.cuda.synchronize()
    row["load_to_first_s"] = round(time.perf_counter() - t0, 3)
    row["inferrt_err"] = rel_err(out.float(), ref_onnx)
    row["inferrt_ms"] = time_fn(lambda: ctx.execute_async_v3(stream), device, iters=iters)
    row["layers"] = engine.num_layers
    g = getattr(ctx, "_graphs", None)  # CUDA graph: captured, or why not
    row["cuda_graph"] = bool(g is not None and g.captures)
    if g is not None and g.last_error:
        row["cuda_graph_error"] = g.last_error[:300]
    if profile:  # one run with per-layer times (synchronized per layer, so only the ranking is meaningful)
        times = {}

        class P(inferrt.IProfiler):
            def report_layer_time(self, name, ms):
                times[name] = times.get(name, 0.0) + ms

        ctx.profiler = P()
        ctx.execute_async_v3(stream)
        ctx.profiler = None
        kinds = {n.name: (n.kind, (n.info.tactic or "generic")) for n in engine.graph.nodes}
        by_kind = {}
        for name, ms in times.items():
            k = kinds.get(name, ("?", "?"))
            by_kind[k] = by_kind.get(k, 0.0) + ms
        row["profile_by_kind"] = {f"{k}/{t}": round(v, 3) for (k, t), v in
                                  sorted(by_kind.items(), key=lambda kv: -kv[1])[:8]}
    best = min(row.get(k, float("inf")) for k in ("eager_ms", "ro_ms", "ma_ms"))
    row["best_torch_ms"] = best
    row["speedup_vs_best"] = round(best / row["inferrt_ms"], 3) if best < float("inf") else None
    return row


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="resnet50,mobilenet_v2,vit_b_16,bert_base,gpt2")
    p.add_argument("--batches", default="1,64")
    p.add_argument("--modes", default="eager,ro", help="PyTorch baselines: eager, ro (reduce-overhead), ma (max-autotune)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--fp32", action="store_true")
    p.add_argument("--small", action="store_true", help="tiny model configs (smoke test)")
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--profile", action="store_true", help="add inferrt's per-layer-kind time ranking to each row")
    p.add_argument("--json", default="bench/results/bench.json")
    p.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"],
                   help="transformers' attention implementation of bert_base/gpt2, for the export and the PyTorch "
                        "baselines alike (default: sdpa, transformers' default; eager: the rows before 2026-12-08)")
    p.add_argument("--exporter", default="dynamo", choices=["dynamo", "torchscript"],
                   help="torch's ONNX exporter (default: dynamo, torch.onnx.export's default; torchscript: "
                        "dynamo=False, opset 17)")
    a = p.parse_args(argv)
    dtype = torch.float32 if a.fp32 or a.device == "cpu" else torch.float16
    modes = set(a.modes.split(","))
    rows = []
    for name in a.models.split(","):
        for b in (int(x) for x in a.batches.split(",")):
            try:
                row = bench_row(name, b, a.device, dtype, modes, a.small, a.iters, a.profile, a.attn, a.exporter)
            except Exception as e:  # noqa: BLE001 - a failed row is reported, the others still run
                row = {"model": name, "batch": b, "error": f"{type(e).__name__}: {str(e)[:300]}"}
            rows.append(row)
            print(json.dumps(row), flush=True)
    env = {"date": time.strftime("%Y-%m-%d"), "device": torch.cuda.get_device_name() if a.device == "cuda" else
           platform.processor() or "cpu", "torch": torch.__version__, "inferrt": inferrt.inferrt_version,
           "python": platform.python_version(), "dtype": str(dtype)}
    try:
        import triton

        env["triton"] = triton.__version__
    except ImportError:
        pass
    os.makedirs(os.path.dirname(a.json) or ".", exist_ok=True)
    with open(a.json, "w") as f:
        json.dump({"env": env, "rows": rows}, f, indent=1)
    hdr = f"{'model':<14}{'batch':>6}{'eager':>9}{'ro':>9}{'ma':>9}{'inferrt':>9}{'best/irt':>9}{'err':>9}" \
          f"{'build s':>9}{'load s':>8}"
    print(env)
    print(hdr)
    for r in rows:
        if "error" in r:
            print(f"{r['model']:<14}{r['batch']:>6}  ERROR {r['error'][:120]}")
            continue

        def f(k, fmt="{:9.3f}"):
            return fmt.format(r[k]) if r.get(k) is not None else f"{'-':>9}"

        print(f"{r['model']:<14}{r['batch']:>6}{f('eager_ms')}{f('ro_ms')}{f('ma_ms')}{f('inferrt_ms')}"
              f"{f('speedup_vs_best', '{:9.2f}')}{f('inferrt_err', '{:9.1e}')}{f('build_s', '{:9.1f}')}"
              f"{f('load_to_first_s', '{:8.2f}')}")


if __name__ == "__main__":
    main()
