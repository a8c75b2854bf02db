"""The one list of BuilderFlags: those the build honours (and where), those it does not (and why).

``config.set_flag`` accepts every BuilderFlag, as TensorRT's does. At build time a flag that asks for something
inferrt cannot give (version compatibility, a safety runtime, ...) fails the build naming it
(``flag_refusals``), and a flag that only permits something the build leaves unused (FP8 kernels, sparsity) is
logged as a WARNING with the reason (``flag_warnings``): no flag is accepted and ignored silently. Every BuilderFlag
is in exactly one of ``IMPLEMENTED``, ``UNUSED_PERMISSIONS`` and ``REFUSED`` (tests/builder/test_flags.py checks it);
implementing a flag means moving it to ``IMPLEMENTED`` with the place that honours it. A strongly typed network
(``NetworkDefinitionCreationFlag.STRONGLY_TYPED``) also refuses the weak-typing precision flags
(``STRONGLY_TYPED_REFUSED``), as TensorRT 10 does; on a weakly typed network the weak-typing controls (precision
flags, INT8 calibrator, dynamic ranges, layer precisions) work and one WARNING line per build deprecates them,
naming the strongly typed way, as TensorRT 10.12+ does (``weak_typing_deprecation``).
"""
from __future__ import annotations

from ..enums import BuilderFlag

#: flag -> where the build or the runtime honours it
IMPLEMENTED: dict = {
    BuilderFlag.TF32: "FLOAT products and convolutions may use TF32 (runtime/tf32.py; tactics are timed likewise)",
    BuilderFlag.FP16: "reduced precision on the GPU (passes/assign_precision.py, passes/guard_reduced_precision.py)",
    BuilderFlag.BF16: "reduced precision on the GPU (passes/assign_precision.py, passes/guard_reduced_precision.py)",
    BuilderFlag.INT8: "with config.int8_calibrator or tensor dynamic ranges: calibration and Q/DQ layers "
                      "(builder/calibrate.py); without either, a WARNING says nothing is quantized",
    BuilderFlag.OBEY_PRECISION_CONSTRAINTS: "layer precisions are kept (passes/assign_precision.py)",
    BuilderFlag.PREFER_PRECISION_CONSTRAINTS: "layer precisions are kept (passes/assign_precision.py)",
    BuilderFlag.DISABLE_TIMING_CACHE: "no timing cache is read or written (tactics/select.py)",
    BuilderFlag.ERROR_ON_TIMING_CACHE_MISS: "a cache miss fails the build (tactics/select.py)",
    BuilderFlag.EDITABLE_TIMING_CACHE: "the timing cache is always editable (tactics/timing_cache.py)",
    BuilderFlag.DEBUG: "recorded in the plan's build flags",
    BuilderFlag.STRICT_NANS: "recorded in the plan's build flags",
    BuilderFlag.GPU_FALLBACK: "every layer runs on the GPU (there is no DLA to fall back from)",
    BuilderFlag.DIRECT_IO: "recorded in the plan's build flags",
    BuilderFlag.REFIT: "the plan keeps the refit recipe; inferrt.Refitter sets new weights (refit/record.py)",
    BuilderFlag.REFIT_IDENTICAL: "refittable, only with the weights it was built with (digests checked, "
                                 "refit/refitter.py)",
    BuilderFlag.REFIT_INDIVIDUAL: "only weights marked with network.mark_weights_refittable are refittable "
                                  "(refit/record.py)",
    BuilderFlag.STRIP_PLAN: "refittable weights leave the plan; the engine runs once refitted (refit/record.py, "
                            "refit/state.py)",
}

_NO_QUANT = "{0} Q/DQ in the network run as quantized layers ({1}, passes/fuse_qdq.py) whether or not the flag " \
    "is set, and the builder lowers nothing else to {0} by itself (write {0} Q/DQ with inferrt.quantize)"

#: flags that only permit the builder something: TensorRT too may leave such a permission unused (it picks the
#: fastest tactic among those allowed). The build logs a WARNING naming each one set, with the reason it goes unused.
UNUSED_PERMISSIONS: dict = {
    BuilderFlag.FP8: _NO_QUANT.format("FP8", "FP8 products"),
    BuilderFlag.INT4: _NO_QUANT.format("INT4", "weight-only products"),
    BuilderFlag.FP4: _NO_QUANT.format("FP4", "weight-only products"),
    BuilderFlag.SPARSE_WEIGHTS: "there are no structured-sparsity tactics",
    BuilderFlag.DISABLE_COMPILATION_CACHE: "the build has no switch for kernel compilation caching (results are "
                                           "the same with or without it)",
    BuilderFlag.MONITOR_MEMORY: "the build does not monitor memory (a diagnostic only)",
    BuilderFlag.EXCLUDE_LEAN_RUNTIME: "it matters only with VERSION_COMPATIBLE, which inferrt refuses",
}

#: flags that ask for a plan or an engine with a property inferrt cannot give: building without it would hand the
#: user something other than what was asked, so the build fails naming the flag (clear it to build)
REFUSED: dict = {
    BuilderFlag.WEIGHTLESS: "deprecated in TensorRT for STRIP_PLAN, which inferrt implements: set "
                            "BuilderFlag.STRIP_PLAN instead",
    BuilderFlag.SAFETY_SCOPE: "there is no safety runtime",
    BuilderFlag.REJECT_EMPTY_ALGORITHMS: "the tactic selection does not implement it (an IAlgorithmSelector that "
                                         "allows no tactic keeps them all)",
    BuilderFlag.VERSION_COMPATIBLE: "there is no version-compatible runtime to embed in the plan",
    BuilderFlag.WEIGHT_STREAMING: "weights are not streamed; they stay in device memory",
    BuilderFlag.DISTRIBUTIVE_INDEPENDENCE: "there is no batch-invariance mode",
}

#: set flags that the CPU cannot honour (every layer runs in FLOAT there)
_GPU_ONLY = (BuilderFlag.FP16, BuilderFlag.BF16)


#: the weak-typing flags a strongly typed network refuses, as TensorRT 10 does ("API Usage Error (Parameter check
#: failed, condition: !config.getFlag(BuilderFlag::kFP16))"); TensorRT 11 removed them
STRONGLY_TYPED_REFUSED = (BuilderFlag.FP16, BuilderFlag.BF16, BuilderFlag.INT8, BuilderFlag.FP8, BuilderFlag.INT4,
                          BuilderFlag.FP4)
#: flags with nothing to act on in a strongly typed network (it has no layer precisions to obey): logged, no effect
_NO_CONSTRAINTS = (BuilderFlag.OBEY_PRECISION_CONSTRAINTS, BuilderFlag.PREFER_PRECISION_CONSTRAINTS)


def flag_refusals(config, network=None) -> list[str]:
    """Why the build must fail for ``config``'s set flags (empty when it need not); with ``network``, also the
    precision flags a strongly typed network refuses."""
    out = [f"BuilderFlag.{f.name} is set but inferrt cannot build what it asks for ({why}); clear it with "
           f"config.clear_flag(BuilderFlag.{f.name})" for f, why in REFUSED.items() if config.get_flag(f)]
    if network is not None and _strongly_typed(network):
        out += [f"BuilderFlag.{f.name} is set but the network is strongly typed (NetworkDefinitionCreationFlag."
                f"STRONGLY_TYPED): its types come from the graph, not from precision flags; clear the flag "
                f"(config.clear_flag(BuilderFlag.{f.name})) and put the types in the graph (typed inputs and "
                f"constants, cast layers, Q/DQ layers), or create the network without STRONGLY_TYPED"
                for f in STRONGLY_TYPED_REFUSED if config.get_flag(f)]
    return out


def _strongly_typed(network) -> bool:
    from ..enums import NetworkDefinitionCreationFlag

    return network.get_flag(NetworkDefinitionCreationFlag.STRONGLY_TYPED)


#: the weak-typing precision controls TensorRT 10.12 deprecated (TensorRT 11 removed them)
WEAK_TYPING_FLAGS = STRONGLY_TYPED_REFUSED + _NO_CONSTRAINTS
_CALIBRATOR_KINDS = ("IInt8EntropyCalibrator2", "IInt8EntropyCalibrator", "IInt8MinMaxCalibrator",
                     "IInt8LegacyCalibrator", "IInt8Calibrator")


def weak_typing_deprecation(config, network) -> str | None:
    """The one-line deprecation WARNING for the weak-typing controls a build of ``network`` uses (flags,
    calibrator, dynamic ranges, layer precisions), naming the strongly typed way; None when it uses none."""
    used = [f"BuilderFlag.{f.name}" for f in WEAK_TYPING_FLAGS if config.get_flag(f)]
    cal = getattr(config, "int8_calibrator", None)
    if cal is not None and config.get_flag(BuilderFlag.INT8):
        kind = next((c.__name__ for c in type(cal).__mro__ if c.__name__ in _CALIBRATOR_KINDS),
                    type(cal).__name__)
        used.append(kind)
    if network is not None:
        net = network.internal
        tensors = list(net.inputs) + [t for layer in net.layers for t in net.layer_outputs(layer)]
        if any(t.dynamic_range is not None for t in tensors):
            used.append("ITensor.set_dynamic_range")
        if any(layer.precision_is_set for layer in net.layers):
            used.append("ILayer.precision")
        if any(net.output_types(layer) for layer in net.layers):
            used.append("ILayer.set_output_type")
    if not used:
        return None
    return (f"weak typing is deprecated since TensorRT 10.12 and removed in TensorRT 11 (this build uses "
            f"{', '.join(used)}): convert the model with inferrt.autocast (FP16/BF16) or inferrt.quantize (INT8/FP8 "
            f"Q/DQ) and build it with NetworkDefinitionCreationFlag.STRONGLY_TYPED")


def flag_warnings(config, device: str, network=None) -> list[str]:
    """The WARNINGs the build logs for ``config``'s set flags: each permission it leaves unused, with the reason,
    the GPU-only ones on the CPU, the precision-constraint flags on a strongly typed ``network``, and one line
    deprecating the weak-typing controls on a weakly typed one."""
    deprecated = weak_typing_deprecation(config, network) if network is not None and not _strongly_typed(network) \
        else None
    out = [deprecated] if deprecated else []
    out += [f"BuilderFlag.{f.name} permits what this build does not use; it has no effect ({why})"
           for f, why in UNUSED_PERMISSIONS.items() if config.get_flag(f)]
    if network is not None and _strongly_typed(network):
        out += [f"BuilderFlag.{f.name} has no effect on a strongly typed network: it has no layer precisions to "
                f"obey (its types come from the graph)" for f in _NO_CONSTRAINTS if config.get_flag(f)]
    if device == "cpu":
        out += [f"BuilderFlag.{f.name} permits {f.name} layers, which the CPU does not have; it has no effect there "
                f"(every layer runs in FLOAT, as TensorRT builds FLOAT layers on a device without fast {f.name})"
                for f in _GPU_ONLY if config.get_flag(f)]
    return out
