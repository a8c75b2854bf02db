import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import compare_optimized, kinds, mark_y, optimize, rand


def _net():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 3))
    a = net.add_activation(x, trt.ActivationType.RELU)
    a.name = "used"
    b = net.add_activation(x, trt.ActivationType.SIGMOID)
    b.name = "unused"
    c = net.add_unary(b.get_output(0), trt.UnaryOperation.EXP)
    c.name = "unused_too"
    mark_y(net, a.get_output(0))
    return builder, net


def test_structure_unreachable_layers_removed():
    g = optimize(_net()[1], only={"eliminate_dead_layers"})
    assert kinds(g) == ["activation"] and g.nodes[0].name == "used"


def test_numerics():
    builder, net = _net()
    compare_optimized(builder, net, [{"x": rand(2, 3)}], profiles=[{"x": ((1, 3), (2, 3), (4, 3))}],
                      passes=["eliminate_dead_layers"])
