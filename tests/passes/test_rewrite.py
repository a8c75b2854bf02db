"""until_fixed_point: the driver the rewriting passes share (sweeps until one changes nothing, counts the rewrites,
stops a pass that never converges with an error naming it)."""
import pytest

import inferrt as trt
from inferrt.builder.lower_network import lower_network
from inferrt.errors import BuildError
from inferrt.ir.graph import Graph, Node
from inferrt.passes.pipeline import PassContext, run_pipeline
from inferrt.passes.rewrite import sweep_fusions, until_fixed_point
from tests.helpers import new_network


def _graph(n):
    g = Graph()
    g.nodes = [Node(f"n{i}", "identity", [f"v{i}"], [f"v{i + 1}"]) for i in range(n)]
    return g


def _remover(per_sweep, calls):
    """A sweep removing up to ``per_sweep`` nodes, recording how many each call removed."""
    def step(graph):
        k = min(per_sweep, len(graph.nodes))
        del graph.nodes[:k]
        calls.append(k)
        return k
    return step


def test_converges_and_counts_every_rewrite():
    g, calls = _graph(7), []
    assert until_fixed_point(_remover(3, calls), g, name="remover") == 7
    assert calls == [3, 3, 1, 0]   # sweeps until one rewrites nothing, that one included
    assert g.nodes == []


def test_a_graph_already_at_its_fixed_point_takes_one_sweep():
    g, calls = _graph(4), []
    assert until_fixed_point(_remover(0, calls), g, name="remover") == 0
    assert calls == [0] and len(g.nodes) == 4


def test_limit_counts_rewriting_sweeps_only():
    g, calls = _graph(3), []
    assert until_fixed_point(_remover(1, calls), g, name="remover", limit=3) == 3   # 3 rewriting sweeps are allowed
    g, calls = _graph(4), []
    with pytest.raises(BuildError, match=r"pass remover did not reach a fixed point: 4 sweeps in a row .*limit 3"):
        until_fixed_point(_remover(1, calls), g, name="remover", limit=3)
    assert calls == [1, 1, 1, 1]


def test_never_converging_step_raises_naming_the_pass_with_the_default_bound():
    g, calls = _graph(5), []

    def flip(graph):
        calls.append(1)
        graph.nodes.reverse()
        return 1

    with pytest.raises(BuildError) as e:
        until_fixed_point(flip, g, name="flip_pass")
    msg = str(e.value)
    assert "internal error: pass flip_pass did not reach a fixed point" in msg
    assert "INFERRT_DISABLE_PASSES=flip_pass" in msg
    assert len(calls) == 2 * 5 + 64 + 1   # default bound: two sweeps per node plus 64, then the one that fails


def _net():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 3))
    r = net.add_activation(x, trt.ActivationType.RELU)
    r.name = "relu"
    r.get_output(0).name = "y"
    net.mark_output(r.get_output(0))
    return net


def test_pipeline_undoes_a_non_converging_pass_with_a_warning_and_raises_in_debug():
    def pingpong(graph, ctx):
        def step(g):
            relu = g.node("relu") if any(n.name == "relu" for n in g.nodes) else g.node("relu'")
            relu.name = "relu'" if relu.name == "relu" else "relu"
            return 1
        return until_fixed_point(step, graph, name="pingpong")

    class Cfg:
        debug_passes = False

    g = lower_network(_net())
    before = [(n.name, n.kind) for n in g.nodes]
    logs = []
    run_pipeline(g, PassContext(Cfg(), lambda s, m: logs.append((s, m))), [("pingpong", pingpong)])
    assert [(n.name, n.kind) for n in g.nodes] == before
    assert any(s == trt.ILogger.Severity.WARNING and "pass pingpong failed" in m and "did not reach a fixed point" in m
               for s, m in logs)
    Cfg.debug_passes = True
    with pytest.raises(BuildError, match="pass pingpong did not reach a fixed point"):
        run_pipeline(lower_network(_net()), PassContext(Cfg()), [("pingpong", pingpong)])


def _chain(n):
    from inferrt.enums import DataType
    from inferrt.ops import Spec

    g = _graph(n)
    g.inputs, g.outputs, g.specs = ["v0"], [f"v{n}"], {"v0": Spec(DataType.FLOAT, (2,))}
    return g


def _pair_fusion(seen):
    """Fuse an identity with the identity reading it (when that one was not replaced earlier in the sweep)."""
    def fusion(view, n, taken):
        seen.append(n.name)
        readers = view.uses(n.outputs[0])
        if len(readers) != 1 or id(readers[0]) in taken:
            return None
        r = readers[0]
        return [n, r], Node(f"{n.name}+{r.name}", "identity", list(n.inputs), list(r.outputs), origin=[n.name, r.name])
    return fusion


def test_sweep_fusions_replaces_each_match_and_skips_nodes_already_replaced():
    g, seen = _chain(5), []
    assert sweep_fusions(g, _pair_fusion(seen)) == 2
    assert [n.name for n in g.nodes] == ["n0+n1", "n2+n3", "n4"]
    assert seen == ["n0", "n2", "n4"]          # n1 and n3 were replaced before their turn: not offered
    assert g.nodes[-1].outputs == ["v5"] and g.nodes[0].inputs == ["v0"]


def test_sweep_fusions_until_fixed_point_fuses_the_whole_chain():
    g = _chain(4)
    assert until_fixed_point(lambda x: sweep_fusions(x, _pair_fusion([])), g, name="pairs") == 3
    assert [n.name for n in g.nodes] == ["n0+n1+n2+n3"]
    g.check()
