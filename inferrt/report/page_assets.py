"""The report page's stylesheet and script, inlined into the page (no file or network fetch when it is viewed).

The script: hovering a layer (graph node or time bar) shows its details in its plan's panel; clicking pins that
layer (and highlights its node and bar) until another is clicked or Escape is pressed."""
from __future__ import annotations

CSS = """
:root { --ink:#1d2330; --muted:#5b6474; --line:#c9cfda; --accent:#2f6fde; --fused:#7a3fb8; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); margin: 0;
       background: #f4f6f9; }
header { background: #1d2330; color: #fff; padding: 14px 24px; }
header h1 { margin: 0; font-size: 20px; }
header .path { color: #b9c2d3; font-family: ui-monospace, monospace; font-size: 12px; }
nav { display: flex; gap: 16px; padding: 8px 24px; background: #e7ebf2; border-bottom: 1px solid var(--line); }
nav a { color: var(--accent); text-decoration: none; }
section { background: #fff; margin: 16px 24px; padding: 12px 16px; border: 1px solid var(--line);
          border-radius: 8px; }
section h2 { margin: 4px 0 10px; font-size: 17px; }
.note { color: var(--muted); font-style: italic; }
.warn { color: #9a4a00; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #e4e7ee; padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.graph-view { display: flex; gap: 16px; align-items: flex-start; }
.graph-scroll { overflow: auto; max-height: 78vh; border: 1px solid #e4e7ee; border-radius: 6px; flex: 0 1 auto;
                background: #fbfcfe; }
.details { position: sticky; top: 8px; flex: 1 1 320px; min-width: 280px; max-height: 78vh; overflow: auto;
           border: 1px solid #e4e7ee; border-radius: 6px; padding: 8px 12px; background: #fff; }
.details h3 { margin: 2px 0 6px; font-size: 15px; word-break: break-all; }
.layer-details { display: none; }
.legend { font-size: 12px; color: var(--muted); margin: 4px 0 8px; }
.legend span { display: inline-block; margin-right: 14px; }
.swatch { display: inline-block; width: 12px; height: 12px; border: 1.5px solid #4a5568; border-radius: 3px;
          vertical-align: -2px; margin-right: 4px; background: #fff; }
.swatch.fused { border: 3px double var(--fused); }
.swatch.hot { background: hsl(28,95%,60%); }
svg text { font-family: system-ui, sans-serif; }
svg.graph .edge { fill: none; stroke: #8a94a6; stroke-width: 1.4; }
svg.graph marker path { fill: #8a94a6; }
svg.graph .layer-node { cursor: pointer; }
svg.graph .layer-node .box { fill: #fff; stroke: #4a5568; stroke-width: 1.5; }
svg.graph .layer-node.fused .box { stroke: var(--fused); stroke-width: 2; }
svg.graph .layer-node .inner { fill: none; stroke: var(--fused); stroke-width: 1; }
svg.graph .layer-node .badge circle { fill: var(--fused); }
svg.graph .layer-node .badge text { fill: #fff; font-size: 11px; font-weight: 700; text-anchor: middle; }
svg.graph .layer-node text.name { font-size: 12.5px; font-weight: 600; text-anchor: middle; fill: var(--ink); }
svg.graph .layer-node text.sub { font-size: 10.5px; text-anchor: middle; fill: var(--muted); }
svg.graph .layer-node:hover .box, svg.graph .layer-node:focus .box { stroke: var(--accent); stroke-width: 2.5; }
svg.graph .layer-node.selected .box { stroke: var(--accent); stroke-width: 3.5; }
svg.graph .io-node rect { fill: #e8eefb; stroke: #6b86c9; }
svg.graph .io-node text { font-size: 11.5px; text-anchor: middle; fill: #2a3f73; }
svg.chart .grid { stroke: #e4e7ee; }
svg.chart .tick, svg.chart .step { font-size: 10px; fill: var(--muted); text-anchor: middle; }
svg.chart .axis { font-size: 11px; fill: var(--muted); }
svg.time-chart .bar { cursor: pointer; }
svg.time-chart .bar rect { fill: #e58a2c; }
svg.time-chart .bar[data-unmatched] rect { fill: #b3b9c4; }
svg.time-chart .bar:hover rect, svg.time-chart .bar.selected rect { fill: var(--accent); }
svg.time-chart .bar text.label { font-size: 11.5px; text-anchor: end; fill: var(--ink); }
svg.time-chart .bar text.value { font-size: 11px; fill: var(--muted); }
svg.memory-chart .arena { fill: #fafbfd; stroke: #c9cfda; }
svg.memory-chart .buffer { stroke: #fff; stroke-width: .5; opacity: .9; }
svg.memory-chart .buffer:hover { opacity: 1; stroke: #1d2330; }
svg.memory-chart .c0 { fill: #4e79a7; } svg.memory-chart .c1 { fill: #f28e2b; }
svg.memory-chart .c2 { fill: #59a14f; } svg.memory-chart .c3 { fill: #e15759; }
svg.memory-chart .c4 { fill: #76b7b2; } svg.memory-chart .c5 { fill: #edc948; }
svg.memory-chart .c6 { fill: #b07aa1; } svg.memory-chart .c7 { fill: #9c755f; }
svg.memory-chart .live { fill: #c8d7f2; stroke: #2f6fde; stroke-width: 1; }
svg.memory-chart .peak line { stroke: #d1332f; stroke-dasharray: 4 3; }
svg.memory-chart .peak text { font-size: 11px; fill: #d1332f; }
.compare-grid { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.compare-grid > div { min-width: 0; }
.compare-grid .graph-view { flex-direction: column; }
.compare-grid .details { position: static; width: 100%; max-height: 40vh; }
tr.status-changed td { background: #fff6e5; }
tr.status-only-A td, tr.status-only-B td { background: #fdecec; }
td.changed { font-weight: 700; color: #9a4a00; }
"""

JS = r"""
(function () {
  "use strict";
  var pinned = {};
  function panel(plan) { return document.getElementById(plan + "-details"); }
  function show(plan, layer) {
    var src = document.getElementById(plan + "-layer-" + layer), p = panel(plan);
    if (!src || !p) { return; }
    p.innerHTML = src.innerHTML;
    p.setAttribute("data-layer", layer);
  }
  function mark(plan, layer) {
    var sel = document.querySelectorAll('[data-plan="' + plan + '"].selected');
    for (var i = 0; i < sel.length; i++) { sel[i].classList.remove("selected"); }
    if (layer === null) { return; }
    var hit = document.querySelectorAll('[data-plan="' + plan + '"][data-layer="' + layer + '"]');
    for (var j = 0; j < hit.length; j++) { hit[j].classList.add("selected"); }
  }
  function target(ev) {
    var t = ev.target;
    return t && t.closest ? t.closest("[data-plan][data-layer]") : null;
  }
  document.addEventListener("click", function (ev) {
    var g = target(ev);
    if (!g) { return; }
    var plan = g.getAttribute("data-plan"), layer = g.getAttribute("data-layer");
    pinned[plan] = layer;
    mark(plan, layer);
    show(plan, layer);
    if (g.classList.contains("bar")) {
      var node = document.querySelector('.layer-node[data-plan="' + plan + '"][data-layer="' + layer + '"]');
      if (node && node.scrollIntoView) { node.scrollIntoView({block: "center", inline: "center"}); }
    }
  });
  document.addEventListener("mouseover", function (ev) {
    var g = target(ev);
    if (g && pinned[g.getAttribute("data-plan")] === undefined) {
      show(g.getAttribute("data-plan"), g.getAttribute("data-layer"));
    }
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && target(ev)) { target(ev).dispatchEvent(new MouseEvent("click", {bubbles: true})); }
    if (ev.key === "Escape") {
      for (var plan in pinned) { mark(plan, null); }
      pinned = {};
    }
  });
})();
"""
