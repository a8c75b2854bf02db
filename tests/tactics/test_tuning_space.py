"""TuningSpace: the cartesian product of declared candidates, pruned per node by the constraint, default first then
nearest variations, capped; points checked against the space; the Triton pointwise space and its block pruning."""
from __future__ import annotations

import pytest

from inferrt.enums import DataType
from inferrt.ir.graph import Node
from inferrt.ops import Spec
from inferrt.tactics import tuning
from inferrt.tactics.registry import get_tactic
from inferrt.tactics.triton_codegen import POINTWISE_SPACE
from inferrt.tactics.tuning import TuningSpace


def _space(constraint=None):
    return TuningSpace({"tile": (32, 64), "warps": (1, 2, 4)}, constraint)


def test_product_is_enumerated_default_first_then_by_distance():
    pts = _space().points()
    assert len(pts) == 6 and _space().size == 6
    assert pts[0] == {"tile": 32, "warps": 1} == _space().default
    # one parameter changed before both; within a distance, in declaration order
    assert pts[1:] == [{"tile": 32, "warps": 2}, {"tile": 32, "warps": 4}, {"tile": 64, "warps": 1},
                       {"tile": 64, "warps": 2}, {"tile": 64, "warps": 4}]
    assert sorted(map(lambda p: tuple(p.values()), pts)) == [(t, w) for t in (32, 64) for w in (1, 2, 4)]


def test_cap_keeps_the_nearest_points():
    assert _space().points(cap=2) == [{"tile": 32, "warps": 1}, {"tile": 32, "warps": 2}]
    assert _space().points(cap=100) == _space().points()


def test_constraint_prunes_per_node_and_is_skipped_without_specs():
    node = Node("n", "activation", ["x"], ["y"])
    seen = []

    def small_tiles_only(point, n, specs):
        seen.append(n.name)
        return point["tile"] <= specs["y"].shape[-1]

    space = _space(small_tiles_only)
    assert [p["tile"] for p in space.points(node, {"y": Spec(DataType.FLOAT, (2, 48))})] == [32, 32, 32]
    assert len(space.points(node, {"y": Spec(DataType.FLOAT, (2, 64))})) == 6
    assert seen and set(seen) == {"n"}
    assert len(space.points(node, None)) == 6


def test_a_space_without_parameters_has_one_empty_point():
    space = TuningSpace()
    assert space.points() == [{}] and space.default == {} and space.size == 1
    assert get_tactic("generic").space.points() == [{}]


@pytest.mark.parametrize("params,match", [
    ({"tile": ()}, "at least one"),
    ({"tile": (32, 32)}, "distinct"),
    ({"tile": ([32],)}, "bool/int/float/str"),
    ({"not an identifier": (1,)}, "not an identifier"),
])
def test_bad_declarations_are_refused(params, match):
    with pytest.raises(ValueError, match=match):
        TuningSpace(params)


@pytest.mark.parametrize("point,why", [
    ({"tile": 32}, r"its parameters \['tile'\] are not the tactic's \['tile', 'warps'\]"),
    ({"tile": 48, "warps": 1}, r"tile=48 is not one of the candidates \[32, 64\]"),
    ({"tile": 32.0, "warps": 1}, r"tile=32.0 is not one of the candidates"),
    ({"tile": 32, "warps": True}, r"warps=True is not one of the candidates"),
    ([32, 1], "a tuning point is a {name: value} object, got list"),
])
def test_points_outside_the_space_are_refused_naming_the_layer(point, why):
    assert _space().check({"tile": 64, "warps": 4}) is None
    assert _space().resolve(None, "layer 'n'") == _space().default
    with pytest.raises(ValueError, match=r"layer 'n': tuning point .* does not fit the tactic's space: " + why):
        _space().resolve(point, "layer 'n'")


def test_max_points_grows_with_the_optimization_level():
    caps = [tuning.max_points(level) for level in range(6)]
    assert caps[:2] == [1, 1] and caps[5] is None
    assert caps[1] < caps[2] < caps[3] < caps[4]


def test_labels_for_logs_and_the_inspector():
    assert tuning.label("t", {"BLOCK": 1024, "num_warps": 4}) == "t(BLOCK=1024, num_warps=4)"
    assert tuning.label("generic", {}) == tuning.label("generic", None) == "generic"


def _pointwise(shape):
    node = Node("pw", "pointwise", ["x"], ["y"])
    return node, {"x": Spec(DataType.FLOAT, shape), "y": Spec(DataType.FLOAT, shape)}


def test_pointwise_space_default_is_the_launch_used_before_spaces():
    assert POINTWISE_SPACE.default == {"BLOCK": 1024, "num_warps": 4}
    node, specs = _pointwise((64, 1024))
    pts = POINTWISE_SPACE.points(node, specs)
    assert pts[0] == POINTWISE_SPACE.default and len(pts) == POINTWISE_SPACE.size


@pytest.mark.parametrize("shape,blocks", [((100,), {512}), ((2, 256), {512}), ((2, 300), {512, 1024}),
                                          ((1025,), {512, 1024, 2048}), ((0, 8), {512}),
                                          ((4096,), {512, 1024, 2048})])
def test_pointwise_blocks_larger_than_needed_are_pruned(shape, blocks):
    node, specs = _pointwise(shape)
    pts = POINTWISE_SPACE.points(node, specs)
    assert {p["BLOCK"] for p in pts} == blocks
    assert {p["num_warps"] for p in pts} == {4, 8}


def test_pointwise_space_keeps_everything_for_unknown_shapes():
    node, _ = _pointwise((1,))
    assert len(POINTWISE_SPACE.points(node, {"y": Spec(DataType.FLOAT, None)})) == POINTWISE_SPACE.size
