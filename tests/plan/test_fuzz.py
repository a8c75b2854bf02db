"""Plan-format fuzzing: damaged plans end in a clean PlanError (or load and give the original outputs), never in
another exception, a crash or a hang.

* raw damage of the MNIST plan (checksum *not* fixed): byte flips, insertions, deletions, truncations;
* manifest damage with a *recomputed* checksum (what a buggy writer or a deliberate forger produces): byte-level
  edits of the JSON text and structural edits of the parsed manifest (wrong types, junk values, missing or extra
  keys). A forged manifest may still describe a valid engine (say, another activation type): such an engine must
  then run or fail with an inferrt error, it cannot be expected to reproduce the original outputs.
"""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
from plan_mutator import damage_bytes, mutate_tree
from plan_tools import build_small_plan, frame, split

import inferrt as trt
from inferrt.models.mnist import build_mnist_network
from inferrt.runtime.executor import ExecutionError

RAW_CASES = 2000
MANIFEST_BYTE_CASES = 600
MANIFEST_TREE_CASES = 1400


class _ListLogger(trt.ILogger):
    def __init__(self):
        self.messages = []

    def log(self, severity, msg):
        self.messages.append((severity, msg))


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Thousands of tiny runs: torch's thread pool only adds overhead (and contention on a busy CI machine)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def mnist():
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = build_mnist_network(builder.create_network(0))
    config = builder.create_builder_config()
    config.device = "cpu"
    prof = builder.create_optimization_profile()
    prof.set_shape("x", (1, 1, 28, 28), (2, 1, 28, 28), (4, 1, 28, 28))
    config.add_optimization_profile(prof)
    plan = bytes(builder.build(net, config))
    x = np.random.default_rng(1).standard_normal((2, 1, 28, 28)).astype(np.float32)
    ref = trt.load_engine(plan).create_execution_context().infer(x=x)["prob"]
    return plan, x, ref


@pytest.fixture(scope="module")
def small():
    plan = build_small_plan("cpu")
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8)).astype(np.float32)
    ref = trt.load_engine(plan).create_execution_context().infer(x=x)["y"]
    return plan, x, ref


def _outputs(engine, x, out_name):
    return engine.create_execution_context().infer(x=x)[out_name]


def test_raw_damage_of_mnist_plan_is_refused(mnist):
    plan, x, ref = mnist
    rng = random.Random(1234)
    logger = _ListLogger()
    runtime = trt.Runtime(logger)
    _, _, _, raw_manifest = split(plan)
    manifest_end = 96 + len(raw_manifest)
    refused = 0
    for i in range(RAW_CASES):
        region = rng.random()
        if region < 0.45:        # the header: magic, version, offsets, lengths, checksum, reserved
            bad, what = damage_bytes(rng, plan, 0, 96)
        elif region < 0.8:       # the manifest
            bad, what = damage_bytes(rng, plan, 96, manifest_end)
        else:                    # anywhere (mostly weights)
            bad, what = damage_bytes(rng, plan)
        try:
            engine = trt.load_engine(bad)
        except trt.PlanError as e:
            assert str(e), what
            refused += 1
            if i % 20 == 0:      # the TensorRT-style API returns None and logs the same error
                logger.messages.clear()
                assert runtime.deserialize_cuda_engine(bad) is None, what
                assert logger.messages and logger.messages[-1][0] == trt.Logger.ERROR, what
                assert logger.messages[-1][1] == str(e), what
            continue
        except Exception as e:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{what}: load_engine raised {type(e).__name__}: {e} instead of PlanError")
        assert bad == plan or engine is not None, what
        np.testing.assert_array_equal(_outputs(engine, x, "prob"), ref, err_msg=what)
    assert refused == RAW_CASES


def test_every_truncation_of_the_header_and_manifest_is_refused(small):
    plan, _, _ = small
    _, _, _, raw = split(plan)
    for n in list(range(0, 96 + len(raw) + 8)) + [len(plan) - 1]:
        with pytest.raises(trt.PlanError):
            trt.load_engine(plan[:n])


def _check_forged(bad: bytes, what: str, x, ref, out_name):
    """A plan with a valid checksum: PlanError, or an engine that runs (or fails cleanly) with correct shapes."""
    try:
        engine = trt.load_engine(bad)
    except trt.PlanError as e:
        assert str(e), what
        return "refused"
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"{what}: load_engine raised {type(e).__name__}: {e} instead of PlanError")
    try:
        out = _outputs(engine, x, out_name)
    except (trt.InferrtError, ExecutionError):
        return "failed cleanly"
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"{what}: the loaded engine raised {type(e).__name__}: {e} instead of an inferrt error")
    assert out.shape == ref.shape, what
    return "same" if np.array_equal(out, ref) else "different"


def test_manifest_byte_damage_with_valid_checksum(small):
    plan, x, ref = small
    _, blobs, version, raw = split(plan)
    rng = random.Random(99)
    seen = {}
    for _ in range(MANIFEST_BYTE_CASES):
        bad_manifest, what = damage_bytes(rng, raw)
        if not bad_manifest:
            bad_manifest = b" "
        r = _check_forged(frame(bad_manifest, blobs, version), what, x, ref, "y")
        seen[r] = seen.get(r, 0) + 1
    assert seen.get("refused", 0) >= MANIFEST_BYTE_CASES // 2, seen


def test_manifest_structure_damage_with_valid_checksum(small):
    plan, x, ref = small
    manifest, blobs, version, _ = split(plan)
    rng = random.Random(7)
    seen = {}
    for _ in range(MANIFEST_TREE_CASES):
        m, what = mutate_tree(rng, manifest)
        r = _check_forged(frame(json.dumps(m).encode(), blobs, version), what, x, ref, "y")
        seen[r] = seen.get(r, 0) + 1
    assert seen.get("refused", 0) >= MANIFEST_TREE_CASES // 3, seen
