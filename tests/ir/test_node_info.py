"""``NodeInfo``: typed node records that serialize under the keys the plan has always stored."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import inferrt as trt
from inferrt.ir.node_info import NodeInfo
from tests.plan.plan_tools import build_small_plan, with_manifest

#: the keys plans carried when ``Node.info`` was a dict (inferrt/ir/graph.py before this module)
PLAN_KEYS = {"tactic", "precision", "output_types", "format", "keep_float", "inserted", "metadata", "writes_into",
             "aliased_inputs", "elided"}
#: keys added since: the chosen point of the tactic's tuning space (tactics/tuning.py)
ADDED_KEYS = {"tactic_point"}


def test_fields_are_the_plan_keys():
    assert {f.name for f in dataclasses.fields(NodeInfo)} == PLAN_KEYS | ADDED_KEYS


def test_to_json_keeps_set_fields_only_and_false_is_set():
    info = NodeInfo(tactic="generic", aliased_inputs=[0, 2], elided=False)
    assert info.to_json() == {"tactic": "generic", "aliased_inputs": [0, 2], "elided": False}
    assert NodeInfo().to_json() == {}


def test_json_round_trip_and_copy_is_independent():
    j = {"tactic": "t", "precision": "HALF", "output_types": {"0": "HALF"}, "format": "NHWC", "keep_float": "why",
         "inserted": "precision", "metadata": "m", "writes_into": {"tensor": "y", "axis": 1, "offset": 4},
         "aliased_inputs": [1], "elided": True}
    info = NodeInfo.from_json(j, "n")
    assert info.to_json() == j
    other = info.copy()
    other.tactic = "u"
    assert info.tactic == "t" and other.precision == "HALF"


def test_user_set_names_the_pinning_fields_in_order():
    assert NodeInfo().user_set() == []
    assert NodeInfo(output_types={"0": "HALF"}, metadata="m").user_set() == ["output_types"]
    assert NodeInfo(precision="FLOAT", output_types={"0": "FLOAT"}).user_set() == ["precision", "output_types"]


def test_unknown_key_is_refused_naming_node_and_key():
    with pytest.raises(ValueError, match=r"node 'conv'.*unknown info key 'colour'"):
        NodeInfo.from_json({"tactic": "generic", "colour": "red"}, "conv")


def test_plan_with_unknown_info_key_is_refused_and_known_keys_load():
    plan = build_small_plan("cpu")

    def add(key):
        def edit(m):
            m["graph"]["nodes"][-1]["info"][key] = "x"
        return edit

    with pytest.raises(trt.PlanError) as e:
        trt.load_engine(with_manifest(plan, add("colour")))
    assert "colour" in str(e.value)
    engine = trt.load_engine(with_manifest(plan, add("metadata")))
    last = engine.graph.nodes[-1]
    plain = trt.load_engine(plan).graph.nodes[-1]   # the tactic the build chose (cpu_softmax on the CPU)
    assert last.info.metadata == "x" and last.info.tactic == plain.info.tactic
    y = engine.create_execution_context().infer(x=np.ones((1, 3, 8, 8), np.float32))["y"]
    assert y.shape == (1, 5) and np.isclose(y.sum(), 1.0)
