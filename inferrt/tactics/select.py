"""Tactic selection. On the CPU nothing is timed: a node runs the first CPU tactic that supports it (those are
registered only for what they always do better), else its generic tactic. On the GPU every point of the tuning space
(tactics/tuning.py) of every supported candidate of every node is timed at the optimization profile's opt shapes
(warm-up, then the median of ``avg_timing_iterations`` x 5 runs, on inputs rotated through several buffers so
they do not sit in L2), and the fastest (tactic, point) wins; the node records both (``info.tactic``,
``info.tactic_point``) and the timing cache records them, so a rebuild with a warm cache times nothing and chooses
identically. ``builder_optimization_level`` caps the points timed per tactic (``tuning.MAX_POINTS``); level 0
skips timing (prefers the first fast tactic at its default point). ``IAlgorithmSelector`` may restrict the
tactics.
"""
from __future__ import annotations

import hashlib
import json

from ..builder.algorithm import describe_node, report_choices
from ..enums import BuilderFlag
from ..ir.kinds import Kind
from ..logger import Severity
from .registry import candidates
from .timing_cache import library_versions
from .tuning import label, max_points


def _key(node, specs, device_name, cands, nhwc=frozenset(), points=None) -> str:
    """The timing-cache key: what the timing depends on, including the layout each input and output was timed in
    (``nhwc``: the channels-last values), the kernel libraries' versions and the points of each tactic's tuning
    space that were timed (``points``: tactic name -> points; default: the whole space after its constraint)."""
    points = points if points is not None else {t.name: t.space.points(node, specs) for t in cands}
    sig = {"kind": node.kind, "attrs": {k: _jsonable(v) for k, v in node.attrs.items() if k != "weights"},
           "ins": [[specs[i].dtype.name, list(specs[i].shape)] if i else None for i in node.inputs],
           "layouts": [[_layout(v, nhwc) for v in node.inputs], [_layout(v, nhwc) for v in node.outputs]],
           "device": device_name, "tactics": sorted(_timed_as(t, points.get(t.name)) for t in cands),
           "libraries": library_versions()}
    return hashlib.sha256(json.dumps(sig, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _timed_as(tactic, points) -> str:
    """``name@version``, followed by the timed points for a tactic with tunable parameters (a tactic without any
    keeps the key it had before tuning spaces, so older caches still hit)."""
    base = f"{tactic.name}@{tactic.version}"
    return base if not points or points == [{}] else base + ":" + json.dumps(points, sort_keys=True)


def _layout(value: str, nhwc) -> str | None:
    return None if not value else "NHWC" if value in nhwc else "linear"


def _jsonable(v):
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        return f"array{tuple(v.shape)}:{v.dtype}"
    if hasattr(v, "name") and not isinstance(v, str):
        return v.name
    return v


def _allowed(n, cands, selector, specs, range_specs, nhwc):
    """The candidates the IAlgorithmSelector keeps (all of them when it keeps none); it is shown the layer's
    IAlgorithmContext and an IAlgorithm per candidate (builder/algorithm.py)."""
    names = [t.name for t in cands]
    context, algorithms = describe_node(n, specs, range_specs, nhwc, cands)
    allowed = list(selector.select_algorithms(context, algorithms) or [])
    unknown = [a for a in allowed if a not in names and not (isinstance(a, int) and 0 <= a < len(names))]
    if unknown:
        from ..errors import BuildError

        raise BuildError(f"IAlgorithmSelector.select_algorithms returned {unknown} for layer {n.name!r}; "
                         f"return tactic names or indices from its choices {names}")
    return [t for i, t in enumerate(cands) if t.name in allowed or i in allowed] if allowed else cands


def _assign(n, tactic, point) -> None:
    """Record the chosen tactic and, for a tactic with tunable parameters, its point."""
    n.info.tactic = tactic.name
    n.info.tactic_point = dict(point) if tactic.space.params and point is not None else None


def _cached(hit, cands, points):
    """(tactic, point) of a timing-cache entry, or None when it names no candidate or a point not timed now. An
    entry without a point (written before tuning spaces, or by ``ITimingCache.update``) means the first point."""
    t = next((t for t in cands if hit is not None and t.name == hit["tactic"]), None)
    if t is None:
        return None
    point = hit.get("config")
    if point is None:
        return t, points[t.name][0]
    return (t, point) if any(point == p for p in points[t.name]) else None


def _points(n, specs, cands, cap, device, log):
    """(the candidates with at least one point, tactic name -> its points to time at ``specs``)."""
    points = {t.name: t.space.points(n, specs, cap) for t in cands}
    pruned = [t.name for t in cands if not points[t.name]]
    if pruned:
        log(Severity.VERBOSE, f"{n.name}: tactics {pruned} have no tuning point for these shapes; skipped")
        cands = [t for t in cands if points[t.name]]
        if not cands:
            raise RuntimeError(f"no tactic implements node {n.name!r} ({n.kind}) on {device}: the tuning spaces "
                               f"of {pruned} keep no point for its shapes")
    return cands, points


def constant_values(graph) -> set:
    """Values computed from constants alone: the outputs of CONSTANT nodes and of nodes all of whose inputs are such
    values (graph order is topological), i.e. the same at every execution until a refit prepares the kernels
    again."""
    consts: set = set()
    for n in graph.nodes:
        if n.kind == Kind.CONSTANT or (any(n.inputs) and all(not i or i in consts for i in n.inputs)):
            consts.update(o for o in n.outputs if o)
    return consts


def _constant_where_needed(node, tactic, consts: set) -> bool:
    """Whether every input ``tactic`` keeps prepared across executions (``Tactic.constant_inputs``) is a constant
    value of the graph (or absent): a runtime value there (a weight bound as a network input, or computed) would be
    read once and then reused stale."""
    ins = node.inputs
    return all(i >= len(ins) or not ins[i] or ins[i] in consts for i in tactic.constant_inputs)


def select_tactics(graph, specs, device: str, config, log, timer=None, device_name=None, on_layer=None,
                   range_specs=None) -> None:
    """Set every node's tactic and point. ``timer(node, specs, choices, config, log, nhwc) -> [(tactic name, point,
    ms)]`` times (tactic, point) choices (default: autotune.time_candidates on the GPU); ``device_name`` defaults to
    the CUDA device's name. ``on_layer()`` is called once each layer's tactic is chosen (the build's progress
    steps). ``range_specs``: profile 0's (min, max) specs, shown to an IAlgorithmSelector through
    IAlgorithmContext.get_shape."""
    cache = config.get_timing_cache() if not config.get_flag(BuilderFlag.DISABLE_TIMING_CACHE) else None
    selector = getattr(config, "algorithm_selector", None)
    tuned = device == "cuda" and specs is not None
    if tuned and device_name is None:
        import torch

        device_name = torch.cuda.get_device_name()
    cap = max_points(config.builder_optimization_level)
    timed = hits = 0
    nhwc = nhwc_values(graph)
    timings = {}
    consts = constant_values(graph)
    from ..builder.progress import stepped

    for n in stepped(graph.nodes, on_layer, lambda n: n.kind != Kind.CONSTANT):
        if n.kind == Kind.CONSTANT:
            continue
        cands = [t for t in candidates(n, specs, device) if _constant_where_needed(n, t, consts)]
        if not cands:
            raise RuntimeError(f"no tactic implements node {n.name!r} ({n.kind}) on {device}")
        if selector is not None:
            cands = _allowed(n, cands, selector, specs, range_specs, nhwc)
        if not tuned:   # the CPU: its first fast tactic (tactic_cpu_*.py, registered only where always faster)
            if device == "cpu":
                _assign(n, next((t for t in cands if t.name != "generic"), cands[0]), None)
            else:
                _assign(n, cands[0], None)
            continue
        cands, points = _points(n, specs, cands, cap, device, log)
        choices = [(t, p) for t in cands for p in points[t.name]]
        if len(choices) == 1:
            _assign(n, *choices[0])
            continue
        if config.builder_optimization_level == 0:
            t = next((t for t in cands if t.name != "generic"), cands[0])
            _assign(n, t, points[t.name][0])
            continue
        key = _key(n, specs, device_name, cands, nhwc, points)
        hit = _cached(cache.lookup(key), cands, points) if cache is not None else None
        if hit is not None:
            _assign(n, *hit)
            hits += 1
            continue
        if cache is not None and config.get_flag(BuilderFlag.ERROR_ON_TIMING_CACHE_MISS):
            raise RuntimeError(f"timing cache miss for node {n.name!r} with ERROR_ON_TIMING_CACHE_MISS set")
        results = _time(n, specs, choices, config, log, nhwc, timer)
        name, point, ms = min(results, key=lambda r: r[2])
        _assign(n, next(t for t in cands if t.name == name), point)
        log(Severity.VERBOSE, f"{n.name}: " + ", ".join(f"{label(t, p)} {v:.4f} ms" for t, p, v in results)
            + f" -> {label(name, n.info.tactic_point)}")
        timed += 1
        if cache is not None:
            cache.record(key, name, ms, n.info.tactic_point)
        timings[n.name] = ms
    if selector is not None and hasattr(selector, "report_algorithms"):
        report_choices(selector, graph, specs, range_specs, nhwc, timings)
    if device == "cuda":
        log(Severity.INFO, f"tactic selection: {timed} layers timed, {hits} from the timing cache")


def _time(n, specs, choices, config, log, nhwc, timer):
    from ..runtime.tf32 import tf32_mode

    if timer is None:
        from .autotune import time_candidates as timer
    with tf32_mode(config.get_flag(BuilderFlag.TF32)):  # time what the engine will run
        return timer(n, specs, choices, config, log, nhwc)


def compiled_kernels(graph, specs, device: str) -> list[dict]:
    """Triton cache entries of the kernels the chosen tactics run at the opt shapes and their chosen points (stored
    in the plan)."""
    if device != "cuda" or specs is None:
        return []
    from .autotune import compile_chosen
    from .kernel_store import collect_compiled
    from .registry import get_tactic

    compiled = []
    nhwc = nhwc_values(graph)
    for n in graph.nodes:
        name = n.info.tactic or "generic"
        if n.kind != Kind.CONSTANT and name != "generic":
            compiled += compile_chosen(n, specs, get_tactic(name), nhwc)
    return collect_compiled(compiled)


def nhwc_values(graph) -> frozenset:
    """Values the executor lays out channels-last (see passes/assign_formats.py), except graph I/O."""
    io = set(graph.inputs) | set(graph.outputs)
    return frozenset(o for n in graph.nodes if n.info.format == "NHWC" for o in n.outputs if o not in io)
