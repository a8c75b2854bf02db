"""Whether onnxruntime's CPU integer matrix products are exact on this machine, probed once per process.

On x86 CPUs with AVX2 but without VNNI (AVX-512 VNNI or AVX-VNNI), onnxruntime's uint8 x int8 integer kernels (MLAS)
multiply with vpmaddubsw, which adds each pair of adjacent u8 * s8 products into an int16 with saturation:
255 * 127 + 255 * 127 = 64770 becomes 32767. MatMulInteger, ConvInteger, QLinearMatMul and QLinearConv, and the
com.microsoft ops on the same kernels (MatMulIntegerToFloat, DynamicQuantizeMatMul, DynamicQuantizeLSTM), then
return results that are off by many quantized steps wherever such a pair occurs, while inferrt sums exactly. On
VNNI machines (vpdpbusd sums in int32) and for the other type pairs, onnxruntime is exact.

Tests of these ops ask :func:`ort_integer_products_exact` and, where it says no, compare with an exact independent
reference instead (onnx.reference.ReferenceEvaluator, or a standard-domain / numpy equivalent for contrib ops)."""
from __future__ import annotations

import functools

import numpy as np

_ONNX_TYPES = {"uint8": 2, "int8": 3}  # TensorProto.UINT8, TensorProto.INT8


def probe_operands(a_type, b_type):
    """(A, B): a small MatMulInteger problem whose rows/columns of extreme values make adjacent pairs of products
    exceed int16 (255 * 127 * 2 for uint8 x int8), plus random values of the full ranges."""
    ia, ib = np.iinfo(a_type), np.iinfo(b_type)
    rng = np.random.default_rng(0)
    a = rng.integers(ia.min, ia.max + 1, (8, 32)).astype(a_type)
    b = rng.integers(ib.min, ib.max + 1, (32, 16)).astype(b_type)
    a[0], a[1] = ia.max, ia.min
    b[:, 0], b[:, 1] = ib.max, ib.min
    return a, b


def ort_matmul_integer(a, b, b_constant):
    """onnxruntime's MatMulInteger(a, b) on the CPU, with B an initializer (prepacked) or a graph input."""
    import onnxruntime as ort
    from onnx import TensorProto as TP, helper as oh, numpy_helper

    ins = [oh.make_tensor_value_info("a", _ONNX_TYPES[a.dtype.name], list(a.shape))]
    inits = [numpy_helper.from_array(b, "b")] if b_constant else []
    if not b_constant:
        ins.append(oh.make_tensor_value_info("b", _ONNX_TYPES[b.dtype.name], list(b.shape)))
    graph = oh.make_graph([oh.make_node("MatMulInteger", ["a", "b"], ["y"])], "probe", ins,
                          [oh.make_tensor_value_info("y", TP.INT32, [a.shape[0], b.shape[1]])], inits)
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 10)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(["y"], {"a": a} if b_constant else {"a": a, "b": b})[0]


@functools.lru_cache(maxsize=None)
def _exact(a_name: str, b_name: str) -> bool:
    a, b = probe_operands(np.dtype(a_name).type, np.dtype(b_name).type)
    expect = a.astype(np.int64) @ b.astype(np.int64)
    return all(np.array_equal(ort_matmul_integer(a, b, const).astype(np.int64), expect) for const in (True, False))


def ort_integer_products_exact(a_type=np.uint8, b_type=np.int8) -> bool:
    """True if onnxruntime's MatMulInteger of ``a_type`` x ``b_type`` (uint8/int8) equals numpy's int64 product on
    operands whose pairs of products overflow int16; False on CPUs where its kernels saturate (see the module doc).
    Probed once per type pair and process."""
    return _exact(np.dtype(a_type).name, np.dtype(b_type).name)
