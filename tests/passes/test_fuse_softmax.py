import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import EW, compare_optimized, kinds, optimize, rand, softmax_primitives

PROFILE = [{"x": ((1, 3, 7), (2, 3, 7), (4, 3, 7))}]
R = trt.ReduceOperation


def _net(kind):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 3, 7))
    if kind == "softmax":
        y = softmax_primitives(net, x, 2, 3, "sm")
    elif kind == "softmax_no_max":
        e = net.add_unary(x, trt.UnaryOperation.EXP)
        s = net.add_reduce(e.get_output(0), R.SUM, 1 << 1, True)
        r = net.add_unary(s.get_output(0), trt.UnaryOperation.RECIP)
        y = net.add_elementwise(e.get_output(0), r.get_output(0), EW.PROD).get_output(0)
    elif kind == "log_softmax":
        m = net.add_reduce(x, R.MAX, 1 << 2, True)
        u = net.add_elementwise(x, m.get_output(0), EW.SUB)
        e = net.add_unary(u.get_output(0), trt.UnaryOperation.EXP)
        s = net.add_reduce(e.get_output(0), R.SUM, 1 << 2, True)
        lg = net.add_unary(s.get_output(0), trt.UnaryOperation.LOG)
        y = net.add_elementwise(u.get_output(0), lg.get_output(0), EW.SUB).get_output(0)
    else:  # log of a softmax layer
        sm = net.add_softmax(x)
        sm.axes = 1 << 2
        y = net.add_unary(sm.get_output(0), trt.UnaryOperation.LOG).get_output(0)
    y.name = "y"
    net.mark_output(y)
    return builder, net


def test_structure():
    expect = {"softmax": (["softmax"], 5), "softmax_no_max": (["softmax"], 4), "log_softmax": (["log_softmax"], 6),
              "log_of_softmax": (["log_softmax"], 2)}
    for kind, (ks, n_origin) in expect.items():
        g = optimize(_net(kind)[1], only={"fuse_softmax"})
        assert kinds(g) == ks, kind
        assert len(g.nodes[-1].origin) == n_origin, (kind, g.nodes[-1].origin)
    g = optimize(_net("softmax_no_max")[1], only={"fuse_softmax"})
    assert g.nodes[-1].attrs.axes == 1 << 1


def test_numerics_dynamic_batch():
    for kind in ("softmax", "softmax_no_max", "log_softmax", "log_of_softmax"):
        builder, net = _net(kind)
        compare_optimized(builder, net, [{"x": rand(2, 3, 7, scale=3)}, {"x": rand(4, 3, 7)}], profiles=PROFILE,
                          passes=["fuse_softmax"])


def test_intermediate_read_outside_blocks_fusion():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 5))
    e = net.add_unary(x, trt.UnaryOperation.EXP)
    s = net.add_reduce(e.get_output(0), R.SUM, 1 << 1, True)
    y = net.add_elementwise(e.get_output(0), s.get_output(0), EW.DIV).get_output(0)
    y.name = "y"
    net.mark_output(y)
    s.get_output(0).name = "sum"
    net.mark_output(s.get_output(0))
    g = optimize(net, only={"fuse_softmax"})
    assert "softmax" not in kinds(g)
