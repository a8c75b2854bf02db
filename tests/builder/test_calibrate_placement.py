"""builder/calibrate_placement.py: inferrt.quantize's Q/DQ rules on the builder graph (weighted layers, the residual
add), the layer precisions and output types that OBEY/PREFER_PRECISION_CONSTRAINTS honour, and the Q/DQ it writes."""
from __future__ import annotations

import numpy as np
import pytest

import inferrt as trt
from inferrt.builder.calibrate_placement import KIND_OF, WEIGHTED_KINDS, find_placement, insert_qdq
from inferrt.builder.lower_network import lower_network
from inferrt.ir.kinds import Kind
from inferrt.quantize.placement import WEIGHTED_OPS
from tests.builder.calibration_nets import build, conv_net
from tests.passes.precision_nets import Capture


def _sites(p):
    return {t: sorted((n.name, i) for n, i in uses) for t, uses in p.sites.items()}


def test_the_rule_tables_are_quantizes():
    assert {KIND_OF[o] for o in WEIGHTED_OPS} == WEIGHTED_KINDS
    assert WEIGHTED_KINDS == {Kind.CONVOLUTION, Kind.DECONVOLUTION, Kind.MATRIX_MULTIPLY}


def test_conv_inputs_and_the_residual_input_are_quantized():
    _, net = conv_net()
    p = find_placement(lower_network(net), constraints=False)
    assert _sites(p) == {"x": [("c1", 0)], "r": [("c2", 0), ("y", 1)]}
    assert [(n.name, axis, act) for n, axis, act in p.weighted] == [("c1", 0, "x"), ("c2", 0, "r")]


@pytest.mark.parametrize("constraints", [False, True])
def test_a_layer_pinned_to_float_is_left_out_only_under_the_constraint_flags(constraints):
    _, net = conv_net()
    net.get_layer(2).precision = trt.float32            # c2
    p = find_placement(lower_network(net), constraints)
    if constraints:   # c2 stays FLOAT, so the add no longer fuses with a quantized conv: no residual Q/DQ either
        assert _sites(p) == {"x": [("c1", 0)]} and [n.name for n, _, _ in p.weighted] == ["c1"]
    else:
        assert _sites(p) == {"x": [("c1", 0)], "r": [("c2", 0), ("y", 1)]}


def test_a_layer_pinned_to_int8_and_an_int8_output_get_qdq():
    _, net = conv_net()
    net.get_layer(1).precision = trt.int8               # relu: its input c1 is quantized
    net.get_layer(2).set_output_type(0, trt.int8)       # c2's output is stored in INT8 for its readers
    p = find_placement(lower_network(net), constraints=True)
    assert _sites(p)["c1"] == [("r", 0)] and _sites(p)["c2"] == [("y", 0)]


@pytest.mark.parametrize("op1, shape, axis", [(trt.MatrixOperation.NONE, (16, 8), 1),
                                              (trt.MatrixOperation.TRANSPOSE, (8, 16), 0),
                                              (trt.MatrixOperation.NONE, (2, 16, 8), 2)])
def test_matrix_multiply_with_constant_weights_is_quantized_per_output_column(op1, shape, axis):
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (2, 4, 16))
    w = net.add_constant(shape, np.ones(shape, np.float32))
    mm = net.add_matrix_multiply(x, trt.MatrixOperation.NONE, w.get_output(0), op1)
    mm.name = "fc"
    net.mark_output(mm.get_output(0))
    p = find_placement(lower_network(net), constraints=False)
    assert _sites(p) == {"x": [("fc", 0)]} and [(n.name, a) for n, a, _ in p.weighted] == [("fc", axis)]


def test_insert_qdq_writes_int8_weights_and_skips_tensors_without_a_range():
    _, net = conv_net()
    g = lower_network(net)
    done, missing, weights = insert_qdq(g, find_placement(g, False), {"x": 2.54})
    assert done == {"x": pytest.approx(0.02)} and missing == ["r"] and weights == 1
    kinds = [n.kind for n in g.nodes]
    assert kinds.count(Kind.QUANTIZE) == 1 and kinds.count(Kind.DEQUANTIZE) == 2
    c1 = g.node("c1")
    wdq = next(n for n in g.nodes if n.outputs[0] == c1.inputs[1])
    assert wdq.kind == Kind.DEQUANTIZE and wdq.attrs.axis == 0 and g.specs[wdq.inputs[0]].dtype == trt.int8
    assert g.node("c2").inputs[1].endswith("[kernel]")          # c2's input has no range: its weight stays FLOAT
    g.check()


def test_obey_constraints_build_keeps_the_pinned_layer_in_float():
    log = Capture()
    builder, net = conv_net(log)
    net.get_layer(2).precision = trt.float32
    net.get_input(0).set_dynamic_range(-3, 3)
    net.get_layer(1).get_output(0).set_dynamic_range(0, 2)
    build(builder, net, flags=(trt.BuilderFlag.INT8, trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS))
    assert any("Q/DQ on 1 activation(s) and the weights of 1 layer(s) (2 range(s) from set_dynamic_range)" in m
               for m in log.of(trt.Severity.INFO))
