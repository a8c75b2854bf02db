"""GPU tactic for ``pointwise`` nodes: one generated Triton kernel per fused chain (see triton_codegen.py)."""
from __future__ import annotations

from ..dtypes import from_torch_dtype
from .registry import Tactic, register_tactic
from .triton_codegen import MAX_RANK, kernel_source, load_kernel, supported

BLOCK = 1024


def triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


@register_tactic
class TritonPointwise(Tactic):
    name = "triton_pointwise"
    kinds = ("pointwise",)
    devices = ("cuda",)

    def supports(self, node, specs, device):
        if not (super().supports(node, specs, device) and triton_available()):
            return False
        if specs is None:
            return False
        in_dts = [specs[i].dtype for i in node.inputs]
        out = specs[node.outputs[0]]
        return out.shape is not None and len(out.shape) <= MAX_RANK and supported(node.attrs.program, in_dts) \
            and all(specs[i].shape is not None and len(specs[i].shape) <= len(out.shape) for i in node.inputs)

    def prepare(self, node, device):
        program = node.attrs.program
        cache = {}

        def run(ins, outs):
            import torch
            import triton

            out = outs[0]
            n = out.numel()
            if n == 0:
                return None
            shape = tuple(out.shape)
            pad = MAX_RANK - len(shape)
            dims = (1,) * pad + shape
            ostr = (0,) * pad + tuple(out.stride())
            out_linear = out.is_contiguous()
            linear, strides = [], []
            for x in ins:
                lin = out_linear and tuple(x.shape) == shape and x.is_contiguous()
                linear.append(lin)
                xe = x.expand(shape) if tuple(x.shape) != shape else x
                strides += list((0,) * pad + tuple(xe.stride()))
            key = (tuple(linear), tuple(x.dtype for x in ins), out.dtype)
            k = cache.get(key)
            if k is None:
                src = kernel_source(program, [from_torch_dtype(x.dtype) for x in ins], from_torch_dtype(out.dtype),
                                    linear)
                k = cache[key] = load_kernel(src)
            grid = (triton.cdiv(n, BLOCK),)
            k[grid](out, *ins, n, *dims, *ostr, *strides, OUT_LINEAR=out_linear, BLOCK=BLOCK)
            _ = torch
            return None

        return run
