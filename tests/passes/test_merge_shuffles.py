import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import compare_optimized, kinds, mark_y, optimize, rand, shuffle

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
    mark_y(net, r.get_output(0))
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


def _head_split_net(dims_as_tensor=False):
    """A fused QKV product (7, 2, 3*8), one third taken by a strided slice (a view), then the head split of
    torch's MultiheadAttention export: reshape (7, 2*4, 2), transpose (1, 0, 2), reshape (2, 4, 7, 2)."""
    import numpy as np

    from tests.helpers import const

    builder, net = new_network()
    x = net.add_input("x", trt.float32, (7, 2, 24))
    q = net.add_slice(x, (0, 0, 8), (7, 2, 8), (1, 1, 1)).get_output(0)
    if dims_as_tensor:
        s = net.add_shuffle(q)
        s.set_input(1, const(net, np.array([7, 8, 2], dtype=np.int64)))
        s.name = "split_heads"
        t = s.get_output(0)
    else:
        t = shuffle(net, q, (7, 8, 2), name="split_heads")
    t = shuffle(net, t, first=(1, 0, 2), name="heads_first")
    t = shuffle(net, t, (2, 4, 7, 2), name="unflatten")
    r = net.add_activation(t, trt.ActivationType.RELU)
    r.name = "relu"
    r.get_output(0).name = "y"
    net.mark_output(r.get_output(0))
    return builder, net


def test_structure_head_split_becomes_split_permute():
    for as_tensor in (False, True):
        g = optimize(_head_split_net(as_tensor)[1], only={"merge_shuffles"})
        shuffles = [n for n in g.nodes if n.kind == "shuffle"]
        assert len(shuffles) == 1, [n.name for n in shuffles]
        a = shuffles[0].attrs
        assert tuple(a.reshape_dims) == (7, 2, 4, 2) and tuple(a.second_transpose) == (1, 2, 0, 3)
        assert len(shuffles[0].inputs) == 1
        assert {"split_heads", "heads_first", "unflatten"} <= set(shuffles[0].origin)


def test_numerics_head_split():
    for as_tensor in (False, True):
        builder, net = _head_split_net(as_tensor)
        compare_optimized(builder, net, [{"x": rand(7, 2, 24)}], passes=["merge_shuffles"])


def test_head_split_runs_as_views():
    """After the rewrite the executor plans the slice and the whole chain as views of the input: only the ReLU runs."""
    builder, net = _head_split_net()
    cfg = builder.create_builder_config()
    cfg.device = "cpu"
    cfg.passes = ["merge_shuffles"]
    engine = trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build(net, cfg))
    ctx = engine.create_execution_context()
    ctx.infer(x=rand(7, 2, 24))
    (plan,) = ctx._plans.values()
    assert [name for *_, name in plan.steps] == ["relu"]
