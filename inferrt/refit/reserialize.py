"""The plan of a refitted engine: its manifest with the new constants, source weights and digests (a stripped plan
stays stripped: the same constants leave without their values)."""
from __future__ import annotations

from ..plan import schema
from ..plan.format import BlobWriter, write_plan
from .record import _StrippingBlobs, digest_of, overall_digest


def reserialize(engine) -> bytes:
    state = engine._refit
    raw = {k: v for k, v in engine._manifest.raw.items() if k != schema.BLOBS}
    section = dict(raw["refit"])
    source_nodes = {n.name: n for n in state.source.nodes}
    if state.stripped:
        strip = {id(source_nodes[w["node"]].attrs.weights) for w in state.weights.values()}
        stripped = set(section["stripped_nodes"])
        strip |= {id(n.attrs.weights) for n in engine.graph.nodes if n.name in stripped}
        blobs = _StrippingBlobs(strip)
    else:
        blobs = BlobWriter()
    raw[schema.GRAPH] = engine.graph.to_json(blobs)
    weights = {name: {**w, "sha256": digest_of(source_nodes[w["node"]].attrs.weights)}
               for name, w in state.weights.items()}
    section.update(source=state.source.to_json(blobs), weights=weights, digest=overall_digest(weights))
    raw["refit"] = section
    return write_plan(raw, blobs)
