"""The report in a real headless Chromium (Selenium): the graph renders one node per layer, clicking a node shows
its details, the chart has one bar per profiled layer, the compare view shows both plans; a screenshot of the whole
page is kept (its path is printed). Skipped only where no Chromium, ChromeDriver or Selenium is found (conftest)."""
from __future__ import annotations

import json

import pytest

from inferrt.cli.main import main

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(plans, tmp_path_factory):
    """The report of the residual plan, profiled here with --run, compared with the MNIST plan."""
    d = tmp_path_factory.mktemp("report_page")
    out = d / "report.html"
    assert main(["report", plans["residual"], "--run", "--iterations", "2", "--compare", plans["mnist"],
                 "-o", str(out)]) == 0
    return out


@pytest.fixture
def loaded(browser, page):
    browser.get(page.as_uri())
    return browser


def _js(d, script, *args):
    return d.execute_script(script, *args)


def _layers(d, plan):
    return _js(d, "return Array.from(document.querySelectorAll('.layer-node[data-plan=\"' + arguments[0] + '\"]'))"
                  ".map(g => [g.getAttribute('data-name'), g.getBBox().width, g.getBBox().height]);", plan)


def test_graph_has_one_rendered_node_per_layer(loaded, plans):
    from inferrt.report.plan_data import describe_plan

    want = [x["Name"] for x in describe_plan(plans["residual"])["layers"]]
    got = _layers(loaded, "main")
    assert [n for n, _, _ in got] == want
    assert all(w > 100 and h > 30 for _, w, h in got)             # laid out and drawn, not empty groups
    assert _js(loaded, "return document.querySelectorAll('#main-graph .layer-node.fused').length") == 2
    assert _js(loaded, "return document.querySelectorAll('#main-graph path.edge').length") == 10


def test_click_shows_details_and_pins_them(loaded):
    panel = loaded.find_element("id", "main-details")
    node = loaded.find_element("css selector", '#main-graph .layer-node[data-name="conv_b"]')
    node.click()
    text = panel.text
    assert "conv_b" in text and "fused from 3 layers" in text and "residual_add" in text and "relu_b" in text
    assert "FLOAT" in text and "3x4x8x8" in text and "average" in text   # precision, shapes, the --run time
    assert "selected" in node.get_attribute("class")
    from selenium.webdriver import ActionChains

    other = loaded.find_element("css selector", '#main-graph .layer-node[data-name="softmax"]')
    ActionChains(loaded).move_to_element(other).perform()
    assert "residual_add" in panel.text                           # pinned: hovering elsewhere keeps it
    ActionChains(loaded).send_keys("\ue00c").perform()            # Escape unpins
    ActionChains(loaded).move_to_element(node).move_to_element(other).perform()
    assert panel.text.startswith("softmax") and "residual_add" not in panel.text


def test_chart_has_one_bar_per_profiled_layer(loaded, plans):
    from inferrt.report.plan_data import describe_plan

    # --run profiles every layer that runs a kernel: side_flatten is a view of its input and reports no time (flatten
    # reads the channels-last convolution region, so it is the reformat back to row-major and runs)
    views = ("side_flatten",)
    ran = [x["Name"] for x in describe_plan(plans["residual"])["layers"] if x["Name"] not in views]
    n_layers = len(ran)
    bars = loaded.find_elements("css selector", "#main-time-chart .bar")
    assert sorted(b.get_attribute("data-name") for b in bars) == sorted(ran)
    widths = _js(loaded, "return Array.from(document.querySelectorAll('#main-time-chart .bar rect'))"
                         ".map(r => r.getBoundingClientRect().width);")
    assert len(widths) == n_layers and all(w > 0 for w in widths)
    bar = loaded.find_element("css selector", '#main-time-chart .bar[data-name="conv_a"]')
    bar.click()
    assert loaded.find_element("id", "main-details").text.startswith("conv_a")
    sel = _js(loaded, "return Array.from(document.querySelectorAll('.layer-node.selected'))"
                      ".map(g => g.getAttribute('data-name'));")
    assert sel == ["conv_a"]


def test_compare_view_shows_both_plans(loaded, plans):
    from inferrt.report.plan_data import describe_plan

    a, b = describe_plan(plans["residual"]), describe_plan(plans["mnist"])
    assert [n for n, _, _ in _layers(loaded, "cmpA")] == [x["Name"] for x in a["layers"]]
    assert [n for n, _, _ in _layers(loaded, "cmpB")] == [x["Name"] for x in b["layers"]]
    box = _js(loaded, "return ['compare-A', 'compare-B'].map(i => "
                      "JSON.stringify(document.getElementById(i).getBoundingClientRect()));")
    ra, rb = (json.loads(x) for x in box)
    assert ra["width"] > 200 and rb["left"] >= ra["right"] - 1 and abs(ra["top"] - rb["top"]) < 1  # side by side
    loaded.find_element("css selector", '#cmpB-graph .layer-node[data-name="fc1"]').click()
    assert loaded.find_element("id", "cmpB-details").text.startswith("fc1")
    assert "fused from" in loaded.find_element("id", "cmpB-details").text


def test_screenshot(loaded, tmp_path_factory, capsys):
    h = _js(loaded, "return document.documentElement.scrollHeight;")
    loaded.find_element("css selector", '#main-graph .layer-node[data-name="conv_b"]').click()
    loaded.set_window_size(1400, min(h + 120, 8000))
    path = tmp_path_factory.mktemp("report_screenshot") / "report.png"
    assert loaded.save_screenshot(str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    with capsys.disabled():
        print(f"\n[report screenshot] {path}")
