"""GPU plans: their Triton kernels are loaded from inferrt's private cache only (nothing from the plan lands in
Triton's cache directory), the first inference after loading compiles nothing, and a crafted CUDA plan is refused
before anything is written."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from kernel_tools import all_files, sandbox  # noqa: F401

import inferrt as trt

pytestmark = pytest.mark.gpu


class _PreferTriton(trt.IAlgorithmSelector):
    def select_algorithms(self, name, choices):
        return [c for c in choices if c in ("triton_pointwise", "cudnn_conv_epilogue", "cublas_matmul_epilogue")]

    def report_algorithms(self, names, choices):
        pass


@pytest.fixture(scope="module")
def gpu_plan():
    from inferrt.models.mnist import build_mnist_network

    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    network = build_mnist_network(builder.create_network(0))
    config = builder.create_builder_config()
    config.device = "cuda"
    config.algorithm_selector = _PreferTriton()
    prof = builder.create_optimization_profile()
    prof.set_shape("x", (1, 1, 28, 28), (16, 1, 28, 28), (32, 1, 28, 28))
    config.add_optimization_profile(prof)
    plan = bytes(builder.build(network, config))
    from inferrt.plan.format import read_plan

    kernels = read_plan(plan)[0]["kernels"]
    assert kernels, "the plan carries no compiled kernels"
    assert all(set(e) == {"hash", "name", "files"} and len(e["files"]) == 2 for e in kernels)
    return plan


def test_kernels_come_from_the_private_cache_and_nothing_compiles(gpu_plan, tmp_path):
    path = tmp_path / "m.plan"
    path.write_bytes(gpu_plan)
    irt, tcache = tmp_path / "irt", tmp_path / "triton_cache"
    script = textwrap.dedent(f"""
        import json, numpy as np
        from triton import knobs
        events = []
        knobs.compilation.listener = lambda **kw: events.append(
            [bool(kw.get("cache_hit")), sorted(kw.get("metadata_group", {{}}).values())])
        import inferrt
        engine = inferrt.load_engine({str(path)!r})
        out = engine.create_execution_context().infer({{"x": np.ones((16, 1, 28, 28), np.float32)}})
        assert np.isfinite(out["prob"]).all()
        print("EVENTS", json.dumps(events))
    """)
    env = dict(os.environ, TRITON_CACHE_DIR=str(tcache), INFERRT_CACHE=str(irt))
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    events = json.loads(next(line for line in res.stdout.splitlines() if line.startswith("EVENTS "))[7:])
    assert events and all(hit for hit, _ in events), events          # every kernel a cache hit: none compiled
    area = str(irt / f"kernels-{os.getuid()}")
    assert all(p.startswith(area + os.sep) for _, paths in events for p in paths), events
    assert oct(os.stat(area).st_mode & 0o777) == "0o700"
    planted = [f for f in all_files(tcache) if f.endswith((".cubin", ".ptx", ".json", ".hsaco"))] \
        if tcache.exists() else []
    assert planted == [], planted   # Triton's directory holds only the host modules Triton built itself


def _with_so_entry(plan):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "plan"))
    from plan_tools import with_blobs

    def edit(manifest, first):
        manifest["kernels"][0]["files"].append(["cuda_utils.cpython-311-x86_64-linux-gnu.so", first])

    return with_blobs(plan, edit, [b"\x7fELF planted shared object"])


def test_crafted_cuda_plan_is_refused_before_anything_is_written(gpu_plan, sandbox):
    with pytest.raises(trt.PlanError, match="kernel entry 0: file name 'cuda_utils"):
        trt.load_engine(_with_so_entry(gpu_plan))
    assert not sandbox["irt"].exists() or all_files(sandbox["irt"]) == []
    assert not sandbox["triton"].exists() or not [f for f in all_files(sandbox["triton"]) if f.endswith(".so")]


def test_loaded_cuda_plan_registers_its_kernels(gpu_plan, sandbox):
    from triton import knobs

    from inferrt.tactics import kernel_store

    engine = trt.load_engine(gpu_plan)
    assert getattr(knobs.cache.manager_class, "inferrt_fallback", None) is not None
    from inferrt.plan.format import read_plan

    for e in read_plan(gpu_plan)[0]["kernels"]:
        assert kernel_store.lookup(kernel_store.hash_b32(e["hash"])) is not None
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    assert np.isfinite(engine.create_execution_context().infer({"x": x})["prob"]).all()
