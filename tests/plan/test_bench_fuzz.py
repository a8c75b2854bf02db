"""bench/fuzz.py and the plan fuzz oracle: crashes and hangs of a case are counted (not fatal to the tool), the
oracle's bad kinds are not vacuous, and short runs of the plan and ONNX targets end with 0 bad cases."""
from __future__ import annotations

import json
import random
import sys

import numpy as np
import plan_fuzz_oracle as oracle
import plan_mutator
import pytest
from plan_tools import frame_manifest, softmax_chain_manifest

import inferrt as trt
from bench import fuzz


def test_harness_counts_crashes_and_hangs_without_dying(tmp_path):
    r = fuzz.fuzz("harness", budget_s=60, workers=2, seed=0, case_timeout=3, only=[0, 1, 2, 3, 4],
                  log_dir=str(tmp_path))
    assert r["cases"] == 5 and r["outcomes"] == {"crash": 2, "hang": 1, "ran": 2}, r
    assert (r["crashes"], r["hangs"], r["internal_tracebacks"]) == (2, 1, 0)
    by_case = {b["i"]: b for b in r["bad_cases"]}
    assert sorted(by_case) == [1, 2, 4]
    assert by_case[1]["kind"] == "crash" and "SIGABRT" in by_case[1]["detail"]
    assert by_case[2]["kind"] == "hang" and "3" in by_case[2]["detail"]


def test_main_writes_the_figures_and_fails_on_bad_cases(tmp_path):
    out = tmp_path / "f.json"
    assert fuzz.main(["--target", "harness", "--only", "0,3", "--json", str(out)]) == 0
    res = json.loads(out.read_text())["results"][0]
    assert (res["cases"], res["crashes"], res["hangs"]) == (2, 0, 0)
    assert fuzz.main(["--target", "harness", "--only", "1", "--json", str(out)]) == 1
    with pytest.raises(SystemExit):
        fuzz.main(["--target", "nope"])
    with pytest.raises(SystemExit):     # --device is for plans only: never accepted and ignored
        fuzz.main(["--target", "onnx,plan", "--device", "cuda"])


def test_plan_target_short_run_is_clean(tmp_path):
    # amplified plans near the work bound take seconds each: test_amplified_plans_are_refused_or_run has them
    only = [i for i in range(60) if plan_mutator.case(i, 5)[0] != "amplified"]
    r = fuzz.fuzz("plan", budget_s=600, workers=1, seed=5, case_timeout=120, only=only, log_dir=str(tmp_path))
    assert r["cases"] == len(only)
    assert (r["crashes"], r["hangs"], r["internal_tracebacks"]) == (0, 0, 0), r["bad_cases"][:3]
    assert r["outcomes"].get("refused", 0) > 20 and r["outcomes"].get("ran", 0) > 0, r["outcomes"]
    assert r["outcomes"].get("installed", 0) > 0, r["outcomes"]


@pytest.mark.gpu
def test_plan_target_on_the_gpu_is_clean(tmp_path):
    """GPU plans: loading installs their Triton kernels into the worker's sandboxed private cache, checked after
    every case (nothing outside it but Triton's own cache entries, no module loaded from the sandbox but Triton's
    host modules: plan_fuzz_oracle.check_sandbox)."""
    only = [i for i in range(60) if plan_mutator.case(i, 5)[0] != "amplified"]
    r = fuzz.fuzz("plan", budget_s=600, workers=1, seed=5, case_timeout=300, only=only, log_dir=str(tmp_path),
                  device="cuda")
    assert r["cases"] == len(only)
    assert (r["crashes"], r["hangs"], r["internal_tracebacks"]) == (0, 0, 0), r["bad_cases"][:3]
    assert r["outcomes"].get("ran", 0) > 0, r["outcomes"]


def test_onnx_target_short_run_is_clean(tmp_path):
    r = fuzz.fuzz("onnx", budget_s=600, workers=1, seed=5, case_timeout=120, only=list(range(40)),
                  log_dir=str(tmp_path))
    assert r["cases"] == 40
    assert (r["crashes"], r["hangs"], r["internal_tracebacks"]) == (0, 0, 0), r["bad_cases"][:3]
    assert r["outcomes"].get("refused_parse", 0) > 10 and r["outcomes"].get("ran", 0) > 0, r["outcomes"]


def test_plan_mutants_are_deterministic_and_cover_every_family():
    a = [plan_mutator.case(i, 1) for i in range(60)]
    assert a == [plan_mutator.case(i, 1) for i in range(60)]
    assert {f for f, _, _ in a} == {f for f, _, _ in plan_mutator.FAMILIES}
    assert len({d for _, _, d in a}) > 50


@pytest.mark.parametrize("maker", plan_mutator.AMPLIFIERS, ids=lambda f: f.__name__)
def test_amplified_plans_are_refused_or_run(maker):
    # profiles x layers near the bound load in seconds each: here the draws beyond it (refused), the bench does more
    for i in ((0, 3, 5) if maker is plan_mutator._profiles_x_layers else range(4)):
        data, what = maker(random.Random(i), "cpu")
        kind, detail = oracle.judge(data, seed=i)
        assert kind in oracle.GOOD, f"{what}: {kind} {detail}"


def test_oracle_judges():
    plan = frame_manifest(softmax_chain_manifest(3))
    assert oracle.judge(plan, seed=0) == ("ran", "")
    kind, detail = oracle.judge(plan[:50], seed=0)
    assert kind == "refused" and "shorter than" in detail
    big = softmax_chain_manifest(3)
    big["profiles"][0]["shapes"]["x"] = [[1, 5], [1 << 24, 5], [1 << 24, 5]]
    assert oracle.judge(frame_manifest(big), seed=1)[0] == "too_big"


def test_oracle_flags_raw_exceptions_and_internal_messages(monkeypatch):
    plan = frame_manifest(softmax_chain_manifest(3))

    def raw(*a, **k):
        raise KeyError("nodes")

    monkeypatch.setattr(trt, "load_engine", raw)
    assert oracle.judge(plan, seed=1)[0] == "raw"

    def internal(*a, **k):
        raise trt.PlanError("internal error; please report this")

    monkeypatch.setattr(trt, "load_engine", internal)
    assert oracle.judge(plan, seed=1)[0] == "internal"


def test_oracle_flags_apis_that_disagree(monkeypatch):
    plan = frame_manifest(softmax_chain_manifest(3))
    monkeypatch.setattr(trt.Runtime, "deserialize_cuda_engine", lambda self, data: None)
    assert oracle.judge(plan, seed=0)[0] == "disagree"
    assert oracle.judge(plan, seed=1)[0] == "ran"     # the TensorRT API is asked one case in eight


def _sandbox(tmp_path, monkeypatch):
    box = {k: tmp_path / k for k in ("cache", "triton", "home", "cuda")}
    for p in box.values():
        p.mkdir()
    monkeypatch.setenv("INFERRT_CACHE", str(box["cache"]))
    monkeypatch.setenv("TRITON_CACHE_DIR", str(box["triton"]))
    monkeypatch.setenv("HOME", str(box["home"]))
    monkeypatch.setenv("CUDA_CACHE_PATH", str(box["cuda"]))
    return box


def _well_formed_kernel_plan():
    for i in range(200):
        data, what = plan_mutator.with_kernels(random.Random(i))
        if "file blob" in what and oracle.judge(data)[0] == "refused":
            from inferrt.plan.format import read_plan
            from inferrt.tactics import kernel_store

            manifest, blobs = read_plan(data)
            try:
                kernel_store.validate(manifest["kernels"], blobs, len(data))
            except trt.PlanError:
                continue
            return data
    raise AssertionError("no mutant kept well-formed kernels")


def test_install_of_well_formed_kernels_stays_in_the_private_cache(tmp_path, monkeypatch):
    pytest.importorskip("triton")
    from inferrt.tactics import kernel_store

    from triton import knobs

    saved = dict(kernel_store._REGISTRY)
    manager = knobs.cache.__dict__.get("manager_class", None)
    box = _sandbox(tmp_path, monkeypatch)
    try:
        data = _well_formed_kernel_plan()
        assert oracle.judge_install(data, box) == ("installed", "")
        files = oracle._tree(box["cache"])
        assert any(f.endswith("kernel.cubin") for f in files) and all(oracle.KERNEL_FILE.fullmatch(f) for f in files)
        (box["triton"] / "planted.so").write_bytes(b"\x7fELF")     # a file outside the private cache: flagged
        kind, detail = oracle.judge_install(data, box)
        assert kind == "escaped" and "planted.so" in detail
    finally:   # installing registers inferrt's cache manager with Triton: undo that for the other tests
        kernel_store._REGISTRY.clear()
        kernel_store._REGISTRY.update(saved)
        if manager is None:
            knobs.cache.__dict__.pop("manager_class", None)
        else:
            knobs.cache.manager_class = manager


def test_sandbox_allows_the_private_cache_areas_and_tritons_own_cache_only(tmp_path, monkeypatch):
    """What loading a GPU plan legitimately writes: generated pointwise sources in the private cache's triton_src
    area, Triton's own cache entries (kernels Triton compiled, its host modules cuda_utils/__triton_launcher,
    imported from there) and the CUDA driver's JIT cache in its layout. Anything else, or any other module loaded from the sandbox, is an escape."""
    import sysconfig
    import types

    box = _sandbox(tmp_path, monkeypatch)
    key = "A" * 52
    ext = sysconfig.get_config_var("EXT_SUFFIX")
    for rel in ("cache/triton_src-1000/pw_" + "0a" * 12 + ".py", "cache/kernels-1000/" + "b" * 40 + "/kernel.cubin",
                f"triton/{key}/pointwise_kernel.cubin", f"triton/{key}/__grp__pointwise_kernel.json",
                f"triton/{key}/cuda_utils{ext}", f"triton/{key}/__triton_launcher{ext}",
                "cuda/index", "cuda/a/2/daf144f9da5951"):     # the CUDA driver's JIT cache (seen on an H100)
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    for name in ("cuda_utils", "__triton_launcher"):
        mod = types.ModuleType(name)
        mod.__file__ = str(box["triton"] / key / f"{name}{ext}")
        monkeypatch.setitem(sys.modules, name, mod)
    assert oracle.check_sandbox(box) is None

    for rel in ("cache/triton_src-1000/evil.py", f"triton/{key}/evil{ext}", "triton/planted.so", "home/.x",
                "cuda/a/2/planted.so", "cuda/evil.py"):
        (tmp_path / rel).write_bytes(b"x")
        kind, detail = oracle.check_sandbox(box)
        assert kind == "escaped" and rel.split("/", 1)[-1] in detail, (rel, detail)
        (tmp_path / rel).unlink()
    assert oracle.check_sandbox(box) is None

    for name, where in (("cuda_utils", box["cache"] / "triton_src-1000" / f"cuda_utils{ext}"),  # not Triton's cache
                        ("pw_module", box["triton"] / key / f"pw_module{ext}")):               # not Triton's module
        mod = types.ModuleType(name)
        mod.__file__ = str(where)
        with monkeypatch.context() as m:
            m.setitem(sys.modules, name, mod)
            kind, detail = oracle.check_sandbox(box)
        assert kind == "escaped" and name in detail.split("modules", 1)[1], detail


def test_feeds_follow_the_engine_dtypes():
    engine = trt.load_engine(frame_manifest(softmax_chain_manifest(2)))
    feeds = oracle._feeds(engine, 0)
    assert feeds["x"].dtype == np.float32 and feeds["x"].shape == (2, 5)
