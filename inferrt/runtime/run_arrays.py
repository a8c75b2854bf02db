"""The Pythonic ``context.infer``: arrays in, arrays out, on buffers of the context's own (no raw addresses).

Shapes are checked before anything is copied; inputs become contiguous tensors on the engine's device; outputs
are fresh tensors (or, where CUDA graphs replay, copies of stable per-shape buffers). Numpy in, numpy out.
"""
from __future__ import annotations

import contextlib

import torch

from ..dtypes import LOW_BIT, to_numpy, torch_dtype
from ..errors import ShapeError
from .arguments import check_dtype
from .buffers import as_torch
from .tf32 import tf32_mode


def run_arrays(ctx, arrays: dict, handle: int):
    """The body of ``IExecutionContext.infer`` (the caller holds the context's guard): ``arrays`` checked by
    ``buffers.as_array``, ``handle`` a stream handle (0: the default stream, waited for before returning)."""
    names = ctx.engine.input_names
    want_numpy = not any(isinstance(a, torch.Tensor) for a in arrays.values())
    for n, a in arrays.items():   # shapes first: nothing is copied for an input the engine refuses
        err = ctx._shape_error(n, tuple(int(d) for d in a.shape))
        if err:
            raise ShapeError(err)
    io = {n: check_dtype(as_torch(a, ctx._device, n), ctx.engine.get_tensor_dtype(n), n)
          for n, a in arrays.items()}
    for n in names:
        ctx._shapes[n] = tuple(io[n].shape)
    plan, key = ctx._plan_keyed()
    s = ctx._stream(handle)
    if s is not None and s != torch.cuda.current_stream(ctx._device):   # inputs were copied on that one
        s.wait_stream(torch.cuda.current_stream(ctx._device))
    with (torch.cuda.stream(s) if s is not None else contextlib.nullcontext()):
        if plan.eager:
            ctx._order.after_previous(s)
            with tf32_mode(ctx.engine.tf32) if s is not None else ctx._cpu_threads_scope():  # as _execute does
                outs = ctx.engine.executor.run_eager(io, ctx.profiler)
            ctx._report_debug(outs, s)
            outs = {o: outs[o] for o in ctx.engine.output_names}
        elif ctx._use_graphs():  # stable buffers per shape set, so CUDA graphs replay across calls
            static = ctx._static_io.get(key)
            if static is None:
                static = {n: torch.empty_like(t) for n, t in io.items()}
                for o in ctx.engine.output_names:
                    static[o] = torch.empty(plan.output_shapes[o], device=ctx._device,
                                            dtype=torch_dtype(ctx.engine.get_tensor_dtype(o)))
                ctx._static_io[key] = static
            ctx._order.after_previous(s)   # the previous call may still read the static buffers
            for n in names:
                static[n].copy_(io[n])
            ctx._execute(dict(static), s, plan, key)
            outs = {o: static[o].clone() for o in ctx.engine.output_names}
        else:
            for o in ctx.engine.output_names:
                io[o] = torch.empty(plan.output_shapes[o], dtype=torch_dtype(ctx.engine.get_tensor_dtype(o)),
                                    device=ctx._device)
            ctx._execute(io, s, plan, key)
            outs = {o: io[o] for o in ctx.engine.output_names}
        ctx._order.mark_done(s)
    if s is not None and not handle:
        s.synchronize()
    if want_numpy:
        return {k: _to_numpy(v, ctx.engine.get_tensor_dtype(k)) for k, v in outs.items()}
    return outs


def _to_numpy(t: torch.Tensor, dt):
    """An output as numpy; types numpy lacks as ml_dtypes arrays (BF16 as float32, as before)."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.float()
    elif dt in LOW_BIT:
        return to_numpy(t, dt)
    return t.cpu().numpy().copy() if t.device.type == "cpu" else t.cpu().numpy()
