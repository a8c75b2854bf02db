"""Two plans side by side: summary figures and their layers matched by name (a layer both plans have, with what
changed between them: type, origin layers, tactic, precision, time)."""
from __future__ import annotations

from ..tactics.tuning import label

_FIELDS = ("type", "origin", "tactic", "precision")


def _times(plan: dict) -> dict:
    p = plan.get("profile")
    return {r["name"]: r["averageMs"] for r in p["rows"]} if p else {}


def _facts(layer: dict) -> dict:
    return {"type": layer.get("LayerType", ""), "origin": ", ".join(layer.get("Origin") or [layer["Name"]]),
            "tactic": label(layer["TacticName"], layer.get("TacticPoint")) if "TacticName" in layer else "",
            "precision": layer.get("Precision", "")}


def summary(plan: dict) -> dict:
    layers = plan["layers"]
    mem = plan["memory"]
    prof = plan.get("profile")
    return {"layers": len(layers), "fused": sum(len(x.get("Origin") or ()) > 1 for x in layers),
            "network_layers": plan["build"].get("layers_before"), "arena_bytes": mem["arena_bytes"],
            "peak_bytes": mem["peak_bytes"], "time_ms": prof["total_ms"] if prof else None}


def compare_layers(a: dict, b: dict) -> list:
    """[{name, status, changed: [field], a: facts, b: facts}] in A's order, then B's layers that A lacks. status:
    "same", "changed", "only A", "only B", or "in both" where a plan records layer names only (nothing to
    compare)."""
    la = {x["Name"]: x for x in a["layers"]}
    lb = {x["Name"]: x for x in b["layers"]}
    ta, tb = _times(a), _times(b)
    rows = []
    for name in [*la, *(n for n in lb if n not in la)]:
        fa = {**_facts(la[name]), "ms": ta.get(name)} if name in la else None
        fb = {**_facts(lb[name]), "ms": tb.get(name)} if name in lb else None
        if fa is None or fb is None:
            status, changed = ("only B" if fa is None else "only A"), []
        elif "LayerType" not in la[name] or "LayerType" not in lb[name]:
            status, changed = "in both", []
        else:
            changed = [k for k in _FIELDS if fa[k] != fb[k]]
            status = "changed" if changed else "same"
        rows.append({"name": name, "status": status, "changed": changed, "a": fa, "b": fb})
    return rows
