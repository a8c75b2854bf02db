"""The model zoo: every model, exported with both of torch's ONNX exporters, built with inferrt and checked.

    python -m bench.zoo --device cuda --jobs 6 --json zoo.json --log-dir zoo_logs
    python -m bench.zoo --device cpu --models resnet50,bert --exporters torchscript --batches 1
    python -m bench.zoo --markdown zoo.json --output docs/zoo.md

Each (model, exporter) runs bench/zoo_check.py in its own subprocess, so a crash (an illegal memory access, a
segmentation fault, a hang) fails that job's rows only: a job that dies or passes ``--timeout`` becomes one failing
row carrying the tail of its log. ``--jobs`` subprocesses run at once; the CPU threads are split between them.
The exported ONNX files are cached under ``<log-dir>/onnx`` and reused across the batches of a job and across runs.
Prints a table, writes every row to ``--json``; exits 1 when any row fails. The checks are described in
bench/zoo_check.py; the models in bench/zoo_models.py.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORTERS = ["dynamo", "torchscript"]


def _tail(path: str, chars: int = 3000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - chars))
            return f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"(no log: {e})"


def _failed_row(model, exporter, device, why, log_path) -> dict:
    return {"model": model, "exporter": exporter, "batch": "all", "device": device, "fp32_rel_l2": None,
            "fp32_outputs": {}, "fp16_rel_l2": None, "eager_fp16_rel_l2": None, "fp16_ratio": None,
            "fp16_finite": None, "fp16_note": "", "passed": False, "error": why, "log_tail": _tail(log_path)}


def cuda_graphs(a) -> bool:
    """Whether the jobs run with CUDA graphs: on unless --no-cuda-graphs or INFERRT_CUDA_GRAPHS=0."""
    return not a.no_cuda_graphs and os.environ.get("INFERRT_CUDA_GRAPHS", "1") != "0"


def run_job(model: str, exporter: str, a, threads: int) -> list[dict]:
    """Run one (model, exporter) in a subprocess; its rows, or one failing row when it crashed or timed out."""
    base = os.path.join(a.log_dir, f"{model}.{exporter}")
    log_path, json_path = base + ".log", base + ".json"
    if os.path.exists(json_path):
        os.remove(json_path)
    cmd = [sys.executable, "-m", "bench.zoo_check", "--model", model, "--exporter", exporter, "--device", a.device,
           "--batches", a.batches, "--dyn-profile", a.dyn_profile, "--dyn-batch", str(a.dyn_batch),
           "--onnx-dir", os.path.join(a.log_dir, "onnx"), "--threads", str(threads), "--json", json_path,
           "--fp16" if a.fp16 else "--no-fp16"]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS=str(threads), INFERRT_CUDA_GRAPHS="1" if cuda_graphs(a) else "0")
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=a.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)   # its own session: the job and anything it started
            proc.wait()
            return [_failed_row(model, exporter, a.device, f"timed out after {a.timeout} s", log_path)]
    wall = round(time.perf_counter() - t0, 1)
    try:
        with open(json_path) as f:
            rows = json.load(f)
    except (OSError, ValueError):
        why = f"crashed (exit status {rc})" if rc else "wrote no rows"
        return [_failed_row(model, exporter, a.device, why, log_path)]
    for r in rows:
        r["job_s"] = wall
        if not r["passed"]:
            r["log_tail"] = _tail(log_path)
    return rows


def _fmt(v, spec=".1e"):
    return "-" if v is None else format(v, spec)


def print_table(rows: list[dict], out=sys.stdout) -> None:
    head = f"{'model':30} {'exporter':11} {'batch':14} {'fp32 vs ort':>11} {'fp16 err':>9} {'eager16':>9} " \
           f"{'ratio':>6} {'job s':>6}  result"
    print(head, file=out)
    print("-" * len(head), file=out)
    for r in rows:
        res = "pass" if r["passed"] else "FAIL " + (r.get("error") or "check failed")[:60]
        print(f"{r['model']:30} {r['exporter']:11} {r['batch']:14} {_fmt(r['fp32_rel_l2']):>11} "
              f"{_fmt(r['fp16_rel_l2']):>9} {_fmt(r['eager_fp16_rel_l2']):>9} {_fmt(r['fp16_ratio'], '.2f'):>6} "
              f"{_fmt(r.get('job_s'), '.0f'):>6}  {res}", file=out)
    n = sum(r["passed"] for r in rows)
    print(f"{n}/{len(rows)} rows pass", file=out)


def run(a) -> list[dict]:
    from bench.zoo_models import MODELS, TINY

    models = a.models.split(",") if a.models else list(MODELS)
    unknown = [m for m in models if m not in MODELS and m != TINY]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; known: {', '.join(MODELS)}")
    exporters = a.exporters.split(",")
    bad = [e for e in exporters if e not in EXPORTERS]
    if bad:
        raise SystemExit(f"unknown exporter(s) {bad}; use {','.join(EXPORTERS)}")
    os.makedirs(os.path.join(a.log_dir, "onnx"), exist_ok=True)
    jobs = [(m, e) for m in models for e in exporters]
    threads = max(1, (os.cpu_count() or 1) // max(1, a.jobs))
    results: dict[tuple, list] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
        futs = {pool.submit(run_job, m, e, a, threads): (m, e) for m, e in jobs}
        for fut in concurrent.futures.as_completed(futs):
            m, e = futs[fut]
            results[(m, e)] = fut.result()
            ok = all(r["passed"] for r in results[(m, e)])
            print(f"[zoo] {m} {e}: {'pass' if ok else 'FAIL'} ({len(results)}/{len(jobs)} jobs done)", flush=True)
    return [r for key in jobs for r in results[key]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="inferrt model zoo: export, build, check against onnxruntime and "
                                             "PyTorch FP16 (see bench/zoo.py)")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--models", default="", help="comma-separated (default: all of bench/zoo_models.MODELS)")
    ap.add_argument("--exporters", default="dynamo,torchscript")
    ap.add_argument("--batches", default="1,64,dyn", help="static batch sizes and/or 'dyn' (the --dyn-profile)")
    ap.add_argument("--dyn-profile", default="1,8,64", help="min,opt,max batch of the dynamic-batch build")
    ap.add_argument("--dyn-batch", type=int, default=7, help="batch the dynamic-batch engine runs at")
    ap.add_argument("--jobs", type=int, default=6, help="(model, exporter) subprocesses at once")
    ap.add_argument("--timeout", type=float, default=420, help="seconds per (model, exporter) job")
    ap.add_argument("--json", default=None, help="write every row here")
    ap.add_argument("--log-dir", default="zoo_logs", help="per-job logs and the exported ONNX cache (onnx/)")
    ap.add_argument("--no-cuda-graphs", action="store_true", help="run with INFERRT_CUDA_GRAPHS=0")
    ap.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=True,
                    help="check FP16 engines (CUDA only)")
    ap.add_argument("--note", default="", help="a sentence stored in the JSON and shown above the markdown table")
    ap.add_argument("--markdown", default=None, help="render this JSON file as a markdown table and exit")
    ap.add_argument("--output", default=None, help="with --markdown: write here instead of stdout")
    a = ap.parse_args(argv)
    if a.markdown:
        from bench.zoo_report import render

        with open(a.markdown) as f:
            text = render(json.load(f))
        if a.output:
            with open(a.output, "w") as f:
                f.write(text)
        else:
            sys.stdout.write(text)
        return 0
    t0 = time.perf_counter()
    rows = run(a)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": a.device, "cuda_graphs": cuda_graphs(a), "note": a.note,
                       "wall_s": round(time.perf_counter() - t0, 1), "rows": rows}, f, indent=1)
    print_table(rows)
    print(f"[zoo] {time.perf_counter() - t0:.0f} s", flush=True)
    return 0 if rows and all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
