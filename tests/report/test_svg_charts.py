"""The report's charts: bar lengths proportional to the layers' times, buffer boxes at their offsets and lifetimes,
the live-bytes curve and its peak; and the text helpers."""
from __future__ import annotations

import re

import pytest

from inferrt.report import svg_charts
from inferrt.report.svg_charts import LABEL_W, MEM_H, MEM_LEFT, MEM_W, PLOT_W, memory_chart, time_chart
from inferrt.report.svg_format import clip, fmt_bytes


def _row(name, ms):
    return {"name": name, "timeMs": 2 * ms, "averageMs": ms, "medianMs": ms, "percentage": 0.0}


def test_bar_lengths_follow_the_times():
    prof = {"rows": [_row("a", 0.5), _row("b", 2.0), _row("c", 1.0)]}
    svg = time_chart("P", prof, {"a": 0, "b": 1})
    widths = [float(w) for w in re.findall(rf'<rect x="{LABEL_W}" y="\d+" width="([\d.]+)"', svg)]
    assert len(widths) == 3
    assert widths[1] == pytest.approx(4 * widths[0], abs=0.2) and widths[2] == pytest.approx(2 * widths[0], abs=0.2)
    assert widths[1] <= PLOT_W                                       # the longest bar fits the axis
    assert re.findall(r'data-name="(\w)" (data-layer="\d"|data-unmatched="1")', svg) == [
        ("a", 'data-layer="0"'), ("b", 'data-layer="1"'), ("c", 'data-unmatched="1"')]
    ticks = [float(t) for t in re.findall(r'<text class="tick" x="[\d.]+" y="\d+">([\d.e+-]+)</text>', svg)]
    assert ticks[0] == 0 and ticks[-1] >= 2.0 and len(ticks) <= svg_charts.TICKS + 2


def test_buffers_drawn_at_offset_and_lifetime():
    mem = {"arena_bytes": 1000, "peak_bytes": 1000, "peak_step": 1, "layers": ["l0", "l1", "l2", "l3"],
           "live_bytes": [600, 1000, 400, 0],
           "buffers": [{"name": "t0", "offset": 0, "bytes": 600, "first": 0, "last": 1, "first_layer": "l0",
                        "last_layer": "l1", "views": []},
                       {"name": "t1", "offset": 600, "bytes": 400, "first": 1, "last": 2, "first_layer": "l1",
                        "last_layer": "l2", "views": ["t1_view"]}]}
    svg = memory_chart("P", mem)
    rects = re.findall(r'<rect class="buffer c\d" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)">'
                       r"<title>([^<]*)</title>", svg)
    assert len(rects) == 2
    col, usable = MEM_W / 4, MEM_H - 16
    (x0, y0, w0, h0, t0), (x1, y1, w1, h1, t1) = [(*map(float, r[:4]), r[4]) for r in rects]
    assert x0 == pytest.approx(MEM_LEFT + 1) and w0 == pytest.approx(2 * col - 2, abs=0.1)   # layers 0..1
    assert x1 == pytest.approx(MEM_LEFT + col + 1, abs=0.1)                                   # from layer 1
    assert h0 == pytest.approx(usable * 0.6, abs=0.1) and y0 == pytest.approx(MEM_H - usable * 0.6, abs=0.1)
    assert y1 == pytest.approx(MEM_H - usable, abs=0.1)                # t1 ends at the top of the arena
    assert "views: t1_view" in t1 and "alive from l1 to l2" in t1
    assert "peak at l1" in svg and "peak 1000 B" in svg


def test_text_helpers():
    assert fmt_bytes(None) == "-" and fmt_bytes(512) == "512 B" and fmt_bytes(1536) == "1.50 KiB"
    assert fmt_bytes(3 << 20) == "3.00 MiB" and fmt_bytes(5 << 30) == "5.00 GiB"
    assert clip("abcdef", 10) == "abcdef" and clip("abcdefghijkl", 5) == "abcd\u2026"
