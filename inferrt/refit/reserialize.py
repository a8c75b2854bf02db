"""The plan of a refitted engine (its new constants, source weights and digests), and TensorRT's serialization
config: ``SerializationFlag.EXCLUDE_WEIGHTS`` writes a refittable engine's plan without its refittable weights
(a stripped plan, as STRIP_PLAN builds), ``INCLUDE_REFIT`` keeps the refit section (inferrt always does)."""
from __future__ import annotations

from ..enums import SerializationFlag
from ..plan import schema
from ..plan.format import BlobWriter, write_plan
from .record import _StrippingBlobs, digest_of, overall_digest, strippable_nodes


class _DedupBlobs:
    """Wraps a BlobWriter so equal arrays are stored once (a loaded engine holds its source weights and the
    engine's constants as separate copies; the build stored a weight both graphs share once)."""

    def __init__(self, inner: BlobWriter):
        self.inner = inner
        self._by_digest: dict = {}

    def add(self, arr) -> int:
        if isinstance(arr, (bytes, bytearray)) or not hasattr(arr, "shape"):
            return self.inner.add(arr)
        key = (str(arr.dtype), tuple(arr.shape), digest_of(arr))
        if key not in self._by_digest:
            self._by_digest[key] = self.inner.add(arr)
        return self._by_digest[key]

    @property
    def items(self) -> list:
        return self.inner.items


def reserialize(engine, strip: bool | None = None) -> bytes:
    """``engine``'s plan with its current weights; ``strip`` (default: as the plan was) leaves the refittable
    weights out."""
    state = engine.refit_state
    raw = {k: v for k, v in engine.plan_info.raw.items() if k != schema.BLOBS}
    section = dict(raw[schema.REFIT])
    strip = state.stripped if strip is None else strip
    source_nodes = {n.name: n for n in state.source.nodes}
    if strip:
        refit_nodes = {w["node"] for w in state.weights.values()}
        stripped = strippable_nodes(engine.graph, state.source, refit_nodes)
        ids = {id(source_nodes[n].attrs.weights) for n in refit_nodes}
        ids |= {id(n.attrs.weights) for n in engine.graph.nodes if n.name in set(stripped)}
        blobs = _DedupBlobs(_StrippingBlobs(ids))
    else:
        stripped = []
        blobs = _DedupBlobs(BlobWriter())
    raw[schema.GRAPH] = engine.graph.to_json(blobs)
    weights = {name: {**w, "sha256": digest_of(source_nodes[w["node"]].attrs.weights)}
               for name, w in state.weights.items()}
    section.update(source=state.source.to_json(blobs), weights=weights, digest=overall_digest(weights),
                   stripped=bool(strip), stripped_nodes=stripped)
    raw[schema.REFIT] = section
    # the kernel entries name blobs by index: written again into the new blob table (the old indices now name
    # other blobs). A CPU engine installs no kernels and its plan carries none.
    from ..tactics.kernel_store import to_manifest

    raw[schema.KERNELS] = to_manifest(getattr(engine, "kernel_entries", []), blobs)
    return write_plan(raw, blobs)


class ISerializationConfig:
    """TensorRT's serialization config: SerializationFlag bits (none set by default)."""

    def __init__(self):
        self.flags = 0

    def set_flag(self, flag) -> bool:
        self.flags |= 1 << int(SerializationFlag.parse(flag))
        return True

    def clear_flag(self, flag) -> bool:
        self.flags &= ~(1 << int(SerializationFlag.parse(flag)))
        return True

    def get_flag(self, flag) -> bool:
        return bool(self.flags >> int(SerializationFlag.parse(flag)) & 1)


def serialize_with_config(engine, config):
    """The engine's plan under ``config`` (ICudaEngine.serialize_with_config has refused EXCLUDE_WEIGHTS on an
    engine built without REFIT)."""
    from ..host_memory import IHostMemory

    exclude = config.get_flag(SerializationFlag.EXCLUDE_WEIGHTS)
    if not exclude:
        return engine.serialize()
    if engine.refit_state.missing:
        return engine.serialize()   # still stripped
    return IHostMemory(reserialize(engine, strip=True))

