"""Where an inferrt engine's GPU time goes, next to PyTorch eager: CUDA kernel times from torch.profiler.

    python bench/kernels.py --model bert_base --batch 64
    python bench/kernels.py --model resnet50 --batch 64 --json bench/results/kernels.json

Prints, for inferrt (run without CUDA graphs so kernels keep their names) and for eager PyTorch: total kernel
time per run, wall time per run, and the top kernels by time; then inferrt's tactic choice per layer kind, and
the autotuner's timings for each layer whose generic implementation won.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import inferrt  # noqa: E402
from models import export_onnx, make_model  # noqa: E402


def kernel_table(fn, runs=5, top=12):
    """(kernel ms per run, wall ms per run, [(kernel name, ms per run)]) for ``fn``."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        start.record()
        for _ in range(runs):
            fn()
        end.record()
        torch.cuda.synchronize()
    per = collections.Counter()
    for e in prof.events():
        if e.device_type.name == "CUDA":
            per[e.name] += e.device_time / 1e3 / runs
    total = sum(per.values())
    return total, start.elapsed_time(end) / runs, [(k[:90], round(v, 4)) for k, v in per.most_common(top)]


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="bert_base")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--json", default="")
    a = p.parse_args(argv)
    os.environ["INFERRT_CUDA_GRAPHS"] = "0"
    model, inputs, names, dyn = make_model(a.model, a.batch)
    onnx_bytes = export_onnx(model, inputs, names, dyn)
    logs = []

    class Log(inferrt.Logger):
        def log(self, severity, msg):
            logs.append(msg)

    engine = inferrt.build_engine(onnx_bytes, fp16=True, device="cuda", logger=Log(inferrt.Logger.VERBOSE),
                                  profiles={n: (tuple(x.shape),) * 3 for n, x in zip(names, inputs)})
    ctx = engine.create_execution_context()
    dev = [x.cuda() for x in inputs]
    feeds = dict(zip(names, dev))
    report = {"model": a.model, "batch": a.batch}
    report["inferrt"] = kernel_table(lambda: ctx.infer(feeds))
    m = model.cuda().half()
    fin = [x.half() if x.is_floating_point() else x for x in dev]
    with torch.inference_mode():
        report["eager"] = kernel_table(lambda: m(*fin))
    tactics = collections.Counter((n.kind, (n.info.tactic or "generic")) for n in engine.graph.nodes
                                  if n.kind != "constant")
    report["tactics"] = {f"{k}/{t}": c for (k, t), c in tactics.most_common()}
    kinds = {n.name: n.kind for n in engine.graph.nodes}
    report["generic_won"] = [m for m in logs if m.endswith("-> generic") and kinds.get(m.split(": ")[0]) in
                             ("fused_conv", "fused_matmul", "pointwise", "normalization", "attention")][:12]
    for who in ("inferrt", "eager"):
        k, w, top = report[who]
        print(f"{who}: kernels {k:.3f} ms/run, wall {w:.3f} ms/run")
        for name, ms in top:
            print(f"   {ms:8.4f}  {name}")
    print("tactics:", report["tactics"])
    for line in report["generic_won"]:
        print("  ", line[:200])
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
