"""compute-sanitizer memcheck over model-zoo engines, with and without CUDA graphs.

    python -m bench.sanitize --models resnet50,mobilenet_v2,bert,gpt2 --json sanitize.json

Each run is ``compute-sanitizer --tool memcheck --target-processes all python -m bench.zoo ...`` (every model in its
own worker process, as in the zoo), once with CUDA graphs on and once with ``--no-cuda-graphs``; a table gives the
error count that memcheck reports for each run and whether the zoo's accuracy checks passed under it. The exit
status is 0 only when every run reports 0 errors. Engines under memcheck run many times slower: keep the subset
small, batch 1 and one exporter by default.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SUMMARY = re.compile(r"ERROR SUMMARY: (\d+) error")


def run_one(models, exporter, batches, graphs: bool, timeout: float, log_dir: str | None, jobs: int = 1,
            opt_level: int | None = None):
    tool = shutil.which("compute-sanitizer")
    if tool is None:
        raise SystemExit("compute-sanitizer is not on PATH (it ships with the CUDA toolkit)")
    out_json = os.path.join(log_dir or "/tmp", f"sanitize_zoo_{'graphs' if graphs else 'eager'}.json")
    cmd = [tool, "--tool", "memcheck", "--target-processes", "all", "--print-limit", "20",
           sys.executable, "-m", "bench.zoo", "--device", "cuda", "--models", ",".join(models),
           "--exporters", exporter, "--batches", batches, "--jobs", str(jobs), "--json", out_json,
           "--timeout", str(timeout), "--budget", str(timeout)]
    if opt_level is not None:
        cmd += ["--opt-level", str(opt_level)]
    if not graphs:
        cmd.append("--no-cuda-graphs")
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout + 60)
        text, rc = p.stdout + p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        text, rc = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(errors="replace"), None
    counts = [int(m) for m in _SUMMARY.findall(text)]
    rows = []
    if os.path.exists(out_json):
        with open(out_json) as f:
            rows = json.load(f).get("rows", [])
    if log_dir:
        with open(os.path.join(log_dir, f"sanitize_{'graphs' if graphs else 'eager'}.log"), "w") as f:
            f.write(text)
    return {"cuda_graphs": graphs, "models": models, "exporter": exporter, "batches": batches,
            "processes": len(counts), "errors": sum(counts), "timed_out": rc is None, "exit": rc,
            "zoo_rows": len(rows), "zoo_passed": sum(1 for r in rows if r.get("passed")),
            "seconds": round(time.perf_counter() - t0, 1),
            "first_errors": [ln for ln in text.splitlines() if "=========" in ln and "Invalid" in ln][:10]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="resnet50,mobilenet_v2,bert,gpt2")
    p.add_argument("--exporter", default="torchscript")
    p.add_argument("--batches", default="1")
    p.add_argument("--timeout", type=float, default=900, help="seconds per run")
    p.add_argument("--jobs", type=int, default=1, help="models at once (each its own process, all under memcheck)")
    p.add_argument("--opt-level", type=int, default=None, help="builder optimization level (0 skips tactic timing)")
    p.add_argument("--json", default=None)
    p.add_argument("--log-dir", default=None)
    a = p.parse_args(argv)
    models = [m for m in a.models.split(",") if m]
    if a.log_dir:
        os.makedirs(a.log_dir, exist_ok=True)
    results = [run_one(models, a.exporter, a.batches, g, a.timeout, a.log_dir, a.jobs, a.opt_level) for g in (True, False)]
    print(f"{'cuda graphs':<12} {'processes':>9} {'errors':>7} {'zoo rows passed':>16} {'seconds':>8}")
    for r in results:
        print(f"{'on' if r['cuda_graphs'] else 'off':<12} {r['processes']:>9} {r['errors']:>7} "
              f"{r['zoo_passed']:>7}/{r['zoo_rows']:<8} {r['seconds']:>8}" + ("  TIMED OUT" if r["timed_out"] else ""))
        for ln in r["first_errors"]:
            print("   ", ln)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    ok = all(r["errors"] == 0 and r["processes"] > 0 and not r["timed_out"] for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
