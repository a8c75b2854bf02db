import math

import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import EW, compare_optimized, const, count, mark_y, optimize, rand, resnet_block_network

PROFILE = [{"x": ((1, 8, 8, 8), (2, 8, 8, 8), (3, 8, 8, 8))}]


def test_structure_bn_mul_add_fold_into_conv():
    g = optimize(resnet_block_network()[1], only={"fold_batchnorm_into_weights"})
    assert count(g, "convolution") == 3
    conv = [n for n in g.nodes if n.name == "b1_conv"][0]
    assert {"b1_bn_mul", "b1_bn_add"} <= set(conv.origin)
    # only the residual add and the relu6 clip remain as elementwise layers
    assert sorted(n.name for n in g.nodes if n.kind == "elementwise") == ["relu6_max", "relu6_min", "residual_add"]
    # b2 had no bias: one was created
    b2 = [n for n in g.nodes if n.name == "b2_conv"][0]
    assert len(b2.inputs) == 3 and b2.inputs[2]


def test_numerics_conv():
    builder, net = resnet_block_network()
    compare_optimized(builder, net, [{"x": rand(2, 8, 8, 8)}, {"x": rand(3, 8, 8, 8)}], profiles=PROFILE,
                      passes=["fold_batchnorm_into_weights"])


def _grouped_and_deconv_and_scale():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 4, 5, 5))
    conv = net.add_convolution_nd(x, 6, (3, 3), rand(6, 2, 3, 3), rand(6))
    conv.num_groups = 2
    conv.name = "grouped"
    m = net.add_elementwise(conv.get_output(0), const(net, rand(1, 6, 1, 1) + 2), EW.DIV)
    m.name = "bn_div"
    de = net.add_deconvolution_nd(m.get_output(0), 4, (2, 2), rand(6, 2, 2, 2), None)
    de.num_groups = 2
    de.stride_nd = (2, 2)
    de.name = "deconv"
    sc = net.add_scale(de.get_output(0), trt.ScaleMode.CHANNEL, rand(4), rand(4) + 1, None)
    sc.name = "bn_scale"
    mark_y(net, sc.get_output(0))
    return builder, net


def test_grouped_conv_deconv_and_scale_layer():
    builder, net = _grouped_and_deconv_and_scale()
    g = optimize(net, only={"fold_batchnorm_into_weights"})
    assert count(g, "elementwise") == 0 and count(g, "scale") == 0
    assert "bn_scale" in [n for n in g.nodes if n.name == "deconv"][0].origin
    compare_optimized(builder, net, [{"x": rand(2, 4, 5, 5)}],
                      profiles=[{"x": ((1, 4, 5, 5), (2, 4, 5, 5), (2, 4, 5, 5))}],
                      passes=["fold_batchnorm_into_weights"])


def test_matmul_column_scale():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 3, 8))
    for op1, w in ((trt.MatrixOperation.NONE, rand(1, 8, 5)), (trt.MatrixOperation.TRANSPOSE, rand(1, 5, 8))):
        mm = net.add_matrix_multiply(x, trt.MatrixOperation.NONE, const(net, w), op1)
        s = net.add_elementwise(mm.get_output(0), const(net, rand(1, 1, 5) / math.sqrt(2)), EW.PROD)
        s.get_output(0).name = f"y_{op1.name}"
        net.mark_output(s.get_output(0))
    g = optimize(net, only={"fold_batchnorm_into_weights"})
    assert count(g, "elementwise") == 0
    compare_optimized(builder, net, [{"x": rand(2, 3, 8)}], profiles=[{"x": ((1, 3, 8), (2, 3, 8), (2, 3, 8))}],
                      passes=["fold_batchnorm_into_weights"])


def test_per_element_constant_is_not_folded():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (1, 2, 4, 4))
    conv = net.add_convolution_nd(x, 2, (1, 1), rand(2, 2, 1, 1), None)
    m = net.add_elementwise(conv.get_output(0), const(net, rand(1, 2, 4, 4)), EW.PROD)
    m.get_output(0).name = "y"
    net.mark_output(m.get_output(0))
    g = optimize(net, only={"fold_batchnorm_into_weights"})
    assert count(g, "elementwise") == 1
