import numpy as np
import torch

import inferrt as trt
from inferrt.ops import get_op
from inferrt.ops.base import Attrs, OpError
from tests.helpers import new_network
from tests.passes.nets import EW, compare_optimized, count, kinds, mark_y, optimize, rand, scalar

PROFILE = [{"x": ((1, 3, 4), (2, 3, 4), (4, 3, 4)), "b": ((1, 1, 4),) * 3}]


def _net():
    """swish(x + b) * 2 - x, then half-precision round trip, then a uniform scale; plus an int shape branch."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 3, 4))
    b = net.add_input("b", trt.float32, (1, 1, 4))
    a = net.add_elementwise(x, b, EW.SUM)
    a.name = "add_b"
    s = net.add_activation(a.get_output(0), trt.ActivationType.SIGMOID)
    s.name = "sigmoid"
    m = net.add_elementwise(a.get_output(0), s.get_output(0), EW.PROD)   # a is read twice, both inside
    m.name = "swish"
    t = net.add_elementwise(m.get_output(0), scalar(net, 2.0, 3), EW.PROD)
    t.name = "times2"
    d = net.add_elementwise(t.get_output(0), x, EW.SUB)
    d.name = "minus_x"
    c = net.add_cast(d.get_output(0), trt.float16)
    c.name = "to_half"
    c2 = net.add_cast(c.get_output(0), trt.float32)
    c2.name = "to_float"
    sc = net.add_scale(c2.get_output(0), trt.ScaleMode.UNIFORM, np.array([0.5], np.float32),
                       np.array([3.0], np.float32), None)
    sc.name = "uniform_scale"
    e = net.add_unary(sc.get_output(0), trt.UnaryOperation.ABS)
    e.name = "abs"
    mark_y(net, e.get_output(0))
    return builder, net


def test_structure_one_pointwise_layer():
    g = optimize(_net()[1], only={"fuse_pointwise", "eliminate_dead_layers"})
    assert kinds(g) == ["pointwise"]
    pw = g.nodes[-1]
    assert pw.inputs == ["x", "b"]
    assert {"add_b", "sigmoid", "swish", "times2", "minus_x", "to_half", "to_float", "uniform_scale",
            "abs"} <= set(pw.origin)
    ops = [i[0] for i in pw.attrs.program]
    assert ops.count("input") == 2 and ops.count("scalar") >= 3 and ops.count("cast") == 2
    import json

    json.dumps(pw.attrs.program, allow_nan=False)   # strict JSON (the plan manifest)


def test_numerics_dynamic_batch():
    builder, net = _net()
    feeds = [{"x": rand(2, 3, 4), "b": rand(1, 1, 4)}, {"x": rand(4, 3, 4), "b": rand(1, 1, 4)}]
    compare_optimized(builder, net, feeds, profiles=PROFILE, passes=["fuse_pointwise"], rtol=1e-6, atol=1e-6)


def test_value_read_outside_the_group_splits_it():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 3))
    a = net.add_unary(x, trt.UnaryOperation.EXP)
    b = net.add_unary(a.get_output(0), trt.UnaryOperation.LOG)
    s = net.add_softmax(a.get_output(0))                 # not pointwise: exp's output escapes
    s.get_output(0).name = "s"
    c = net.add_activation(b.get_output(0), trt.ActivationType.RELU)
    c.get_output(0).name = "y"
    net.mark_output(c.get_output(0))
    net.mark_output(s.get_output(0))
    g = optimize(net, only={"fuse_pointwise"})
    assert count(g, "pointwise") == 1 and count(g, "unary") == 1
    pw = [n for n in g.nodes if n.kind == "pointwise"][0]
    assert pw.inputs == [a.get_output(0).name]
    compare_optimized(builder, net, [{"x": rand(2, 3)}], passes=["fuse_pointwise"])


def test_integer_shape_arithmetic_is_left_alone():
    builder, net = new_network()
    x = net.add_input("x", trt.int32, (4,))
    a = net.add_elementwise(x, net.add_constant((1,), np.array([2], np.int32)).get_output(0), EW.PROD)
    b = net.add_elementwise(a.get_output(0), net.add_constant((1,), np.array([1], np.int32)).get_output(0), EW.SUM)
    b.get_output(0).name = "y"
    net.mark_output(b.get_output(0))
    assert count(optimize(net, only={"fuse_pointwise"}), "pointwise") == 0


def test_program_checks_and_generic_run():
    op = get_op("pointwise")
    prog = [["input", 0], ["scalar", "-inf", "FLOAT"], ["binary", "MAX", 0, 1], ["act", "LEAKY_RELU", 0.1, 0.0, 2]]
    x = torch.tensor([-2.0, 3.0])
    (y,) = op.run(Attrs(program=prog), [x], None)
    np.testing.assert_allclose(y.numpy(), np.array([-0.2, 3.0], np.float32), rtol=1e-6)
    for bad in ([["input", 1]], [["binary", "SUM", 0, 3]], [["unary", "NOPE", 0]], []):
        try:
            op.infer(Attrs(program=bad), [None])
        except OpError as e:
            assert "pointwise" in str(e)
        else:
            raise AssertionError(f"{bad} accepted")


def test_channel_and_elementwise_scales_join_the_group():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 3, 2, 2))
    s1 = net.add_scale(x, trt.ScaleMode.CHANNEL, rand(3), rand(3) + 1, None)
    s1.name = "bn_as_scale"
    r = net.add_activation(s1.get_output(0), trt.ActivationType.RELU)
    r.name = "relu"
    s2 = net.add_scale(r.get_output(0), trt.ScaleMode.ELEMENTWISE, None, rand(3, 2, 2), np.full(12, 2.0, np.float32))
    s2.name = "elementwise_scale"
    mark_y(net, s2.get_output(0))
    g = optimize(net, only={"fuse_pointwise", "eliminate_dead_layers"})
    assert kinds(g) == ["pointwise"]
    assert {"bn_as_scale", "relu", "elementwise_scale"} <= set(g.nodes[-1].origin)
    shapes = sorted(tuple(n.attrs.shape) for n in g.nodes if n.kind == "constant")
    assert shapes == [(1, 3, 1, 1), (1, 3, 1, 1), (1, 3, 2, 2), (1, 3, 2, 2)]
    compare_optimized(builder, net, [{"x": rand(2, 3, 2, 2)}, {"x": rand(4, 3, 2, 2)}],
                      profiles=[{"x": ((1, 3, 2, 2), (2, 3, 2, 2), (4, 3, 2, 2))}], passes=["fuse_pointwise"],
                      rtol=1e-6, atol=1e-6)
