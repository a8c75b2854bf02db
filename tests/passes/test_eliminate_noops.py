import numpy as np

import inferrt as trt
from inferrt.passes.eliminate_noops import reshape_is_noop
from tests.helpers import new_network
from tests.passes.nets import EW, compare_optimized, const, kinds, mark_y, optimize, rand, scalar

PROFILE = [{"x": ((1, 3, 4), (2, 3, 4), (5, 3, 4))}]


def _net(ones=1.0, zeros=0.0, ones_shape=(1, 1, 1)):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 3, 4))
    i = net.add_identity(x)
    i.name = "ident"
    c = net.add_cast(i.get_output(0), trt.float32)
    c.name = "cast_same"
    s = net.add_shuffle(c.get_output(0))
    s.reshape_dims = (0, 3, -1)
    s.name = "reshape_same"
    m = net.add_elementwise(s.get_output(0), const(net, np.full(ones_shape, ones, np.float32)), EW.PROD)
    m.name = "times_one"
    a = net.add_elementwise(scalar(net, zeros, 3), m.get_output(0), EW.SUM)
    a.name = "zero_plus"
    r = net.add_activation(a.get_output(0), trt.ActivationType.RELU)
    r.name = "relu"
    mark_y(net, r.get_output(0))
    return builder, net


def test_structure_noops_removed_and_names_moved():
    builder, net = _net()
    g = optimize(net, only={"eliminate_noops"})
    assert kinds(g) == ["activation"]
    relu = [n for n in g.nodes if n.kind == "activation"][0]
    assert {"ident", "cast_same", "reshape_same", "times_one", "zero_plus", "relu"} <= set(relu.origin)
    assert g.outputs == ["y"] and relu.outputs == ["y"]


def test_not_exactly_neutral_or_broadcasting_constants_stay():
    builder, net = _net(ones=1.0000001)
    g = optimize(net, only={"eliminate_noops"})
    assert "times_one" in [n.name for n in g.nodes]
    builder, net = _net(ones_shape=(2, 1, 1))   # broadcasting changes the batch dim when it is 1
    g = optimize(net, only={"eliminate_noops"})
    assert "times_one" in [n.name for n in g.nodes]


def test_numerics_dynamic_batch():
    builder, net = _net()
    compare_optimized(builder, net, [{"x": rand(2, 3, 4)}, {"x": rand(5, 3, 4)}], profiles=PROFILE,
                      passes=["eliminate_noops"])


def test_reshape_noop_rule_on_symbolic_shapes():
    assert reshape_is_noop((-1, 3, 4), (0, 3, 4))
    assert reshape_is_noop((-1, 3, 4), (-1, 3, 4))
    assert reshape_is_noop((-1, -1, 4), (0, -1, 4))
    assert not reshape_is_noop((-1, -1, 4), (-1, -1, 4))
    assert not reshape_is_noop((2, 3, 4), (3, 2, 4))
    assert not reshape_is_noop((-1, 3, 4), (-1, 12))


def test_identity_between_input_and_output_is_kept():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2,))
    i = net.add_identity(x)
    mark_y(net, i.get_output(0))
    g = optimize(net, only={"eliminate_noops"})
    assert kinds(g) == ["identity"]
