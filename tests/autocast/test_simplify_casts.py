"""Cast simplification folds only what is bit-identical, and never touches a graph output's name."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as T, helper
from onnx.reference import ReferenceEvaluator

from inferrt.autocast.simplify_casts import simplify_casts
from tests.helpers import lowest_ir


def _graph(src_type, chain, out_is_middle=False):
    """x (src_type) -> Cast(to=chain[0]) -> m -> Cast(to=chain[1]) -> c -> Identity -> y."""
    nodes = [helper.make_node("Cast", ["x"], ["m"], name="a", to=chain[0]),
             helper.make_node("Cast", ["m"], ["c"], name="b", to=chain[1]),
             helper.make_node("Identity", ["c"], ["y"], name="id")]
    outs = [helper.make_tensor_value_info("y", chain[1], [4])]
    if out_is_middle:
        outs.append(helper.make_tensor_value_info("m", chain[0], [4]))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", src_type, [4])], outs)
    types = {"x": src_type, "m": chain[0], "c": chain[1], "y": chain[1]}
    return lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 22)])), types


def _casts(model):
    return [(n.input[0], n.attribute[0].i) for n in model.graph.node if n.op_type == "Cast"]


def _run(model, x):
    return ReferenceEvaluator(model).run(None, {"x": x})[0]


def test_exact_widening_round_trip_is_removed():
    m, types = _graph(T.FLOAT16, (T.FLOAT, T.FLOAT16))
    assert simplify_casts(m.graph, types) == 2
    assert _casts(m) == [] and m.graph.node[0].input[0] == "x"


@pytest.mark.parametrize("src, low", [(T.INT64, T.FLOAT16), (T.INT16, T.BFLOAT16), (T.BOOL, T.FLOAT16)])
def test_integers_through_float32_fold_to_one_cast(src, low):
    m, types = _graph(src, (T.FLOAT, low))
    x = (np.array([0, 1, 7, 300]) % 2 == 1) if src == T.BOOL else np.array([-3, 1, 1000, 2049],
                                                                           dtype=helper.tensor_dtype_to_np_dtype(src))
    want = _run(m, x)
    simplify_casts(m.graph, types)
    assert _casts(m) == [("x", low)]
    np.testing.assert_array_equal(_run(m, x).astype(np.float32), want.astype(np.float32))


@pytest.mark.parametrize("src, chain", [
    (T.INT32, (T.FLOAT, T.BFLOAT16)),     # int32 past 2^24 rounds twice
    (T.FLOAT, (T.FLOAT16, T.FLOAT)),      # a narrowing round trip changes values
    (T.DOUBLE, (T.FLOAT, T.FLOAT16)),     # double rounding
])
def test_inexact_chains_are_kept(src, chain):
    m, types = _graph(src, chain)
    assert simplify_casts(m.graph, types) == 0
    assert len(_casts(m)) == 2


def test_graph_outputs_are_never_bypassed():
    m, types = _graph(T.FLOAT16, (T.FLOAT, T.FLOAT16), out_is_middle=True)
    simplify_casts(m.graph, types)
    assert _casts(m) == [("x", T.FLOAT)]       # m is a graph output: its Cast stays; c reads x directly
    assert m.graph.node[-1].input[0] == "x"


def test_identity_cast_is_bypassed_unless_it_writes_a_graph_output():
    nodes = [helper.make_node("Cast", ["x"], ["c"], name="same", to=T.FLOAT),
             helper.make_node("Relu", ["c"], ["y"], name="r"),
             helper.make_node("Cast", ["x"], ["z"], name="out", to=T.FLOAT)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", T.FLOAT, [4])],
                          [helper.make_tensor_value_info("y", T.FLOAT, [4]),
                           helper.make_tensor_value_info("z", T.FLOAT, [4])])
    m = lowest_ir(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    simplify_casts(m.graph, {"x": T.FLOAT, "c": T.FLOAT, "y": T.FLOAT, "z": T.FLOAT})
    assert [n.name for n in m.graph.node] == ["r", "out"] and m.graph.node[0].input[0] == "x"
