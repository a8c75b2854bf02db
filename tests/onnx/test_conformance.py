"""ONNX backend conformance: every generated onnx node test case and the shipped light models, run with inferrt.

A case listed in ``expected_failures.py`` must fail (it is reported as xfail with its reason); a listed case that
passes fails the test, so the list stays honest. Regenerate the list with
``python tests/onnx/count_conformance.py --write-expected``.
"""
from __future__ import annotations

import os
import warnings

import pytest

import count_conformance as cc
from expected_failures import EXPECTED_FAILURES, EXPECTED_LIGHT_FAILURES, EXPECTED_LIGHT_FAILURES_ONEDNN

from inferrt.onnx.backend import InferrtBackend
from inferrt.tactics import onednn_lib
from tests.helpers import lowest_ir

NODE_CASES = cc.case_names()


def _check(name, reason, fn):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    except Exception as e:  # noqa: BLE001 - any failure of an expected-failure case is the expected outcome
        if reason is not None:
            pytest.xfail(f"{reason} ({type(e).__name__})")
        raise
    if reason is not None:
        pytest.fail(f"{name} passes now: remove it from tests/onnx/expected_failures.py (listed as: {reason})")


@pytest.mark.parametrize("name", NODE_CASES)
def test_node_case(name):
    run = cc.run_random_case if name in cc.RANDOM_OUTPUT_CASES else cc.run_case
    _check(name, EXPECTED_FAILURES.get(name), lambda: run(InferrtBackend, name))


#: light models cheap enough for every CI run; the others together take minutes on 2 cores (marked slow)
FAST_LIGHT = ("squeezenet", "shufflenet", "resnet50")


@pytest.mark.parametrize("name", [n if n in FAST_LIGHT else pytest.param(n, marks=pytest.mark.slow)
                                  for n in cc.LIGHT_MODELS])
def test_light_model(name):
    if not os.path.exists(os.path.join(cc.light_model_dir(), f"light_{name}.onnx")):
        pytest.fail(f"the onnx package ships no light_{name}.onnx; update LIGHT_MODELS in count_conformance.py")
    reason = EXPECTED_LIGHT_FAILURES.get(name)
    if reason is None and onednn_lib.library() is not None:
        reason = EXPECTED_LIGHT_FAILURES_ONEDNN.get(name)
    _check(name, reason, lambda: cc.run_light(InferrtBackend, name))


@pytest.mark.gpu
@pytest.mark.parametrize("name", cc.LIGHT_MODELS)
def test_light_model_cuda(name):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    _check(name, EXPECTED_LIGHT_FAILURES.get(name), lambda: cc.run_light(InferrtBackend, name, "CUDA"))


def test_expected_failures_name_real_cases():
    stale = sorted(set(EXPECTED_FAILURES) - set(NODE_CASES))
    assert not stale, f"expected_failures.py lists cases the onnx suite does not have: {stale[:10]}"
    assert set(EXPECTED_LIGHT_FAILURES) <= set(cc.LIGHT_MODELS)


def test_backend_reports_devices():
    assert InferrtBackend.supports_device("CPU")
    assert not InferrtBackend.supports_device("TPU")


def test_backend_run_node_and_prepare_errors():
    import numpy as np
    from onnx import helper as oh

    from inferrt.errors import ParseError

    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1.0, -1.0, 2.0], np.float32)
    (got,) = InferrtBackend.run_node(oh.make_node("Mul", ["a", "b"], ["c"]), [a, b])
    np.testing.assert_array_equal(got, a * b)
    (idx,) = InferrtBackend.run_node(oh.make_node("ArgMax", ["a"], ["i"], axis=1, keepdims=0), [a * b])
    np.testing.assert_array_equal(idx, np.argmax(a * b, axis=1))
    graph = oh.make_graph([oh.make_node("NoSuchOp", ["x"], ["y"], domain="acme")], "g",
                          [oh.make_tensor_value_info("x", 1, [2])], [oh.make_tensor_value_info("y", 1, [2])])
    model = lowest_ir(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid("acme", 1)]))
    with pytest.raises(ParseError, match="NoSuchOp") as info:
        InferrtBackend.prepare(model, "CPU")
    assert info.value.errors and info.value.errors[0].node_operator() == "NoSuchOp"
