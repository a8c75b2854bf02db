import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import EW, compare_optimized, count, optimize, rand, scalar

PROFILE = [{"x": ((1, 5), (2, 5), (4, 5))}]


def _net():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 5))
    a = net.add_activation(x, trt.ActivationType.SIGMOID)
    a.name = "sig_a"
    b = net.add_activation(x, trt.ActivationType.SIGMOID)
    b.name = "sig_b"
    c = net.add_activation(x, trt.ActivationType.TANH)   # different attrs: kept
    c.name = "tanh"
    s1 = net.add_elementwise(a.get_output(0), scalar(net, 2.0, 2), EW.PROD)
    s1.name = "scale_a"
    s2 = net.add_elementwise(b.get_output(0), scalar(net, 2.0, 2), EW.PROD)   # equal after sig_b merges
    s2.name = "scale_b"
    t = net.add_elementwise(s1.get_output(0), s2.get_output(0), EW.SUM)
    u = net.add_elementwise(t.get_output(0), c.get_output(0), EW.SUM)
    y = u.get_output(0)
    y.name = "y"
    net.mark_output(y)
    return builder, net


def test_structure_duplicates_merge_in_cascade():
    g = optimize(_net()[1], only={"eliminate_common_subexpressions", "eliminate_dead_layers"})
    assert count(g, "activation") == 2
    assert count(g, "elementwise") == 3   # one scale, the sum, the final add
    assert count(g, "constant") == 1      # the two 2.0 scalars merged
    sig = [n for n in g.nodes if n.kind == "activation" and "sig_a" in n.origin][0]
    assert "sig_b" in sig.origin
    scale = [n for n in g.nodes if "scale_a" in n.origin][0]
    assert "scale_b" in scale.origin


def test_numerics():
    builder, net = _net()
    compare_optimized(builder, net, [{"x": rand(2, 5)}, {"x": rand(4, 5)}], profiles=PROFILE,
                      passes=["eliminate_common_subexpressions"])


def test_two_network_outputs_are_both_kept():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (3,))
    for i in range(2):
        a = net.add_activation(x, trt.ActivationType.RELU)
        a.get_output(0).name = f"y{i}"
        net.mark_output(a.get_output(0))
    g = optimize(net, only={"eliminate_common_subexpressions"})
    assert count(g, "activation") == 2
    compare_optimized(builder, net, [{"x": rand(3)}], passes=["eliminate_common_subexpressions"])
