import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import compare_optimized, count, kinds, mark_y, optimize, rand

PROFILE = [{"x": ((1, 6, 4), (2, 6, 4), (3, 6, 4))}]


def _net(kind):
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 6, 4))
    if kind == "tile":
        a = net.add_slice(x, (0, 0, 0), (1, 2, 4), (1, 1, 1))
        b = net.add_slice(x, (0, 2, 0), (1, 4, 4), (1, 1, 1))
        for s in (a, b):       # slice only axis 1 so the batch stays dynamic
            s.axes = (1,)
            s.start, s.shape, s.stride = (s.start[1],), (s.shape[1],), (1,)
        a.name, b.name = "first", "second"
        c = net.add_concatenation([a.get_output(0), b.get_output(0)])
        c.axis = 1
        c.name = "concat"
        y = net.add_activation(c.get_output(0), trt.ActivationType.RELU).get_output(0)
    else:
        e = net.add_unary(x, trt.UnaryOperation.EXP)
        e.name = "exp"
        s = net.add_activation(x, trt.ActivationType.SIGMOID)
        s.name = "sigmoid"
        inner = net.add_concatenation([e.get_output(0), s.get_output(0)])
        inner.axis = 2
        inner.name = "inner"
        t = net.add_unary(x, trt.UnaryOperation.ABS)
        t.name = "abs"
        outer = net.add_concatenation([inner.get_output(0), t.get_output(0)])
        outer.axis = 2
        outer.name = "outer"
        y = outer.get_output(0)
    mark_y(net, y)
    return builder, net


def test_structure_slices_that_tile_the_input_vanish():
    g = optimize(_net("tile")[1], only={"eliminate_concat"})
    assert kinds(g) == ["activation"]
    assert {"first", "second", "concat"} <= set(g.nodes[-1].origin)


def test_structure_nested_concat_flattens_and_records_aliases():
    g = optimize(_net("nested")[1], only={"eliminate_concat"})
    assert count(g, "concatenation") == 1
    cat = [n for n in g.nodes if n.kind == "concatenation"][0]
    assert "inner" in cat.origin and len(cat.inputs) == 3
    assert cat.info.aliased_inputs == [0, 1, 2] and cat.info.elided is True
    writes = {n.name: n.info.writes_into for n in g.nodes if n.info.writes_into is not None}
    assert writes == {"exp": {"tensor": "y", "axis": 2, "offset": 0},
                      "sigmoid": {"tensor": "y", "axis": 2, "offset": 4},
                      "abs": {"tensor": "y", "axis": 2, "offset": 8}}


def test_numerics_dynamic_batch():
    for kind in ("tile", "nested"):
        builder, net = _net(kind)
        compare_optimized(builder, net, [{"x": rand(2, 6, 4)}, {"x": rand(3, 6, 4)}], profiles=PROFILE,
                          passes=["eliminate_concat"])
