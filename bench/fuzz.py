"""Fuzzing of untrusted inputs (ONNX models and plans) within a time budget: counts of crashes, hangs and internal
tracebacks.

    python bench/fuzz.py                                    # ONNX then plans, 120 s each, 2 worker processes
    python bench/fuzz.py --target plan --budget-s 600 --seed 3 --json fuzz_plan.json
    python bench/fuzz.py --target onnx --seed 0 --only 1234,1240   # replay cases
    python bench/fuzz.py --target plan --device cuda                # GPU plans: their kernels really installed

Every case runs in a worker process, so a case that kills its process (a crash: a signal such as SIGSEGV or
SIGABRT, or an exit) is counted, and the worker restarted, instead of taking the tool down; a case still running
after ``--case-timeout-s`` is a hang (its worker is killed and restarted).

* ``onnx``: protobuf-level mutants of small models the tests build (``tests/onnx/onnx_mutator.py``), judged by
  ``tests/onnx/onnx_fuzz_oracle.py``: parse, build on the CPU, reload the plan, run.
* ``plan``: damaged, forged (valid checksum) and amplified plans and forged kernel entries
  (``tests/plan/plan_mutator.py``), judged by ``tests/plan/plan_fuzz_oracle.py``: load through both APIs and run,
  and install the kernels of plans that carry some into a sandboxed private cache, checking that nothing lands
  outside it (but Triton's own entries in its sandboxed cache dir: ``plan_fuzz_oracle.check_sandbox``).
* ``harness``: checks this tool itself: case ``i`` returns normally (i % 3 == 0), aborts its process (1) or sleeps
  forever (2), so its report must show one crash and one hang per three cases.

Cases are deterministic: case ``i`` of seed ``s`` is the same mutant on every machine; a budget run covers cases
``--start`` onwards in order. Internal tracebacks are the oracle's bad kinds (an exception that is not an inferrt
error, a "please report" message, a plan the loader rejects that the builder wrote, a run-time error naming no
layer, APIs that disagree, files outside the private cache). The exit status is 0 only when every case was good.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import selectors
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = ("onnx", "plan", "harness")


# ---------------------------------------------------------------------------------------------------- the worker
def _prepare(target: str, seed: int, case_timeout: float, device: str = "cpu"):
    """A function of a case index that returns (what the case is, kind, detail), after the one-time set-up."""
    if target == "harness":
        def harness(i):
            if i % 3 == 1:
                os.abort()
            if i % 3 == 2:
                while True:
                    time.sleep(60)
            return "returns", "ran", ""
        return harness
    import torch

    torch.set_num_threads(1)   # many tiny cases: a thread pool only adds overhead
    if target == "onnx":
        sys.path.insert(0, os.path.join(ROOT, "tests", "onnx"))
        import onnx_fuzz_oracle as oracle
        import onnx_mutator
        from onnx_fuzz_seeds import seed_models

        seeds = seed_models()

        def onnx_case(i):
            name, muts, data = onnx_mutator.case(i, seed, seeds)
            out = oracle.run_case(data, seed=i, timeout_s=max(1, int(case_timeout) - 5))
            return f"{name}: {'+'.join(muts)}", out.kind, out.detail
        return onnx_case
    sys.path.insert(0, os.path.join(ROOT, "tests", "plan"))
    import plan_fuzz_oracle as oracle
    import plan_mutator

    sandbox = {k: os.environ[v] for k, v in (("cache", "INFERRT_CACHE"), ("triton", "TRITON_CACHE_DIR"),
                                             ("home", "HOME"), ("cuda", "CUDA_CACHE_PATH"))}
    plan_mutator.mnist_plan(device)
    plan_mutator.case(0, seed, device)

    def plan_case(i):
        family, what, data = plan_mutator.case(i, seed, device)
        kind, detail = oracle.judge(data, seed=i)
        if family == "kernels" and kind in oracle.GOOD:
            kind, detail = oracle.judge_install(data, sandbox)
        elif device == "cuda" and kind in oracle.GOOD:   # loading a GPU plan installs its kernels
            kind, detail = oracle.check_sandbox(sandbox) or (kind, detail)
        return f"{family}: {what}", kind, detail
    return plan_case


def worker(target: str, seed: int, case_timeout: float, device: str = "cpu") -> None:
    """Reads case indices on stdin, one per line; writes one JSON line per case on the original stdout (anything
    the code under test prints goes to stderr)."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.path.insert(0, ROOT)
    run = _prepare(target, seed, case_timeout, device)
    out.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        i = int(line)
        t0 = time.perf_counter()
        what, kind, detail = run(i)
        out.write(json.dumps({"i": i, "what": what, "kind": kind, "detail": detail[:2000],
                              "s": round(time.perf_counter() - t0, 4)}) + "\n")


# ---------------------------------------------------------------------------------------------------- the driver
GOOD = {"onnx": {"refused_parse", "refused_build", "ran", "run_error", "too_big"},
        "plan": {"refused", "ran", "run_error", "too_big", "installed"},
        "harness": {"ran"}}


class _Worker:
    def __init__(self, target, seed, case_timeout, log_dir, n, device="cpu"):
        self.log_path = os.path.join(log_dir, f"{target}-worker{n}.log")
        env = dict(os.environ)
        if target == "plan":   # a sandbox per worker: its private cache, Triton's and the CUDA driver's caches and
            box = tempfile.mkdtemp(prefix=f"fuzz-{n}-", dir=log_dir)     # home start empty
            for k in ("cache", "triton", "home", "cuda"):
                os.makedirs(os.path.join(box, k))
            env.update(INFERRT_CACHE=os.path.join(box, "cache"), TRITON_CACHE_DIR=os.path.join(box, "triton"),
                       HOME=os.path.join(box, "home"), CUDA_CACHE_PATH=os.path.join(box, "cuda"))
        env.setdefault("OMP_NUM_THREADS", "1")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", target, "--seed", str(seed),
             "--case-timeout-s", str(case_timeout), "--device", device],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env, cwd=ROOT,
            start_new_session=True)
        self.ready = False
        self.case = None
        self.since = time.monotonic()

    def send(self, i):
        self.case, self.since = i, time.monotonic()
        self.proc.stdin.write(f"{i}\n".encode())
        self.proc.stdin.flush()

    def kill(self):
        """Ends this worker's process group (the worker and any helper process it started)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.log.close()

    def how_it_ended(self) -> str:
        rc = self.proc.wait()
        if rc < 0:
            try:
                return f"killed by {signal.Signals(-rc).name}"
            except ValueError:
                return f"killed by signal {-rc}"
        return f"exited with status {rc}"

    def log_tail(self, n=1500) -> str:
        self.log.flush()
        with open(self.log_path, "rb") as f:
            f.seek(max(0, os.path.getsize(self.log_path) - n))
            return f.read().decode(errors="replace")


def fuzz(target: str, budget_s: float, workers: int, seed: int, case_timeout: float, start: int = 0,
         only: list | None = None, log_dir: str | None = None, startup_timeout: float = 300,
         device: str = "cpu") -> dict:
    """Runs cases of ``target`` from ``start`` on (or exactly ``only``) until ``budget_s`` seconds have passed;
    returns the figures and every bad case. ``device``: what the plan target's plans are built for."""
    log_dir = log_dir or tempfile.mkdtemp(prefix=f"inferrt-fuzz-{target}-")
    pending = list(only) if only is not None else None
    next_i = start
    counts = collections.Counter()
    bad, slowest = [], []
    crashes = hangs = 0
    sel = selectors.DefaultSelector()
    pool = []

    def spawn(n):
        w = _Worker(target, seed, case_timeout, log_dir, n, device)
        sel.register(w.proc.stdout, selectors.EVENT_READ, w)
        return w

    def replace(w):
        sel.unregister(w.proc.stdout)
        w.kill()
        pool[pool.index(w)] = spawn(pool.index(w))

    t_start = time.monotonic()
    deadline = t_start + budget_s
    pool.extend(spawn(n) for n in range(workers))
    try:
        while True:
            now = time.monotonic()
            more = (pending is not None and pending) or (pending is None and now < deadline)
            for w in pool:
                if w.ready and w.case is None and more:
                    if pending is not None:
                        w.send(pending.pop(0))
                    else:
                        w.send(next_i)
                        next_i += 1
                    more = (pending is not None and pending) or (pending is None and now < deadline)
            if not more and all(w.case is None for w in pool):
                break
            for key, _ in sel.select(timeout=0.5):
                w = key.data
                line = w.proc.stdout.readline()
                if not line:                       # the worker's process ended
                    if w.case is None:
                        tail = w.log_tail()
                        raise SystemExit(f"a {target} fuzz worker ended before taking a case "
                                         f"({w.how_it_ended()}); its log ({w.log_path}) ends with:\n{tail}")
                    crashes += 1
                    counts["crash"] += 1
                    bad.append({"i": w.case, "kind": "crash", "detail": f"{w.how_it_ended()}; log: "
                                                                        f"{w.log_tail(600)}"})
                    replace(w)
                    continue
                msg = json.loads(line)
                if msg.get("ready"):
                    w.ready = True
                    continue
                w.case = None
                counts[msg["kind"]] += 1
                if msg["kind"] == "hang":
                    hangs += 1
                if msg["kind"] not in GOOD[target]:
                    bad.append(msg)
                slowest.append((msg["s"], msg["i"], msg["what"][:120]))
                slowest = sorted(slowest, reverse=True)[:5]
            now = time.monotonic()
            for w in list(pool):
                if w.case is not None and now - w.since > case_timeout:
                    hangs += 1
                    counts["hang"] += 1
                    bad.append({"i": w.case, "kind": "hang", "detail": f"no outcome within {case_timeout} s"})
                    replace(w)
                elif not w.ready and now - w.since > startup_timeout:
                    raise SystemExit(f"a {target} fuzz worker did not start within {startup_timeout} s; its log "
                                     f"({w.log_path}) ends with:\n{w.log_tail()}")
    finally:
        for w in pool:
            sel.unregister(w.proc.stdout)
            w.kill()
    cases = sum(counts.values())
    internal = sum(v for k, v in counts.items() if k not in GOOD[target] and k not in ("crash", "hang"))
    return {"target": target, "device": device, "seed": seed, "start": start, "cases": cases,
            "seconds": round(time.monotonic() - t_start, 1), "workers": workers, "case_timeout_s": case_timeout,
            "crashes": crashes, "hangs": hangs, "internal_tracebacks": internal,
            "outcomes": dict(sorted(counts.items())),
            "slowest_cases": [{"s": s, "i": i, "what": what} for s, i, what in slowest], "bad_cases": bad,
            "logs": log_dir}


def _print(result: dict) -> None:
    r = result
    print(f"{r['target']} ({r['device']}): {r['cases']} cases in {r['seconds']} s (seed {r['seed']}, from case "
          f"{r['start']}, {r['workers']} workers): {r['crashes']} crashes, {r['hangs']} hangs, "
          f"{r['internal_tracebacks']} internal tracebacks")
    print("  outcomes: " + ", ".join(f"{k} {v}" for k, v in r["outcomes"].items()))
    if r["slowest_cases"]:
        s = r["slowest_cases"][0]
        print(f"  slowest case: {s['i']} ({s['what']}) {s['s']} s")
    for b in r["bad_cases"][:20]:
        print(f"  BAD case {b['i']} {b['kind']}: {b.get('what', '')} {b['detail'][:300]}")
    sys.stdout.flush()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="onnx,plan",
                    help=f"comma-separated, from {', '.join(TARGETS)} (default onnx,plan)")
    ap.add_argument("--budget-s", type=float, default=120, help="seconds of fuzzing per target (default 120)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--seed", type=int, default=0, help="the run's seed: which mutants (default 0)")
    ap.add_argument("--start", type=int, default=0, help="the first case index (default 0)")
    ap.add_argument("--only", default=None, help="comma-separated case indices to run instead of a budget run")
    ap.add_argument("--case-timeout-s", type=float, default=120,
                    help="a case running longer is a hang (default 120; the slowest legitimate ONNX mutants, "
                         "Loops of 10**6 trips, take about a minute on one core)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="what the plan target's plans are built for (cuda: loading installs their Triton kernels "
                         "into the sandboxed private cache, checked after every case); only with --target plan")
    ap.add_argument("--json", default=None, help="write the figures and every bad case to this file")
    ap.add_argument("--worker", choices=TARGETS, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.seed, args.case_timeout_s, args.device)
        return 0
    targets = [t for t in args.target.split(",") if t]
    for t in targets:
        if t not in TARGETS:
            ap.error(f"--target {t!r}: choose from {', '.join(TARGETS)}")
    if args.device != "cpu" and targets != ["plan"]:
        ap.error(f"--device {args.device} applies to the plan target only (ONNX mutants are built for the CPU): "
                 f"pass --target plan")
    if args.workers < 1 or args.budget_s <= 0 or args.case_timeout_s <= 0:
        ap.error("--workers, --budget-s and --case-timeout-s must be positive")
    try:
        only = [int(x) for x in args.only.split(",")] if args.only else None
    except ValueError:
        ap.error(f"--only {args.only!r}: give case indices such as 12,40")
    results = []
    for t in targets:
        r = fuzz(t, args.budget_s, args.workers, args.seed, args.case_timeout_s, args.start, only, device=args.device)
        _print(r)
        results.append(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": platform.node(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
                       "results": results}, f, indent=1)
    return 0 if all(not r["bad_cases"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
