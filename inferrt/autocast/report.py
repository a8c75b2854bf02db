"""What AutoCast did: per node, the precision it runs in and, for those kept in FP32, every rule that kept it."""
from __future__ import annotations

import dataclasses
import json

from .classify_nodes import LOW, UNCHANGED


@dataclasses.dataclass
class NodeReport:
    name: str
    op_type: str
    precision: str                                       # "fp16", "bf16" or "fp32"
    reasons: list = dataclasses.field(default_factory=list)      # "rule: detail" strings
    overridden: list = dataclasses.field(default_factory=list)   # rules an include knob overrode


@dataclasses.dataclass
class AutocastReport:
    low_precision_type: str
    opset: int
    original_opset: int
    calibration: str                 # "random" or "N feed(s)"
    data_max: float
    init_max: float
    keep_io_types: bool
    nodes: list                      # NodeReport for every node with float values, in graph order
    unchanged: int                   # nodes with no float values (shape arithmetic, integer ops)
    cast_nodes: int                  # Cast nodes in the converted model
    cast_nodes_before: int           # Cast nodes in the original model
    initializers_converted: int
    initializers_copied: int
    initializers_cast: int
    warnings: list = dataclasses.field(default_factory=list)

    @property
    def kept(self) -> list:
        """The nodes kept in FP32, with their reasons."""
        return [n for n in self.nodes if n.precision == "fp32"]

    @property
    def converted(self) -> list:
        return [n for n in self.nodes if n.precision != "fp32"]

    def kept_by_rule(self) -> dict:
        """rule name -> names of the nodes it kept in FP32."""
        out: dict = {}
        for n in self.kept:
            for r in n.reasons:
                out.setdefault(r.split(":", 1)[0], []).append(n.name)
        return out

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["summary"] = {"converted": len(self.converted), "kept_fp32": len(self.kept),
                        "kept_by_rule": {k: len(v) for k, v in self.kept_by_rule().items()}}
        return d

    def to_json(self, indent=2) -> str:
        def default(x):
            return str(x)

        return json.dumps(self.to_dict(), indent=indent, default=default, allow_nan=True)

    def format_text(self) -> str:
        lines = [f"AutoCast to {self.low_precision_type} (opset {self.original_opset} -> {self.opset}, calibration: "
                 f"{self.calibration}, data_max {self.data_max:g}, init_max {self.init_max:g}, keep_io_types "
                 f"{self.keep_io_types})",
                 f"  {len(self.converted)} nodes in {self.low_precision_type}, {len(self.kept)} kept in fp32, "
                 f"{self.unchanged} without float values left unchanged",
                 f"  Cast nodes: {self.cast_nodes} (the original model had {self.cast_nodes_before}); initializers "
                 f"converted {self.initializers_converted}, copied {self.initializers_copied}, cast at run time "
                 f"{self.initializers_cast}"]
        if self.kept:
            lines.append("  kept in fp32:")
            for n in self.kept:
                lines.append(f"    {n.name} ({n.op_type}): {'; '.join(n.reasons)}")
        forced = [n for n in self.converted if n.overridden]
        if forced:
            lines.append(f"  forced to {self.low_precision_type}:")
            for n in forced:
                lines.append(f"    {n.name} ({n.op_type}): {'; '.join(n.reasons)} (overrides "
                             f"{'; '.join(n.overridden)})")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)


def node_reports(decisions, low_name: str) -> tuple[list, int]:
    out, unchanged = [], 0
    for d in decisions:
        if d.precision == UNCHANGED:
            unchanged += 1
            continue
        out.append(NodeReport(d.name, d.op_type, low_name if d.precision == LOW else "fp32",
                              [str(r) for r in d.reasons], [str(r) for r in d.overridden]))
    return out, unchanged
