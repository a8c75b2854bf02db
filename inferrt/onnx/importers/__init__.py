"""ONNX operator importers, each registered with ``registry.importer``; filed by the op family of the layers they
make (the family table is the ``inferrt.ops`` docstring), whatever the ONNX domain or opset.

==================  ===========================================================================================
module              families (ONNX ops)
==================  ===========================================================================================
activations         activation (Relu ... Swish, Clip)
math, logic         elementwise: arithmetic, variadic and unary math; logic, comparison and bitwise ops
reductions          reduce (Reduce*, ArgMax/ArgMin, Softmax, LogSoftmax, Hardmax)
normalization       normalization (BatchNormalization ... LRN)
matrix              matmul and einsum (MatMul, Gemm, Einsum, Det)
nn                  conv and pooling (Conv, ConvTranspose, DeformConv, Col2Im, the pools, MaxRoiPool, RoiAlign,
                    MaxUnpool), ImageScaler (scale)
shape_ops           tensor: shape arithmetic, reshapes, constants, Cast, BitCast, Identity, the Optional ops
tensor_ops          shaping by slices: Slice, Split, Pad, CenterCropPad, DepthToSpace, SpaceToDepth, Trilu
gather_scatter      indexing, sort (TopK) and cumulative (CumSum, CumProd), Where
data_dependent      kinds whose output shapes depend on values (NonZero, Compress, Unique, NonMaxSuppression)
generate            generate (RandomNormal/Uniform and their Like forms, Bernoulli, Multinomial)
quantization        quantize (QuantizeLinear, DequantizeLinear, the integer and QLinear ops)
resize, grid_sample,  one family each
rnn, signal,
control_flow
microsoft_*         com.microsoft contrib ops, decomposed into the standard ops above (``ctx.onnx_op``)
==================  ===========================================================================================

A new ONNX op goes into the module of its family; a family with no module here gets one named after it. Importers
use the import context's methods only (the one importer API, listed in ``onnx/context.py``); ONNX-only kinds are
added with ``ctx.add_op(Kind.X, ...)``.
"""
