"""``inferrt report``: the page from a plan and `inferrt exec --exportProfile` JSON, from a --run profile, with a
second plan; clear errors (exit code 2, no traceback) for bad plans, profiles and flags."""
from __future__ import annotations

import json
import re

import pytest

from inferrt.cli.main import main

FAST = ("--duration", "0", "--warmUp", "0")


@pytest.fixture(scope="module")
def exec_plan(tmp_path_factory):
    """The built-in MNIST CNN built by `inferrt exec` (DETAILED layer information), its exported profile and layer
    information, and a second plan built with exec's default verbosity (names only)."""
    d = tmp_path_factory.mktemp("report_cmd")
    paths = {"plan": d / "mnist.plan", "profile": d / "profile.json", "layers": d / "layers.json",
             "names_plan": d / "names.plan"}
    assert main(["exec", *FAST, "--iterations", "2", "--batch", "2", "--cpu", "--profilingVerbosity=detailed",
                 "--saveEngine", str(paths["plan"]), "--exportProfile", str(paths["profile"]),
                 "--exportLayerInfo", str(paths["layers"])]) == 0
    assert main(["exec", *FAST, "--iterations", "1", "--batch", "2", "--cpu", "--skipInference",
                 "--saveEngine", str(paths["names_plan"])]) == 0
    return paths


def _report(capsys, *argv):
    rc = main(["report", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def _bars(page: str) -> list:
    return re.findall(r'<g class="bar" data-plan="main" data-name="([^"]+)"', page)


def test_report_from_exported_profile(capsys, tmp_path, exec_plan):
    out_html = tmp_path / "r.html"
    rc, out, err = _report(capsys, exec_plan["plan"], "--profile-json", exec_plan["profile"], "-o", out_html)
    assert rc == 0, err
    assert f"[I] Report written to {out_html} (8 layers, with layer times)" in out
    page = out_html.read_text()
    prof = json.load(open(exec_plan["profile"]))
    assert _bars(page) == [r["name"] for r in prof[1:]]
    layers = json.load(open(exec_plan["layers"]))["Layers"]               # what exec's --exportLayerInfo says
    nodes = re.findall(r'<g class="layer-node[^"]*" data-plan="main" data-layer="\d+" data-name="([^"]+)"', page)
    assert nodes == [x["Name"] for x in layers]
    for x in layers:
        if len(x["Origin"]) > 1:
            assert f'fused from {len(x["Origin"])} layers' in page
    assert str(exec_plan["profile"]) in page and "http://" not in page and "https://" not in page


def test_report_run_profiles_here(capsys, tmp_path, exec_plan):
    out_html = tmp_path / "r.html"
    rc, out, err = _report(capsys, exec_plan["plan"], "--run", "--iterations", "2", "-o", out_html)
    assert rc == 0, err
    page = out_html.read_text()
    assert "profiled here on the CPU with --run" in page and "over 2 profiled queries" in page
    # the convolutions and pools run channels-last on the CPU too, so flatten is the reformat out of that region
    assert set(_bars(page)) == {"conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "fc2", "softmax"}


def test_report_compare(capsys, tmp_path, exec_plan):
    out_html = tmp_path / "r.html"
    rc, out, err = _report(capsys, exec_plan["plan"], "--compare", exec_plan["names_plan"],
                           "--compare-profile-json", exec_plan["profile"], "-o", out_html)
    assert rc == 0, err
    assert f"compared with {exec_plan['names_plan']}" in out
    page = out_html.read_text()
    assert 'id="compare-A"' in page and 'id="compare-B"' in page
    assert len(re.findall(r'data-plan="cmpB"[^>]*class="bar"|class="bar" data-plan="cmpB"', page)) == 0  # no chart
    # B records layer names only: its layers are matched by name, with nothing else to compare
    assert page.count('class="status-in-both"') == 8 and 'class="status-changed"' not in page
    prof = {r["name"]: r["averageMs"] for r in json.load(open(exec_plan["profile"]))[1:]}
    row = re.search(r'<tr class="status-in-both"><td class="mono">conv1</td>(.*?)</tr>', page).group(1)
    assert row.endswith(f'<td class="">-</td><td class="">{prof["conv1"]:.4g} ms</td>')   # no time for A; B's


@pytest.mark.parametrize("argv, msg", [
    (("{missing}", "-o", "{out}"), "cannot read plan"),
    (("{plan}", "--iterations", "3", "-o", "{out}"), "--iterations counts the queries of --run"),
    (("{plan}", "--run", "--iterations", "0", "-o", "{out}"), "give at least 1 profiled query"),
    (("{plan}", "--compare-profile-json", "{profile}", "-o", "{out}"), "needs --compare"),
    (("{plan}", "--profile-json", "{layers}", "-o", "{out}"), "expected trtexec's --exportProfile layout"),
    (("{plan}", "--profile-json", "{foreign}", "-o", "{out}"), "recorded on another plan"),
    (("{plan}", "-o", "{nodir}"), "cannot write the report"),
])
def test_errors(capsys, tmp_path, exec_plan, argv, msg):
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps([{"count": 1}, {"name": "not_a_layer", "timeMs": 1, "averageMs": 1,
                                                  "medianMs": 1, "percentage": 100}]))
    subs = {"missing": tmp_path / "absent.plan", "out": tmp_path / "r.html", "plan": exec_plan["plan"],
            "profile": exec_plan["profile"], "layers": exec_plan["layers"], "foreign": foreign,
            "nodir": tmp_path / "no_such_dir" / "r.html"}
    rc, out, err = _report(capsys, *(a.format(**subs) for a in argv))
    assert rc == 2 and msg in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_profile_json_and_run_exclude_each_other(capsys, exec_plan, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["report", str(exec_plan["plan"]), "--run", "--profile-json", str(exec_plan["profile"]),
              "-o", str(tmp_path / "r.html")])
    assert e.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


@pytest.mark.gpu
def test_report_run_on_the_gpu(capsys, tmp_path):
    """A GPU plan profiled with --run on the GPU, compared with the same network's CPU plan."""
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "report"))
    from report_plans import build_plan

    gpu = build_plan(tmp_path / "gpu.plan", device="cuda")
    out_html = tmp_path / "r.html"
    rc, out, err = _report(capsys, gpu, "--run", "--iterations", "3", "-o", out_html)
    assert rc == 0, err
    page = out_html.read_text()
    assert "profiled here on the GPU with --run" in page and "(cuda" in page
    from inferrt.report.plan_data import describe_plan

    layers = describe_plan(gpu)["layers"]
    kernels = [x["Name"] for x in layers if x["LayerType"] != "shuffle"]   # the flattens are views: no kernel
    assert set(kernels) <= set(_bars(page)) <= {x["Name"] for x in layers}
    times = [float(t) for t in re.findall(r'class="value" x="[\d.]+" y="\d+">([\d.e+-]+) ms', page)]
    assert len(times) == len(_bars(page)) and all(t > 0 for t in times)
