"""Running a model in two runners on the same inputs and comparing every output (``inferrt run``), optionally with
every intermediate tensor marked as an output in both, to name the first layer whose outputs diverge."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from .compare import compare_outputs, first_divergence
from .onnx_graph import mark_all, tensor_types


@dataclass
class IterationComparison:
    comparisons: list            # OutputComparison per compared output (model outputs first)
    passed: bool
    divergence: tuple | None = None   # (layer, op_type, [failing OutputComparison]) with mark_all


@dataclass
class RunComparison:
    runner_a: str
    runner_b: str
    outputs: list                           # the model's own outputs, in order
    iterations: list = field(default_factory=list)   # IterationComparison
    results: list = field(default_factory=list)      # [(runner name, [{name: array}])]
    layer_order: list = field(default_factory=list)  # with mark_all: [(layer, op, [outputs])]
    runtimes: dict = field(default_factory=dict)     # runner name -> seconds per iteration (mean)

    @property
    def passed(self) -> bool:
        return all(it.passed for it in self.iterations)


def compare_runners(model, make_a, make_b, feeds: list, atol: dict, rtol: dict, *, mark_all_tensors: bool = False,
                    check_stat: str = "elemwise", with_histogram: bool = False, log=print) -> RunComparison:
    """``make_a(model, feeds)`` / ``make_b`` build the runners (the second is the reference) on ``model`` (with
    every intermediate marked as an output when ``mark_all_tensors``); each runs every feed in ``feeds``."""
    outputs = [o.name for o in model.graph.output]
    order = []
    if mark_all_tensors:
        model, order = mark_all(model, tensor_types(model))
        log(f"Marked {len(model.graph.output) - len(outputs)} intermediate tensors of {len(order)} layers as "
            f"outputs")
    runner_a = make_a(model, feeds)
    runner_b = make_b(model, feeds)
    res = RunComparison(runner_a.name, runner_b.name, outputs, layer_order=order)
    per_runner = {runner_a.name: [], runner_b.name: []}
    for r in (runner_a, runner_b):
        t0 = time.perf_counter()
        for k, feed in enumerate(feeds):
            log(f"{r.name} | Running inference on iteration {k}")
            per_runner[r.name].append(r.infer(feed))
        res.runtimes[r.name] = (time.perf_counter() - t0) / max(len(feeds), 1)
    res.results = list(per_runner.items())
    for outs_a, outs_b in zip(per_runner[runner_a.name], per_runner[runner_b.name]):
        names = outputs + [o for _, _, outs in order for o in outs if o not in outputs]
        comps = compare_outputs(outs_a, outs_b, atol, rtol, names, check_stat, with_histogram)
        divergence = first_divergence(order, {c.name: c for c in comps}) if mark_all_tensors else None
        res.iterations.append(IterationComparison(comps, all(c.passed for c in comps), divergence))
    return res


def nonfinite(results: list) -> list:
    """[(runner, iteration, output, NaN count, inf count)] for every float output holding NaN or inf."""
    import numpy as np

    found = []
    for runner, iters in results:
        for k, outs in enumerate(iters):
            for name, a in outs.items():
                a = np.asarray(a)
                if a.dtype.kind != "f":
                    continue
                n_nan, n_inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
                if n_nan or n_inf:
                    found.append((runner, k, name, n_nan, n_inf))
    return found
