"""Timing of tactic candidates (each tactic at each point of its tuning space) on the device at concrete shapes
(CUDA events; median of repeats)."""
from __future__ import annotations

from ..dtypes import torch_dtype
from ..logger import Severity
from ..ops.base import host_tensor
from .tuning import label


def _random_like(spec, device, value=None, gen=None):
    """Timing data for one input: its known value, else random values drawn from ``gen`` (a private generator:
    timing never advances PyTorch's global random state, which the user's and other threads' work sees)."""
    import torch

    if value is not None:
        return host_tensor(value).to(device)
    dt = torch_dtype(spec.dtype)
    shape = tuple(spec.shape)
    if dt.is_floating_point:
        return torch.randn(shape, device=device, generator=gen).to(dt)
    if dt == torch.bool:
        return torch.rand(shape, device=device, generator=gen) > 0.5
    return torch.zeros(shape, dtype=dt, device=device)  # indices: zeros are always in range


def _generator(device):
    import torch

    gen = torch.Generator(device=device)
    gen.manual_seed(0)
    return gen


def _layout(t, name, nhwc):
    import torch

    if name in nhwc and t is not None and t.dim() == 4:
        return t.contiguous(memory_format=torch.channels_last)
    return t


def make_buffers(node, specs, device, nhwc=frozenset()):
    """Random inputs and empty outputs at ``specs``, in the layouts the runtime will give them (NHWC values)."""
    import torch

    gen = _generator(device)
    ins = [None if not i else _layout(_random_like(specs[i], device, specs[i].value, gen), i, nhwc)
           for i in node.inputs]
    outs = [_layout(torch.empty(tuple(specs[o].shape), dtype=torch_dtype(specs[o].dtype), device=device), o, nhwc)
            for o in node.outputs]
    return ins, outs


def compile_chosen(node, specs, tactic, nhwc=frozenset()) -> list:
    """Run the chosen tactic once at the opt shapes and its chosen point (compiling its kernels); return the Triton
    compiled kernels it ran (not the variants of other points compiled while timing)."""
    import torch

    fn = tactic.prepare(node, torch.device("cuda"))  # at the point the build chose (node.info.tactic_point)
    if not getattr(fn, "launchers", None):
        return []
    ins, outs = make_buffers(node, specs, torch.device("cuda"), nhwc)
    fn(ins, outs)
    torch.cuda.synchronize()
    return [c for launcher in fn.launchers for c in launcher.compiled_kernels()]


def _call(fn, ins, outs):
    r = fn(ins, outs)
    if r is not None:
        for o, v in zip(outs, r):
            if v is not None and v.data_ptr() != o.data_ptr():
                o.copy_(v.reshape(o.shape))


def _graph_ms(fn, sets, reps):
    """Median GPU milliseconds per call, from replays of a CUDA graph holding ``reps`` calls over the rotating
    buffers: the engine replays graphs, so launch overhead on the host must not count. None if it cannot capture."""
    import torch

    from ..runtime.cuda_graphs import capture_graph

    def calls():
        for k in range(reps):
            ins, outs = sets[k % len(sets)]
            _call(fn, ins, outs)

    g = torch.cuda.CUDAGraph()
    try:
        capture_graph(g, calls)
    except RuntimeError:
        return None
    times = []
    for _ in range(3):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / reps)
    del g
    return sorted(times)[1]


def _event_ms(fn, sets, iters):
    """Median milliseconds per call timed one call at a time (host launch time included)."""
    import torch

    times = []
    for k in range(iters):
        ins, outs = sets[k % len(sets)]
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        _call(fn, ins, outs)
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def time_candidates(node, specs, choices, config, log, nhwc=frozenset()):
    """[(tactic name, point, median ms)] for each (tactic, point of its tuning space) in ``choices`` that runs; a
    failing one is skipped and logged.

    Candidates are timed inside a CUDA graph (as the runtime runs them); one that cannot be captured is timed call
    by call, host overhead included, since it will also run that way."""
    import torch

    dev = torch.device("cuda")
    rotations = 3
    sets = [make_buffers(node, specs, dev, nhwc) for _ in range(rotations)]
    iters = max(1, config.avg_timing_iterations) * 5
    limit = config.get_memory_pool_limit(0)
    results = []
    for t, point in choices:
        name = label(t.name, point)
        try:
            fn = t.prepare(node, dev, point)
            torch.cuda.synchronize()
            free_before = torch.cuda.memory_allocated()
            for ins, outs in sets:  # warm-up (compiles Triton kernels, creates handles)
                _call(fn, ins, outs)
            torch.cuda.synchronize()
            if torch.cuda.memory_allocated() - free_before > limit:
                log(Severity.VERBOSE, f"{node.name}: tactic {name} needs more workspace than the limit; skipped")
                continue
            ms = _graph_ms(fn, sets, iters)
            if ms is None:
                ms = _event_ms(fn, sets, iters)
            results.append((t.name, point, ms))
        except Exception as e:  # noqa: BLE001 - a candidate that fails is skipped, never fatal
            log(Severity.VERBOSE, f"{node.name}: tactic {name} failed while timing ({type(e).__name__}: {e}); "
                                  f"skipped")
    if not results:
        results = [(choices[0][0].name, choices[0][1], float("inf"))]
    return results

