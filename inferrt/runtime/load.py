"""Plan -> ICudaEngine, with every check that turns a bad plan into a PlanError naming what was wrong."""
from __future__ import annotations

from ..device import current_fingerprint_for, describe, gpu_index, on_device, split_device
from ..errors import PlanError
from ..plan.format import read_plan
from ..plan.schema import read_header, read_manifest


def load_engine(data, logger=None, error_recorder=None, cpu_threads=None, device=None):
    """``cpu_threads``: the engine's CPU thread count (``Runtime.max_threads`` when set; see cpu_threads.py).
    ``device``: where a GPU plan's engine goes (``cuda:N``, ``N`` or a ``torch.device``); None or ``cuda``: the
    calling thread's current GPU (TensorRT's rule). A plan loads on every GPU of the kind it was built for."""
    if hasattr(data, "read") and not isinstance(data, (bytes, bytearray, memoryview)):
        data = data.read(-1) if _accepts_size(data) else data.read()
    raw, blobs = read_plan(data)
    fp = read_header(raw).device
    index = _target_gpu(fp, device)
    with on_device(index):
        return _load_checked(data, raw, blobs, fp, index, logger, error_recorder, cpu_threads)


def _target_gpu(fp: dict, device) -> int | None:
    """The GPU index ``device`` asks for (None: the current one); PlanError when it does not fit the plan's kind or
    does not exist."""
    if device is None:
        return None
    try:
        kind, _ = split_device(device)
        if kind == "auto":
            return None
        if kind != fp["kind"]:
            raise PlanError(f"device={device!r} but the plan was built for {describe(fp)}; "
                            + ("a CPU plan runs on the CPU only: run it there, or rebuild it on the GPU"
                               if fp["kind"] == "cpu" else "run it on a GPU of that kind, or rebuild it for the CPU"))
        return gpu_index(device, "device") if kind == "cuda" else None
    except ValueError as e:
        raise PlanError(f"cannot load the plan: {e}") from None


def _load_checked(data, raw, blobs, fp, index, logger, error_recorder, cpu_threads):
    here = current_fingerprint_for(fp["kind"])
    if here is None:
        raise PlanError(f"plan was built for {describe(fp)} but this machine has no CUDA GPU; rebuild it here "
                        f"(it will target the CPU) or run it on a machine with {fp.get('name')}")
    if here != fp:
        diff = ", ".join(f"{k} {fp.get(k)!r} in the plan, {here.get(k)!r} here" for k in sorted(set(fp) | set(here))
                         if fp.get(k) != here.get(k))
        where = "this device" if fp["kind"] == "cpu" else f"GPU {_current_index() if index is None else index}"
        raise PlanError(f"plan was built for {describe(fp)} but {where} is {describe(here)} ({diff}); plans are "
                        f"specific to a device kind: rebuild the plan on this device, or load it on a GPU of the "
                        f"kind it was built for")
    from ..ir.graph import Graph
    from ..tactics.kernel_store import validate as validate_kernels
    from .engine import ICudaEngine
    from .validate import check_engine_graph

    manifest = read_manifest(raw)
    kernels = validate_kernels(manifest.kernels, blobs, memoryview(data).nbytes)
    if kernels and fp["kind"] != "cuda":
        raise PlanError(f"corrupt plan: a {fp['kind']} plan carries {len(kernels)} GPU kernels")
    from ..refit.state import SharedBlobs, fill_stripped, section_of

    section = section_of(manifest)
    if section is not None:   # its source graph and the engine's share weights: decode each blob once
        blobs = SharedBlobs(blobs)
    try:
        graph = Graph.from_json(manifest.graph, blobs)
    except PlanError:
        raise
    except Exception as e:  # noqa: BLE001 - untrusted data: any failure to decode it is a PlanError
        raise PlanError(f"corrupt plan: its graph cannot be decoded ({_describe(e)})") from None
    from .validate import MAX_TENSOR_BYTES

    if section is not None:   # a weight-stripped plan: zeros stand in until a refit (refit/state.py)
        fill_stripped(graph, section["stripped_nodes"], MAX_TENSOR_BYTES)
    check_engine_graph(manifest, graph)
    try:
        return ICudaEngine(bytes(data), manifest, blobs, logger, error_recorder, graph=graph, cpu_threads=cpu_threads)
    except PlanError:
        raise
    except Exception as e:  # noqa: BLE001 - a plan is untrusted input: every failure to load it is a PlanError
        if isinstance(e, MemoryError) or "out of memory" in str(e).lower():
            raise PlanError(f"cannot load the plan: out of memory while placing its weights on the device "
                            f"({_describe(e)}); free memory and load it again") from None
        raise PlanError(f"corrupt plan: the engine cannot be created from it ({_describe(e)})") from None


def _current_index() -> int:
    from ..device import current_gpu

    return current_gpu()


def _describe(e: BaseException) -> str:
    if isinstance(e, KeyError):
        return f"missing field {e.args[0]!r}" if e.args else "missing field"
    return f"{type(e).__name__}: {e}"


def _accepts_size(reader) -> bool:
    import inspect

    try:
        return len(inspect.signature(reader.read).parameters) >= 1
    except (TypeError, ValueError):
        return False
