"""The layer graph as inline SVG: one ``<g class="layer-node">`` per optimized layer (fused layers, which absorbed
several network layers, drawn with a double outline and a badge counting their origin layers), pill-shaped network
inputs and outputs, and an arrow per tensor passed between them. With a profile, each layer is tinted by its share
of the run time. Each node carries ``data-plan`` and ``data-layer`` so the page's script shows its details."""
from __future__ import annotations

from ..tactics.tuning import label
from .graph_layout import Layout
from .svg_format import clip, esc, num


def _path(points) -> str:
    (x0, y0), rest = points[0], points[1:]
    d = [f"M{num(x0)},{num(y0)}"]
    px, py = x0, y0
    for x, y in rest:
        my = (py + y) / 2
        d.append(f"C{num(px)},{num(my)} {num(x)},{num(my)} {num(x)},{num(y)}")
        px, py = x, y
    return " ".join(d)


def _tint(ms: float | None, top: float) -> str:
    """Fill for a layer that took ``ms`` of the slowest layer's ``top``: white to orange."""
    if ms is None or top <= 0:
        return ""
    light = 97 - 37 * min(ms / top, 1.0)
    return f' style="fill:hsl(28,95%,{light:.0f}%)"'


def _layer_node(plan_id: str, n, layer: dict, ms: float | None, top: float) -> str:
    origin = layer.get("Origin") or [layer["Name"]]
    fused = len(origin) > 1
    x, y, w, h = n.x - n.w / 2, n.y, n.w, n.h
    sub = " \u00b7 ".join(s for s in (layer.get("LayerType", ""), label(layer["TacticName"], layer.get(
        "TacticPoint")) if "TacticName" in layer else "", layer.get("Precision", "")) if s)
    tip = layer["Name"] + (f" - fused from {', '.join(origin)}" if fused else "") + (
        f" - {ms:.4g} ms" if ms is not None else "")
    parts = [f'<g class="layer-node{" fused" if fused else ""}" data-plan="{esc(plan_id)}" '
             f'data-layer="{n.layer}" data-name="{esc(layer["Name"])}" tabindex="0">',
             f"<title>{esc(tip)}</title>",
             f'<rect class="box" x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" rx="6"'
             f"{_tint(ms, top)}/>"]
    if fused:
        parts.append(f'<rect class="inner" x="{num(x + 3)}" y="{num(y + 3)}" width="{num(w - 6)}" '
                     f'height="{num(h - 6)}" rx="4"/>')
        parts.append(f'<g class="badge"><circle cx="{num(x + w - 2)}" cy="{num(y + 2)}" r="10"/>'
                     f'<text x="{num(x + w - 2)}" y="{num(y + 6)}">{len(origin)}</text></g>')
    parts.append(f'<text class="name" x="{num(n.x)}" y="{num(y + 19)}">{esc(clip(layer["Name"], 28))}</text>')
    if sub:
        parts.append(f'<text class="sub" x="{num(n.x)}" y="{num(y + 35)}">{esc(clip(sub, 34))}</text>')
    parts.append("</g>")
    return "".join(parts)


def _io_node(n) -> str:
    x, y = n.x - n.w / 2, n.y
    return (f'<g class="io-node {n.kind}"><title>{esc(f"network {n.kind}: {n.label}")}</title>'
            f'<rect x="{num(x)}" y="{num(y)}" width="{num(n.w)}" height="{num(n.h)}" rx="{num(n.h / 2)}"/>'
            f'<text x="{num(n.x)}" y="{num(y + n.h / 2 + 4)}">{esc(clip(n.label, 22))}</text></g>')


def graph_svg(plan_id: str, lay: Layout, layers: list, times: dict | None = None) -> str:
    """SVG of ``lay`` (from graph_layout.layout) for the plan whose nodes carry ``plan_id``; ``times``: {layer
    name: average ms} of a profiled run, or None."""
    times = times or {}
    top = max(times.values(), default=0.0)
    dims = {t["Name"]: t.get("Dimensions") for x in layers for t in x.get("Outputs", [])}
    marker = f"{plan_id}-arrow"
    out = [f'<svg class="graph" id="{esc(plan_id)}-graph" width="{num(lay.width)}" height="{num(lay.height)}" '
           f'viewBox="0 0 {num(lay.width)} {num(lay.height)}" role="img" aria-label="layer graph">',
           f'<defs><marker id="{esc(marker)}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>']
    for e in lay.edges:
        d = dims.get(e.tensor)
        tip = e.tensor + (f" {d}" if d is not None else "")
        out.append(f'<path class="edge" d="{_path(e.points)}" marker-end="url(#{esc(marker)})">'
                   f"<title>{esc(tip)}</title></path>")
    for n in lay.nodes.values():
        if n.kind == "layer":
            out.append(_layer_node(plan_id, n, layers[n.layer], times.get(layers[n.layer]["Name"]), top))
        else:
            out.append(_io_node(n))
    out.append("</svg>")
    return "".join(out)
