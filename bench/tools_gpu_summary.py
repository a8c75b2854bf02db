"""The table that ``bench/tools_gpu_check.sh`` prints: ``inferrt exec``'s compute time against ``bench/run.py``'s,
and the result of every other step the script ran.

    python bench/tools_gpu_summary.py --bench bench.json --exec-times 64=times_b64.json --steps steps.tsv

* ``--bench``: ``bench/run.py``'s JSON (its rows' ``inferrt_ms`` is the median of CUDA-event-timed
  ``execute_async_v3`` calls).
* ``--exec-times B=FILE``: ``inferrt exec --exportTimes`` of the same model at batch B, in trtexec's layout (a list
  of queries with ``startComputeMs`` / ``endComputeMs``); its median compute time is compared with the bench row of
  batch B, and the row passes when they differ by at most ``--limit`` (default 10%) of the bench's time.
* ``--steps``: one line per other step, ``name<TAB>PASS|FAIL|SKIP<TAB>detail``.

Exit status 0 when no row failed (SKIP is not a failure), 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def exec_compute_median_ms(times: list) -> float:
    """Median GPU (or CPU) compute time of trtexec-layout ``--exportTimes`` queries, in ms."""
    if not isinstance(times, list) or not times:
        raise ValueError("the --exportTimes file holds no queries (a non-empty JSON list is expected)")
    return float(np.median([q["endComputeMs"] - q["startComputeMs"] for q in times]))


def bench_ms_by_batch(bench: dict) -> dict:
    """{batch: inferrt_ms} of the bench's rows that ran (rows with an error are left out)."""
    return {int(r["batch"]): float(r["inferrt_ms"]) for r in bench.get("rows", []) if "inferrt_ms" in r}


def compare_row(batch: int, exec_ms: float, bench_ms: float | None, limit: float, model: str) -> tuple:
    name = f"exec {model} batch {batch}: compute vs bench"
    if bench_ms is None:
        return name, "FAIL", f"exec median {exec_ms:.3f} ms; the bench has no row of batch {batch}"
    diff = (exec_ms - bench_ms) / bench_ms
    status = "PASS" if abs(diff) <= limit else "FAIL"
    return name, status, (f"exec median {exec_ms:.3f} ms, bench {bench_ms:.3f} ms ({diff * 100:+.1f}%, "
                          f"limit {limit * 100:.0f}%)")


def read_steps(path: str) -> list:
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t", 2)
            if len(parts) < 2 or parts[1] not in ("PASS", "FAIL", "SKIP"):
                raise ValueError(f"{path}:{n}: expected 'name<TAB>PASS|FAIL|SKIP<TAB>detail', got {line!r}")
            rows.append((parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
    return rows


def table(header: str, rows: list) -> str:
    width = max([len("check")] + [len(r[0]) for r in rows])
    lines = [header, f"{'check':<{width}}  result  detail", f"{'-' * width}  ------  ------"]
    lines += [f"{name:<{width}}  {status:<6}  {detail}" for name, status, detail in rows]
    failed = sum(r[1] == "FAIL" for r in rows)
    lines.append(f"{len(rows)} checks: {len(rows) - failed - sum(r[1] == 'SKIP' for r in rows)} passed, "
                 f"{failed} failed, {sum(r[1] == 'SKIP' for r in rows)} skipped")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", required=True, help="bench/run.py's JSON")
    p.add_argument("--exec-times", action="append", default=[], metavar="BATCH=FILE",
                   help="inferrt exec --exportTimes of batch BATCH (repeat per batch)")
    p.add_argument("--steps", help="TSV of the other steps: name, PASS|FAIL|SKIP, detail")
    p.add_argument("--limit", type=float, default=0.10, help="largest relative difference that passes (0.10)")
    p.add_argument("--model", default="resnet50")
    p.add_argument("--out", help="also write the table here")
    a = p.parse_args(argv)
    rows = []
    try:
        with open(a.bench) as f:
            bench = json.load(f)
    except (OSError, ValueError) as e:   # the bench did not run: its rows fail, the other steps still show
        bench = {}
        rows.append(("bench/run.py JSON", "FAIL", f"{a.bench}: {e}"))
    env = bench.get("env", {})
    by_batch = bench_ms_by_batch(bench)
    for spec in a.exec_times:
        batch, sep, path = spec.partition("=")
        if not sep or not batch.isdigit():
            p.error(f"--exec-times {spec!r}: expected BATCH=FILE, e.g. 64=times_b64.json")
        try:
            with open(path) as f:
                ms = exec_compute_median_ms(json.load(f))
        except (OSError, ValueError, KeyError, TypeError) as e:
            rows.append((f"exec {a.model} batch {batch}: compute vs bench", "FAIL", f"{path}: {e}"))
            continue
        rows.append(compare_row(int(batch), ms, by_batch.get(int(batch)), a.limit, a.model))
    for r in bench.get("rows", []):
        if "error" in r:
            rows.append((f"bench {r.get('model')} batch {r.get('batch')}", "FAIL", r["error"][:200]))
    if a.steps:
        rows += read_steps(a.steps)
    header = (f"inferrt tools check on {env.get('device', '?')} (torch {env.get('torch', '?')}, inferrt "
              f"{env.get('inferrt', '?')}, bench dtype {env.get('dtype', '?')}, {env.get('date', '?')})")
    text = table(header, rows)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    return 1 if any(r[1] == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
