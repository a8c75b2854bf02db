"""Manifest limits: a small forged plan cannot buy unbounded load work or memory. Each refusal is a PlanError naming
the limit; plans within the limits still load."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
from plan_tools import build_small_plan, frame_manifest, softmax_chain_manifest, split, with_blobs, with_manifest

import inferrt as trt
from inferrt.plan import limits


def test_1000_profiles_x_1000_layers_is_refused_quickly():
    """The issue's 0.22 MiB plan that took 71 s to load."""
    plan = frame_manifest(softmax_chain_manifest(1000, profiles=1000))
    assert len(plan) < 1 << 20
    t0 = time.perf_counter()
    with pytest.raises(trt.PlanError, match=r"limit on profiles x layers: 1000 profiles x 1002 layers and I/O tensors = 1002000"):
        trt.load_engine(plan)
    assert time.perf_counter() - t0 < 60   # generous: the refusal is one pass over the manifest


def test_many_profiles_within_the_limit_load():
    plan = frame_manifest(softmax_chain_manifest(20, profiles=64))
    engine = trt.load_engine(plan)
    assert engine.num_optimization_profiles == 64
    y = engine.create_execution_context().infer(x=np.ones((2, 5), np.float32))["y"]
    np.testing.assert_allclose(y, 0.2, rtol=1e-6)


def test_work_limit_grows_with_the_plan_size(monkeypatch):
    manifest = softmax_chain_manifest(50, profiles=40)   # 2,000 profile-layers
    monkeypatch.setattr(limits, "WORK_FLOOR", 1000)
    plan = frame_manifest(manifest)
    assert len(plan) // limits.WORK_BYTES < 2000
    with pytest.raises(trt.PlanError, match="profiles x layers"):
        trt.load_engine(plan)
    monkeypatch.setattr(limits, "WORK_BYTES", 1)    # a larger plan (same manifest) is allowed the same work
    assert trt.load_engine(plan).num_optimization_profiles == 40


def test_subgraph_layers_count():
    manifest = softmax_chain_manifest(3)
    manifest["graph"]["nodes"][0]["attrs"]["body"] = {"nodes": [{}] * 500}
    assert limits._walk(manifest)[1] == 503


def test_one_layer_with_a_huge_program_counts_by_its_size():
    """A single pointwise layer whose program has 200,000 instructions, checked at every profile's shapes."""
    manifest = softmax_chain_manifest(1, profiles=100)
    prog = [["input", 0]] + [["unary", "ABS", i] for i in range(200_000)]
    manifest["graph"]["nodes"][0].update(kind="pointwise", attrs={"program": prog})
    plan = frame_manifest(manifest)
    with pytest.raises(trt.PlanError, match="limit on profiles x layers: 100 profiles x"):
        trt.load_engine(plan)


def test_deep_nesting_is_refused():
    manifest = softmax_chain_manifest(3)
    deep = 0
    for _ in range(limits.MAX_DEPTH + 5):
        deep = [deep]
    manifest["build"]["junk"] = deep
    with pytest.raises(trt.PlanError, match="limit on manifest nesting"):
        trt.load_engine(frame_manifest(manifest))


def test_2_to_the_36_element_input_is_refused():
    manifest = softmax_chain_manifest(3)
    manifest["profiles"][0]["shapes"]["x"][2] = [1 << 36, 5]
    with pytest.raises(trt.PlanError, match=r"limit on input bytes: input 'x' at the max shape \[68719476736, 5\]"):
        trt.load_engine(frame_manifest(manifest))


def test_static_io_shape_beyond_memory_is_refused():
    manifest = softmax_chain_manifest(3)
    manifest["io"][1]["shape"] = [1 << 30, 1 << 10]
    with pytest.raises(trt.PlanError, match="limit on input bytes: I/O tensor 'y'"):
        trt.load_engine(frame_manifest(manifest))


def test_recorded_activation_memory_beyond_the_device_is_refused():
    manifest = softmax_chain_manifest(3, device_memory=1 << 60)
    with pytest.raises(trt.PlanError, match="limit on activation memory: optimization profile 0 records"):
        trt.load_engine(frame_manifest(manifest))


def test_manifest_size_and_memory_limits(monkeypatch):
    plan = frame_manifest(softmax_chain_manifest(30))
    _, _, _, raw = split(plan)
    monkeypatch.setattr(limits, "MAX_MANIFEST", len(raw) - 1)
    with pytest.raises(trt.PlanError, match=f"limit on manifest bytes: {len(raw)} bytes"):
        trt.load_engine(plan)
    monkeypatch.setattr(limits, "MAX_MANIFEST", 1 << 28)
    monkeypatch.setattr(limits, "host_memory", lambda: len(raw) * limits.MANIFEST_EXPANSION)
    with pytest.raises(trt.PlanError, match="limit on manifest memory"):
        trt.load_engine(plan)


def test_one_blob_decoded_by_many_constants_is_refused():
    """A 4 MiB weight blob referenced by 40 constants: 160 MiB of host (and device) memory from a 4 MiB plan."""
    plan = build_small_plan("cpu")
    weights = np.ones(1 << 20, np.float32).tobytes()

    def edit(manifest, first):
        manifest["blobs"][first].update(dtype="float32", shape=[1 << 20])
        nodes = manifest["graph"]["nodes"]
        for k in range(40):
            name = f"dup{k}"
            nodes.insert(0, {"attrs": {"shape": [1 << 20], "weights": first}, "info": {}, "inputs": [],
                             "kind": "constant", "name": name, "origin": [name], "outputs": [name]})
            manifest["graph"]["values"][name] = {"dtype": "FLOAT", "shape": [1 << 20]}

    bad = with_blobs(plan, edit, [weights])
    with pytest.raises(trt.PlanError, match="limit on blob bytes decoded"):
        trt.load_engine(bad)


def test_plans_within_the_limits_load_unchanged():
    plan = build_small_plan("cpu")
    x = np.random.default_rng(3).standard_normal((2, 3, 8, 8)).astype(np.float32)
    ref = trt.load_engine(plan).create_execution_context().infer(x=x)["y"]
    same = with_manifest(plan, lambda m: m["build"].update(note=json.dumps({"a": [[1, 2], {"b": None}]})))
    np.testing.assert_array_equal(trt.load_engine(same).create_execution_context().infer(x=x)["y"], ref)


JUNK = [None, True, -1, 1 << 70, 2.5, "x", "", [], [1], [[1]], {}, {"a": 1}, [None, None, None], [[-1], [2], "x"]]


def test_limit_checks_take_junk_in_every_field_without_crashing():
    """The limits run before the manifest's type checks: junk anywhere is a PlanError or left to those checks."""
    base = softmax_chain_manifest(2)
    paths = [("device",), ("device", "kind"), ("io",), ("io", 0), ("io", 0, "name"), ("io", 0, "dtype"),
             ("io", 0, "shape"), ("profiles",), ("profiles", 0), ("profiles", 0, "shapes"),
             ("profiles", 0, "shapes", "x"), ("profiles", 0, "device_memory"), ("graph",), ("graph", "nodes")]
    for path in paths:
        for junk in JUNK:
            m = json.loads(json.dumps(base))
            target = m
            for k in path[:-1]:
                target = target[k]
            target[path[-1]] = junk
            try:
                limits.check_manifest(m, 1 << 20)
            except trt.PlanError:
                pass
