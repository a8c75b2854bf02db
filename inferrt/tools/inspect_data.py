"""Summaries of saved data (``inspect data``) and of a timing cache (``inspect tactics``)."""
from __future__ import annotations

import numpy as np


def array_stats(a) -> dict:
    a = np.asarray(a)
    d = {"dtype": a.dtype.name, "shape": list(a.shape)}
    if a.size and a.dtype.kind in "biuf":
        x = a.astype(np.float64)
        d.update(mean=float(np.mean(x)), std=float(np.std(x)), min=float(np.min(x)), max=float(np.max(x)),
                 median=float(np.median(x)))
    return d


def describe_data(kind: str, content: list) -> dict:
    """From ``data_io.load_data``: per iteration, each array's dtype, shape and statistics."""
    if kind == "inputs":
        return {"kind": "inputs", "iterations": [{n: array_stats(a) for n, a in it.items()} for it in content]}
    return {"kind": "outputs", "runners": [{"runner": r, "iterations": [{n: array_stats(a) for n, a in it.items()}
                                                                        for it in iters]} for r, iters in content]}


def _line(name, s) -> str:
    head = f"{name} [dtype={s['dtype']}, shape={tuple(s['shape'])}]"
    if "mean" not in s:
        return head
    return (f"{head} | Stats: mean={s['mean']:.5g}, std-dev={s['std']:.5g}, median={s['median']:.5g}, "
            f"min={s['min']:.5g}, max={s['max']:.5g}")


def format_data(d: dict, content: list, show_values: bool) -> list:
    lines = []
    if d["kind"] == "inputs":
        lines.append(f"==== Data ({len(d['iterations'])} iteration(s)) ====")
        groups = [("", d["iterations"], content)]
    else:
        lines.append(f"==== Run Results ({len(d['runners'])} runner(s)) ====")
        groups = [(r["runner"], r["iterations"], iters) for r, (_, iters) in zip(d["runners"], content)]
    for runner, iters, raw in groups:
        if runner:
            lines.append(f"---- {runner} ({len(iters)} iteration(s)) ----")
        for k, (it, arrays) in enumerate(zip(iters, raw)):
            lines.append(f"  -- Iteration {k} --")
            for name, s in it.items():
                lines.append(f"    {_line(name, s)}")
                if show_values:
                    text = np.array2string(np.asarray(arrays[name]), threshold=10 ** 6, max_line_width=110)
                    lines += ["        " + t for t in text.splitlines()]
    return lines


def describe_tactics(cache) -> dict:
    """An ITimingCache's device and entries: key, chosen tactic, its time and configuration."""
    rows = []
    for key in cache.queryKeys():
        e = cache.lookup(str(key))
        rows.append({"key": str(key), "tactic": e["tactic"], "ms": e["ms"], "config": e.get("config")})
    return {"device": cache.device, "entries": rows}


def format_tactics(d: dict) -> list:
    lines = [f"==== Timing cache: {len(d['entries'])} entr{'y' if len(d['entries']) == 1 else 'ies'}"
             + (f" for {d['device']}" if d["device"] else "") + " ===="]
    tally: dict = {}
    for e in d["entries"]:
        tally[e["tactic"]] = tally.get(e["tactic"], 0) + 1
    if tally:
        lines.append("Tactics chosen: " + ", ".join(f"{t} x{n}" for t, n in sorted(tally.items(),
                                                                                     key=lambda x: -x[1])))
    for e in d["entries"]:
        cfg = f" config={e['config']}" if e["config"] else ""
        lines.append(f"    {e['tactic']} {e['ms']:.4f} ms{cfg} | {e['key']}")
    return lines
