import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import compare_optimized, kinds, optimize, rand, shuffle

PROFILE = [{"x": ((1, 4, 6), (2, 4, 6), (3, 4, 6))}]


def _net(kind):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 4, 6))
    if kind == "cancel":
        t = shuffle(net, x, first=(0, 2, 1), name="t1")
        t = shuffle(net, t, first=(0, 2, 1), name="t2")
    elif kind == "reshape_chain":
        t = shuffle(net, x, (0, 24), name="flatten")
        t = shuffle(net, t, (0, 6, 4), name="unflatten")
        t = shuffle(net, t, first=(0, 2, 1), name="swap")
    else:  # transpose + reshape + transpose + transpose
        t = shuffle(net, x, first=(0, 2, 1), name="a")
        t = shuffle(net, t, (0, 2, 12), second=(0, 2, 1), name="b")
        t = shuffle(net, t, first=(0, 2, 1), name="c")
    r = net.add_activation(t, trt.ActivationType.RELU)
    r.name = "relu"
    y = r.get_output(0)
    y.name = "y"
    net.mark_output(y)
    return builder, net


def test_structure_cancelling_transposes_vanish():
    g = optimize(_net("cancel")[1], only={"merge_shuffles"})
    assert kinds(g) == ["activation"]
    assert {"t1", "t2"} <= set(g.nodes[-1].origin)


def test_structure_chains_become_one_shuffle():
    for kind, names in (("reshape_chain", {"flatten", "unflatten", "swap"}), ("mixed", {"a", "b", "c"})):
        g = optimize(_net(kind)[1], only={"merge_shuffles"})
        assert kinds(g) == ["shuffle", "activation"], kind
        assert set(g.nodes[0].origin) == names


def test_numerics_dynamic_batch():
    for kind in ("cancel", "reshape_chain", "mixed"):
        builder, net = _net(kind)
        compare_optimized(builder, net, [{"x": rand(2, 4, 6)}, {"x": rand(3, 4, 6)}], profiles=PROFILE,
                          passes=["merge_shuffles"])
