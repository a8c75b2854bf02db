"""Mutations of plans, shared by the plan fuzz test (``test_fuzz.py``) and ``bench/fuzz.py``.

* ``damage_bytes``: one random damage of a byte string (flips, insertions, deletions, truncation);
* ``mutate_tree``: one structural edit of a parsed manifest (junk values, deletions, extra keys and items);
* ``amplified``: a small plan that asks for much work or memory (profiles x layers, nesting, huge shapes, one blob
  decoded by many constants, huge numbers), each drawn with random sizes around the loader's limits;
* ``with_kernels``: a plan carrying two more kernel entries, one of them (or its files) damaged;
* ``case(i, seed)``: the ``i``-th deterministic mutant of all these families.

Re-framing (a valid checksum around an edited manifest) is ``plan_tools.frame``."""
from __future__ import annotations

import copy
import functools
import json
import os
import random
import sys

import numpy as np
from plan_tools import build_small_plan, frame, frame_manifest, softmax_chain_manifest, split, with_blobs

import inferrt as trt


def damage_bytes(rng: random.Random, data: bytes, lo: int = 0, hi: int | None = None) -> tuple[bytes, str]:
    """One random damage of ``data`` at positions in [lo, hi)."""
    hi = len(data) if hi is None else hi
    b = bytearray(data)
    kind = rng.choice(("flip", "flip", "flips", "insert", "delete", "truncate"))
    pos = rng.randrange(lo, hi)
    if kind == "flip":
        b[pos] ^= rng.randrange(1, 256)
        return bytes(b), f"flip byte {pos}"
    if kind == "flips":
        n = rng.randint(2, 16)
        for _ in range(n):
            b[rng.randrange(lo, hi)] ^= rng.randrange(1, 256)
        return bytes(b), f"flip {n} bytes from {lo} to {hi}"
    if kind == "insert":
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        return bytes(b[:pos] + junk + b[pos:]), f"insert {junk!r} at {pos}"
    if kind == "delete":
        n = rng.randint(1, 8)
        return bytes(b[:pos] + b[pos + n:]), f"delete {n} bytes at {pos}"
    return bytes(b[:pos]), f"truncate to {pos} bytes"


JUNK = [None, True, False, 0, 1, -1, 7, 2 ** 31, 2 ** 63, -2 ** 63, 10 ** 30, 10 ** 400, 1.5, float("1e308"), "", "x",
        "float32", "INPUT", "constant", "relu", [], [1], [-1, -1], [0, 1, 2], ["x"], [[1, 2], [3, 4]], {}, {"a": 1},
        {"offset": 0}, "A" * 1000]


def paths(node, prefix=()):
    """Every path (a tuple of keys and indices) in a JSON-like tree, the root's () first."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, prefix + (i,))


def mutate_tree(rng: random.Random, manifest: dict) -> tuple[dict, str]:
    """A copy of ``manifest`` with one structural edit, and what it was."""
    m = copy.deepcopy(manifest)
    where = [p for p in paths(m) if p]
    path = rng.choice(where)
    parent = m
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    op = rng.random()
    if op < 0.6:
        old = parent[key]
        if isinstance(old, int) and not isinstance(old, bool) and rng.random() < 0.5:
            new = old + rng.choice((-2, -1, 1, 2, 1000, -1000, 2 ** 40))
        else:
            new = rng.choice(JUNK)
        parent[key] = new
        return m, f"set {list(path)} from {str(old)[:60]} to {str(new)[:60]}"
    if op < 0.8:
        del parent[key]
        return m, f"delete {list(path)}"
    if isinstance(parent, dict):
        parent["unknown_" + str(rng.randrange(100))] = rng.choice(JUNK)
        return m, f"add a key to {list(path[:-1])}"
    parent.insert(key, copy.deepcopy(parent[key]) if rng.random() < 0.5 else rng.choice(JUNK))
    return m, f"insert into {list(path[:-1])} at {key}"


# ------------------------------------------------------------------------------------------- amplified plans
def _profiles_x_layers(rng, device):
    layers, profiles = rng.randint(1, 2000), rng.randint(1, 200)
    return frame_manifest(softmax_chain_manifest(layers, profiles=profiles)), \
        f"{profiles} profiles x {layers} layers"


def _nesting(rng, device):
    m = softmax_chain_manifest(3)
    depth = rng.choice((rng.randint(1, 200), rng.randint(1, 200_000)))
    text = json.dumps(m).encode()
    nested = b"[" * depth + b"0" + b"]" * depth
    return frame(text[:-1] + b', "junk": ' + nested + b"}", b""), f"a list nested {depth} deep"


def _huge_shape(rng, device):
    m = softmax_chain_manifest(3)
    big = [rng.choice((1 << rng.randint(20, 70), 10 ** rng.randint(5, 30))), 5]
    where = rng.randrange(4)
    if where == 0:
        m["profiles"][0]["shapes"]["x"][2] = big
    elif where == 1:
        m["io"][rng.randrange(2)]["shape"] = big
    elif where == 2:
        m["graph"]["values"][rng.choice(("x", "v0", "y"))]["shape"] = big
    else:
        m["profiles"][0]["device_memory"] = big[0]
    return frame_manifest(m), f"shape or size {big[0]} at place {where}"


@functools.lru_cache(maxsize=2)
def _small_plan(device: str = "cpu") -> bytes:
    return build_small_plan(device)


def _shared_blob(rng, device):
    base = _small_plan(device)
    n_elems = 1 << rng.randint(10, 20)
    copies = rng.randint(1, 200)

    def edit(manifest, first):
        manifest["blobs"][first].update(dtype="float32", shape=[n_elems])
        for k in range(copies):
            name = f"dup{k}"
            manifest["graph"]["nodes"].insert(0, {"attrs": {"shape": [n_elems], "weights": first}, "info": {},
                                                  "inputs": [], "kind": "constant", "name": name, "origin": [name],
                                                  "outputs": [name]})
            manifest["graph"]["values"][name] = {"dtype": "FLOAT", "shape": [n_elems]}

    return with_blobs(base, edit, [np.ones(n_elems, np.float32).tobytes()]), \
        f"a {4 * n_elems}-byte blob decoded by {copies} constants"


def _huge_number(rng, device):
    m = softmax_chain_manifest(3)
    text = json.dumps(m)
    number = rng.choice(("1e400", "-1e400", "9" * rng.randint(20, 10_000), "NaN", "Infinity", "-0", "1.0e-400"))
    field = rng.choice(('"axes": 2', '"device_memory": 0', '"shape": [-1, 5]'))
    key = field.split(":")[0]
    edited = text.replace(field, f"{key}: {number}" if "shape" not in field else f"{key}: [{number}, 5]", 1)
    return frame(edited.encode(), b""), f"{key} set to {number[:20]}"


AMPLIFIERS = [_profiles_x_layers, _nesting, _huge_shape, _shared_blob, _huge_number]


def amplified(rng: random.Random, device: str = "cpu") -> tuple[bytes, str]:
    """A small plan that asks for much work or memory at load, and what it asks for (the forged manifests are CPU
    plans: the limits are checked before the device)."""
    fn = rng.choice(AMPLIFIERS)
    data, what = fn(rng, device)
    return data, f"{fn.__name__[1:]}: {what}"


# ------------------------------------------------------------------------------------------------ kernel entries
def with_kernels(rng: random.Random, device: str = "cpu") -> tuple[bytes, str]:
    """The small plan of ``device`` with two more kernel entries (shaped like those ``kernel_store.collect``
    writes) whose entry list, metadata or files got one random mutation (``kernel_tools.mutate_json``)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tactics"))
    from kernel_tools import entry, mutate_json

    base = _small_plan(device)
    manifest = split(base)[0]
    n_base, own = len(manifest["blobs"]), manifest.get("kernels") or []
    items = [b""] * n_base                # the plan's own blobs keep their indices; kernel files come after them
    entries = [entry(items) for _ in range(2)]
    what = rng.random()
    k = rng.randrange(n_base, len(items))
    if what < 0.4:
        entries, what = mutate_json(rng, entries), "entries"
    elif what < 0.8 and (k - n_base) % 2 == 0:  # metadata: mutate the parsed tree, serialize again
        items[k], what = json.dumps(mutate_json(rng, json.loads(items[k]))).encode(), f"metadata blob {k}"
    else:
        items[k], what = mutate_json(rng, items[k]), f"file blob {k}"

    def edit(manifest, first):
        assert first == n_base
        # a GPU plan's own kernels first (a mutation may have made the entry list something else: then alone)
        manifest["kernels"] = own + entries if own and isinstance(entries, list) else entries

    return with_blobs(base, edit, items[n_base:]), f"kernel {what} mutated"


# ------------------------------------------------------------------------------------------------- every family
@functools.lru_cache(maxsize=2)
def mnist_plan(device: str = "cpu") -> bytes:
    """The MNIST network's plan (batch 1 to 4), the target of raw byte damage."""
    from inferrt.models.mnist import build_mnist_network

    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = build_mnist_network(builder.create_network(0))
    config = builder.create_builder_config()
    config.device = device
    prof = builder.create_optimization_profile()
    prof.set_shape("x", (1, 1, 28, 28), (2, 1, 28, 28), (4, 1, 28, 28))
    config.add_optimization_profile(prof)
    return bytes(builder.build(net, config))


def _raw(rng, device):
    plan = mnist_plan(device)
    manifest_end = 96 + len(split(plan)[3])
    region = rng.random()
    if region < 0.45:
        return damage_bytes(rng, plan, 0, 96)
    if region < 0.8:
        return damage_bytes(rng, plan, 96, manifest_end)
    return damage_bytes(rng, plan)


def _manifest_bytes(rng, device):
    _, blobs, version, raw = split(_small_plan(device))
    bad, what = damage_bytes(rng, raw)
    return frame(bad or b" ", blobs, version), what


def _manifest_tree(rng, device):
    manifest, blobs, version, _ = split(_small_plan(device))
    m, what = mutate_tree(rng, manifest)
    return frame(json.dumps(m).encode(), blobs, version), what


#: (family, weight, mutant maker); raw damage keeps the checksum wrong, the others recompute it
FAMILIES = [("raw", 25, _raw), ("manifest_bytes", 20, _manifest_bytes), ("manifest_tree", 30, _manifest_tree),
            ("amplified", 10, amplified), ("kernels", 15, with_kernels)]


def case(i: int, seed: int = 0, device: str = "cpu") -> tuple[str, str, bytes]:
    """The ``i``-th mutant of run ``seed`` from plans built for ``device``: (family, what was done, plan bytes);
    deterministic for a given device (GPU plans depend on the GPU's tactics)."""
    rng = random.Random(seed * 1_000_003 + i)
    pick = rng.randrange(sum(w for _, w, _ in FAMILIES))
    for family, weight, make in FAMILIES:
        if pick < weight:
            data, what = make(rng, device)
            return family, what, data
        pick -= weight
    raise AssertionError("weights")
