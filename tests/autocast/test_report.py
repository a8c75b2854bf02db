"""The report: per node precision and reasons, as text and JSON."""
from __future__ import annotations

import json

import numpy as np

from inferrt.autocast import autocast
from tests.autocast.models import chain_model

FEED = {"x": np.random.default_rng(41).standard_normal((2, 8)).astype(np.float32)}


def test_report_lists_every_float_node_with_its_precision_and_reasons():
    rep = autocast(chain_model(1e5), calibration_data=FEED, op_types_to_exclude=["Softmax"],
                   keep_io_types=True).report
    assert [(n.name, n.precision) for n in rep.nodes] == [("mm1", "fp16"), ("relu1", "fp16"), ("scale", "fp32"),
                                                         ("unscale", "fp32"), ("mm2", "fp16"), ("sm", "fp32")]
    by_rule = rep.kept_by_rule()
    assert by_rule["data_max"] == ["scale", "unscale"] and by_rule["op_types_to_exclude"] == ["sm"]
    assert (rep.cast_nodes, rep.cast_nodes_before, rep.initializers_converted) == (4, 0, 2)
    text = rep.format_text()
    assert "3 nodes in fp16, 3 kept in fp32" in text
    assert "    sm (Softmax): op_types_to_exclude: op type Softmax" in text
    assert "scale (Mul): init_max: initializer 'c' has |x| up to 100000 > 65504; data_max: output 's1' reaches" in text


def test_report_json_round_trip():
    rep = autocast(chain_model(1e5), calibration_data=FEED).report
    d = json.loads(rep.to_json())
    assert d["summary"] == {"converted": 4, "kept_fp32": 2, "kept_by_rule": {"data_max": 2, "init_max": 2}}
    assert d["low_precision_type"] == "fp16" and d["calibration"] == "1 feed(s)"
    scale = next(n for n in d["nodes"] if n["name"] == "scale")
    assert scale["precision"] == "fp32" and [r.split(":")[0] for r in scale["reasons"]] == ["init_max", "data_max"]


def test_summary_and_warnings_go_to_the_users_logger():
    import inferrt as trt

    class Capture(trt.ILogger):
        def __init__(self):
            self.seen = []

        def log(self, severity, msg):
            self.seen.append((trt.Severity(severity).name, msg))

    from tests.autocast.models import cap_model

    log = Capture()
    x = {"x": np.ones((3, 4), np.float32)}
    autocast(cap_model(1e5), calibration_data=x, init_max=2e5, logger=log)
    assert any(s == "INFO" and "AutoCast to fp16" in m for s, m in log.seen)
    assert any(s == "WARNING" and "'cap': 4 values overflow fp16 to inf" in m for s, m in log.seen)
