"""Knob checking: bad values are refused naming the knob; names match exactly or as a regular expression."""
from __future__ import annotations

import pytest

from inferrt.autocast.options import make_options, name_matches


def test_defaults_are_model_optimizers():
    o = make_options()
    assert (o.low_precision_type, o.data_max, o.init_max, o.keep_io_types) == ("fp16", 512.0, 65504.0, False)
    assert make_options("BFloat16").low_precision_type == "bf16"
    assert make_options(nodes_to_exclude="conv1").nodes_to_exclude == ["conv1"]


@pytest.mark.parametrize("kwargs, words", [
    ({"low_precision_type": "int8"}, ["low_precision_type", "'int8'"]),
    ({"data_max": 0}, ["data_max", "positive"]),
    ({"init_max": float("nan")}, ["init_max"]),
    ({"max_depth_of_reduction": 0}, ["max_depth_of_reduction"]),
    ({"opset": 1.5}, ["opset"]),
    ({"init_conversion_max_bytes": True}, ["init_conversion_max_bytes"]),
    ({"op_types_to_exclude": [3]}, ["op_types_to_exclude", "3"]),
    ({"nodes_to_include": 5}, ["nodes_to_include"]),
])
def test_bad_knobs_are_refused(kwargs, words):
    with pytest.raises((ValueError, TypeError)) as e:
        make_options(**kwargs)
    for w in words:
        assert w in str(e.value)


def test_name_patterns():
    assert name_matches("/enc/attn[0]/MatMul", "/enc/attn[0]/MatMul")   # the exact name
    assert name_matches(".*attn.*", "/enc/attn/MatMul")
    assert name_matches("mm", "mm2")                                     # re.match: from the start
    assert not name_matches("m2", "mm2")
    assert not name_matches("[", "x")                                    # invalid expression: exact only
