"""A loaded engine's refit state: the manifest's ``refit`` section checked and decoded (inferrt/refit/record.py
writes it), and the placeholders that stand for a stripped plan's weights until a refit fills them in."""
from __future__ import annotations

import math

import numpy as np

from ..errors import PlanError
from ..ir.kinds import Kind
from .record import MODES


def _fail(msg: str):
    raise PlanError(f"corrupt plan: refit section: {msg}")


def section_of(manifest) -> dict | None:
    """The checked ``refit`` section of a manifest (None for an engine built without REFIT)."""
    raw = manifest.refit
    if raw is None:
        return None
    if not isinstance(raw, dict):
        _fail("must be an object")
    if raw.get("mode") not in MODES:
        _fail(f"mode {str(raw.get('mode'))[:40]!r} is not one of {MODES}")
    for key, typ in (("stripped", bool), ("passes", list), ("flags", list), ("source", dict), ("weights", dict),
                     ("stripped_nodes", list), ("digest", str)):
        if not isinstance(raw.get(key), typ):
            _fail(f"field {key!r} must be a{'n object' if typ is dict else ' ' + typ.__name__}")
    for name, w in raw["weights"].items():
        if not (isinstance(w, dict) and isinstance(w.get("node"), str) and isinstance(w.get("dtype"), str)
                and isinstance(w.get("shape"), list) and all(isinstance(d, int) and d >= 0 for d in w["shape"])
                and isinstance(w.get("sha256"), str)):
            _fail(f"weight {name[:80]!r} is malformed")
    if not all(isinstance(p, str) for p in raw["passes"] + raw["flags"] + raw["stripped_nodes"]):
        _fail("passes, flags and stripped_nodes must be lists of strings")
    return raw


class SharedBlobs:
    """A plan's BlobReader that decodes each blob once: the engine graph and the source graph of a refittable plan
    get the same array for a weight the build stored once (memory, and the plan written again stores it once).
    Nothing writes into decoded weights (a refit puts new arrays in place)."""

    def __init__(self, reader):
        self._reader = reader
        self._done: dict = {}

    def __len__(self):
        return len(self._reader)

    def get(self, index):
        if isinstance(index, int) and not isinstance(index, bool) and index in self._done:
            return self._done[index]
        value = self._reader.get(index)
        self._done[index] = value
        return value


def _placeholder(like, shape):
    if hasattr(like, "new_zeros"):          # a torch tensor (bfloat16 weights)
        return like.new_zeros(tuple(shape))
    return np.zeros(tuple(shape), dtype=np.asarray(like).dtype)


def fill_stripped(graph, names, budget: int) -> None:
    """Give the constant nodes ``names`` (stored without values) zero weights of their shape, so the engine can be
    made; it refuses to run until a refit sets them (ICudaEngine.missing_weights). ``budget``: bytes they may take
    (the plan's own bound on tensor sizes)."""
    by_name = {n.name: n for n in graph.nodes}
    for name in names:
        n = by_name.get(name)
        if n is None or n.kind != Kind.CONSTANT:
            _fail(f"stripped node {name[:80]!r} is not a constant of the graph")
        w = n.attrs.weights
        if w is None or tuple(w.shape) != (0,):
            if w is not None and math.prod(w.shape) == math.prod(n.attrs.shape):
                continue  # already filled
            _fail(f"stripped node {name[:80]!r} holds weights")
        if any(int(d) < 0 for d in n.attrs.shape) or math.prod(n.attrs.shape) * 8 > budget:
            _fail(f"stripped node {name[:80]!r} has the invalid shape {tuple(n.attrs.shape)}")
        n.attrs.weights = _placeholder(w, n.attrs.shape)


class RefitState:
    """What a Refitter needs from the plan: the source graph (original weights, stripped ones as zeros), the
    refittable weights and their build-time digests, and which ones a stripped plan still lacks."""

    def __init__(self, section: dict, blobs, budget: int):
        from ..ir.graph import Graph

        self.mode: str = section["mode"]
        self.stripped: bool = section["stripped"]
        self.passes: list[str] = list(section["passes"])
        self.flags: list[str] = list(section["flags"])
        self.digest: str = section["digest"]
        self.weights: dict = dict(section["weights"])
        try:
            self.source = Graph.from_json(section["source"], blobs)
        except PlanError:
            raise
        except Exception as e:  # noqa: BLE001 - untrusted data
            _fail(f"its source graph cannot be decoded ({type(e).__name__}: {e})")
        nodes = {n.name: n for n in self.source.nodes}
        stripped_sources = []
        for name, w in self.weights.items():
            n = nodes.get(w["node"])
            if n is None or n.kind != Kind.CONSTANT or list(n.attrs.shape) != w["shape"]:
                _fail(f"weight {name[:80]!r} names no constant of shape {w['shape']} in the source graph")
            if self.stripped:
                stripped_sources.append(n.name)
        if self.stripped:
            fill_stripped(self.source, stripped_sources, budget)
        #: refittable weights a stripped plan has no values for yet (a refit must set every one)
        self.missing: set[str] = set(self.weights) if self.stripped else set()

    def source_weights(self, name: str):
        """The current original values of weight ``name`` (zeros while a stripped plan lacks them)."""
        return {n.name: n for n in self.source.nodes}[self.weights[name]["node"]].attrs.weights


def refit_state(manifest, blobs, plan_bytes: int, graph) -> "RefitState | None":
    """The engine's refit state (None without a refit section); fills a stripped plan's engine constants with
    placeholders first."""
    section = section_of(manifest)
    if section is None:
        return None
    from ..runtime.validate import MAX_TENSOR_BYTES

    fill_stripped(graph, section["stripped_nodes"], MAX_TENSOR_BYTES)
    return RefitState(section, blobs, MAX_TENSOR_BYTES)
