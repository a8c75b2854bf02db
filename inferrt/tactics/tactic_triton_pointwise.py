"""GPU tactic for ``pointwise`` nodes: one generated Triton kernel per fused chain (see triton_codegen.py), tuned
over its block size and warps (``POINTWISE_SPACE``)."""
from __future__ import annotations

from ..ir.kinds import Kind
from .registry import Tactic, register_tactic
from .triton_codegen import MAX_RANK, POINTWISE_SPACE, PointwiseLauncher, supported


def triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


@register_tactic
class TritonPointwise(Tactic):
    name = "triton_pointwise"
    kinds = (Kind.POINTWISE,)
    devices = ("cuda",)
    space = POINTWISE_SPACE

    def supports(self, node, specs, device):
        if not (super().supports(node, specs, device) and triton_available()) or specs is None:
            return False
        in_dts = [specs[i].dtype for i in node.inputs]
        out = specs[node.outputs[0]]
        return out.shape is not None and len(out.shape) <= MAX_RANK and supported(node.attrs.program, in_dts) \
            and all(specs[i].shape is not None and len(specs[i].shape) <= len(out.shape) for i in node.inputs)

    def runner(self, node, device, point):
        launch = PointwiseLauncher(node.attrs.program, point["BLOCK"], point["num_warps"])

        def run(ins, outs):
            launch(outs[0], list(ins))

        run.launchers = [launch]
        return run
