"""Quantized engines against the FP16 engine, in one process on one device: INT8 and FP8 Q/DQ models written by
inferrt.quantize, built with FP16 allowed for the layers the Q/DQ leave in float (as ``--int8 --fp16``).

    python bench/quantized.py --models resnet50 --batches 64,256
    python bench/quantized.py --models bert_base --batches 64 --modes int8,fp8
    python bench/quantized.py --small --device cpu        # tiny configs on the CPU (smoke test)

Per row: the FP16 engine's time, each quantized engine's time and its speedup over FP16 (> 1: faster), its
relative error and (for classifiers) top-1 agreement against onnxruntime's FP32 run, which tactics ran the
quantized layers, and whether the execution context ran as a CUDA graph (``<mode>_graph``: captured, or the
capture's first error). Calibration: ``--calibration`` (max by default), on the row's own random inputs (enough for
timing; the accuracy table is bench/accuracy.py's). Times: median of CUDA-event-timed runs after warm-up (wall
clock on the CPU). Each engine is freed (and the CUDA cache emptied) before the next is built, so a row's engines
and their CUDA-graph pools do not pile up into a later row's out-of-memory.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

import torch

_BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_BENCH))
sys.path.insert(0, _BENCH)

import inferrt  # noqa: E402
from models import export_onnx, make_model  # noqa: E402
from run import rel_err, time_fn  # noqa: E402

# bench/ off the path again: transformers looks for an optional package named `kernels` and would find
# bench/kernels.py
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _BENCH]


def _engine_timer(engine, feeds, device):
    """(run function, output tensor) with the inputs and the output bound by address, as applications do."""
    ctx = engine.create_execution_context()
    for n, x in feeds.items():
        ctx.set_input_shape(n, tuple(x.shape))
        ctx.set_tensor_address(n, x.data_ptr())
    name = engine.output_names[0]
    dt = torch.float32 if engine.get_tensor_dtype(name) == inferrt.float32 else torch.float16
    out = torch.empty(tuple(ctx.get_tensor_shape(name)), dtype=dt, device=device)
    ctx.set_tensor_address(name, out.data_ptr())
    stream = torch.cuda.current_stream().cuda_stream if device == "cuda" else 0

    def run():
        assert ctx.execute_async_v3(stream)

    run()
    if device == "cuda":
        torch.cuda.synchronize()
    run.context = ctx
    return run, out


def _graph_state(run, device) -> str | None:
    """"captured", the capture's first error, or None (on the CPU, or graphs off)."""
    ctx = run.context
    if device != "cuda" or not ctx.cuda_graphs or ctx._graphs is None:
        return None
    cache = ctx._graphs
    return "captured" if cache.captures else (cache.last_error or "not captured")


def _free(device):
    """Drop the engines and contexts no name refers to any more (they hold reference cycles) and give the CUDA
    cache back, CUDA-graph pools included."""
    gc.collect()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def _top1(a, b):
    if a.dim() != 2:
        return None
    return float((a.argmax(-1) == b.argmax(-1)).float().mean())


def bench_row(name, batch, device, modes, small, iters, calibration="max"):
    import onnx
    import onnxruntime as ort

    from inferrt.quantize import quantize

    model, inputs, names, dyn = make_model(name, batch, small)
    onnx_bytes = export_onnx(model, inputs, names, dyn)
    feeds_np = {n: x.numpy() for n, x in zip(names, inputs)}
    ref = torch.from_numpy(ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
                           .run(None, feeds_np)[0])
    profiles = {n: (tuple(x.shape),) * 3 for n, x in zip(names, inputs)}
    feeds = {n: x.to(device) for n, x in zip(names, inputs)}
    row = {"model": name, "batch": batch, "device": device}
    fp16 = device == "cuda"
    t0 = time.perf_counter()
    engine = inferrt.build_engine(onnx_bytes, fp16=fp16, device=device, profiles=profiles)
    row["fp16_build_s" if fp16 else "fp32_build_s"] = round(time.perf_counter() - t0, 1)
    run, out = _engine_timer(engine, feeds, device)
    base = "fp16" if fp16 else "fp32"
    row[f"{base}_ms"] = time_fn(run, device, iters=iters)
    row[f"{base}_err"] = rel_err(out.float(), ref)
    row[f"{base}_graph"] = _graph_state(run, device)
    del engine, run, out
    _free(device)
    src = onnx.load_from_string(onnx_bytes)
    row["calibration"] = calibration
    for mode in modes:
        t0 = time.perf_counter()
        q = quantize(src, mode, calibration, calibration_data=feeds_np, progress=False).model
        row[f"{mode}_quantize_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        engine = inferrt.build_engine(q, fp16=fp16, device=device, profiles=profiles)
        row[f"{mode}_build_s"] = round(time.perf_counter() - t0, 1)
        tactics, where = {}, {}
        for n in engine.graph.nodes:
            if n.kind.startswith("quantized_"):
                key = f"{n.kind}/{n.info.tactic or 'generic'}"
                tactics[key] = tactics.get(key, 0) + 1
                q = (n.info.tactic_point or {}).get("QUANTIZE")
                if q is not None:   # where the Triton tactics quantize the input (the autotuner's choice)
                    where[q] = where.get(q, 0) + 1
        row[f"{mode}_layers"] = tactics
        qdq = {}
        for n in engine.graph.nodes:
            if n.kind in ("quantize", "dequantize"):   # standalone Q / DQ (residual branches)
                key = f"{n.kind}/{n.info.tactic or 'generic'}"
                qdq[key] = qdq.get(key, 0) + 1
        if qdq:
            row[f"{mode}_qdq_layers"] = qdq
        if where:
            row[f"{mode}_quantize_points"] = where
        run, out = _engine_timer(engine, feeds, device)
        row[f"{mode}_ms"] = time_fn(run, device, iters=iters)
        row[f"{mode}_speedup_vs_{base}"] = round(row[f"{base}_ms"] / row[f"{mode}_ms"], 3)
        row[f"{mode}_err"] = rel_err(out.float(), ref)
        agree = _top1(out.float().cpu(), ref)
        if agree is not None:
            row[f"{mode}_top1_agreement"] = agree
        if device == "cuda":
            row[f"{mode}_images_per_s"] = round(batch / (row[f"{mode}_ms"] / 1e3))
        row[f"{mode}_graph"] = _graph_state(run, device)
        del engine, run, out, q
        _free(device)
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="resnet50,bert_base")
    p.add_argument("--batches", default="64")
    p.add_argument("--modes", default="int8,fp8", help="quantize modes: int8, fp8, int4_rtn, int4_awq")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--calibration", default="max", help="calibration method: max, entropy, percentile, mse")
    p.add_argument("--small", action="store_true", help="tiny model configs (smoke test)")
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--json", default="bench/results/quantized.json")
    args = p.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if "fp8" in modes and args.device == "cuda" and torch.cuda.get_device_capability() < (8, 9):
        print("note: FP8 products need compute capability 8.9+; the FP8 engine runs them on the generic path")
    rows = []
    for name in args.models.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            row = bench_row(name, batch, args.device, modes, args.small, args.iters, args.calibration)
            _free(args.device)
            if args.device == "cuda":   # what the row left reserved once its engines are gone
                row["cuda_reserved_gb_after"] = round(torch.cuda.memory_reserved() / 2**30, 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    dev = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"device": dev, "torch": torch.__version__, "rows": rows}, f, indent=1)
    print(f"wrote {args.json} ({dev})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
