"""Enum-like attributes: every string attribute with a fixed value set is declared as a Choice (validated when set,
stored in the plan as the same string), free strings are listed here with their reason."""
import json

import pytest

import inferrt as trt
from inferrt.ops import REGISTRY, get_op
from inferrt.ops.base import STR, AttrValueError, Choice, OpError
from tests.helpers import new_network

#: string attributes deliberately left free, with the reason
FREE_STRINGS = {
    ("assertion", "message"): "user text reported when the assertion fails",
    ("assertion", "layer_name"): "the layer's name, for run-time error messages",
    ("einsum", "equation"): "an einsum equation, parsed and checked by the op",
    **{(k, "group"): "identifier tying the layers of one loop/conditional together"
       for k in ("if_condition", "if_input", "if_output", "loop_iterator", "loop_output", "loop_recurrence",
                 "loop_trip_limit")},
}

#: the enum-like attributes and their values (the 17 that were plain strings before Choice)
EXPECTED = {
    ("cast", "round_mode"): {"up", "down", "nearest"},
    ("integer_conv", "auto_pad"): {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"},
    ("l2_norm", "eps_mode"): {"none", "add", "max", "max_sqrt"},
    ("onnx_arg_reduce", "op"): {"MAX", "MIN"},
    ("onnx_binary", "op"): {"MOD", "FMOD", "BITSHIFT_LEFT", "BITSHIFT_RIGHT", "BITWISE_AND", "BITWISE_OR",
                            "BITWISE_XOR"},
    ("onnx_quantize", "bits16"): {"", "int16", "uint16"},
    ("onnx_reduce", "op"): {"SUM", "PROD", "MAX", "MIN", "AVG", "L1", "L2", "LOG_SUM", "LOG_SUM_EXP", "SUM_SQUARE"},
    ("onnx_unary", "op"): {"BITWISE_NOT"},
    ("padding", "mode"): {"constant", "reflect", "edge", "wrap"},
    ("random", "distribution"): {"normal", "uniform"},
    ("resize", "coordinate_mode"): {"", "align_corners", "asymmetric", "half_pixel", "half_pixel_symmetric",
                                    "pytorch_half_pixel", "tf_half_pixel_for_nn", "tf_crop_and_resize"},
    ("resize", "keep_aspect_ratio_policy"): {"stretch", "not_larger", "not_smaller"},
    ("rnn", "direction"): {"forward", "reverse", "bidirectional"},
    ("rnn", "mode"): {"RNN", "GRU", "LSTM"},
    ("roi_align", "mode"): {"avg", "max"},
    ("scatter", "reduction"): {"none", "add", "mul", "max", "min"},
    ("tensor_scatter", "mode"): {"linear", "circular"},
    ("window", "window"): {"hann", "hamming", "blackman"},
}


def _attrs_of(pred):
    get_op("rnn")  # loads every op module
    return {(op.kind, k): t for op in REGISTRY.values() for k, (t, _) in op.attrs.items() if pred(t)}


def test_free_strings_are_only_the_listed_ones():
    assert set(_attrs_of(lambda t: t is STR)) == set(FREE_STRINGS)


def test_enum_like_attributes_are_choices_with_their_values():
    choices = _attrs_of(lambda t: isinstance(t, Choice))
    assert {key: set(t.values) for key, t in choices.items()} == EXPECTED
    for (kind, key), t in choices.items():
        assert get_op(kind).attrs[key][1] in t.values


def test_invalid_value_refused_by_the_op_with_allowed_values():
    with pytest.raises(OpError) as e:
        get_op("resize").convert_attr("keep_aspect_ratio_policy", "shrink")
    msg = str(e.value)
    for part in ("resize", "keep_aspect_ratio_policy", "'shrink'", "'stretch'", "'not_larger'", "'not_smaller'"):
        assert part in msg
    with pytest.raises(OpError, match="rnn: attribute 'mode': 'lstm' is not one of 'RNN', 'GRU', 'LSTM'"):
        get_op("rnn").convert_attr("mode", "lstm")
    with pytest.raises(OpError, match="not one of"):
        get_op("padding").convert_attr("mode", 3)


def test_layer_setter_refuses_invalid_value_and_keeps_the_old_one():
    _, net = new_network()
    x = net.add_input("x", trt.float32, (1, 2, 4))
    layer = net.add_padding_nd(x, (1,), (1,))
    layer.name = "pad"
    layer.mode = "reflect"
    with pytest.raises(AttrValueError) as e:
        layer.mode = "mirror"
    assert isinstance(e.value, TypeError)  # bad attribute values stay TypeErrors for existing callers
    for part in ("'pad'", "padding", "'mode'", "'mirror'", "'constant', 'reflect', 'edge', 'wrap'"):
        assert part in str(e.value)
    assert layer.mode == "reflect"


def test_plan_stores_choices_by_name_and_reads_them_back():
    t = get_op("padding").attrs["mode"][0]
    assert json.dumps(t.to_json("edge", None)) == '"edge"'
    assert t.from_json("edge", None) == "edge"
    with pytest.raises(OpError, match="'mirror' is not one of"):
        t.from_json("mirror", None)


def test_internal_construction_validates_too():
    _, net = new_network()
    x = net.add_input("x", trt.float32, (4,))
    with pytest.raises(OpError, match="window: attribute 'window': 'kaiser'"):
        net.internal.add_layer("window", [x], {"window": "kaiser"}, name="w")
    layer = net.internal.add_layer("window", [x], {"window": "hamming"}, name="w")
    assert layer.window == "hamming"


def test_plan_reader_refuses_a_value_outside_the_set_naming_the_node():
    from inferrt.ir.graph import Graph

    spec = {"dtype": "FLOAT", "shape": [2, 3]}
    node = {"name": "pad0", "kind": "padding", "inputs": ["x"], "outputs": ["y"], "origin": [], "info": {},
            "attrs": {"pre_padding_nd": [1], "post_padding_nd": [1], "mode": "reflect"}}
    j = {"inputs": ["x"], "outputs": ["y"], "values": {"x": spec, "y": spec}, "nodes": [node]}
    assert Graph.from_json(j, None).nodes[0].attrs.mode == "reflect"
    node["attrs"]["mode"] = "mirror"
    with pytest.raises(ValueError, match="node 'pad0': attribute 'mode' of padding: 'mirror' is not one of"):
        Graph.from_json(j, None)


def test_tensorrt_enum_member_of_the_same_name_is_accepted():
    assert get_op("onnx_reduce").convert_attr("op", trt.ReduceOperation.MAX) == "MAX"
    assert get_op("onnx_arg_reduce").convert_attr("op", trt.TopKOperation.MIN) == "MIN"
    with pytest.raises(OpError, match="'op': ReduceOperation.NONE is not one of"):
        get_op("onnx_reduce").convert_attr("op", trt.ReduceOperation.NONE)
