"""The report's plan data: the engine inspector's JSON at optimization profile 0's opt shapes, build facts, I/O."""
from __future__ import annotations

import json

import pytest

import inferrt as trt
from inferrt.report.plan_data import describe_plan, load_engine_file, report_shapes


def _inspector_at(path, shapes):
    """The inspector's JSON layers, asked for directly (the reference the report's data must equal)."""
    engine = load_engine_file(path)
    ctx = engine.create_execution_context()
    for k, v in shapes.items():
        assert ctx.set_input_shape(k, v)
    insp = engine.create_engine_inspector()
    insp.execution_context = ctx
    return json.loads(insp.get_engine_information(trt.LayerInformationFormat.JSON))["Layers"]


def test_layers_are_the_inspectors_at_opt_shapes(plans):
    d = describe_plan(plans["residual"])
    assert d["shapes"] == {"x": [3, 4, 8, 8]}                    # profile 0: min 1, opt 3, max 4
    assert d["layers"] == _inspector_at(plans["residual"], {"x": (3, 4, 8, 8)})
    assert d["detailed"] and d["verbosity"] == "DETAILED"
    by = {x["Name"]: x for x in d["layers"]}
    assert by["conv_b"]["Origin"] == ["conv_b", "residual_add", "relu_b"]
    assert by["softmax"]["Outputs"][0]["Dimensions"] == [3, 256]  # concrete, not the declared -1
    assert [e["name"] for e in d["io"]] == ["x", "y", "z"]
    assert d["io"][0] == {"name": "x", "mode": "INPUT", "dtype": "FLOAT", "shape": [-1, 4, 8, 8]}
    assert d["build"]["layers_before"] > len(d["layers"])


def test_names_only_plan(plans):
    d = describe_plan(plans["residual_names"])
    assert not d["detailed"] and d["verbosity"] == "LAYER_NAMES_ONLY"
    assert [x["Name"] for x in d["layers"]] == [x["Name"] for x in describe_plan(plans["residual"])["layers"]]
    assert all(set(x) == {"Name"} for x in d["layers"])


def test_static_plan_shapes(plans):
    engine = load_engine_file(plans["mnist"])
    assert report_shapes(engine) == {"x": (1, 1, 28, 28)}


@pytest.mark.parametrize("content", [None, b"", b"not a plan" * 20])
def test_bad_plan_file_names_it(tmp_path, content):
    p = tmp_path / "bad.plan"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(trt.PlanError, match="bad.plan"):
        describe_plan(str(p))
