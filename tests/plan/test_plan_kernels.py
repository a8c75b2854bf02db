"""Loading a plan whose kernel entries were crafted (checksum recomputed): refused with a PlanError naming the entry,
before anything is written or loaded; the files a refused or accepted CPU plan leaves behind: none."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
from plan_tools import build_small_plan, with_blobs

import inferrt as trt

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tactics"))
from kernel_tools import CUBIN, NAME, all_files, fake_hash, metadata, sandbox  # noqa: E402, F401

SO = "cuda_utils.cpython-311-x86_64-linux-gnu.so"


@pytest.fixture(scope="module")
def small():
    return build_small_plan("cpu")


def _with_kernels(plan, files_of):
    """``files_of(first_blob_index)`` -> (kernel entries, raw blobs they reference)."""
    entries, extra = files_of(None)

    def edit(manifest, first):
        manifest["kernels"] = files_of(first)[0]

    return with_blobs(plan, edit, extra)


def _entry(files, h=None):
    h = h or fake_hash("e")

    def files_of(first):
        out = []
        for k, (name, _) in enumerate(files):
            out.append([name, None if first is None else first + k])
        return [{"hash": h, "name": NAME, "files": out}], [data for _, data in files]

    return files_of


def _modules_loaded():
    return {m for m in sys.modules if "cuda_utils" in m or m.startswith("inferrt_pw_")}


CASES = {
    "shared object": [(f"{NAME}.json", json.dumps(metadata(fake_hash("e"))).encode()), (f"{NAME}.cubin", CUBIN),
                      (f"{fake_hash()}/{SO}", b"\x7fELF planted")],
    "shared object alone": [(f"{NAME}.json", json.dumps(metadata(fake_hash("e"))).encode()), (SO, CUBIN)],
    "group index": [(f"{NAME}.json", json.dumps(metadata(fake_hash("e"))).encode()), (f"{NAME}.cubin", CUBIN),
                    (f"__grp__{NAME}.json", json.dumps({"child_paths": {}}).encode())],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_crafted_kernel_entries_are_refused_and_nothing_is_written_or_loaded(small, case, sandbox):
    before = _modules_loaded()
    bad = _with_kernels(small, _entry(CASES[case]))
    with pytest.raises(trt.PlanError, match="kernel entry 0"):
        trt.load_engine(bad)
    for d in ("irt", "triton"):
        assert not sandbox[d].exists() or all_files(sandbox[d]) == []
    assert all_files(sandbox["home"]) == [] and all_files(sandbox["outside"]) == []
    assert _modules_loaded() == before
    logger_lines = []

    class _Log(trt.ILogger):
        def log(self, severity, msg):
            logger_lines.append(msg)

    assert trt.Runtime(_Log()).deserialize_cuda_engine(bad) is None
    assert any("kernel entry 0" in line for line in logger_lines)


def test_amplified_kernel_entries_are_refused(small, sandbox):
    """A 256 KiB binary referenced by 64 entries (16 MiB to write from a 0.3 MiB plan)."""
    big = b"\x7fELF" + bytes(256 << 10)

    def files_of(first):
        entries, extra = [], [big]
        for k in range(64):
            h = fake_hash(f"amp{k}")
            extra.append(json.dumps(metadata(h)).encode())
            if first is not None:
                entries.append({"hash": h, "name": NAME, "files": [[f"{NAME}.json", first + 1 + k],
                                                                   [f"{NAME}.cubin", first]]})
        return entries, extra

    bad = _with_kernels(small, files_of)
    with pytest.raises(trt.PlanError, match="cannot share blobs"):
        trt.load_engine(bad)
    assert not sandbox["irt"].exists() or all_files(sandbox["irt"]) == []


def test_cpu_plan_with_well_formed_kernels_is_refused(small, sandbox):
    good = [(f"{NAME}.json", json.dumps(metadata(fake_hash("e"))).encode()), (f"{NAME}.cubin", CUBIN)]
    with pytest.raises(trt.PlanError, match="cpu plan carries 1 GPU kernels"):
        trt.load_engine(_with_kernels(small, _entry(good)))
    assert not sandbox["irt"].exists()


def test_cpu_plan_loads_and_runs_without_writing_files(small, sandbox):
    engine = trt.load_engine(small)
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    assert engine.create_execution_context().infer(x=x)["y"].shape == (2, 5)
    for d in ("irt", "triton"):
        assert not sandbox[d].exists()
    assert all_files(sandbox["home"]) == []
