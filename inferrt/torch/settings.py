"""CompileSettings: the options of ``inferrt.torch.compile`` and ``torch.compile(backend="inferrt", options=...)``.

Unknown options and bad values raise ValueError naming the option and what it accepts, so no option is silently
ignored."""
from __future__ import annotations

import dataclasses
import hashlib
import json

PRECISIONS = ("fp32", "fp16", "bf16", "strongly_typed")


def _packet_name(op) -> str | None:
    """``aten.add`` for ``torch.ops.aten.add`` (an OpOverloadPacket), None for anything else."""
    import torch

    if isinstance(op, torch._ops.OpOverloadPacket):
        return op._qualified_op_name.replace("::", ".")
    return None


@dataclasses.dataclass
class CompileSettings:
    #: "fp32" (TF32 allowed on the GPU, as in TensorRT), "fp16" / "bf16" (the builder may run layers in that type;
    #: inputs and outputs keep their types), "strongly_typed" (types exactly as in the graph: a ``.half()`` module
    #: runs in FP16, nothing else is lowered)
    precision: str = "fp32"
    #: FLOAT matrix products and convolutions may round their inputs to TF32 on the GPU (BuilderFlag.TF32, on by
    #: default as in TensorRT); False keeps them IEEE float32
    tf32: bool = True
    #: "cpu", "cuda", "cuda:N"; None: the device of the example inputs
    device: str | None = None
    #: replay captured CUDA graphs per input shape (GPU only)
    cuda_graphs: bool = True
    #: builder optimization level 0..5 (None: the builder's default)
    optimization_level: int | None = None
    #: an engine must hold at least this many ops; smaller pieces stay in PyTorch
    min_block_size: int = 1
    #: aten ops forced to run in PyTorch: an overload (``"aten.gelu.default"``, ``torch.ops.aten.gelu.default``) or
    #: every overload of an op (``"aten.add"``, ``torch.ops.aten.add``)
    torch_executed_ops: tuple = ()
    #: return a report of what would run where instead of building
    dryrun: bool = False
    #: a directory for the on-disk engine cache (None: no cache)
    cache_dir: str | None = None
    #: what a call does when the module's parameters changed after compilation: "raise", "rebuild", or "ignore"
    #: (no check: the engines keep the weights they were built with)
    on_weight_change: str = "raise"

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.optimization_level is not None and not (0 <= int(self.optimization_level) <= 5):
            raise ValueError(f"optimization_level={self.optimization_level!r}: must be 0..5")
        if int(self.min_block_size) < 1:
            raise ValueError(f"min_block_size={self.min_block_size!r}: must be >= 1")
        if self.on_weight_change not in ("raise", "rebuild", "ignore"):
            raise ValueError(f"on_weight_change={self.on_weight_change!r}: choose 'raise', 'rebuild' or 'ignore'")
        if self.device is not None:
            import torch

            torch.device(self.device)  # ValueError/RuntimeError on a bad string
        from inferrt.torch.converters import target_name

        self.torch_executed_ops = tuple(sorted(op if isinstance(op, str) else _packet_name(op) or target_name(op)
                                               for op in self.torch_executed_ops))

    @classmethod
    def from_options(cls, options: dict | None = None, **kwargs) -> "CompileSettings":
        merged = dict(options or {})
        merged.update(kwargs)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(merged) - names)
        if unknown:
            raise ValueError(f"unknown inferrt compile option(s) {unknown}; known options: {sorted(names)}")
        return cls(**merged)

    def build_key(self) -> str:
        """A digest of the settings that change a built engine (for the engine cache)."""
        d = {"precision": self.precision, "device": str(self.device), "opt": self.optimization_level,
             "tf32": bool(self.tf32)}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
