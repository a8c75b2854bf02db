"""inferrt's PyTorch integration against PyTorch, in one process on one device (issue 16's targets).

    python bench/torch_backend.py                                   # resnet50, bert_base, gpt2; batch 8; FP16
    python bench/torch_backend.py --models resnet50 --batches 1,32 --modes eager,ma,backend,aot,onnx
    python bench/torch_backend.py --small --device cpu --precision fp32   # smoke test
    python bench/torch_backend.py --json rows.json --markdown rows.md      # the docs/benchmarks.md rows

Columns: eager, ``torch.compile(mode="max-autotune")`` (ma), ``torch.compile(backend="inferrt")`` (backend),
``inferrt.torch.compile`` (aot) and inferrt's ONNX path (onnx), in milliseconds (median of CUDA-event-timed runs
after warm-up), with compile times in seconds. Opt-in ``hit``: the backend on the model with other weights (each
parameter scaled by 1 + 5% noise), compiled from an engine cache this model filled: its compile time is a refit
(``hit_fill_s``: the cold compile that filled the cache). Every output is checked against FP32 eager (relative L2) before
it is timed; a row whose output is off by more than the limit - --max-err, or 1.5x eager PyTorch's own error in the
same precision where that is larger (ResNet-50 FP16 with BatchNorm statistics of random images: 0.028) - is
reported and not timed. Models come from
bench/models.py with PyTorch's default attention (sdpa).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import inferrt  # noqa: E402
import inferrt.torch as itorch  # noqa: E402
from models import export_onnx, make_model  # noqa: E402
from run import keep_bench_last, rel_err, time_fn  # noqa: E402

keep_bench_last()


def _first(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def bench_row(name, batch, device, precision, modes, small, iters, max_err):
    model, inputs, names, dyn = make_model(name, batch, small, attn="sdpa")
    model = model.to(device).eval()
    inputs = tuple(x.to(device) for x in inputs)
    row = {"model": name, "batch": batch, "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
           "precision": precision}
    with torch.inference_mode():
        ref = _first(model(*inputs)).float().clone()
    half = precision == "fp16"
    tmodel = model.half() if half and device == "cuda" else model
    tin = tuple(x.half() if half and x.is_floating_point() else x for x in inputs)

    with torch.inference_mode():   # what this precision costs PyTorch itself sets the bar (never below --max-err)
        limit = max(max_err, 1.5 * rel_err(_first(tmodel(*tin)).float(), ref))
    row["err_limit"] = round(limit, 5)

    def record(key, fn, compile_s=None, expected=None):
        with torch.inference_mode():
            out = _first(fn()).float().clone()
        err = rel_err(out, ref if expected is None else expected)
        row[f"{key}_err"] = round(err, 5)
        if compile_s is not None:
            row[f"{key}_compile_s"] = round(compile_s, 2)
        if err > limit:
            row[f"{key}_ms"] = None
            row[f"{key}_note"] = f"output off by {err:.3g} > {limit:.3g}: not timed"
            return
        with torch.inference_mode():
            row[f"{key}_ms"] = round(time_fn(fn, device, iters=iters), 4)

    if "eager" in modes:
        record("eager", lambda: tmodel(*tin))
    if "ma" in modes:
        torch._dynamo.reset()
        t0 = time.perf_counter()
        cm = torch.compile(tmodel, mode="max-autotune")
        with torch.inference_mode():
            cm(*tin)
        record("ma", lambda: cm(*tin), time.perf_counter() - t0)
    model = model.float()
    if "backend" in modes:
        torch._dynamo.reset()
        t0 = time.perf_counter()
        cb = torch.compile(model, backend="inferrt", dynamic=False,
                           options={"precision": precision, "cuda_graphs": device == "cuda"})
        with torch.inference_mode():
            cb(*inputs)
        record("backend", lambda: cb(*inputs), time.perf_counter() - t0)
    if "hit" in modes:
        # the backend in a fresh dynamo state with an engine cache filled by this architecture with other weights:
        # the compile is a refit, not a build (a retrained model, or another process)
        import copy
        import tempfile

        other = copy.deepcopy(model)
        with torch.no_grad():
            g = torch.Generator(device=device).manual_seed(1)
            for prm in other.parameters():
                prm.mul_(1 + 0.05 * torch.randn(prm.shape, generator=g, device=device, dtype=prm.dtype))
            expected = _first(other(*inputs)).float().clone()
        with tempfile.TemporaryDirectory() as d:
            opts = {"precision": precision, "cuda_graphs": device == "cuda", "cache_dir": d}
            torch._dynamo.reset()
            t0 = time.perf_counter()
            with torch.inference_mode():
                torch.compile(model, backend="inferrt", dynamic=False, options=opts)(*inputs)
            row["hit_fill_s"] = round(time.perf_counter() - t0, 2)
            torch._dynamo.reset()
            t0 = time.perf_counter()
            ch = torch.compile(other, backend="inferrt", dynamic=False, options=opts)
            with torch.inference_mode():
                ch(*inputs)
            record("hit", lambda: ch(*inputs), time.perf_counter() - t0, expected)
        del other
    if "aot" in modes:
        t0 = time.perf_counter()
        ca = itorch.compile(model, inputs, precision=precision, cuda_graphs=device == "cuda")
        with torch.inference_mode():
            ca(*inputs)
        row["aot_engines"] = ca.num_engines
        record("aot", lambda: ca(*inputs), time.perf_counter() - t0)
    if "onnx" in modes:
        # the ONNX export needs transformers' eager attention: same weights, other attention implementation
        exportable, *_ = make_model(name, batch, small, attn="eager")
        exportable.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
        t0 = time.perf_counter()
        engine = inferrt.build_engine(export_onnx(exportable.eval(), tuple(x.cpu() for x in inputs), names, dyn),
                                      fp16=half, device=device,
                                      profiles={n: (tuple(x.shape),) * 3 for n, x in zip(names, inputs)})
        ctx = engine.create_execution_context()
        feeds = dict(zip(names, inputs))
        record("onnx", lambda: next(iter(ctx.infer(feeds).values())), time.perf_counter() - t0)
    if row.get("ma_ms") and row.get("backend_ms"):
        row["backend_vs_ma"] = round(row["ma_ms"] / row["backend_ms"], 3)
        if row.get("ma_compile_s"):
            row["backend_compile_vs_ma"] = round(row["backend_compile_s"] / row["ma_compile_s"], 3)
    if row.get("onnx_ms") and row.get("backend_ms"):
        row["backend_vs_onnx"] = round(row["onnx_ms"] / row["backend_ms"], 3)
    return row


_MODES = (("eager", "eager"), ("ma", "max-autotune"), ("backend", "inferrt backend"),
          ("hit", "backend, cache hit"), ("aot", "inferrt AOT"), ("onnx", "inferrt ONNX"))


def _ms(row, key):
    v = row.get(f"{key}_ms")
    if v is None:
        return "off" if f"{key}_note" in row else "-"
    return f"{v:.3f}"


def _ratio(v):
    return "-" if v is None else f"{v:.2f}"


def environment() -> str:
    import datetime
    import platform

    parts = [torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "CPU",
             datetime.date.today().isoformat(), f"PyTorch {torch.__version__}"]
    if torch.version.cuda:
        parts.append(f"CUDA {torch.version.cuda}")
    try:
        import triton

        parts.append(f"Triton {triton.__version__}")
    except ImportError:
        pass
    parts.append(f"Python {platform.python_version()}")
    return ", ".join(parts)


def markdown(rows) -> str:
    """The rows as a docs/benchmarks.md table: milliseconds per batch, speed-ups of the backend (> 1: the backend
    is faster), compile seconds (first call included) and the backend's relative L2 error against FP32 eager."""
    present = [(k, title) for k, title in _MODES if any(f"{k}_ms" in r or f"{k}_note" in r for r in rows)]
    head = ["model", "batch", "precision"] + [title for _, title in present] + \
        ["ma/backend", "onnx/backend", "compile s (" + " / ".join(k for k, _ in present if k != "eager") + ")",
         "backend err"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        compile_s = " / ".join("-" if r.get(f"{k}_compile_s") is None else f"{r[f'{k}_compile_s']:.1f}"
                               for k, _ in present if k != "eager")
        err = r.get("backend_err")
        cells = [r["model"], str(r["batch"]), r["precision"]] + [_ms(r, k) for k, _ in present] + \
            [_ratio(r.get("backend_vs_ma")), _ratio(r.get("backend_vs_onnx")), compile_s,
             "-" if err is None else f"{err:.1e}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="resnet50,bert_base,gpt2")
    p.add_argument("--batches", default="8")
    p.add_argument("--modes", default="eager,ma,backend,aot,onnx")
    p.add_argument("--precision", default="fp16", choices=["fp32", "fp16", "bf16"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--small", action="store_true", help="tiny model configs (smoke test)")
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--max-err", type=float, default=2e-2, help="largest relative L2 error that is still timed (raised to 1.5x eager's own error in the same precision)")
    p.add_argument("--json", help="write the rows here")
    p.add_argument("--markdown", help="write the rows here as a docs/benchmarks.md table (with a heading naming the "
                                      "device and versions)")
    a = p.parse_args(argv)
    modes = set(a.modes.split(","))
    rows = []
    for name in a.models.split(","):
        for b in (int(v) for v in a.batches.split(",")):
            row = bench_row(name, b, a.device, a.precision, modes, a.small, a.iters, a.max_err)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(f"### {environment()}\n\n{markdown(rows)}\n")
        print(markdown(rows))
    return rows


if __name__ == "__main__":
    main()
