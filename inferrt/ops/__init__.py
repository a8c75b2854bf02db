"""Op definitions (shape inference + generic PyTorch implementation) for every layer kind.

Where does op X go: in ``ops/<family>.py``, the module of its family, whatever its provenance. TensorRT layers,
ONNX-only kinds and the kinds only passes create sit side by side (``softmax`` and ``log_softmax`` in reduce.py,
``quantize`` and ``onnx_quantize`` in quantize.py). The families:

=================  ==========================================================================================
activation         activation, parametric_relu
elementwise        elementwise, unary, select, onnx_binary, onnx_unary
reduce             reduce, softmax, log_softmax, onnx_reduce, onnx_arg_reduce, onnx_hardmax
normalization      normalization, lrn, layer_norm, instance_norm, rms_norm, group_norm, l2_norm
matmul             matrix_multiply, integer_matmul, det
conv               convolution, deconvolution, integer_conv, deform_conv, col2im
pooling            pooling, max_pool_indices, max_unpool, max_roi_pool, roi_align
tensor             constant, identity, cast, bitcast, shape, shuffle, concatenation, slice (data movement)
shaping            padding, squeeze, unsqueeze, center_crop_pad
indexing           gather, scatter, tensor_scatter, one_hot, non_zero, compress, reverse_sequence
sort               topk, unique
cumulative         cumulative, cumprod
generate           fill, random, bernoulli, multinomial (no data input)
quantize           quantize, dequantize, requantize, onnx_quantize, dynamic_quantize_linear
quantized          quantized_conv, quantized_matmul (products made from explicit Q/DQ by passes/fuse_qdq.py)
resize             resize
grid_sample        grid_sample, affine_grid
scale, einsum,     one family each (a module named after its only TensorRT layer)
nms, attention,
assertion
rnn                rnn (RNN / GRU / LSTM)
signal             dft, stft, window, mel_weight_matrix
control_flow       if, loop and their boundary kinds (their subgraph interpreter: subgraph.py)
fused, pointwise   fusion products spanning families: fused_conv / fused_matmul with an epilogue, pointwise
                   programs
=================  ==========================================================================================

A kind with no family here starts a new module named after the family (not after ONNX or TensorRT); a module
that would pass ~500 lines splits by role (conv.py and pooling.py are one such split). Helpers shared by several
families live in base.py (``known_ints``, ``host_ints``) or in the family that owns the concept (``conv_geometry``
in conv.py, ``INDEX_TYPES`` in indexing.py). The network-API method of a kind goes in ``ir/api_<family>.py`` of the
same family name, or in ``ir/network.py`` for TensorRT's core layers (see ``inferrt.ir``). Every module here is
imported (and its ``@register`` classes registered) by ``_load_all``.
"""
from ..package_modules import import_submodules
from .base import REGISTRY, OpDef, OpError, Spec, get_op, register  # noqa: F401


def _load_all():
    import_submodules(__name__, lambda name: name != "base" and not name.startswith("_"))
