import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import (EW, compare_optimized, const, count, kinds, layer_norm, mark_y, optimize, rand,
                               scalar, shuffle)

R = trt.ReduceOperation
U = trt.UnaryOperation


def _ln_net():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 5, 16))
    mark_y(net, layer_norm(net, x, 16, "ln"))
    return builder, net


def _rms_net():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 5, 16))
    p = net.add_elementwise(x, scalar(net, 2.0, 3), EW.POW)
    ms = net.add_reduce(p.get_output(0), R.AVG, 1 << 2, True)
    e = net.add_elementwise(ms.get_output(0), scalar(net, 1e-6, 3), EW.SUM)
    s = net.add_unary(e.get_output(0), U.SQRT)
    r = net.add_unary(s.get_output(0), U.RECIP)
    n = net.add_elementwise(x, r.get_output(0), EW.PROD)
    g = net.add_elementwise(n.get_output(0), const(net, rand(1, 1, 16)), EW.PROD)
    mark_y(net, g.get_output(0))
    return builder, net


def _norm_core(net, x, axes, name):
    mean = net.add_reduce(x, R.AVG, axes, True)
    d = net.add_elementwise(x, mean.get_output(0), EW.SUB)
    sq = net.add_elementwise(d.get_output(0), d.get_output(0), EW.PROD)
    var = net.add_reduce(sq.get_output(0), R.AVG, axes, True)
    rank = len(x.shape)
    ve = net.add_elementwise(var.get_output(0), scalar(net, 1e-5, rank), EW.SUM)
    s = net.add_unary(ve.get_output(0), U.SQRT)
    n = net.add_elementwise(d.get_output(0), s.get_output(0), EW.DIV)
    n.name = name
    return n.get_output(0)


def _channel_affine_output(net, t, channels):
    """y = t * gamma + beta with random per-channel [1, C, 1, 1] gamma (about 1) and beta, marked as output "y"."""
    g = net.add_elementwise(t, const(net, rand(1, channels, 1, 1) + 1), EW.PROD)
    b = net.add_elementwise(g.get_output(0), const(net, rand(1, channels, 1, 1)), EW.SUM)
    mark_y(net, b.get_output(0))


def _instance_net():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 4, 5, 6))
    n = _norm_core(net, x, 0b1100, "inorm")
    _channel_affine_output(net, n, 4)
    return builder, net


def _group_net():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 6, 4, 4))
    r = shuffle(net, x, (0, 3, -1), name="to_groups")
    n = _norm_core(net, r, 0b100, "gnorm")
    back = shuffle(net, n, (-1, 6, 4, 4), name="from_groups")
    _channel_affine_output(net, back, 6)
    return builder, net


def _l2_net():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 8))
    sq = net.add_elementwise(x, x, EW.PROD)
    s = net.add_reduce(sq.get_output(0), R.SUM, 1 << 1, True)
    r = net.add_unary(s.get_output(0), U.SQRT)
    m = net.add_elementwise(r.get_output(0), scalar(net, 1e-12, 2), EW.MAX)
    mark_y(net, net.add_elementwise(x, m.get_output(0), EW.DIV).get_output(0))
    return builder, net


NETS = {
    "layer_norm": (_ln_net, (2, 5, 16), 9),
    "rms_norm": (_rms_net, (2, 5, 16), 7),
    "instance_norm": (_instance_net, (2, 4, 5, 6), 9),
    "group_norm": (_group_net, (2, 6, 4, 4), 11),
    "l2_norm": (_l2_net, (3, 8), 5),
}


def test_structure_one_layer_per_norm():
    for kind, (make, shape, n_layers) in NETS.items():
        net = make()[1]
        layers = {lay.name for lay in net if lay.type != trt.LayerType.CONSTANT}
        assert len(layers) == n_layers
        g = optimize(net, only={"fuse_norms", "eliminate_dead_layers"})
        assert kinds(g) == [kind], (kind, kinds(g))
        assert layers <= set(g.nodes[-1].origin), (kind, g.nodes[-1].origin)   # every absorbed layer is named
    g = optimize(_ln_net()[1], only={"fuse_norms"})
    ln = [n for n in g.nodes if n.kind == "layer_norm"][0]
    assert ln.attrs.axes == 1 << 2 and abs(ln.attrs.epsilon - 1e-5) < 1e-12 and len(ln.inputs) == 3
    names = {"ln_mean", "ln_sub", "ln_sq", "ln_var", "ln_eps", "ln_sqrt", "ln_div", "ln_gamma", "ln_beta"}
    assert names <= set(ln.origin)
    gn = [n for n in optimize(_group_net()[1], only={"fuse_norms"}).nodes if n.kind == "group_norm"][0]
    assert gn.attrs.num_groups == 3 and {"to_groups", "from_groups", "gnorm"} <= set(gn.origin)


def test_numerics_dynamic_batch():
    for kind, (make, shape, _) in NETS.items():
        builder, net = make()
        prof = [{"x": ((1,) + shape[1:], shape, (4,) + shape[1:])}]
        feeds = [{"x": rand(*shape, scale=3) + 1}, {"x": rand(4, *shape[1:])}]
        compare_optimized(builder, net, feeds, profiles=prof, passes=["fuse_norms"])


def test_mismatched_axes_is_not_a_layer_norm():
    """mean over axis 2 but variance over axis 1: not a LayerNorm; it is an RMSNorm of (x - mean) over axis 1."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 5, 16))
    mean = net.add_reduce(x, R.AVG, 1 << 2, True)
    d = net.add_elementwise(x, mean.get_output(0), EW.SUB)
    sq = net.add_elementwise(d.get_output(0), d.get_output(0), EW.PROD)
    var = net.add_reduce(sq.get_output(0), R.AVG, 1 << 1, True)   # another axis
    s = net.add_unary(var.get_output(0), U.SQRT)
    mark_y(net, net.add_elementwise(d.get_output(0), s.get_output(0), EW.DIV).get_output(0))
    g = optimize(net, only={"fuse_norms"})
    assert count(g, "layer_norm") == 0
    assert [n.attrs.axes for n in g.nodes if n.kind == "rms_norm"] == [1 << 1]
    compare_optimized(builder, net, [{"x": rand(2, 5, 16)}], passes=["fuse_norms"])
