"""Per-layer times for the report: trtexec's ``--exportProfile`` JSON (as ``inferrt exec --exportProfile`` writes
it: ``[{"count": N}, {"name", "timeMs", "averageMs", "medianMs", "percentage"}, ...]``) or the rows of a profiled
run (an IProfiler collecting ``report_layer_time`` calls), matched to the plan's layers by name."""
from __future__ import annotations

import json

from ..errors import PlanError

_FIELDS = ("timeMs", "averageMs", "medianMs", "percentage")


def read_profile_json(path: str) -> dict:
    """{"count": N, "rows": [...], "source": path} from an --exportProfile file; PlanError naming the file and the
    entry that is not in trtexec's layout."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        raise PlanError(f"cannot read profile {path!r}: {e.strerror}") from None
    except ValueError as e:
        raise PlanError(f"profile {path!r} is not JSON ({e}); give the file `inferrt exec --exportProfile` or "
                        f"trtexec --exportProfile writes") from None
    if not isinstance(doc, list) or not doc or not isinstance(doc[0], dict) or "count" not in doc[0]:
        raise PlanError(f"profile {path!r}: expected trtexec's --exportProfile layout, a list starting with "
                        f'{{"count": N}} followed by one object per layer')
    count = doc[0]["count"]
    if not isinstance(count, int) or count < 1:
        raise PlanError(f"profile {path!r}: count {count!r} must be a positive integer (the profiled queries)")
    rows = []
    for i, r in enumerate(doc[1:], start=1):
        if not isinstance(r, dict) or not isinstance(r.get("name"), str):
            raise PlanError(f"profile {path!r}: entry {i} has no layer name (\"name\")")
        bad = [k for k in _FIELDS if not isinstance(r.get(k), (int, float)) or isinstance(r.get(k), bool)]
        if bad:
            raise PlanError(f"profile {path!r}: layer {r['name']!r} lacks numeric {', '.join(bad)}")
        rows.append({"name": r["name"], **{k: float(r[k]) for k in _FIELDS}})
    return {"count": count, "rows": rows, "source": str(path)}


def attach_profile(plan: dict, profile: dict) -> dict:
    """The profile, checked against ``plan``'s layers: rows whose layer the plan lacks are listed in "unmatched";
    a profile that names none of the plan's layers is another plan's (PlanError)."""
    names = {x["Name"] for x in plan["layers"]}
    unmatched = [r["name"] for r in profile["rows"] if r["name"] not in names]
    if profile["rows"] and len(unmatched) == len(profile["rows"]):
        raise PlanError(f"profile {profile['source']}: none of its layers ({', '.join(unmatched[:5])}"
                        f"{', ...' if len(unmatched) > 5 else ''}) is a layer of plan {plan['path']}; it was "
                        f"recorded on another plan")
    out = dict(profile)
    out["unmatched"] = unmatched
    out["total_ms"] = sum(r["averageMs"] for r in profile["rows"])
    return out
