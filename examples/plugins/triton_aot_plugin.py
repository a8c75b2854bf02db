"""A decorator plugin with a Triton kernel compiled ahead of time (``@trtp.aot_impl``) and stored in the plan.

On a GPU the plan carries the compiled kernel: a process that loads it needs neither this file nor Triton's
Python definition of the kernel. On the CPU there is no AOT kernel, so the plugin also has an ``@trtp.impl`` in
PyTorch, which a CPU build runs (a CPU plan then needs this module imported when it is loaded).

    python examples/plugins/triton_aot_plugin.py
"""
from __future__ import annotations

import numpy as np
import torch

import inferrt as trt
import inferrt.plugin as trtp

BLOCK = 256


_KERNEL = []


def _kernel():
    """The Triton kernel (defined on first use: Triton is only needed where the AOT kernel is compiled)."""
    if _KERNEL:
        return _KERNEL[0]
    import triton
    import triton.language as tl

    @triton.jit
    def scaled_add_kernel(x_ptr, y_ptr, n_elements, out_ptr, alpha: tl.constexpr, BLOCK_SIZE: tl.constexpr):
        pid = tl.program_id(0)
        offs = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        mask = offs < n_elements
        x = tl.load(x_ptr + offs, mask=mask)
        y = tl.load(y_ptr + offs, mask=mask)
        tl.store(out_ptr + offs, x + alpha * y, mask=mask)

    _KERNEL.append(scaled_add_kernel)
    return scaled_add_kernel


@trtp.register("example::scaled_add")
def scaled_add_desc(x: trtp.TensorDesc, y: trtp.TensorDesc, alpha: float) -> trtp.TensorDesc:
    return x.like()


@trtp.impl("example::scaled_add")
def scaled_add_impl(x: trtp.Tensor, y: trtp.Tensor, alpha: float, outputs, stream) -> None:
    torch.from_dlpack(outputs[0]).copy_(torch.from_dlpack(x) + alpha * torch.from_dlpack(y))


@trtp.aot_impl("example::scaled_add")
def scaled_add_aot(x: trtp.TensorDesc, y: trtp.TensorDesc, alpha: float, outputs, tactic):
    import triton

    src = triton.compiler.ASTSource(fn=_kernel(), signature={"x_ptr": "*fp32", "y_ptr": "*fp32",
                                                             "n_elements": "i32", "out_ptr": "*fp32",
                                                             "alpha": "constexpr", "BLOCK_SIZE": "constexpr"},
                                    constexprs={"alpha": alpha, "BLOCK_SIZE": BLOCK})
    compiled = triton.compile(src)
    n = x.shape_expr.numel()
    params = trtp.KernelLaunchParams()
    params.grid_x = trtp.cdiv(n, BLOCK)
    params.block_x = compiled.metadata.num_warps * 32
    params.shared_mem = compiled.metadata.shared
    extra = trtp.SymIntExprs(1)
    extra[0] = trtp.SymInt32(n)
    return compiled.metadata.name, compiled.asm["cubin"], params, extra


def network():
    """x, y [N, 1000] -> the AOT scaled_add plugin layer (alpha 0.5) -> output."""
    builder = trt.Builder(trt.Logger())
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (-1, 1000))
    y = net.add_input("y", trt.float32, (-1, 1000))
    layer = net.add_plugin(trtp.op.example.scaled_add(x, y, alpha=0.5), aot=True)
    net.mark_output(layer.get_output(0))
    return net


def build(device=None):
    return trt.build_engine(network(), profiles={"x": ((1, 1000), (4, 1000), (8, 1000)),
                                                 "y": ((1, 1000), (4, 1000), (8, 1000))}, device=device)


def main():
    engine = build()
    plan = engine.serialize()
    engine = trt.load_engine(bytes(plan))   # on a GPU: the kernel comes from the plan
    x = np.random.default_rng(0).standard_normal((3, 1000)).astype(np.float32)
    y = np.random.default_rng(1).standard_normal((3, 1000)).astype(np.float32)
    out = engine.create_execution_context().infer({"x": x, "y": y})
    out = list(out.values())[0]
    err = float(np.abs(np.asarray(out) - (x + 0.5 * y)).max())
    print(f"scaled_add on {'GPU (AOT kernel)' if torch.cuda.is_available() else 'CPU (impl)'}: max error {err:.2e}")
    assert err < 1e-5


if __name__ == "__main__":
    main()
