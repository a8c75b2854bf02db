"""The one list of BuilderFlags: those the build honours (and where), those it does not (and why).

``config.set_flag`` accepts every BuilderFlag, as TensorRT's does; the build (``flag_warnings``) then logs a WARNING
naming each set flag that it cannot honour, with the reason, so no flag is accepted and ignored silently. Every
BuilderFlag is in exactly one of the two tables (tests/builder/test_flags.py checks it); implementing a flag means
moving it from ``NOT_IMPLEMENTED`` to ``IMPLEMENTED`` with the place that honours it.
"""
from __future__ import annotations

from ..enums import BuilderFlag

#: flag -> where the build or the runtime honours it
IMPLEMENTED: dict = {
    BuilderFlag.TF32: "FLOAT products and convolutions may use TF32 (runtime/tf32.py; tactics are timed likewise)",
    BuilderFlag.FP16: "reduced precision on the GPU (passes/assign_precision.py, passes/guard_reduced_precision.py)",
    BuilderFlag.BF16: "reduced precision on the GPU (passes/assign_precision.py, passes/guard_reduced_precision.py)",
    BuilderFlag.OBEY_PRECISION_CONSTRAINTS: "layer precisions are kept (passes/assign_precision.py)",
    BuilderFlag.PREFER_PRECISION_CONSTRAINTS: "layer precisions are kept (passes/assign_precision.py)",
    BuilderFlag.DISABLE_TIMING_CACHE: "no timing cache is read or written (tactics/select.py)",
    BuilderFlag.ERROR_ON_TIMING_CACHE_MISS: "a cache miss fails the build (tactics/select.py)",
    BuilderFlag.EDITABLE_TIMING_CACHE: "the timing cache is always editable (tactics/timing_cache.py)",
    BuilderFlag.DEBUG: "recorded in the plan's build flags",
    BuilderFlag.STRICT_NANS: "recorded in the plan's build flags",
    BuilderFlag.GPU_FALLBACK: "every layer runs on the GPU (there is no DLA to fall back from)",
    BuilderFlag.DIRECT_IO: "recorded in the plan's build flags",
}

_NO_REFIT = "inferrt has no refit support yet (weights are frozen into the plan)"
_NO_QUANT = "inferrt has no {} kernels; layers run in FLOAT, FP16 or BF16"

#: flag -> why the build cannot honour it (logged as a WARNING when it is set)
NOT_IMPLEMENTED: dict = {
    BuilderFlag.INT8: _NO_QUANT.format("INT8"),
    BuilderFlag.FP8: _NO_QUANT.format("FP8"),
    BuilderFlag.INT4: _NO_QUANT.format("INT4"),
    BuilderFlag.FP4: _NO_QUANT.format("FP4"),
    BuilderFlag.REFIT: _NO_REFIT,
    BuilderFlag.REFIT_IDENTICAL: _NO_REFIT,
    BuilderFlag.REFIT_INDIVIDUAL: _NO_REFIT,
    BuilderFlag.STRIP_PLAN: _NO_REFIT,
    BuilderFlag.WEIGHTLESS: _NO_REFIT,
    BuilderFlag.SPARSE_WEIGHTS: "there are no structured-sparsity tactics",
    BuilderFlag.SAFETY_SCOPE: "there is no safety runtime",
    BuilderFlag.REJECT_EMPTY_ALGORITHMS: "an IAlgorithmSelector that allows no tactic keeps them all",
    BuilderFlag.VERSION_COMPATIBLE: "there is no version-compatible runtime to embed in the plan",
    BuilderFlag.EXCLUDE_LEAN_RUNTIME: "there is no lean runtime to exclude",
    BuilderFlag.DISABLE_COMPILATION_CACHE: "the build has no switch for kernel compilation caching",
    BuilderFlag.WEIGHT_STREAMING: "weights are not streamed; they stay in device memory",
    BuilderFlag.MONITOR_MEMORY: "the build does not monitor memory",
    BuilderFlag.DISTRIBUTIVE_INDEPENDENCE: "there is no batch-invariance mode",
}

#: set flags that the CPU cannot honour (every layer runs in FLOAT there)
_GPU_ONLY = (BuilderFlag.FP16, BuilderFlag.BF16)


def flag_warnings(config, device: str) -> list[str]:
    """The WARNINGs the build logs for ``config``'s set flags: each unimplemented one, with its reason, and the
    GPU-only ones on the CPU."""
    out = [f"BuilderFlag.{f.name} is accepted but not implemented yet; it is ignored ({why})"
           for f, why in NOT_IMPLEMENTED.items() if config.get_flag(f)]
    if device == "cpu":
        out += [f"BuilderFlag.{f.name} is ignored on the CPU: layers run in FLOAT there"
                for f in _GPU_ONLY if config.get_flag(f)]
    return out
