"""Charts as inline SVG: per-layer time (one horizontal bar per profiled layer, in execution order) and the memory
plan (each arena buffer as a box from the layer that writes it to the last layer that reads it, at its offset;
below, the bytes alive at each layer with the peak marked)."""
from __future__ import annotations

from .svg_format import clip, esc, fmt_bytes, num

BAR_H, BAR_GAP = 16, 4
LABEL_W, PLOT_W, VALUE_W = 230, 460, 150
TICKS = 5


def _nice_step(top: float) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about TICKS ticks up to ``top``."""
    import math

    raw = top / TICKS if top > 0 else 1.0
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def time_chart(plan_id: str, profile: dict, layer_index: dict) -> str:
    """One ``<g class="bar">`` per row of ``profile`` (average ms per query); ``layer_index``: {layer name: index}
    so a bar of a plan layer carries its ``data-layer``."""
    rows = profile["rows"]
    top = max((r["averageMs"] for r in rows), default=0.0)
    step = _nice_step(top)
    scale_top = step * max(1, -(-top // step)) if top > 0 else 1.0
    axis_h = 22
    height = axis_h + len(rows) * (BAR_H + BAR_GAP) + 8
    width = LABEL_W + PLOT_W + VALUE_W
    out = [f'<svg class="chart time-chart" id="{esc(plan_id)}-time-chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="time per layer">']
    t = 0.0
    while t <= scale_top + 1e-12:
        x = LABEL_W + PLOT_W * t / scale_top
        out.append(f'<line class="grid" x1="{num(x)}" y1="{axis_h - 4}" x2="{num(x)}" y2="{height - 6}"/>'
                   f'<text class="tick" x="{num(x)}" y="{axis_h - 8}">{t:.3g}</text>')
        t += step
    for i, r in enumerate(rows):
        y = axis_h + i * (BAR_H + BAR_GAP)
        w = PLOT_W * r["averageMs"] / scale_top
        idx = layer_index.get(r["name"])
        attr = f' data-layer="{idx}"' if idx is not None else ' data-unmatched="1"'
        out.append(f'<g class="bar" data-plan="{esc(plan_id)}" data-name="{esc(r["name"])}"{attr}>'
                   f'<title>{esc(r["name"])}: average {r["averageMs"]:.4g} ms, median {r["medianMs"]:.4g} ms, '
                   f'{r["percentage"]:.1f}% of the run</title>'
                   f'<text class="label" x="{LABEL_W - 6}" y="{y + BAR_H - 4}">{esc(clip(r["name"], 34))}</text>'
                   f'<rect x="{LABEL_W}" y="{y}" width="{num(max(w, 0.5))}" height="{BAR_H}"/>'
                   f'<text class="value" x="{num(LABEL_W + w + 4)}" y="{y + BAR_H - 4}">{r["averageMs"]:.4g} ms '
                   f'({r["percentage"]:.1f}%)</text></g>')
    out.append("</svg>")
    return "".join(out)


MEM_W, MEM_H, MEM_LIVE_H, MEM_LEFT = 760, 260, 110, 70


def memory_chart(plan_id: str, memory: dict) -> str:
    """The arena over time: x is the layer (execution order), y the byte offset; one ``<rect class="buffer">`` per
    buffer; then the live bytes per layer with the peak."""
    layer_names = memory["layers"]
    buffers, steps = memory["buffers"], max(len(layer_names), 1)
    arena = max(memory["arena_bytes"] or 0, 1)
    peak = memory["peak_bytes"] or 0
    col = MEM_W / steps
    top_h = MEM_H
    live_y0 = top_h + 40
    height = live_y0 + MEM_LIVE_H + 30
    width = MEM_LEFT + MEM_W + 20
    out = [f'<svg class="chart memory-chart" id="{esc(plan_id)}-memory-chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="memory plan">',
           '<text class="axis" x="4" y="12">offset</text>',
           f'<rect class="arena" x="{MEM_LEFT}" y="16" width="{MEM_W}" height="{top_h - 16}"/>',
           f'<text class="tick" x="{MEM_LEFT - 4}" y="{top_h}" text-anchor="end">0</text>',
           f'<text class="tick" x="{MEM_LEFT - 4}" y="24" text-anchor="end">{esc(fmt_bytes(arena))}</text>']
    usable = top_h - 16
    for k, b in enumerate(buffers):
        x = MEM_LEFT + b["first"] * col
        w = (b["last"] - b["first"] + 1) * col
        y = top_h - usable * (b["offset"] + b["bytes"]) / arena
        h = max(usable * b["bytes"] / arena, 1.0)
        views = f" (views: {', '.join(b['views'])})" if b["views"] else ""
        out.append(f'<rect class="buffer c{k % 8}" x="{num(x + 1)}" y="{num(y)}" width="{num(max(w - 2, 1))}" '
                   f'height="{num(h)}"><title>{esc(b["name"])}: {esc(fmt_bytes(b["bytes"]))} at offset '
                   f'{b["offset"]}, alive from {esc(b["first_layer"])} to {esc(b["last_layer"])}{esc(views)}'
                   f"</title></rect>")
    live = memory["live_bytes"]
    out.append(f'<text class="axis" x="4" y="{live_y0 - 8}">bytes alive per layer (peak '
               f'{esc(fmt_bytes(peak))})</text>')
    top = max(peak, 1)
    pts = []
    for i, v in enumerate(live):
        y = live_y0 + MEM_LIVE_H * (1 - v / top)
        pts += [(MEM_LEFT + i * col, y), (MEM_LEFT + (i + 1) * col, y)]
    if pts:
        poly = " ".join(f"{num(x)},{num(y)}" for x, y in
                        [(MEM_LEFT, live_y0 + MEM_LIVE_H), *pts, (MEM_LEFT + len(live) * col, live_y0 + MEM_LIVE_H)])
        out.append(f'<polygon class="live" points="{poly}"/>')
    if memory["peak_step"] is not None:
        px = MEM_LEFT + (memory["peak_step"] + 0.5) * col
        out.append(f'<g class="peak"><line x1="{num(px)}" y1="{live_y0}" x2="{num(px)}" '
                   f'y2="{live_y0 + MEM_LIVE_H}"/><text x="{num(px + 4)}" y="{live_y0 + 12}">peak at '
                   f'{esc(clip(layer_names[memory["peak_step"]], 30))}</text></g>')
    for i, name in enumerate(layer_names):
        if steps <= 40 or i % max(1, steps // 20) == 0:
            x = MEM_LEFT + (i + 0.5) * col
            out.append(f'<text class="step" x="{num(x)}" y="{live_y0 + MEM_LIVE_H + 14}">{i}'
                       f"<title>{esc(name)}</title></text>")
    out.append("</svg>")
    return "".join(out)
