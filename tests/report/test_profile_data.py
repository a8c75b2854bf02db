"""Per-layer times for the report: trtexec's --exportProfile JSON (as inferrt exec writes it), checked against the
plan's layers."""
from __future__ import annotations

import json

import pytest

import inferrt as trt
from inferrt.cli.exec_report import export_profile, profile_rows
from inferrt.report.plan_data import describe_plan
from inferrt.report.profile_data import attach_profile, read_profile_json


def _write(tmp_path, doc, name="p.json"):
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(p)


def test_reads_what_exec_exports(tmp_path):
    times = {"conv_a": [1.0, 3.0], "conv_b": [2.0, 2.0], "softmax": [0.5, 0.5]}
    path = str(tmp_path / "prof.json")
    export_profile(path, profile_rows(times, 2), 2)
    p = read_profile_json(path)
    assert p["count"] == 2 and p["source"] == path
    assert [r["name"] for r in p["rows"]] == ["conv_a", "conv_b", "softmax"]
    assert [r["averageMs"] for r in p["rows"]] == [2.0, 2.0, 0.5]
    assert p["rows"][0]["percentage"] == pytest.approx(4.0 / 9.0 * 100)


@pytest.mark.parametrize("doc, match", [
    ("{not json", "is not JSON"),
    ({"count": 2}, "layout"),
    ([{"name": "a"}], "layout"),
    ([{"count": 0}], "positive integer"),
    ([{"count": 1}, {"timeMs": 1.0}], "entry 1 has no layer name"),
    ([{"count": 1}, {"name": "conv_a", "timeMs": 1.0, "averageMs": "x", "medianMs": 1.0, "percentage": 1.0}],
     "layer 'conv_a' lacks numeric averageMs"),
])
def test_malformed_profiles_are_named(tmp_path, doc, match):
    with pytest.raises(trt.PlanError, match=match):
        read_profile_json(_write(tmp_path, doc))


def test_missing_profile_file(tmp_path):
    with pytest.raises(trt.PlanError, match="cannot read profile"):
        read_profile_json(str(tmp_path / "absent.json"))


def _profile(names):
    return {"count": 1, "source": "t.json", "rows": [
        {"name": n, "timeMs": 1.0, "averageMs": 1.0 + i, "medianMs": 1.0, "percentage": 10.0}
        for i, n in enumerate(names)]}


def test_attach_lists_layers_the_plan_lacks(plans):
    plan = describe_plan(plans["residual"])
    p = attach_profile(plan, _profile(["conv_a", "conv_b", "gone_layer"]))
    assert p["unmatched"] == ["gone_layer"]
    assert p["total_ms"] == pytest.approx(1.0 + 2.0 + 3.0)


def test_profile_of_another_plan_is_refused(plans):
    plan = describe_plan(plans["residual"])
    with pytest.raises(trt.PlanError, match="recorded on another plan"):
        attach_profile(plan, _profile(["fc1", "fc2"]))
