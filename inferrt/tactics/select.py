"""Tactic selection. On the CPU every node runs its generic tactic. On the GPU every supported candidate of every
node is timed at the optimization profile's opt shapes (warm-up, then the median of ``avg_timing_iterations``
x 5 runs, on inputs rotated through several buffers so they do not sit in L2), and the fastest wins; the winner is
recorded in the timing cache so a rebuild with a warm cache times nothing and chooses identically.
``builder_optimization_level`` 0 skips timing (prefers the first fast tactic); ``IAlgorithmSelector`` may restrict
the choices.
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


def _key(node, specs, device_name, cands, nhwc=frozenset()) -> str:
    """The timing-cache key: what the timing depends on, including the layout each input and output was timed in
    (``nhwc``: the channels-last values) and the kernel libraries' versions."""
    sig = {"kind": node.kind, "attrs": {k: _jsonable(v) for k, v in node.attrs.items() if k != "weights"},
           "ins": [[specs[i].dtype.name, list(specs[i].shape)] if i else None for i in node.inputs],
           "layouts": [[_layout(v, nhwc) for v in node.inputs], [_layout(v, nhwc) for v in node.outputs]],
           "device": device_name, "tactics": sorted(f"{t.name}@{t.version}" for t in cands),
           "libraries": library_versions()}
    return hashlib.sha256(json.dumps(sig, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _layout(value: str, nhwc) -> str | None:
    return None if not value else "NHWC" if value in nhwc else "linear"


def _jsonable(v):
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        return f"array{tuple(v.shape)}:{v.dtype}"
    if hasattr(v, "name") and not isinstance(v, str):
        return v.name
    return v


def select_tactics(graph, specs, device: str, config, log, range_specs=None) -> None:
    """Choose each node's tactic; ``specs`` are the opt-shape specs of profile 0, ``range_specs`` its (min, max) specs
    (shown to an IAlgorithmSelector through IAlgorithmContext.get_shape)."""
    cache = config.get_timing_cache() if not config.get_flag(BuilderFlag.DISABLE_TIMING_CACHE) else None
    selector = getattr(config, "algorithm_selector", None)
    device_name = None
    if device == "cuda":
        import torch

        device_name = torch.cuda.get_device_name()
    timed = hits = 0
    nhwc = nhwc_values(graph)
    timings = {}
    for n in graph.nodes:
        if n.kind == Kind.CONSTANT:
            continue
        cands = candidates(n, specs, device)
        if not cands:
            raise RuntimeError(f"no tactic implements node {n.name!r} ({n.kind}) on {device}")
        if selector is not None:
            names = [t.name for t in cands]
            context, algorithms = describe_node(n, specs, range_specs, nhwc, cands)
            allowed = list(selector.select_algorithms(context, algorithms) or [])
            unknown = [a for a in allowed if a not in names and not (isinstance(a, int) and 0 <= a < len(names))]
            if unknown:
                from ..errors import BuildError

                raise BuildError(f"IAlgorithmSelector.select_algorithms returned {unknown} for layer {n.name!r}; "
                                 f"return tactic names or indices from its choices {names}")
            if allowed:
                cands = [t for i, t in enumerate(cands) if t.name in allowed or i in allowed]
        if len(cands) == 1 or device != "cuda" or specs is None:
            n.info.tactic = cands[0].name
            continue
        if config.builder_optimization_level == 0:
            n.info.tactic = next((t.name for t in cands if t.name != "generic"), cands[0].name)
            continue
        key = _key(n, specs, device_name, cands, nhwc)
        hit = cache.lookup(key) if cache is not None else None
        if hit is not None and any(t.name == hit["tactic"] for t in cands):
            n.info.tactic = hit["tactic"]
            hits += 1
            continue
        if cache is not None and config.get_flag(BuilderFlag.ERROR_ON_TIMING_CACHE_MISS):
            raise RuntimeError(f"timing cache miss for node {n.name!r} with ERROR_ON_TIMING_CACHE_MISS set")
        from ..runtime.tf32 import tf32_mode
        from .autotune import time_candidates

        with tf32_mode(config.get_flag(BuilderFlag.TF32)):  # time what the engine will run
            results = time_candidates(n, specs, cands, config, log, nhwc)
        best = min(results, key=lambda r: r[1])
        n.info.tactic = best[0]
        timings[n.name] = best[1]
        log(Severity.VERBOSE, f"{n.name}: " + ", ".join(f"{name} {ms:.4f} ms" for name, ms in results)
            + f" -> {best[0]}")
        timed += 1
        if cache is not None:
            cache.record(key, best[0], best[1])
    if selector is not None and hasattr(selector, "report_algorithms"):
        report_choices(selector, graph, specs, range_specs, nhwc, timings)
    if device == "cuda":
        log(Severity.INFO, f"tactic selection: {timed} layers timed, {hits} from the timing cache")


def compiled_kernels(graph, specs, device: str) -> list[dict]:
    """Triton cache entries of the kernels the chosen tactics use at the opt shapes (stored in the plan)."""
    if device != "cuda" or specs is None:
        return []
    from .autotune import compile_chosen
    from .kernel_store import collect
    from .registry import get_tactic

    jit = []
    nhwc = nhwc_values(graph)
    for n in graph.nodes:
        name = n.info.tactic or "generic"
        if n.kind != Kind.CONSTANT and name != "generic":
            jit += compile_chosen(n, specs, get_tactic(name), nhwc)
    return collect(jit)


def nhwc_values(graph) -> frozenset:
    """Values the executor lays out channels-last (see passes/assign_formats.py), except graph I/O."""
    io = set(graph.inputs) | set(graph.outputs)
    return frozenset(o for n in graph.nodes if n.info.format == "NHWC" for o in n.outputs if o not in io)
