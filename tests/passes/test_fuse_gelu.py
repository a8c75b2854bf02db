import math

import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import EW, compare_optimized, gelu_erf, kinds, optimize, rand, scalar

U = trt.UnaryOperation


def _tanh_net(cube="pow"):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 6))
    if cube == "pow":
        c = net.add_elementwise(x, scalar(net, 3.0, 2), EW.POW).get_output(0)
    else:
        xx = net.add_elementwise(x, x, EW.PROD)
        c = net.add_elementwise(xx.get_output(0), x, EW.PROD).get_output(0)
    a = net.add_elementwise(c, scalar(net, 0.044715, 2), EW.PROD)
    s = net.add_elementwise(x, a.get_output(0), EW.SUM)
    k = net.add_elementwise(scalar(net, math.sqrt(2 / math.pi), 2), s.get_output(0), EW.PROD)
    t = net.add_activation(k.get_output(0), trt.ActivationType.TANH)
    o = net.add_elementwise(t.get_output(0), scalar(net, 1.0, 2), EW.SUM)
    h = net.add_elementwise(x, scalar(net, 0.5, 2), EW.PROD)       # (0.5·x)·t grouping
    y = net.add_elementwise(h.get_output(0), o.get_output(0), EW.PROD).get_output(0)
    y.name = "y"
    net.mark_output(y)
    return builder, net


def _erf_net(form="div"):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 6))
    if form == "div":
        y = gelu_erf(net, x, 2, "gelu")
    else:  # x·(1/√2), 0.5 multiplied into t first
        d = net.add_elementwise(x, scalar(net, 1 / math.sqrt(2), 2), EW.PROD)
        e = net.add_unary(d.get_output(0), U.ERF)
        a = net.add_elementwise(scalar(net, 1.0, 2), e.get_output(0), EW.SUM)
        h = net.add_elementwise(a.get_output(0), scalar(net, 0.5, 2), EW.PROD)
        y = net.add_elementwise(h.get_output(0), x, EW.PROD).get_output(0)
    y.name = "y"
    net.mark_output(y)
    return builder, net


CASES = {("erf", "div"): (_erf_net, "div", "GELU_ERF", 5), ("erf", "mul"): (_erf_net, "mul", "GELU_ERF", 5),
         ("tanh", "pow"): (_tanh_net, "pow", "GELU_TANH", 8), ("tanh", "mul"): (_tanh_net, "mul", "GELU_TANH", 9)}


def test_structure():
    for key, (make, form, typ, n_layers) in CASES.items():
        net = make(form)[1]
        layers = {lay.name for lay in net}   # scalar constants die with the pattern: named too
        assert len([n for n in layers if "Constant" not in n]) == n_layers
        g = optimize(net, only={"fuse_gelu", "eliminate_dead_layers"})
        assert kinds(g) == ["activation"], key
        assert g.nodes[-1].attrs.type.name == typ
        assert set(g.nodes[-1].origin) == layers, g.nodes[-1].origin


def test_numerics():
    prof = [{"x": ((1, 6), (3, 6), (5, 6))}]
    for key, (make, form, _, _) in CASES.items():
        builder, net = make(form)
        compare_optimized(builder, net, [{"x": rand(3, 6, scale=2)}, {"x": rand(5, 6)}], profiles=prof,
                          passes=["fuse_gelu"], rtol=1e-5, atol=1e-6)


def test_wrong_constant_does_not_fuse():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 6))
    d = net.add_elementwise(x, scalar(net, 1.5, 2), EW.DIV)
    e = net.add_unary(d.get_output(0), U.ERF)
    a = net.add_elementwise(e.get_output(0), scalar(net, 1.0, 2), EW.SUM)
    m = net.add_elementwise(x, a.get_output(0), EW.PROD)
    y = net.add_elementwise(m.get_output(0), scalar(net, 0.5, 2), EW.PROD).get_output(0)
    y.name = "y"
    net.mark_output(y)
    assert "activation" not in kinds(optimize(net, only={"fuse_gelu"}))
