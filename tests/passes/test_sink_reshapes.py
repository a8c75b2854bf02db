import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import compare_optimized, const, count, gelu_erf, kinds, optimize, rand, shuffle

ONLY = {"fuse_gelu", "sink_reshapes", "fuse_conv_matmul_epilogue"}
PROFILE = [{"x": ((1, 4, 6), (2, 4, 6), (3, 4, 6))}]


def _net():
    """GPT-2 style: flatten to 2-D, Gemm, reshape back, GELU."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 4, 6))
    flat = shuffle(net, x, (-1, 6), name="flatten")
    mm = net.add_matrix_multiply(flat, trt.MatrixOperation.NONE, const(net, rand(6, 8)), trt.MatrixOperation.NONE)
    mm.name = "gemm"
    back = shuffle(net, mm.get_output(0), (-1, 4, 8), name="unflatten")
    y = gelu_erf(net, back, 3, "gelu")
    y.name = "y"
    net.mark_output(y)
    return builder, net


def test_structure_activation_moves_into_the_epilogue():
    g = optimize(_net()[1], only=ONLY)
    assert kinds(g) == ["shuffle", "fused_matmul", "shuffle"]
    fm = [n for n in g.nodes if n.kind == "fused_matmul"][0]
    assert fm.attrs.epilogue == [["act", "GELU_ERF", 0.0, 0.0]]
    last = g.nodes[-1]
    assert last.name == "unflatten" and last.outputs == ["y"] and last.inputs == fm.outputs


def test_numerics_dynamic_batch():
    builder, net = _net()
    compare_optimized(builder, net, [{"x": rand(2, 4, 6)}, {"x": rand(3, 4, 6)}], profiles=PROFILE,
                      passes=sorted(ONLY))


def test_reshape_read_twice_stays():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (4, 6))
    mm = net.add_matrix_multiply(x, trt.MatrixOperation.NONE, const(net, rand(6, 8)), trt.MatrixOperation.NONE)
    back = shuffle(net, mm.get_output(0), (2, 2, 8))
    a = net.add_activation(back, trt.ActivationType.RELU)
    a.get_output(0).name = "y"
    back.name = "z"
    net.mark_output(a.get_output(0))
    net.mark_output(back)
    g = optimize(net, only={"sink_reshapes"})
    assert count(g, "shuffle") == 1 and [n.kind for n in g.nodes if n.kind != "constant"][1] == "shuffle"


def _residual_net(r_shape=(2, 4, 8), op=trt.ElementWiseOperation.SUM):
    """Flattened Gemm, reshape back, residual add of a tensor of the reshaped shape (static shapes)."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 4, 6))
    r = net.add_input("r", trt.float32, r_shape)
    flat = shuffle(net, x, (8, 6), name="flatten")
    mm = net.add_matrix_multiply(flat, trt.MatrixOperation.NONE, const(net, rand(6, 8)), trt.MatrixOperation.NONE)
    back = shuffle(net, mm.get_output(0), (2, 4, 8), name="unflatten")
    add = net.add_elementwise(r, back, op)
    add.get_output(0).name = "y"
    net.mark_output(add.get_output(0))
    return builder, net


def test_structure_residual_add_moves_into_the_epilogue():
    g = optimize(_residual_net()[1], only=ONLY)
    assert count(g, "elementwise") == 0 and count(g, "fused_matmul") == 1
    assert g.nodes[-1].name == "unflatten" and g.nodes[-1].outputs == ["y"]


def test_numerics_residual_subtraction():  # not an epilogue, but the reshape still sinks: operand order kept
    builder, net = _residual_net(op=trt.ElementWiseOperation.SUB)
    g = optimize(_residual_net(op=trt.ElementWiseOperation.SUB)[1], only={"sink_reshapes"})
    assert g.nodes[-1].name == "unflatten"
    compare_optimized(builder, net, [{"x": rand(2, 4, 6), "r": rand(2, 4, 8)}], passes=sorted(ONLY))


def test_broadcast_operand_keeps_the_reshape():
    g = optimize(_residual_net((1, 4, 8))[1], only={"sink_reshapes"})
    assert [n.name for n in g.nodes if n.kind == "shuffle"] == ["flatten", "unflatten"]
    assert g.nodes[-1].kind == "elementwise"
