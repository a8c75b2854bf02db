import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import (EW, compare_optimized, count, gelu_erf, kinds, linear, mark_y, optimize, rand,
                               resnet_block_network)

PROFILE = [{"x": ((1, 8, 8, 8), (2, 8, 8, 8), (3, 8, 8, 8))}]
ONLY = {"fold_batchnorm_into_weights", "fuse_gelu", "fuse_conv_matmul_epilogue", "eliminate_dead_layers"}


def test_structure_resnet_block_one_layer_per_conv():
    g = optimize(resnet_block_network()[1], only=ONLY)
    assert kinds(g) == ["fused_conv"] * 3
    by_name = {n.name: n for n in g.nodes}
    assert by_name["b1_conv"].attrs.epilogue == [["act", "RELU", 0.0, 0.0]]
    assert by_name["b2_conv"].attrs.epilogue == [["add", 3], ["act", "RELU", 0.0, 0.0]]
    assert by_name["b2_conv"].inputs[3] == "x"
    assert by_name["head_conv"].attrs.epilogue == [["act", "CLIP", 0.0, 6.0]]
    assert {"b2_bn_mul", "b2_bn_add", "residual_add", "residual_relu"} <= set(by_name["b2_conv"].origin)
    assert {"relu6_max", "relu6_min"} <= set(by_name["head_conv"].origin)


def test_numerics_resnet_block_dynamic_batch():
    builder, net = resnet_block_network()
    compare_optimized(builder, net, [{"x": rand(2, 8, 8, 8)}, {"x": rand(3, 8, 8, 8)}], profiles=PROFILE,
                      passes=sorted(ONLY))


def _mlp():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 4, 16))
    h = gelu_erf(net, linear(net, x, 16, 32, "fc1"), 3, "gelu")
    o = linear(net, h, 32, 16, "fc2")
    r = net.add_elementwise(o, x, EW.SUM)
    r.name = "residual"
    c = net.add_activation(r.get_output(0), trt.ActivationType.CLIP)
    c.alpha, c.beta = -1.0, 1.5
    c.name = "clip"
    mark_y(net, c.get_output(0))
    return builder, net


def test_structure_and_numerics_matmul_bias_gelu_residual_clip():
    builder, net = _mlp()
    g = optimize(net, only=ONLY)
    assert kinds(g) == ["fused_matmul", "fused_matmul"]
    fc1, fc2 = [n for n in g.nodes if n.kind == "fused_matmul"]
    assert fc1.attrs.epilogue == [["act", "GELU_ERF", 0.0, 0.0]] and len(fc1.inputs) == 3
    assert fc2.attrs.epilogue == [["add", 3], ["act", "CLIP", -1.0, 1.5]]
    assert {"fc2_matmul", "fc2_bias", "residual", "clip"} <= set(fc2.origin)
    compare_optimized(builder, net, [{"x": rand(2, 4, 16)}, {"x": rand(5, 4, 16)}],
                      profiles=[{"x": ((1, 4, 16), (2, 4, 16), (5, 4, 16))}], passes=sorted(ONLY))


def test_deconvolution_and_broadcast_residual():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 3, 4, 4))
    r = net.add_input("r", trt.float32, (1, 5, 1, 8))   # broadcasts over batch and height
    de = net.add_deconvolution_nd(x, 5, (2, 2), rand(3, 5, 2, 2), rand(5))
    de.stride_nd = (2, 2)
    de.name = "deconv"
    a = net.add_elementwise(r, de.get_output(0), EW.SUM)
    s = net.add_activation(a.get_output(0), trt.ActivationType.SIGMOID)
    mark_y(net, s.get_output(0))
    g = optimize(net, only=ONLY)
    assert kinds(g) == ["fused_conv"] and g.nodes[-1].attrs.transposed
    compare_optimized(builder, net, [{"x": rand(2, 3, 4, 4), "r": rand(1, 5, 1, 8)}],
                      profiles=[{"x": ((1, 3, 4, 4), (2, 3, 4, 4), (2, 3, 4, 4)), "r": ((1, 5, 1, 8),) * 3}],
                      passes=sorted(ONLY))


def test_output_read_twice_stops_the_chain():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (1, 2, 3, 3))
    conv = net.add_convolution_nd(x, 2, (1, 1), rand(2, 2, 1, 1), None)
    a = net.add_activation(conv.get_output(0), trt.ActivationType.RELU)
    b = net.add_elementwise(conv.get_output(0), a.get_output(0), EW.SUM)
    b.get_output(0).name = "y"
    net.mark_output(b.get_output(0))
    g = optimize(net, only=ONLY)
    assert count(g, "convolution") == 1 and count(g, "fused_conv") == 0
