"""The report page as written (no browser): self-contained, one graph node and one details block per layer, one
bar per profiled layer, the memory plan, both plans in the compare view, and text escaped."""
from __future__ import annotations

import copy
import re
from html.parser import HTMLParser

from inferrt.report.html_page import render_report
from inferrt.report.plan_data import describe_plan
from inferrt.report.profile_data import attach_profile


class _Elements(HTMLParser):
    """Every start tag as (tag, attrs dict), and the text of <script> and <style>."""

    def __init__(self, page):
        super().__init__()
        self.tags, self.inline, self._in = [], [], None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in ("script", "style") else None

    def handle_data(self, data):
        if self._in:
            self.inline.append(data)

    def find(self, cls=None, **attrs):
        return [a for _, a in self.tags
                if (cls is None or cls in (a.get("class") or "").split())
                and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]


def _profile(plan, names, extra=()):
    rows = [{"name": n, "timeMs": 2.0 * (i + 1), "averageMs": i + 1.0, "medianMs": i + 1.0, "percentage": 5.0}
            for i, n in enumerate([*names, *extra])]
    return attach_profile(plan, {"count": 2, "rows": rows, "source": "prof.json"})


def test_page_is_self_contained(plans):
    plan = describe_plan(plans["residual"])
    page = render_report(plan, describe_plan(plans["mnist"]))
    assert not re.search(r"(?i)https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page)
    el = _Elements(page)
    assert not [a for t, a in el.tags if t in ("script", "img", "iframe", "link") and ("src" in a or "href" in a)]
    assert [t for t, _ in el.tags].count("script") == 1
    styles = "".join(el.inline)
    assert "@import" not in styles and not re.search(r"url\((?!#)", page)   # only url(#marker) references


def test_one_node_and_details_per_layer(plans):
    plan = describe_plan(plans["residual"])
    el = _Elements(render_report(plan))
    nodes = el.find("layer-node", data_plan="main")
    assert [int(a["data-layer"]) for a in nodes] == list(range(len(plan["layers"])))
    assert [a["data-name"] for a in nodes] == [x["Name"] for x in plan["layers"]]
    fused = {a["data-name"] for a in el.find("fused", data_plan="main")}
    assert fused == {x["Name"] for x in plan["layers"] if len(x["Origin"]) > 1} == {"conv_a", "conv_b"}
    assert len(el.find("layer-details")) == len(plan["layers"])
    assert len(el.find("io-node")) == 3
    # x -> side_pool, conv_a, conv_b; conv_a -> conv_b; side_pool -> side_flatten -> side_exp -> z;
    # conv_b -> flatten -> softmax -> y
    assert len(el.find("edge")) == 10


def test_details_carry_origin_tactic_precision_shapes(plans):
    plan = describe_plan(plans["residual"])
    plan["layers"][4]["TacticPoint"] = {"BLOCK": 128, "num_warps": 4}   # as a tuned Triton tactic reports it
    page = render_report(plan)
    block = re.search(r'<div class="layer-details" id="main-layer-4">(.*?)</div>', page).group(1)
    assert plan["layers"][4]["Name"] == "conv_b"
    assert "fused from 3 layers" in block and "residual_add" in block and "relu_b" in block
    assert "<code>BLOCK=128</code>" in block and "tuning point" in block
    assert "FLOAT" in block and "3x4x8x8" in block and "Row major linear" in block
    assert "arena +" in block                                          # its output's place in the memory plan


def test_time_chart_one_bar_per_profiled_layer(plans):
    plan = describe_plan(plans["residual"])
    names = [x["Name"] for x in plan["layers"]]
    plan["profile"] = _profile(plan, names, extra=["not_in_plan"])
    el = _Elements(render_report(plan))
    bars = el.find("bar", data_plan="main")
    assert [a["data-name"] for a in bars] == [*names, "not_in_plan"]
    assert [a.get("data-layer") for a in bars] == [*map(str, range(len(names))), None]
    assert bars[-1]["data-unmatched"] == "1"
    page = render_report(plan)
    assert "1 profiled layer(s) are not layers of this plan" in page
    widths = [float(w) for w in re.findall(r'<rect x="230" y="\d+" width="([\d.]+)"', page)]
    assert widths == sorted(widths) and widths[-1] > 10 * widths[0] * 0.7  # bar length grows with the time


def test_no_profile_says_how_to_get_one(plans):
    page = render_report(describe_plan(plans["residual"]))
    assert "No profile" in page and "--exportProfile" in page and 'class="bar"' not in page


def test_memory_section(plans):
    plan = describe_plan(plans["residual"])
    el = _Elements(render_report(plan))
    assert len(el.find("buffer")) == len(plan["memory"]["buffers"])
    assert len(el.find("buffers")) == 1
    assert len(el.find("peak")) == 1


def test_compare_view_shows_both_plans(plans):
    a, b = describe_plan(plans["residual"]), describe_plan(plans["mnist"])
    page = render_report(a, b)
    el = _Elements(page)
    assert len(el.find("layer-node", data_plan="cmpA")) == len(a["layers"])
    assert len(el.find("layer-node", data_plan="cmpB")) == len(b["layers"])
    assert plans["residual"] in page and plans["mnist"] in page
    rows = re.findall(r'<tr class="status-([\w-]+)"><td class="mono">([^<]+)</td>', page)
    assert {n for s, n in rows if s == "only-A"} == {x["Name"] for x in a["layers"]} - {x["Name"] for x in b["layers"]}
    assert {n for s, n in rows if s == "only-B"} == {x["Name"] for x in b["layers"]} - {x["Name"] for x in a["layers"]}


def test_compare_marks_changed_layers(plans):
    a = describe_plan(plans["residual"])
    b = copy.deepcopy(a)
    b["path"] = "other.plan"
    b["layers"][3]["Precision"] = "HALF"
    page = render_report(a, b)
    name = a["layers"][3]["Name"]
    row = re.search(rf'<tr class="status-changed"><td class="mono">{name}</td>.*?</tr>', page).group(0)
    assert '<td class="changed">FLOAT</td><td class="changed">HALF</td>' in row
    assert page.count('class="status-same"') == len(a["layers"]) - 1


def test_text_is_escaped(plans):
    plan = describe_plan(plans["residual"])
    plan["layers"][0]["Name"] = '<img src=x onerror="alert(1)">&'
    page = render_report(plan)
    assert "<img" not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;" in page


def test_names_only_plan_page(plans):
    plan = describe_plan(plans["residual_names"])
    page = render_report(plan)
    el = _Elements(page)
    assert len(el.find("layer-node", data_plan="main")) == len(plan["layers"]) and not el.find("edge")
    assert "--profilingVerbosity=detailed" in page


def test_no_layer_information_plan_page(plans):
    plan = describe_plan(plans["residual_none"])
    assert plan["layers"] == [] and plan["verbosity"] == "NONE"
    page = render_report(plan)
    el = _Elements(page)
    assert not el.find("layer-node") and len(el.find("io-node")) == 3
    assert "records no layer information" in page
    # the memory plan is the engine's, whatever the inspector may show: same as the detailed plan's
    assert len(el.find("buffer")) == len(describe_plan(plans["residual"])["memory"]["buffers"])
