"""The details of one optimized layer as HTML (shown in the page's panel when its node or bar is hovered or
clicked): origin layers, tactic and its tuning point, precision, time, and each input and output with its
dimensions, format/datatype and place in the memory plan."""
from __future__ import annotations

from .svg_format import esc, fmt_bytes, fmt_ms


def _tensors(title: str, tensors: list, buffers: dict) -> str:
    if not tensors:
        return ""
    rows = []
    for t in tensors:
        b = buffers.get(t["Name"])
        where = f"arena +{b['offset']} ({fmt_bytes(b['bytes'])})" if b else t.get("Location", "")
        dims = t.get("Dimensions")
        rows.append(f"<tr><td class=\"mono\">{esc(t['Name'])}</td><td class=\"mono\">"
                    f"{esc('x'.join(map(str, dims)) if dims is not None else '?')}</td>"
                    f"<td>{esc(t.get('Format/Datatype', ''))}</td><td>{esc(where)}</td></tr>")
    return (f"<h4>{esc(title)}</h4><table><tr><th>tensor</th><th>dimensions</th><th>format/datatype</th>"
            f"<th>memory</th></tr>{''.join(rows)}</table>")


def layer_details(layer: dict, profile_row: dict | None, buffers: dict) -> str:
    """``buffers``: {tensor name: memory-plan buffer} (a view's name maps to the buffer it views)."""
    name = layer["Name"]
    out = [f"<h3>{esc(name)}</h3>"]
    if "LayerType" not in layer:
        out.append('<p class="note">The plan was built with profiling verbosity LAYER_NAMES_ONLY or NONE: only '
                   "layer names are recorded. Rebuild with <code>--profilingVerbosity=detailed</code> "
                   "(<code>config.profiling_verbosity = ProfilingVerbosity.DETAILED</code>) for origin layers, "
                   "tactics, precisions and shapes.</p>")
    rows = []
    if "LayerType" in layer:
        origin = layer.get("Origin") or [name]
        rows.append(("type", esc(layer["LayerType"])))
        fused = f"fused from {len(origin)} layers: " if len(origin) > 1 else ""
        rows.append(("origin", fused + ", ".join(f"<code>{esc(o)}</code>" for o in origin)))
        value = f" ({esc(layer['TacticValue'])})" if layer.get("TacticValue") else ""
        rows.append(("tactic", f"<code>{esc(layer.get('TacticName', ''))}</code>{value}"))
        point = layer.get("TacticPoint") or {}
        if point:
            rows.append(("tuning point", ", ".join(f"<code>{esc(k)}={esc(v)}</code>" for k, v in point.items())))
        rows.append(("precision", esc(layer.get("Precision", ""))))
        if layer.get("Metadata"):
            rows.append(("metadata", esc(layer["Metadata"])))
    if profile_row is not None:
        rows.append(("time", f"{esc(fmt_ms(profile_row['averageMs']))} average, "
                             f"{esc(fmt_ms(profile_row['medianMs']))} median, "
                             f"{profile_row['percentage']:.1f}% of the run"))
    if rows:
        out.append("<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>")
    out.append(_tensors("inputs", layer.get("Inputs", []), buffers))
    out.append(_tensors("outputs", layer.get("Outputs", []), buffers))
    return "".join(out)
