"""The generic implementation of the quantized products (ops/quantized.py) reads no value to the host: on a GPU a
host read synchronizes the stream and breaks CUDA graph capture ("operation not permitted when stream is
capturing"; the INT8 / FP8 ResNet-50 engines ran without graphs because their first convolution and classifier
ran here). Meta tensors have no values, so any host read (``float(t)``, ``.item()``, ``.tolist()``) raises."""
from __future__ import annotations

import pytest

from tests.tactics.test_triton_quantized import _cases, _fp8_cases

CASES = {**_cases(), **_fp8_cases()}


@pytest.mark.parametrize("case", list(CASES))
def test_generic_quantized_product_runs_on_meta_tensors(case):
    node, specs, ins, ref = CASES[case]
    (y,) = node.op.run(node.attrs, [None if t is None else t.to("meta") for t in ins], [None])
    assert y.device.type == "meta" and tuple(y.shape) == tuple(ref.shape)


@pytest.mark.parametrize("case", ["gemm_int8_per_channel", "conv_int8_nchw", "gemm_fp8", "conv_fp8_channels_last"])
def test_generic_quantized_product_matches_the_fake_quantized_layer(case):
    node, specs, ins, ref = CASES[case]
    (y,) = node.op.run(node.attrs, ins, [None])
    assert float((y.double() - ref).abs().max() / max(float(ref.abs().max()), 1.0)) <= 1e-5
