"""PluginField / PluginFieldCollection, the plugin registry, and the plan form of fields and expressions (checked
as untrusted data)."""
from __future__ import annotations

import numpy as np
import pytest

import inferrt as trt
from inferrt.errors import PlanError
from inferrt.plugin.exprs import check_tree, evaluate
from inferrt.plugin.fields import PluginField, fields_from_json, fields_to_json


def test_fields_round_trip_through_plan_json():
    fc = trt.PluginFieldCollection([
        trt.PluginField("scale", np.array([0.5, float("inf")], np.float32), trt.PluginFieldType.FLOAT32),
        trt.PluginField("axes", np.array([1, -2], np.int64)),
        trt.PluginField("mode", "nearest")])
    assert fc["axes"].type == trt.PluginFieldType.INT64 and fc["mode"].type == trt.PluginFieldType.CHAR
    back = fields_from_json(fields_to_json(fc), "test")
    assert [f.name for f in back] == ["scale", "axes", "mode"]
    np.testing.assert_array_equal(back["scale"].data, np.array([0.5, np.inf], np.float32))
    assert back["axes"].data.dtype == np.int64 and back["mode"].text() == "nearest"
    with pytest.raises(KeyError, match="no plugin field named 'nope'"):
        fc["nope"]


@pytest.mark.parametrize("bad", [{"name": "a", "type": "FLOAT32", "data": "x"},
                                 {"name": "a", "type": "NOPE", "data": []},
                                 {"name": "a", "type": "INT8", "data": [1000]},
                                 {"name": 3, "type": "INT8", "data": []}])
def test_corrupt_field_is_a_plan_error(bad):
    with pytest.raises(PlanError, match="corrupt plan"):
        PluginField.from_json(bad, "layer 'p'")


def test_expression_trees_are_checked_and_evaluated():
    tree = ["op", "CEIL_DIV", ["op", "PROD", ["d", 0, 0], ["d", 0, 1]], ["c", 128]]
    t = check_tree(tree, 1, "x")
    assert evaluate(t, [[3, 100]]) == 3
    for bad in (["d", 5, 0], ["op", "POW", ["c", 1], ["c", 2]], ["x"], "c"):
        with pytest.raises(PlanError):
            check_tree(bad, 1, "x")
    deep = ["c", 1]
    for _ in range(100):
        deep = ["op", "SUM", deep, ["c", 1]]
    with pytest.raises(PlanError, match="nests deeper"):
        check_tree(deep, 1, "x")


def test_registry_register_get_deregister():
    class C(trt.IPluginCreatorV3One):
        def __init__(self):
            self.name, self.plugin_version, self.plugin_namespace = "RegTest", "2", ""

        def create_plugin(self, name, fc, phase):
            return None

    reg = trt.get_plugin_registry()
    c, other = C(), C()
    assert reg.register_creator(c, "ns1")
    try:
        assert reg.get_creator("RegTest", "2", "ns1") is c and c in reg.all_creators
        assert reg.get_creator("RegTest", "1", "ns1") is None
        assert not reg.register_creator(other, "ns1")   # another creator under the same key: False, logged
        assert not reg.register_creator(object())
    finally:
        assert reg.deregister_creator(c)
    assert reg.get_creator("RegTest", "2", "ns1") is None and not reg.deregister_creator(c)
    assert trt.init_libnvinfer_plugins(None, "") and trt.init_libnvinfer_plugins(trt.Logger(), "")


def test_expr_builder_operations():
    b = trt.IExprBuilder()
    five, two = b.constant(5), b.constant(2)
    assert b.operation(trt.DimensionOperation.CEIL_DIV, five, two).get_constant_value() == 3
    assert b.operation(trt.DimensionOperation.FLOOR_DIV, five, two).get_constant_value() == 2
    assert b.operation(trt.DimensionOperation.LESS, two, five).get_constant_value() == 1
    dyn = trt.IDimensionExpr(("d", 0, 0), None)
    assert not b.operation(trt.DimensionOperation.SUM, dyn, two).is_constant()
    with pytest.raises(ValueError, match="not a build-time constant"):
        dyn.get_constant_value()
    with pytest.raises(ValueError, match="size tensors"):
        b.declare_size_tensor(0, five, five)
