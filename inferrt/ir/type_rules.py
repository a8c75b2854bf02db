"""Network-level type rules, checked as each layer is inferred (the per-op rules live in each op's ``infer``).

* Low-bit storage types (``dtypes.LOW_BIT``: FP8, FP8_E5M2, FP4, E8M0, INT4, UINT4) are read only by the layers
  below: Cast, Quantize/Dequantize (data, scale and zero point), and layers that move elements without computing
  with them. A layer computing on such a tensor (an ElementWise on FP8 data, a MatrixMultiply on INT4 weights)
  is an error naming the layer, the input and the fix: a Dequantize (or Cast) layer before it. TensorRT's rule is
  the same; the builder's Q/DQ fusions are what turn ``DQ -> MatMul`` into a low-precision kernel.
* In a strongly typed network (``NetworkDefinitionCreationFlag.STRONGLY_TYPED``) types follow the graph only:
  ``ILayer.precision`` and ``ILayer.set_output_type`` are refused (``strong_typing_refusal``), and the builder
  refuses the precision flags (``builder/flags.py``).
"""
from __future__ import annotations

from ..dtypes import LOW_BIT
from ..enums import NetworkDefinitionCreationFlag
from ..ops.base import OpError

#: layer kinds that may read low-bit tensors: conversions, Q/DQ, and pure data movement and control flow
READS_LOW_BIT = frozenset({
    "cast", "quantize", "dequantize", "onnx_quantize", "identity", "constant", "shape", "shuffle", "squeeze",
    "unsqueeze", "concatenation", "slice", "gather", "select",
    "if", "if_condition", "if_input", "if_output", "loop", "loop_iterator", "loop_output", "loop_recurrence",
    "loop_trip_limit",
})


def check_low_bit_inputs(kind: str, op, ins) -> None:
    """OpError when a layer of ``kind`` that computes with its inputs is given a low-bit one."""
    if kind in READS_LOW_BIT:
        return
    for i, s in enumerate(ins):
        if s is not None and s.dtype in LOW_BIT:
            what = op.inputs[i] if i < len(op.inputs) else f"input {i}"
            raise OpError(f"input {i} ({what}) has type {s.dtype.name}, a storage type that only Cast, Quantize/"
                          f"Dequantize and data-movement layers read; dequantize it (network.add_dequantize) or "
                          f"cast it (network.add_cast) to FLOAT, HALF or BF16 first")


def strongly_typed(network) -> bool:
    return network.get_flag(NetworkDefinitionCreationFlag.STRONGLY_TYPED)


def strong_typing_refusal(layer, what: str) -> str | None:
    """The error for setting ``what`` (a precision or an output type) on ``layer`` of a strongly typed network;
    None when the network is weakly typed."""
    if not strongly_typed(layer._network):
        return None
    return (f"layer {layer.name!r}: {what} cannot be set in a strongly typed network (created with "
            f"NetworkDefinitionCreationFlag.STRONGLY_TYPED): types follow the inputs, the constants and the Cast "
            f"layers; add a cast layer (network.add_cast) where the type must change")
