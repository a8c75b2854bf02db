"""Low-bit element types through the ONNX parser: Cast / CastLike / QuantizeLinear / DequantizeLinear with INT4,
UINT4, FLOAT8E4M3FN, FLOAT8E5M2, FLOAT4E2M1 and FLOAT8E8M0, packed 4-bit initializers, and low-bit graph I/O,
against onnx.reference.ReferenceEvaluator (bit for bit: values and NaN positions)."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto as TP, helper as oh, numpy_helper
from onnx.reference import ReferenceEvaluator

import inferrt
from special_tools import DEVICE

ML = {TP.INT4: ml_dtypes.int4, TP.UINT4: ml_dtypes.uint4, TP.FLOAT8E4M3FN: ml_dtypes.float8_e4m3fn,
      TP.FLOAT8E5M2: ml_dtypes.float8_e5m2, TP.FLOAT4E2M1: ml_dtypes.float4_e2m1fn,
      TP.FLOAT8E8M0: ml_dtypes.float8_e8m0fnu, TP.FLOAT: np.float32, TP.FLOAT16: np.float16, TP.INT8: np.int8,
      TP.UINT8: np.uint8}

#: values around every boundary: ties of each grid, the largest finite values and past them, infinities, NaN, -0
SWEEP = np.array([0.0, -0.0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 5.9, 6.0, 6.5, 7.0, -7.0, 13.0, -0.3, 0.1, 1e-7,
                  -8.0, -9.0, 7.49, 15.0, 16.0, 100.0, 240.0, 440.0, 448.0, 460.0, 464.0, 470.0, 480.0, 1e4, 57344.0,
                  60000.0, 61440.0, 65504.0, 1e6, -1e6, np.inf, -np.inf, np.nan, 2.0 ** -9, 2.0 ** -17, 3e-39,
                  2.0 ** 127, 3e38], dtype=np.float32)


def _model(nodes, inputs, outputs, inits=(), opset=24):
    g = oh.make_graph(list(nodes), "g", [oh.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                      [oh.make_tensor_value_info(n, t, s) for n, t, s in outputs], list(inits))
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", opset)])
    m.ir_version = 11
    return m


def _run(m, feeds):
    engine = inferrt.build_engine(m, device=DEVICE)
    return engine.create_execution_context().infer(feeds)


def _same(got, ref, what):
    """Bit-level agreement: same ml_dtypes type, same values, NaN where the reference has NaN."""
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.dtype == ref.dtype, f"{what}: dtype {got.dtype} != reference {ref.dtype}"
    assert got.shape == ref.shape
    g, r = got.astype(np.float64), ref.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(r), err_msg=what)
    ok = ~np.isnan(r)
    np.testing.assert_array_equal(g[ok], r[ok], err_msg=what)
    np.testing.assert_array_equal(np.signbit(g[ok & (r == 0)]), np.signbit(r[ok & (r == 0)]), err_msg=f"{what}: -0")


def _check(m, feeds, names, fix=None):
    """``fix``: {output name: function of its reference array} (see ``_int4_cast_reference``)."""
    ref = dict(zip(names, ReferenceEvaluator(m).run(names, feeds)))
    ref.update({n: f(ref[n]) for n, f in (fix or {}).items()})
    got = _run(m, feeds)
    for n in names:
        _same(got[n], ref[n], n)
    return got


def _int4_cast_reference(x, qt):
    """The reference of ``Cast(x, to=INT4 / UINT4)`` (and of that cast back to a float): ONNX leaves a float -> 4-bit
    integer cast undefined where the value truncated toward zero is outside -8..7 / 0..15, and onnx's reference gives
    whatever ml_dtypes' ``astype`` gives there, which changed with ml_dtypes 0.7: 0 from 0.7 on, the low four bits
    before (13.0 -> -3 as INT4, -7.0 -> 9 as UINT4). inferrt writes 0 there (``ops/cast_values.py``), so the
    reference's elements out of range are set to 0 (a +0.0 after the cast back) and everything else is compared
    with the reference as is, bit for bit, whatever ml_dtypes is installed."""
    lo, hi = (-8, 7) if qt == TP.INT4 else (0, 15)
    with np.errstate(invalid="ignore"):
        t = np.trunc(np.asarray(x, np.float64))
        undefined = ~((t >= lo) & (t <= hi))      # NaN / inf too

    def fix(ref):
        ref = np.array(ref, copy=True)
        ref[undefined] = 0
        return ref

    return fix


# ----------------------------------------------------------------------------------------------- Cast
@pytest.mark.parametrize("to", [TP.FLOAT8E4M3FN, TP.FLOAT8E5M2, TP.FLOAT4E2M1, TP.INT4, TP.UINT4])
@pytest.mark.parametrize("saturate", [1, 0])
def test_cast_float_to_low_bit(to, saturate):
    int4 = to in (TP.INT4, TP.UINT4)
    x = SWEEP if not int4 else SWEEP[np.isfinite(SWEEP)]  # NaN/inf to int: undefined
    m = _model([oh.make_node("Cast", ["x"], ["y"], to=to, saturate=saturate)], [("x", TP.FLOAT, [x.size])],
               [("y", to, [x.size])])
    _check(m, {"x": x}, ["y"], {"y": _int4_cast_reference(x, to)} if int4 else None)


@pytest.mark.parametrize("to", [TP.FLOAT8E4M3FN, TP.FLOAT8E5M2, TP.FLOAT4E2M1])
def test_cast_float16_to_low_bit(to):
    x = SWEEP[np.abs(SWEEP) < 65504].astype(np.float16)
    m = _model([oh.make_node("Cast", ["x"], ["y"], to=to)], [("x", TP.FLOAT16, [x.size])], [("y", to, [x.size])])
    _check(m, {"x": x}, ["y"])


@pytest.mark.parametrize("round_mode", ["up", "down", "nearest"])
@pytest.mark.parametrize("saturate", [1, 0])
def test_cast_to_e8m0_round_modes(round_mode, saturate):
    x = np.abs(SWEEP[~np.isnan(SWEEP)])
    x = np.concatenate([x, np.array([1.5, 1.4999, 1.5001, 3.0, 0.375, 2.0 ** 127 * 1.5], np.float32)])
    m = _model([oh.make_node("Cast", ["x"], ["y"], to=TP.FLOAT8E8M0, saturate=saturate, round_mode=round_mode)],
               [("x", TP.FLOAT, [x.size])], [("y", TP.FLOAT8E8M0, [x.size])], opset=24)
    _check(m, {"x": x}, ["y"])


@pytest.mark.parametrize("src", [TP.FLOAT8E4M3FN, TP.FLOAT8E5M2, TP.FLOAT4E2M1, TP.INT4, TP.UINT4, TP.FLOAT8E8M0])
@pytest.mark.parametrize("to", [TP.FLOAT, TP.FLOAT16])
def test_cast_low_bit_input_to_float(src, to):
    """Every code of the type as a graph input (numpy in as ml_dtypes arrays), cast to FLOAT / FLOAT16."""
    dt = np.dtype(ML[src])
    four_bit = src in (TP.INT4, TP.UINT4, TP.FLOAT4E2M1)
    x = np.arange(16 if four_bit else 256).astype(np.uint8).view(dt)  # ml_dtypes: one value a byte, low bits
    m = _model([oh.make_node("Cast", ["x"], ["y"], to=to)], [("x", src, [x.size])], [("y", to, [x.size])])
    _check(m, {"x": x}, ["y"])


@pytest.mark.parametrize("like", [TP.INT4, TP.FLOAT4E2M1, TP.FLOAT8E5M2])
def test_castlike_takes_the_low_bit_type_of_its_second_input(like):
    x = SWEEP[np.isfinite(SWEEP) & (np.abs(SWEEP) < 8)]
    lk = np.zeros(1, dtype=ML[like])
    m = _model([oh.make_node("CastLike", ["x", "like"], ["y"])], [("x", TP.FLOAT, [x.size]), ("like", like, [1])],
               [("y", like, [x.size])])
    _check(m, {"x": x, "like": lk}, ["y"])


# ----------------------------------------------------------------------------------------------- Q / DQ
@pytest.mark.parametrize("qt", [TP.INT4, TP.UINT4, TP.FLOAT4E2M1, TP.FLOAT8E5M2, TP.FLOAT8E4M3FN])
def test_quantize_dequantize_per_axis_and_blocked(qt):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((4, 6)) * 6).astype(np.float32)
    x[0, :4] = [0.25, 0.75, 2.5, -2.5]                                       # ties
    s_axis = np.array([0.5, 1.0, 2.0, 0.25], np.float32)
    s_block = (rng.uniform(0.2, 1.5, (4, 3))).astype(np.float32)              # block_size 2 along axis 1
    zp_axis = np.array([1, -2, 0, 3] if qt == TP.INT4 else [1, 2, 0, 3] if qt == TP.UINT4 else [0] * 4)
    inits = [numpy_helper.from_array(s_axis, "sa"), numpy_helper.from_array(s_block, "sb"),
             oh.make_tensor("za", qt, [4], zp_axis.astype(np.float32).astype(ML[qt]).tolist()
                            if qt in (TP.FLOAT4E2M1, TP.FLOAT8E5M2, TP.FLOAT8E4M3FN) else zp_axis.tolist())]
    nodes = [oh.make_node("QuantizeLinear", ["x", "sa", "za"], ["qa"], axis=0),
             oh.make_node("DequantizeLinear", ["qa", "sa", "za"], ["da"], axis=0),
             oh.make_node("QuantizeLinear", ["x", "sb"], ["qb"], axis=1, block_size=2, output_dtype=qt),
             oh.make_node("DequantizeLinear", ["qb", "sb"], ["db"], axis=1, block_size=2)]
    m = _model(nodes, [("x", TP.FLOAT, [4, 6])],
               [("qa", qt, [4, 6]), ("da", TP.FLOAT, [4, 6]), ("qb", qt, [4, 6]), ("db", TP.FLOAT, [4, 6])],
               inits, opset=23)
    _check(m, {"x": x}, ["qa", "da", "qb", "db"])


@pytest.mark.parametrize("qt", [TP.FLOAT8E4M3FN, TP.FLOAT8E5M2])
def test_quantize_float8_without_saturation(qt):
    x = SWEEP[np.isfinite(SWEEP) | np.isinf(SWEEP)]
    m = _model([oh.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], saturate=0)], [("x", TP.FLOAT, [x.size])],
               [("y", qt, [x.size])], [numpy_helper.from_array(np.array(0.5, np.float32), "s"),
                                       oh.make_tensor("z", qt, [], [0.0])])
    _check(m, {"x": x}, ["y"])


# ----------------------------------------------------------------------------------------------- initializers
def _packed(dt, nbytes_values, count):
    t = TP(name="w", data_type=dt, dims=[count])
    t.raw_data = bytes(nbytes_values)
    return t


@pytest.mark.parametrize("dt, want", [(TP.INT4, [-1.0, -8.0, 7.0]), (TP.UINT4, [15.0, 8.0, 7.0]),
                                      (TP.FLOAT4E2M1, [-6.0, -0.0, 6.0])])
def test_packed_4_bit_initializer_unpacks_low_nibble_first(dt, want):
    """raw_data 0x8F, 0x07 holds three elements: 0xF (low nibble of byte 0), 0x8, then 0x7 (the last byte's high
    nibble is padding). Dequantized with scale 1 they are the values above, worked out by hand from ONNX's spec."""
    m = _model([oh.make_node("DequantizeLinear", ["w", "s"], ["y"])], [], [("y", TP.FLOAT, [3])],
               [_packed(dt, [0x8F, 0x07], 3), numpy_helper.from_array(np.array(1.0, np.float32), "s")])
    got = _run(m, {})["y"]
    np.testing.assert_array_equal(got, np.array(want, np.float32))
    np.testing.assert_array_equal(np.signbit(got), np.signbit(np.array(want)))


@pytest.mark.parametrize("dt", [TP.INT4, TP.UINT4, TP.FLOAT4E2M1, TP.FLOAT8E5M2, TP.FLOAT8E4M3FN, TP.FLOAT8E8M0])
def test_low_bit_initializer_is_typed_and_feeds_an_output(dt):
    """A low-bit initializer read by Identity keeps its type all the way to the engine's output."""
    vals = np.arange(-8, 8) if dt == TP.INT4 else np.arange(16) if dt == TP.UINT4 else \
        np.array([0.5, 1, 1.5, 2, 3, 4, 6, -6, -0.5, 0], np.float32)
    if dt == TP.FLOAT8E8M0:
        vals = np.array([2.0 ** -127, 0.25, 1, 2, 2.0 ** 100], np.float32)
    arr = np.asarray(vals).astype(ML[dt])
    m = _model([oh.make_node("Identity", ["w"], ["y"])], [], [("y", dt, [arr.size])],
               [numpy_helper.from_array(arr, "w")])
    engine = inferrt.build_engine(m, device=DEVICE)
    assert engine.get_tensor_dtype("y") == inferrt.enums.DataType.parse(
        {TP.INT4: "INT4", TP.UINT4: "UINT4", TP.FLOAT4E2M1: "FP4", TP.FLOAT8E5M2: "FP8_E5M2",
         TP.FLOAT8E4M3FN: "FP8", TP.FLOAT8E8M0: "E8M0"}[dt])
    _same(engine.create_execution_context().infer({})["y"], arr, "y")


def test_low_bit_plan_round_trip_keeps_types_and_values():
    x = SWEEP[np.isfinite(SWEEP) & (np.abs(SWEEP) < 100)]
    m = _model([oh.make_node("Cast", ["x"], ["f4"], to=TP.FLOAT4E2M1), oh.make_node("Cast", ["x"], ["i4"], to=TP.INT4),
                oh.make_node("Cast", ["x"], ["e5"], to=TP.FLOAT8E5M2)], [("x", TP.FLOAT, [x.size])],
               [("f4", TP.FLOAT4E2M1, [x.size]), ("i4", TP.INT4, [x.size]), ("e5", TP.FLOAT8E5M2, [x.size])])
    engine = inferrt.build_engine(m, device=DEVICE)
    again = inferrt.load_engine(engine.serialize())
    assert [again.get_tensor_dtype(n).name for n in ("f4", "i4", "e5")] == ["FP4", "INT4", "FP8_E5M2"]
    ref = dict(zip(["f4", "i4", "e5"], ReferenceEvaluator(m).run(None, {"x": x})))
    ref["i4"] = _int4_cast_reference(x, TP.INT4)(ref["i4"])
    got = again.create_execution_context().infer({"x": x})
    for n in ref:
        _same(got[n], ref[n], n)


def test_int4_weight_only_matmul_from_a_packed_blocked_initializer():
    """y = x @ DequantizeLinear(W_int4, blocked scales along K): the usual INT4 weight-only GEMM of an LLM export."""
    rng = np.random.default_rng(11)
    k, n, block = 8, 5, 4
    w = rng.integers(-8, 8, (k, n)).astype(ml_dtypes.int4)
    scale = rng.uniform(0.01, 0.1, (k // block, n)).astype(np.float32)
    x = rng.standard_normal((3, k)).astype(np.float32)
    nodes = [oh.make_node("DequantizeLinear", ["w", "s"], ["wd"], axis=0, block_size=block),
             oh.make_node("MatMul", ["x", "wd"], ["y"])]
    m = _model(nodes, [("x", TP.FLOAT, [3, k])], [("y", TP.FLOAT, [3, n])],
               [numpy_helper.from_array(w, "w"), numpy_helper.from_array(scale, "s")])
    assert m.graph.initializer[0].raw_data and len(m.graph.initializer[0].raw_data) == k * n // 2  # packed
    got = _run(m, {"x": x})["y"]
    want = x.astype(np.float64) @ (w.astype(np.float64) * np.repeat(scale, block, axis=0))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("qt", [TP.INT4, TP.UINT4, TP.FLOAT4E2M1, TP.FLOAT8E5M2, TP.FLOAT8E4M3FN, TP.FLOAT8E8M0])
def test_cuda_casts_quantizes_and_dequantizes_as_the_reference(qt):
    """The same models on the GPU: casts to and from the type, and (for quantized types) Q/DQ with block scales."""
    if not torch_cuda():
        pytest.skip("needs a CUDA GPU")
    # int targets: no NaN/inf and nothing past int32 (the reference's rint().astype(int32) wraps those)
    x = SWEEP if qt not in (TP.INT4, TP.UINT4) else SWEEP[np.isfinite(SWEEP) & (np.abs(SWEEP) < 1e9)]
    if qt == TP.FLOAT8E8M0:
        x = np.abs(x[~np.isnan(x)])
    nodes = [oh.make_node("Cast", ["x"], ["c"], to=qt), oh.make_node("Cast", ["c"], ["back"], to=TP.FLOAT)]
    outs = [("c", qt, [x.size]), ("back", TP.FLOAT, [x.size])]
    inits = []
    if qt != TP.FLOAT8E8M0:
        nodes += [oh.make_node("QuantizeLinear", ["x", "s"], ["q"], output_dtype=qt),
                  oh.make_node("DequantizeLinear", ["q", "s"], ["dq"])]
        outs += [("q", qt, [x.size]), ("dq", TP.FLOAT, [x.size])]
        inits = [numpy_helper.from_array(np.array(0.75, np.float32), "s")]
    m = _model(nodes, [("x", TP.FLOAT, [x.size])], outs, inits)
    names = [o[0] for o in outs]
    ref = dict(zip(names, ReferenceEvaluator(m).run(names, {"x": x})))
    if qt in (TP.INT4, TP.UINT4):   # the cast is undefined out of range: inferrt's 0 there (_int4_cast_reference)
        fix = _int4_cast_reference(x, qt)
        ref["c"], ref["back"] = fix(ref["c"]), fix(ref["back"])
    got = inferrt.build_engine(m, device="cuda").create_execution_context().infer({"x": x})
    for n in names:
        _same(got[n], ref[n], f"{n} on cuda")


def torch_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.parametrize("qt", [TP.FLOAT4E2M1, TP.FLOAT8E4M3FN])
def test_mx_block_scales_in_e8m0(qt):
    """MXFP4 / MXFP8: blocks of 32 along the last axis share a power-of-two FLOAT8E8M0 scale."""
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((2, 64)) * 3).astype(np.float32)
    s = np.array([[0.5, 2.0], [1.0, 0.25]], np.float32).astype(ml_dtypes.float8_e8m0fnu)
    nodes = [oh.make_node("QuantizeLinear", ["x", "s"], ["q"], axis=1, block_size=32, output_dtype=qt),
             oh.make_node("DequantizeLinear", ["q", "s"], ["y"], axis=1, block_size=32, output_dtype=TP.FLOAT)]
    m = _model(nodes, [("x", TP.FLOAT, [2, 64])], [("q", qt, [2, 64]), ("y", TP.FLOAT, [2, 64])],
               [numpy_helper.from_array(s, "s")])
    got = _check(m, {"x": x}, ["q", "y"])
    assert np.abs(got["y"] - x).max() > 0  # really quantized


def test_e8m0_scale_without_output_dtype_names_the_node():
    s = np.array([1.0], np.float32).astype(ml_dtypes.float8_e8m0fnu)
    q = np.zeros(4, ml_dtypes.float8_e4m3fn)
    m = _model([oh.make_node("DequantizeLinear", ["q", "s"], ["y"], name="dq_mx", axis=0, block_size=4,
                             output_dtype=TP.FLOAT)],
               [], [("y", TP.FLOAT, [4])], [numpy_helper.from_array(q, "q"), numpy_helper.from_array(s, "s")])
    m.graph.node[0].attribute.pop()  # drop output_dtype: the output would be E8M0, which DequantizeLinear cannot give
    with pytest.raises(inferrt.ParseError, match="(?s)dq_mx.*float8e8m0"):
        inferrt.build_engine(m, device=DEVICE)


@pytest.mark.parametrize("qt", [TP.FLOAT8E4M3FN, TP.INT4, TP.FLOAT4E2M1, TP.UINT4])
def test_data_movement_on_low_bit_tensors(qt):
    """The layout ops ONNX allows on low-bit tensors (Reshape, Transpose, Flatten, Unsqueeze, Pad) move the values
    unchanged: they are data-movement layers, which the low-bit type rule lets through."""
    x = (np.arange(12).reshape(2, 6) % 7 - (0 if qt == TP.UINT4 else 3)).astype(np.float32).astype(ML[qt])
    i64 = lambda n, v: numpy_helper.from_array(np.array(v, np.int64), n)  # noqa: E731
    nodes = [oh.make_node("Reshape", ["x", "s"], ["r"]), oh.make_node("Transpose", ["r"], ["t"], perm=[1, 0]),
             oh.make_node("Flatten", ["t"], ["f"], axis=0), oh.make_node("Unsqueeze", ["f", "a"], ["u"]),
             oh.make_node("Pad", ["x", "p"], ["pad"])]
    m = _model(nodes, [("x", qt, [2, 6])], [("u", qt, [1, 1, 12]), ("pad", qt, [2, 8])],
               [i64("s", [4, 3]), i64("a", [0]), i64("p", [0, 1, 0, 1])])
    _check(m, {"x": x}, ["u", "pad"])
