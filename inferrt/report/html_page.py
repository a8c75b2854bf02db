"""The report page: one HTML document with its CSS, script and SVG inline (no link, script source, font or image
fetched when it is viewed), built from the report data of one plan (plan_data.describe_plan, with a profile
attached) and optionally a second plan to compare."""
from __future__ import annotations

import os

from .compare_data import compare_layers, summary
from .graph_layout import layout
from .layer_details import layer_details
from .page_assets import CSS, JS
from .svg_charts import memory_chart, time_chart
from .svg_format import esc, fmt_bytes, fmt_ms
from .svg_graph import graph_svg


def _buffers_by_tensor(memory: dict) -> dict:
    out = {}
    for b in memory["buffers"]:
        out[b["name"]] = b
        for v in b["views"]:
            out[v] = b
    return out


def _profile_rows(plan: dict) -> dict:
    p = plan.get("profile")
    return {r["name"]: r for r in p["rows"]} if p else {}


def _facts(plan: dict) -> list:
    b, m, p = plan["build"], plan["memory"], plan.get("profile")
    dev = plan["device"]
    rows = [("plan", f"<code>{esc(plan['path'])}</code>"), ("network name", esc(plan["name"] or "-")),
            ("device", esc(f"{dev.get('name', '?')} ({dev.get('kind', '?')}"
                           f"{', sm ' + dev['capability'] if dev.get('capability') else ''})")),
            ("built by", esc(f"inferrt {plan['inferrt_version']}")),
            ("builder flags", esc(", ".join(b.get("flags", [])) or "none")),
            ("optimization level", esc(b.get("optimization_level", "?"))),
            ("layers", esc(f"{b.get('layers_before', '?')} network layers -> {len(plan['layers'])} optimized "
                           f"({sum(len(x.get('Origin') or ()) > 1 for x in plan['layers'])} fused)")),
            ("profiling verbosity", esc(plan["verbosity"])),
            ("shapes", esc(", ".join(f"{k}={'x'.join(map(str, v))}" for k, v in plan["shapes"].items())
                           + " (optimization profile 0, opt)")),
            ("activation arena", esc(fmt_bytes(m["arena_bytes"])) if m["arena_bytes"] is not None
             else esc(m["note"])),
            ("peak live activations", esc(fmt_bytes(m["peak_bytes"]))),
            ("I/O", ", ".join(f"{esc(e['mode'].lower())} <code>{esc(e['name'])}</code> {esc(e['dtype'])} "
                              f"{esc(tuple(e['shape']))}" for e in plan["io"]))]
    if p:
        rows.append(("profile", esc(f"{p['source']}: {p['count']} queries, {fmt_ms(p['total_ms'])} per query "
                                    f"over {len(p['rows'])} layers")))
    return rows


def _table(rows) -> str:
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def graph_view(plan_id: str, plan: dict) -> str:
    """The plan's graph SVG beside its details panel, with the hidden details of every layer."""
    rows = _profile_rows(plan)
    times = {k: r["averageMs"] for k, r in rows.items()}
    svg = graph_svg(plan_id, layout(plan["layers"], plan["io"]), plan["layers"], times)
    bufs = _buffers_by_tensor(plan["memory"])
    details = "".join(f'<div class="layer-details" id="{esc(plan_id)}-layer-{i}">'
                      f"{layer_details(x, rows.get(x['Name']), bufs)}</div>" for i, x in enumerate(plan["layers"]))
    what = ("no layer information" if not plan["layers"] else
            "layer names only: the graph has no edges and layers no details")
    note = "" if plan["detailed"] and plan["layers"] else (
        f'<p class="note">This plan records {what} (profiling verbosity {esc(plan["verbosity"])}). Rebuild '
        "with <code>--profilingVerbosity=detailed</code> to see them.</p>")
    return (f'{note}<div class="graph-view"><div class="graph-scroll">{svg}</div>'
            f'<div class="details" id="{esc(plan_id)}-details"><p class="note">Hover over a layer to see its '
            f"details; click to keep them.</p></div></div><div hidden>{details}</div>")


def _legend(profiled: bool) -> str:
    hot = '<span><i class="swatch hot"></i>tint: share of the run time</span>' if profiled else ""
    return ('<div class="legend"><span><i class="swatch"></i>optimized layer</span><span><i class="swatch fused">'
            "</i>fused layer (badge: how many network layers it absorbed)</span>" + hot + "</div>")


def time_section(plan_id: str, plan: dict) -> str:
    p = plan.get("profile")
    if not p:
        return ('<p class="note">No profile: give <code>--profile-json</code> (from <code>inferrt exec '
                "--exportProfile</code>) or <code>--run</code> to profile the plan here.</p>")
    index = {x["Name"]: i for i, x in enumerate(plan["layers"])}
    warn = ""
    if p["unmatched"]:
        warn = (f'<p class="warn">{len(p["unmatched"])} profiled layer(s) are not layers of this plan (grey bars): '
                f"{esc(', '.join(p['unmatched']))}</p>")
    timed = {r["name"] for r in p["rows"]}
    untimed = [x["Name"] for x in plan["layers"] if x["Name"] not in timed]
    if untimed:
        warn += (f'<p class="note">{len(untimed)} layer(s) have no time in the profile (a layer that runs no '
                 f"kernel, such as a view of its input, reports none): {esc(', '.join(untimed))}</p>")
    return (f'<p>Average time per query of each layer over {p["count"]} profiled queries '
            f"(<code>{esc(p['source'])}</code>); click a bar to find its layer in the graph.</p>"
            f"{warn}{time_chart(plan_id, p, index)}")


def memory_section(plan_id: str, plan: dict) -> str:
    m = plan["memory"]
    if m["arena_bytes"] is None:
        return f'<p class="note">No static memory plan: {esc(m["note"])}</p>'
    rows = "".join(
        f"<tr><td class=\"mono\">{esc(b['name'])}</td><td class=\"num\">{b['bytes']}</td>"
        f"<td class=\"num\">{b['offset']}</td><td>{b['first']}: {esc(b['first_layer'])}</td>"
        f"<td>{b['last']}: {esc(b['last_layer'])}</td><td class=\"mono\">{esc(', '.join(b['views']))}</td></tr>"
        for b in m["buffers"])
    return (f"<p>One arena of {esc(fmt_bytes(m['arena_bytes']))} holds every intermediate tensor; buffers whose "
            f"lifetimes do not overlap share bytes. Peak live: {esc(fmt_bytes(m['peak_bytes']))}. Network inputs "
            f"and outputs live in the caller's buffers, views (reshapes) in the buffer they view.</p>"
            f"{memory_chart(plan_id, m)}"
            f'<table class="buffers"><tr><th>buffer</th><th class="num">bytes</th><th class="num">offset</th>'
            f"<th>written by</th><th>last read by</th><th>views</th></tr>{rows}</table>")


def _cell(f: dict | None, key: str, changed: list) -> str:
    if f is None:
        return "<td>-</td>"
    v = fmt_ms(f[key]) if key == "ms" else (f[key] or "-")
    return f'<td class="{"changed" if key in changed else ""}">{esc(v)}</td>'


def compare_section(a: dict, b: dict) -> str:
    sa, sb = summary(a), summary(b)
    keys = (("optimized layers", "layers", str), ("fused layers", "fused", str),
            ("network layers", "network_layers", str), ("activation arena", "arena_bytes", fmt_bytes),
            ("peak live", "peak_bytes", fmt_bytes), ("profiled time per query", "time_ms", fmt_ms))
    head = (f'<table class="compare-summary"><tr><th></th><th>A: <code>{esc(a["path"])}</code></th>'
            f'<th>B: <code>{esc(b["path"])}</code></th></tr>'
            + "".join(f"<tr><th>{k}</th><td>{esc(f(sa[key]) if sa[key] is not None else '-')}</td>"
                      f"<td>{esc(f(sb[key]) if sb[key] is not None else '-')}</td></tr>" for k, key, f in keys)
            + "</table>")
    rows = []
    for r in compare_layers(a, b):
        cells = "".join(_cell(r["a"], k, r["changed"]) + _cell(r["b"], k, r["changed"])
                        for k in ("type", "tactic", "precision", "ms"))
        rows.append(f'<tr class="status-{esc(r["status"].replace(" ", "-"))}"><td class="mono">{esc(r["name"])}'
                    f"</td><td>{esc(r['status'])}</td>{cells}</tr>")
    table = ('<table class="compare-layers"><tr><th>layer</th><th>status</th><th>type A</th><th>type B</th>'
             "<th>tactic A</th><th>tactic B</th><th>precision A</th><th>precision B</th><th>time A</th>"
             f"<th>time B</th></tr>{''.join(rows)}</table>")
    cols = "".join(f'<div class="compare-plan" id="compare-{tag}"><h3>{tag}: <code>{esc(p["path"])}</code></h3>'
                   f"{graph_view(f'cmp{tag}', p)}</div>" for tag, p in (("A", a), ("B", b)))
    return f'{head}<div class="compare-grid">{cols}</div><h3>Layers by name</h3>{table}'


def render_report(plan: dict, other: dict | None = None, title: str | None = None) -> str:
    """The whole page for ``plan`` (and ``other`` side by side with it)."""
    title = title or f"inferrt report: {os.path.basename(plan['path'])}"
    nav = ['<a href="#summary">Summary</a>', '<a href="#graph">Layer graph</a>', '<a href="#time">Layer time</a>',
           '<a href="#memory">Memory plan</a>'] + (['<a href="#compare">Compare</a>'] if other else [])
    sections = [("summary", "Summary", _table(_facts(plan))),
                ("graph", "Optimized layer graph", _legend(bool(plan.get("profile"))) + graph_view("main", plan)),
                ("time", "Time per layer", time_section("main", plan)),
                ("memory", "Memory plan", memory_section("main", plan))]
    if other is not None:
        sections.append(("compare", "Compare plans", compare_section(plan, other)))
    body = "".join(f'<section id="{sid}"><h2>{esc(h)}</h2>{html}</section>' for sid, h, html in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head><body>'
            f'<header><h1>{esc(title)}</h1><div class="path">{esc(plan["path"])}</div></header>'
            f"<nav>{''.join(nav)}</nav>{body}<script>{JS}</script></body></html>\n")
