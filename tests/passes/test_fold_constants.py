import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import EW, compare_optimized, const, count, kinds, mark_y, optimize, rand


def _net():
    """y = x + relu(c1 * c2) + reshape(c3) where the constant subgraph folds; shape(x) of a static x folds too."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 6))
    c1, c2 = const(net, rand(2, 6)), const(net, rand(2, 6))
    p = net.add_elementwise(c1, c2, EW.PROD)
    p.name = "const_mul"
    r = net.add_activation(p.get_output(0), trt.ActivationType.RELU)
    r.name = "const_relu"
    s = net.add_shuffle(const(net, rand(3, 4)))
    s.reshape_dims = (2, 6)
    s.name = "const_reshape"
    a = net.add_elementwise(x, r.get_output(0), EW.SUM)
    a.name = "add1"
    b = net.add_elementwise(a.get_output(0), s.get_output(0), EW.SUM)
    b.name = "add2"
    shp = net.add_shape(x)
    shp.name = "shape_of_x"
    dyn = net.add_shuffle(b.get_output(0))
    dyn.set_input(1, shp.get_output(0))
    dyn.name = "reshape_by_shape"
    mark_y(net, dyn.get_output(0))
    folded = s.get_output(0)
    folded.name = "folded_out"
    net.mark_output(folded)
    return builder, net


def test_structure_constant_subgraphs_fold_and_names_are_kept():
    builder, net = _net()
    g = optimize(net, only={"fold_constants"})
    assert [k for k in kinds(g)] == ["elementwise", "elementwise", "shuffle"]
    folded = [n for n in g.nodes if n.kind == "constant" and "const_relu" in n.origin]
    assert len(folded) == 1 and "const_mul" in folded[0].origin
    out = [n for n in g.nodes if "folded_out" in n.outputs]
    assert out[0].kind == "constant" and "const_reshape" in out[0].origin
    assert any(n.kind == "constant" and "shape_of_x" in n.origin for n in g.nodes)
    assert "folded_out" in g.outputs


def test_numerics_folded_engine_matches_unoptimized():
    builder, net = _net()
    compare_optimized(builder, net, [{"x": rand(2, 6)}], passes=["fold_constants"])


def test_size_cap_does_not_duplicate_big_shared_constants():
    from inferrt.passes import fold_constants as fc

    builder, net = new_network()
    x = net.add_input("x", trt.float32, (fc.SMALL + 2,))
    big = const(net, rand(fc.SMALL + 2))
    neg = net.add_unary(big, trt.UnaryOperation.NEG)
    a = net.add_elementwise(x, neg.get_output(0), EW.SUM)
    b = net.add_elementwise(a.get_output(0), big, EW.SUM)   # big is read twice: folding NEG would copy it
    mark_y(net, b.get_output(0))
    g = optimize(net, only={"fold_constants"})
    assert count(g, "unary") == 1
    x0 = rand(fc.SMALL + 2)
    compare_optimized(builder, net, [{"x": x0}], passes=["fold_constants"])


def test_dynamic_shape_computation_is_not_folded():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 4))
    shp = net.add_shape(x)
    r = net.add_shuffle(x)
    r.set_input(1, shp.get_output(0))
    mark_y(net, r.get_output(0))
    g = optimize(net, only={"fold_constants"})
    assert count(g, "shape") == 1
    prof = {"x": ((1, 4), (2, 4), (3, 4))}
    compare_optimized(builder, net, [{"x": rand(3, 4)}, {"x": rand(1, 4)}], profiles=[prof],
                      passes=["fold_constants"])


def test_folding_many_layers_names_them_without_rescanning_the_graph(monkeypatch):
    """Every folded layer becomes a constant with a fresh name: one set of the names in use per folding round, not a
    scan of the whole graph per constant (quadratic: minutes on a transformer export of several thousand layers)."""
    from inferrt.ir.graph import Graph

    builder, net = new_network()
    x = net.add_input("x", trt.float32, (3,))
    acc = x
    for i in range(400):
        p = net.add_elementwise(const(net, rand(3)), const(net, rand(3)), EW.PROD)
        p.name = f"fold_me_{i}"
        acc = net.add_elementwise(acc, p.get_output(0), EW.SUM).get_output(0)
    acc.name = "y"
    net.mark_output(acc)
    scans = []
    real = Graph.taken_names
    monkeypatch.setattr(Graph, "taken_names", lambda self: scans.append(1) or real(self))
    g = optimize(net, only={"fold_constants", "eliminate_dead_layers"})
    assert count(g, "constant") == 400 and count(g, "elementwise") == 400
    assert len(scans) <= 3, f"{len(scans)} scans of the graph's names for 400 folded layers"
    g.check()   # unique names, defined before use
    assert sorted(n.origin[0] for n in g.nodes if n.kind == "constant") == sorted(f"fold_me_{i}" for i in range(400))
    assert g.unique_name("fold_me_0 [folded]", {"fold_me_0 [folded]", "fold_me_0 [folded]_1"}) == \
        "fold_me_0 [folded]_2"
    taken = {"a"}
    assert g.unique_name("a", taken) == "a_1" and taken == {"a", "a_1"}
    assert g.unique_name("b", taken) == "b" and "b" in taken
    compare_optimized(builder, net, [{"x": rand(3)}], passes=["fold_constants"])
