import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import compare_optimized, count, optimize, rand

ONLY = {"fuse_conv_matmul_epilogue", "fuse_horizontal_convs", "eliminate_dead_layers"}
PROFILE = [{"x": ((1, 6, 5, 5), (2, 6, 5, 5), (3, 6, 5, 5))}]


def _net():
    """Inception-like: two 1x1 conv+relu branches, one without bias, and a 3x3 branch (other geometry: kept)."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 6, 5, 5))
    outs = []
    for name, cout, k, bias in (("b1", 4, 1, True), ("b2", 3, 1, False), ("b3", 2, 3, True)):
        c = net.add_convolution_nd(x, cout, (k, k), rand(cout, 6, k, k), rand(cout) if bias else None)
        c.padding_nd = (k // 2, k // 2)
        c.name = f"{name}_conv"
        r = net.add_activation(c.get_output(0), trt.ActivationType.RELU)
        r.name = f"{name}_relu"
        outs.append(r.get_output(0))
    cat = net.add_concatenation(outs)
    cat.axis = 1
    y = cat.get_output(0)
    y.name = "y"
    net.mark_output(y)
    return builder, net


def test_structure_same_geometry_convs_merge():
    g = optimize(_net()[1], only=ONLY)
    merged = [n for n in g.nodes if n.kind == "fused_conv" and "merged" in n.name]
    assert len(merged) == 1 and merged[0].attrs.num_output_maps == 7
    assert {"b1_conv", "b1_relu", "b2_conv", "b2_relu"} <= set(merged[0].origin)
    assert count(g, "fused_conv") == 2 and count(g, "slice") == 2
    assert sorted(n.name for n in g.nodes if n.kind == "slice") == ["b1_conv", "b2_conv"]


def test_numerics_dynamic_batch():
    builder, net = _net()
    compare_optimized(builder, net, [{"x": rand(2, 6, 5, 5)}, {"x": rand(3, 6, 5, 5)}], profiles=PROFILE,
                      passes=sorted(ONLY))


def test_with_concat_elimination_the_slices_vanish():
    g = optimize(_net()[1], only=ONLY | {"eliminate_concat"})
    assert count(g, "slice") == 0 and count(g, "fused_conv") == 2
    cat = [n for n in g.nodes if n.kind == "concatenation"][0]
    assert len(cat.inputs) == 2 and {"b1_conv", "b2_conv"} <= set(cat.origin)
    builder, net = _net()
    compare_optimized(builder, net, [{"x": rand(2, 6, 5, 5)}], profiles=PROFILE,
                      passes=sorted(ONLY | {"eliminate_concat"}))
