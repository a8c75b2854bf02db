import numpy as np

import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import EW, compare_optimized, count, mark_y, optimize, rand, scalar

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
    mark_y(net, u.get_output(0))
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


def test_twin_of_a_network_output_takes_over_readers_of_earlier_twins():
    """relu_1 and relu_2 merge (relu_2's reader reads relu_1), then relu_3, a network output, replaces relu_1:
    the readers of both earlier twins end up reading relu_3's output."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 5))
    r = []
    for i in range(3):
        a = net.add_activation(x, trt.ActivationType.RELU)
        a.name = f"relu_{i + 1}"
        r.append(a.get_output(0))
    s = net.add_elementwise(r[0], r[1], EW.SUM).get_output(0)
    s.name = "s"
    r[2].name = "y"
    net.mark_output(s)
    net.mark_output(r[2])
    g = optimize(net, only={"eliminate_common_subexpressions"})
    relus = [n for n in g.nodes if n.kind == "activation"]
    assert len(relus) == 1 and relus[0].outputs == ["y"]
    assert set(relus[0].origin) == {"relu_1", "relu_2", "relu_3"}
    add = [n for n in g.nodes if n.kind == "elementwise"][0]
    assert add.inputs == ["y", "y"]
    compare_optimized(builder, net, [{"x": rand(2, 5)}, {"x": rand(4, 5)}], profiles=PROFILE,
                      passes=["eliminate_common_subexpressions"])


def test_thousands_of_twins_merge_in_linear_time():
    """Dynamo exports repeat small constants thousands of times: merging them must not rescan the graph per twin
    (a swin_t export took minutes). 3000 equal constants, each added to x, then summed: one constant is left, and
    the pass takes well under the time of 3000 graph scans."""
    import time

    builder, net = new_network()
    x = net.add_input("x", trt.float32, (4,))
    acc = None
    for i in range(3000):
        c = net.add_constant((4,), np.full(4, 0.5, np.float32)).get_output(0)
        t = net.add_elementwise(x, c, EW.SUM).get_output(0)
        acc = t if acc is None else net.add_elementwise(acc, t, EW.SUM).get_output(0)
    acc.name = "y"
    net.mark_output(acc)
    from inferrt.builder.lower_network import lower_network
    from inferrt.passes.eliminate_common_subexpressions import eliminate_common_subexpressions

    g = lower_network(net)
    t0 = time.perf_counter()
    removed = eliminate_common_subexpressions(g, None)
    took = time.perf_counter() - t0
    assert removed == 2 * 2999   # the constants, then the x + c layers that now read the same constant
    assert count(g, "constant") == 1
    assert took < 5.0, f"CSE of 6000 twins took {took:.1f} s"
