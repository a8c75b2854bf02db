"""Render the model zoo's JSON (bench/zoo.py --json) as a markdown table: ``python -m bench.zoo --markdown zoo.json
--output docs/zoo.md``."""
from __future__ import annotations

from bench.zoo_check import FP16_RATIO, FP32_REL_L2


def _num(v, spec=".2e") -> str:
    return "–" if v is None else format(v, spec)


def _result(r: dict) -> str:
    if r["passed"]:
        return "pass"
    why = (r.get("error") or "").splitlines()[0][:120] if r.get("error") else ""
    if not why:
        parts = []
        if r.get("fp32_rel_l2") is not None and r["fp32_rel_l2"] > FP32_REL_L2:
            parts.append(f"FP32 error above {FP32_REL_L2:g}")
        if r.get("fp16_ratio") is not None and r["fp16_ratio"] > FP16_RATIO:
            parts.append(f"FP16 ratio above {FP16_RATIO:g}")
        if r.get("fp16_finite") is False:
            parts.append("FP16 not finite where FP32 is")
        why = ", ".join(parts) or "check failed"
    return "**FAIL**: " + why.replace("|", "\\|")


def render(doc) -> str:
    """Markdown for a zoo run: ``doc`` is the JSON bench/zoo.py writes (``{"device", "cuda_graphs", "wall_s",
    "rows"}``) or a bare list of rows."""
    rows = doc["rows"] if isinstance(doc, dict) else doc
    meta = doc if isinstance(doc, dict) else {}
    n_pass = sum(r["passed"] for r in rows)
    out = ["# Model zoo", ""]
    device = meta.get("device") or (rows[0]["device"] if rows else "?")
    line = f"Device: **{device}**"
    if "cuda_graphs" in meta and device == "cuda":
        line += f", CUDA graphs {'on' if meta['cuda_graphs'] else 'off'}"
    if meta.get("wall_s") is not None:
        line += f", {meta['wall_s']:.0f} s in all"
    if meta.get("note"):
        line += f". {meta['note']}"
    out += [line + f". **{n_pass}/{len(rows)} rows pass.**", ""]
    out += [f"Checks (bench/zoo_check.py): the FP32 engine, built with BuilderFlag.TF32 cleared, against onnxruntime "
            f"on the same ONNX file and inputs (relative L2 per output, worst output shown, at most "
            f"{FP32_REL_L2:g}); the FP16 engine's relative L2 error against the PyTorch model in float64, next to "
            f"eager PyTorch FP16's error on the same inputs (ratio at most {FP16_RATIO:g}, and finite wherever the "
            f"reference is). Batch `dynA-B-C@N` is an engine built for batches A..C (optimized for B) run at N.", ""]
    notes = sorted({r["fp16_note"] for r in rows if r.get("fp16_note")})
    for n in notes:
        out += [f"- {n}"]
    if notes:
        out.append("")
    out += ["| model | exporter | batch | FP32 rel-L2 vs ORT | FP16 rel-L2 | eager FP16 rel-L2 | ratio | result |",
            "|---|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        out.append(f"| {r['model']} | {r['exporter']} | {r['batch']} | {_num(r.get('fp32_rel_l2'))} | "
                   f"{_num(r.get('fp16_rel_l2'))} | {_num(r.get('eager_fp16_rel_l2'))} | "
                   f"{_num(r.get('fp16_ratio'), '.2f')} | {_result(r)} |")
    return "\n".join(out) + "\n"
