"""What the quantizer did: the nodes quantized, each activation's range, SmoothQuant / AWQ-lite choices, where
calibration ran, and warnings. ``format_text()`` for people, ``to_json()`` for tools."""
from __future__ import annotations

import dataclasses
import json


@dataclasses.dataclass
class QuantizeReport:
    quantize_mode: str
    calibration_method: str | None       # None: int4 (weights only, no activation ranges)
    opset: int
    original_opset: int
    calibration: str                     # "N feed(s)", "random", "cache <path>" or "none"
    calibration_device: str | None       # "cuda (inferrt engine)", "cpu (onnxruntime)" or None (no run)
    quantized_nodes: list                # names of the weighted nodes quantized
    activations: dict                    # tensor -> amax (Q/DQ inserted on it)
    residual_adds: list                  # Add nodes that got Q/DQ on their non-conv input
    smoothquant: dict = dataclasses.field(default_factory=dict)   # activation -> "fold" or the inserted Mul
    awq: dict = dataclasses.field(default_factory=dict)           # node -> chosen alpha
    warnings: list = dataclasses.field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    def format_text(self) -> str:
        lines = [f"[I] quantize: {self.quantize_mode}, opset {self.original_opset} -> {self.opset}, "
                 f"{len(self.quantized_nodes)} weighted node(s) quantized"]
        if self.calibration_method:
            lines.append(f"[I]   calibration: {self.calibration_method} on {self.calibration}"
                         f"{f' ({self.calibration_device})' if self.calibration_device else ''}, "
                         f"{len(self.activations)} activation(s) with Q/DQ, "
                         f"{len(self.residual_adds)} residual Add(s)")
        elif self.awq:
            lines.append(f"[I]   AWQ-lite on {self.calibration}"
                         f"{f' ({self.calibration_device})' if self.calibration_device else ''}")
        for name, amax in sorted(self.activations.items()):
            lines.append(f"[V]     {name}: amax {amax:.6g}")
        if self.smoothquant:
            folded = sum(v == "fold" for v in self.smoothquant.values())
            lines.append(f"[I]   SmoothQuant: {len(self.smoothquant)} activation(s), {folded} folded into a "
                         f"LayerNorm, {len(self.smoothquant) - folded} through a Mul")
        for node, alpha in sorted(self.awq.items()):
            lines.append(f"[V]     {node}: AWQ alpha {alpha:.3g}")
        lines += [f"[W] {w}" for w in self.warnings]
        return "\n".join(lines)
