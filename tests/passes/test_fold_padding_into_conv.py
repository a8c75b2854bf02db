import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import compare_optimized, count, optimize, rand


def _net(pre=(1, 2), post=(2, 0), mode="constant"):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 3, 6, 6))
    pad = net.add_padding_nd(x, pre, post)
    pad.name = "pad"
    if mode != "constant":
        pad.mode = mode
    conv = net.add_convolution_nd(pad.get_output(0), 4, (3, 3), rand(4, 3, 3, 3), rand(4))
    conv.padding_nd = (1, 1)
    conv.name = "conv"
    y = conv.get_output(0)
    y.name = "y"
    net.mark_output(y)
    return builder, net


PROFILE = [{"x": ((1, 3, 6, 6), (2, 3, 6, 6), (2, 3, 6, 6))}]


def test_structure_zero_padding_folds():
    g = optimize(_net()[1], only={"fold_padding_into_conv"})
    assert count(g, "padding") == 0
    conv = [n for n in g.nodes if n.kind == "convolution"][0]
    assert conv.attrs.pre_padding == (2, 3) and conv.attrs.post_padding == (3, 1)
    assert "pad" in conv.origin


def test_numerics():
    builder, net = _net()
    compare_optimized(builder, net, [{"x": rand(2, 3, 6, 6)}], profiles=PROFILE, passes=["fold_padding_into_conv"])


def test_reflect_padding_is_kept():
    g = optimize(_net(mode="reflect")[1], only={"fold_padding_into_conv"})
    assert count(g, "padding") == 1
