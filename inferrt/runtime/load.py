"""Plan -> ICudaEngine, with every check that turns a bad plan into a PlanError naming what was wrong."""
from __future__ import annotations

from ..device import current_fingerprint_for, describe
from ..errors import PlanError
from ..plan.format import read_plan
from ..plan.schema import read_header, read_manifest


def load_engine(data, logger=None, error_recorder=None, cpu_threads=None):
    """``cpu_threads``: the engine's CPU thread count (``Runtime.max_threads`` when set; see cpu_threads.py)."""
    if hasattr(data, "read") and not isinstance(data, (bytes, bytearray, memoryview)):
        data = data.read(-1) if _accepts_size(data) else data.read()
    raw, blobs = read_plan(data)
    fp = read_header(raw).device
    here = current_fingerprint_for(fp["kind"])
    if here is None:
        raise PlanError(f"plan was built for {describe(fp)} but this machine has no CUDA GPU; rebuild it here "
                        f"(it will target the CPU) or run it on a machine with {fp.get('name')}")
    if here != fp:
        diff = ", ".join(f"{k} {fp.get(k)!r} in the plan, {here.get(k)!r} here" for k in sorted(set(fp) | set(here))
                         if fp.get(k) != here.get(k))
        raise PlanError(f"plan was built for {describe(fp)} but this device is {describe(here)} ({diff}); plans are "
                        f"specific to a device kind: rebuild the plan on this device")
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
