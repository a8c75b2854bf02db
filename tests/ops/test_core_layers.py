"""The core layers (activation ... parametric relu) against numpy float64 references written independently."""
import math

import numpy as np
import pytest

import inferrt as trt
from tests.helpers import assert_close, new_network, run_layer

RNG = np.random.default_rng(6)
AT, EW, U = trt.ActivationType, trt.ElementWiseOperation, trt.UnaryOperation
_erf = np.vectorize(math.erf)

ACT_REF = {
    AT.RELU: lambda x, a, b: np.maximum(x, 0), AT.SIGMOID: lambda x, a, b: 1 / (1 + np.exp(-x)),
    AT.TANH: lambda x, a, b: np.tanh(x), AT.LEAKY_RELU: lambda x, a, b: np.where(x >= 0, x, a * x),
    AT.ELU: lambda x, a, b: np.where(x >= 0, x, a * (np.exp(x) - 1)),
    AT.SELU: lambda x, a, b: b * np.where(x >= 0, x, a * (np.exp(x) - 1)),
    AT.SOFTSIGN: lambda x, a, b: x / (1 + np.abs(x)), AT.SOFTPLUS: lambda x, a, b: a * np.log1p(np.exp(b * x)),
    AT.CLIP: lambda x, a, b: np.clip(x, a, b), AT.HARD_SIGMOID: lambda x, a, b: np.clip(a * x + b, 0, 1),
    AT.SCALED_TANH: lambda x, a, b: a * np.tanh(b * x), AT.THRESHOLDED_RELU: lambda x, a, b: np.where(x > a, x, 0),
    AT.GELU_ERF: lambda x, a, b: 0.5 * x * (1 + _erf(x / np.sqrt(2))),
    AT.GELU_TANH: lambda x, a, b: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
}
# TensorRT's documented defaults, and a non-default pair set through the properties
ACT_DEFAULTS = {AT.LEAKY_RELU: (0.01, 0), AT.ELU: (1, 0), AT.SELU: (1.6732632423543772, 1.0507009873554805),
                AT.SOFTPLUS: (1, 1), AT.HARD_SIGMOID: (0.2, 0.5), AT.SCALED_TANH: (1, 1), AT.THRESHOLDED_RELU: (1, 0)}
ACT_CUSTOM = {AT.LEAKY_RELU: (0.2, 0), AT.ELU: (0.7, 0), AT.SELU: (1.5, 1.1), AT.SOFTPLUS: (2, 0.5),
              AT.CLIP: (-0.5, 1.5), AT.HARD_SIGMOID: (0.3, 0.4), AT.SCALED_TANH: (1.7, 0.6),
              AT.THRESHOLDED_RELU: (0.3, 0)}


@pytest.mark.parametrize("act", list(AT))
@pytest.mark.parametrize("custom", [False, True])
def test_activation(act, custom, device):
    x = RNG.normal(0, 2, (2, 3, 4))
    if custom and act not in ACT_CUSTOM:
        pytest.skip("no alpha/beta")
    alpha, beta = (ACT_CUSTOM if custom else ACT_DEFAULTS).get(act, (0, 0))

    def add(net, t):
        layer = net.add_activation(t[0], act)
        assert layer.type == act  # IActivationLayer.type is the ActivationType, as in TensorRT
        assert layer.alpha == pytest.approx(ACT_DEFAULTS.get(act, (0, 0))[0])
        assert layer.beta == pytest.approx(ACT_DEFAULTS.get(act, (0, 0))[1])
        if custom:
            layer.alpha, layer.beta = alpha, beta
        return layer

    (got,) = run_layer(add, {"x": x}, device)
    assert_close(got, ACT_REF[act](x, alpha, beta), rtol=1e-5, atol=1e-6)


def test_parametric_relu(device):
    x = RNG.normal(size=(2, 3, 4, 4))
    slopes = RNG.uniform(0, 0.5, (1, 3, 1, 1)).astype(np.float32)
    (got,) = run_layer(lambda n, t: n.add_parametric_relu(t[0], n.add_constant(slopes.shape, slopes).get_output(0)),
                       {"x": x}, device)
    assert_close(got, np.where(x >= 0, x, x * slopes))


EW_REF = {EW.SUM: np.add, EW.PROD: np.multiply, EW.MAX: np.maximum, EW.MIN: np.minimum, EW.SUB: np.subtract,
          EW.DIV: np.divide, EW.POW: np.power, EW.FLOOR_DIV: lambda a, b: np.floor(a / b),
          EW.EQUAL: np.equal, EW.GREATER: np.greater, EW.LESS: np.less, EW.AND: np.logical_and,
          EW.OR: np.logical_or, EW.XOR: np.logical_xor}


@pytest.mark.parametrize("op", list(EW))
@pytest.mark.parametrize("shapes", [((2, 3, 4), (2, 3, 4)), ((2, 1, 4), (1, 3, 1)), ((3, 1), (1, 5))])
def test_elementwise(op, shapes, device):
    if op in (EW.AND, EW.OR, EW.XOR):
        a, b = RNG.random(shapes[0]) > 0.5, RNG.random(shapes[1]) > 0.5
    elif op == EW.EQUAL:
        a, b = RNG.integers(0, 3, shapes[0]).astype(np.float32), RNG.integers(0, 3, shapes[1]).astype(np.float32)
    else:
        a, b = RNG.uniform(0.5, 3, shapes[0]), RNG.uniform(0.5, 3, shapes[1]) * RNG.choice([-1, 1], shapes[1])
        if op == EW.POW:
            b = np.abs(b)
    (got,) = run_layer(lambda n, t: n.add_elementwise(t[0], t[1], op), {"a": a, "b": b}, device)
    want = EW_REF[op](a.astype(np.float32).astype(np.float64) if a.dtype != bool else a,
                      b.astype(np.float32).astype(np.float64) if b.dtype != bool else b)
    assert_close(got, want, rtol=1e-5)


def test_elementwise_integer_division_truncates(device):
    a = np.array([[7, -7, 7, -7, 9]], np.int32)
    b = np.array([[2, 2, -2, -2, 3]], np.int32)
    got = run_layer(lambda n, t: [n.add_elementwise(t[0], t[1], EW.DIV).get_output(0),
                                  n.add_elementwise(t[0], t[1], EW.FLOOR_DIV).get_output(0)], {"a": a, "b": b}, device)
    np.testing.assert_array_equal(got[0], np.trunc(a / b).astype(np.int32))
    np.testing.assert_array_equal(got[1], np.floor_divide(a, b))


UNARY_REF = {
    U.EXP: (np.exp, (-3, 3)), U.LOG: (np.log, (0.1, 5)), U.SQRT: (np.sqrt, (0, 5)), U.RECIP: (np.reciprocal, (0.5, 4)),
    U.ABS: (np.abs, (-3, 3)), U.NEG: (np.negative, (-3, 3)), U.SIN: (np.sin, (-3, 3)), U.COS: (np.cos, (-3, 3)),
    U.TAN: (np.tan, (-1.2, 1.2)), U.SINH: (np.sinh, (-3, 3)), U.COSH: (np.cosh, (-3, 3)),
    U.ASIN: (np.arcsin, (-1, 1)), U.ACOS: (np.arccos, (-1, 1)), U.ATAN: (np.arctan, (-5, 5)),
    U.ASINH: (np.arcsinh, (-5, 5)), U.ACOSH: (np.arccosh, (1, 5)), U.ATANH: (np.arctanh, (-0.9, 0.9)),
    U.CEIL: (np.ceil, (-3, 3)), U.FLOOR: (np.floor, (-3, 3)), U.ERF: (_erf, (-3, 3)), U.SIGN: (np.sign, (-3, 3)),
    U.ROUND: (np.rint, (-3, 3)),
}


@pytest.mark.parametrize("op", list(U))
def test_unary(op, device):
    if op == U.NOT:
        x = RNG.random((3, 4)) > 0.5
        want = ~x
    elif op in (U.ISINF, U.ISNAN):
        x = np.array([[1.0, np.inf, -np.inf, np.nan, 0.0, -2.0]], np.float32)
        want = np.isinf(x) if op == U.ISINF else np.isnan(x)
    else:
        f, (lo, hi) = UNARY_REF[op]
        x = RNG.uniform(lo, hi, (3, 4))
        if op in (U.ROUND, U.SIGN):
            x[0, :4] = [0.5, 1.5, -2.5, 0.0]  # halves round to even; sign(0) = 0
        want = f(x.astype(np.float32).astype(np.float64))
    (got,) = run_layer(lambda n, t: n.add_unary(t[0], op), {"x": x}, device)
    assert_close(got, want, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------ convolution family
def _pads(mode, n, k, s, d, pre, post, transposed=False):
    """Per-dim (pre, post) padding for a padding mode (independent of inferrt's code)."""
    PM = trt.PaddingMode
    if mode not in (PM.SAME_UPPER, PM.SAME_LOWER):
        return pre, post
    out = []
    for ni, ki, si, di in zip(n, k, s, d):
        eff = di * (ki - 1) + 1
        total = max(0, eff - si) if transposed else max(0, (math.ceil(ni / si) - 1) * si + eff - ni)
        lo, hi = total // 2, total - total // 2
        out.append((lo, hi) if mode == PM.SAME_UPPER else (hi, lo))
    return tuple(p for p, _ in out), tuple(q for _, q in out)


def ref_conv(x, w, b, s, d, pre, post, groups, round_up=False):
    nsp = x.ndim - 2
    k = w.shape[2:]
    extra = []
    for i in range(nsp):
        span = x.shape[2 + i] + pre[i] + post[i] - (d[i] * (k[i] - 1) + 1)
        extra.append((-span) % s[i] if round_up else 0)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pre[i], post[i] + extra[i]) for i in range(nsp)])
    outs = [(xp.shape[2 + i] - (d[i] * (k[i] - 1) + 1)) // s[i] + 1 for i in range(nsp)]
    n, c = x.shape[:2]
    m, cg = w.shape[0], c // groups
    y = np.zeros((n, m, *outs))
    for g in range(groups):
        xg, wg = xp[:, g * cg:(g + 1) * cg], w[g * (m // groups):(g + 1) * (m // groups)]
        for kk in np.ndindex(*k):
            sl = tuple(slice(kk[i] * d[i], kk[i] * d[i] + (outs[i] - 1) * s[i] + 1, s[i]) for i in range(nsp))
            patch = xg[(slice(None), slice(None)) + sl]  # n, cg, *outs
            y[:, g * (m // groups):(g + 1) * (m // groups)] += np.einsum("nc...,mc->nm...", patch,
                                                                          wg[(slice(None), slice(None)) + kk])
    return y + (0 if b is None else b.reshape(1, -1, *([1] * nsp)))


def ref_deconv(x, w, b, s, d, pre, post, groups, out_pad):
    nsp = x.ndim - 2
    k = w.shape[2:]
    n, c = x.shape[:2]
    mg = w.shape[1]
    cg = c // groups
    full = [(x.shape[2 + i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 for i in range(nsp)]
    y = np.zeros((n, mg * groups, *[f + out_pad[i] for i, f in enumerate(full)]))
    for g in range(groups):
        for idx in np.ndindex(*x.shape[2:]):
            for kk in np.ndindex(*k):
                pos = tuple(idx[i] * s[i] + kk[i] * d[i] for i in range(nsp))
                y[(slice(None), slice(g * mg, (g + 1) * mg)) + pos] += np.einsum(
                    "nc,cm->nm", x[(slice(None), slice(g * cg, (g + 1) * cg)) + idx],
                    w[(slice(g * cg, (g + 1) * cg), slice(None)) + kk])
    sl = tuple(slice(pre[i], full[i] - post[i] + out_pad[i]) for i in range(nsp))
    y = y[(slice(None), slice(None)) + sl]
    return y + (0 if b is None else b.reshape(1, -1, *([1] * nsp)))


CONV_CASES = [  # (input shape, out maps, kernel, stride, dilation, pre, post, groups, padding mode)
    ((2, 3, 9), 4, (3,), (2,), (1,), (1,), (2,), 1, None),
    ((1, 4, 7, 8), 6, (3, 2), (1, 2), (2, 1), (1, 0), (2, 1), 2, None),
    ((1, 2, 5, 4, 6), 2, (2, 3, 2), (2, 1, 2), (1, 1, 2), (0, 1, 1), (1, 1, 0), 2, None),
    ((1, 4, 7, 7), 4, (3, 3), (2, 2), (1, 1), (0, 0), (0, 0), 4, "EXPLICIT_ROUND_UP"),
    ((1, 3, 7, 6), 2, (3, 2), (2, 3), (1, 1), (0, 0), (0, 0), 1, "SAME_UPPER"),
    ((1, 3, 8, 5), 2, (4, 3), (3, 2), (1, 2), (0, 0), (0, 0), 1, "SAME_LOWER"),
    ((2, 2, 6, 6), 3, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 1, "EXPLICIT_ROUND_DOWN"),
]


def _setup_conv(layer, s, d, pre, post, groups, mode):
    layer.stride_nd, layer.dilation_nd, layer.num_groups = s, d, groups
    layer.pre_padding, layer.post_padding = pre, post
    if mode:
        layer.padding_mode = trt.PaddingMode[mode]


@pytest.mark.parametrize("shape,m,k,s,d,pre,post,groups,mode", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_convolution(shape, m, k, s, d, pre, post, groups, mode, bias, device):
    x = RNG.normal(size=shape)
    w = RNG.normal(size=(m, shape[1] // groups, *k)).astype(np.float32)
    b = RNG.normal(size=m).astype(np.float32) if bias else None

    def add(net, t):
        layer = net.add_convolution_nd(t[0], m, k, w, b)
        _setup_conv(layer, s, d, pre, post, groups, mode)
        return layer

    (got,) = run_layer(add, {"x": x}, device)
    pm = trt.PaddingMode[mode] if mode else trt.PaddingMode.EXPLICIT_ROUND_DOWN
    p0, p1 = _pads(pm, shape[2:], k, s, d, pre, post)
    want = ref_conv(x.astype(np.float32).astype(np.float64), w.astype(np.float64), b, s, d, p0, p1, groups,
                    pm == trt.PaddingMode.EXPLICIT_ROUND_UP)
    assert_close(got, want, rtol=1e-4, atol=1e-4)


DECONV_CASES = [  # (input shape, out maps, kernel, stride, dilation, pre, post, groups, mode, output padding)
    ((1, 2, 5), 3, (3,), (2,), (1,), (1,), (1,), 1, None, (1,)),
    ((2, 4, 3, 4), 4, (3, 2), (2, 3), (1, 2), (1, 0), (0, 1), 2, None, (0, 0)),
    ((1, 2, 3, 3), 2, (3, 3), (2, 2), (1, 1), (2, 1), (1, 2), 1, None, (1, 1)),
    ((1, 2, 2, 3, 2), 2, (2, 2, 3), (1, 2, 2), (2, 1, 1), (0, 1, 0), (1, 0, 1), 1, None, (0, 1, 1)),
    ((1, 3, 4, 4), 2, (3, 3), (2, 2), (1, 1), (0, 0), (0, 0), 1, "SAME_UPPER", (0, 0)),
    ((1, 3, 4, 5), 2, (4, 3), (2, 2), (1, 1), (0, 0), (0, 0), 1, "SAME_LOWER", (0, 0)),
]


@pytest.mark.parametrize("shape,m,k,s,d,pre,post,groups,mode,op", DECONV_CASES)
def test_deconvolution(shape, m, k, s, d, pre, post, groups, mode, op, device):
    x = RNG.normal(size=shape)
    w = RNG.normal(size=(shape[1], m // groups, *k)).astype(np.float32)
    b = RNG.normal(size=m).astype(np.float32)

    def add(net, t):
        layer = net.add_deconvolution_nd(t[0], m, k, w, b)
        _setup_conv(layer, s, d, pre, post, groups, mode)
        layer.output_padding = op
        return layer

    (got,) = run_layer(add, {"x": x}, device)
    pm = trt.PaddingMode[mode] if mode else trt.PaddingMode.EXPLICIT_ROUND_DOWN
    p0, p1 = _pads(pm, shape[2:], k, s, d, pre, post, transposed=True)
    want = ref_deconv(x.astype(np.float32).astype(np.float64), w.astype(np.float64), b, s, d, p0, p1, groups, op)
    assert_close(got, want, rtol=1e-4, atol=1e-4)


def ref_pool(x, kind, k, s, pre, post, exclude_pad, blend, round_up):
    nsp = x.ndim - 2
    extra = [((-(x.shape[2 + i] + pre[i] + post[i] - k[i])) % s[i]) if round_up else 0 for i in range(nsp)]
    outs = [(x.shape[2 + i] + pre[i] + post[i] + extra[i] - k[i]) // s[i] + 1 for i in range(nsp)]
    if round_up:  # the last window must start inside the input or its front padding
        outs = [o - 1 if (o - 1) * s[i] >= x.shape[2 + i] + pre[i] else o for i, o in enumerate(outs)]
    width = [(0, 0), (0, 0)] + [(pre[i], post[i] + extra[i]) for i in range(nsp)]
    xm = np.pad(x, width, constant_values=-np.inf)
    xs = np.pad(x, width)
    inside = np.pad(np.ones(x.shape[2:]), width[2:])  # 1 on real data
    counted = np.pad(np.ones([x.shape[2 + i] + pre[i] + post[i] for i in range(nsp)]),
                     [(0, e) for e in extra])  # real data + explicit padding
    mx = np.empty(x.shape[:2] + tuple(outs))
    avg = np.empty_like(mx)
    for o in np.ndindex(*outs):
        sl = tuple(slice(o[i] * s[i], o[i] * s[i] + k[i]) for i in range(nsp))
        mx[(..., *o)] = xm[(slice(None), slice(None)) + sl].reshape(*x.shape[:2], -1).max(-1)
        cnt = (inside if exclude_pad else counted)[sl].sum()
        avg[(..., *o)] = xs[(slice(None), slice(None)) + sl].reshape(*x.shape[:2], -1).sum(-1) / cnt
    P = trt.PoolingType
    return {P.MAX: mx, P.AVERAGE: avg, P.MAX_AVERAGE_BLEND: blend * mx + (1 - blend) * avg}[kind]


@pytest.mark.parametrize("kind", list(trt.PoolingType))
@pytest.mark.parametrize("shape,k,s,pre,post,mode,exclude", [
    ((2, 3, 7, 6), (3, 2), (2, 2), (1, 0), (1, 1), None, True),
    ((2, 3, 7, 6), (3, 3), (2, 1), (1, 1), (1, 1), None, False),
    ((1, 2, 8), (3,), (3,), (1,), (0,), "EXPLICIT_ROUND_UP", True),
    ((1, 2, 7, 7), (2, 2), (2, 2), (1, 1), (1, 1), "EXPLICIT_ROUND_UP", False),
    ((1, 2, 7, 5), (3, 2), (2, 2), (0, 0), (0, 0), "SAME_UPPER", True),
    ((1, 2, 5, 6, 4), (2, 3, 2), (2, 2, 1), (0, 0, 0), (0, 0, 0), "SAME_LOWER", False),
])
def test_pooling(kind, shape, k, s, pre, post, mode, exclude, device):
    x = RNG.normal(size=shape)

    def add(net, t):
        layer = net.add_pooling_nd(t[0], kind, k)
        assert layer.average_count_excludes_padding
        layer.stride_nd, layer.pre_padding, layer.post_padding = s, pre, post
        layer.average_count_excludes_padding = exclude
        layer.blend_factor = 0.3
        if mode:
            layer.padding_mode = trt.PaddingMode[mode]
        return layer

    (got,) = run_layer(add, {"x": x}, device)
    pm = trt.PaddingMode[mode] if mode else trt.PaddingMode.EXPLICIT_ROUND_DOWN
    p0, p1 = _pads(pm, shape[2:], k, s, (1,) * len(k), pre, post)
    want = ref_pool(x.astype(np.float32).astype(np.float64), kind, k, s, p0, p1, exclude, 0.3,
                    pm == trt.PaddingMode.EXPLICIT_ROUND_UP)
    assert_close(got, want, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------ matmul and data movement
MO = trt.MatrixOperation


@pytest.mark.parametrize("sa,op0,sb,op1", [
    ((3, 4), MO.NONE, (4, 5), MO.NONE), ((4, 3), MO.TRANSPOSE, (4, 5), MO.NONE),
    ((3, 4), MO.NONE, (5, 4), MO.TRANSPOSE),
    ((2, 1, 3, 4), MO.NONE, (1, 3, 4, 2), MO.NONE), ((2, 3, 4), MO.NONE, (4,), MO.VECTOR),
    ((4,), MO.VECTOR, (2, 4, 3), MO.NONE), ((2, 4), MO.VECTOR, (2, 4), MO.VECTOR),
    ((2, 4, 3), MO.TRANSPOSE, (1, 5, 4), MO.TRANSPOSE)])
def test_matrix_multiply(sa, op0, sb, op1, device):
    a, b = RNG.normal(size=sa), RNG.normal(size=sb)
    (got,) = run_layer(lambda n, t: n.add_matrix_multiply(t[0], op0, t[1], op1), {"a": a, "b": b}, device)
    ra = np.swapaxes(a, -1, -2) if op0 == MO.TRANSPOSE else (a[..., None, :] if op0 == MO.VECTOR else a)
    rb = np.swapaxes(b, -1, -2) if op1 == MO.TRANSPOSE else (b[..., :, None] if op1 == MO.VECTOR else b)
    want = np.matmul(ra, rb)
    if op0 == MO.VECTOR:
        want = want[..., 0, :]
    if op1 == MO.VECTOR:
        want = want[..., 0]
    assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_constant_identity_cast_shape(device):
    x = RNG.normal(0, 3, (2, 3))
    w = RNG.integers(-5, 5, (3, 2)).astype(np.int32)

    def add(net, t):
        return [net.add_constant(w.shape, w).get_output(0), net.add_identity(t[0]).get_output(0),
                net.add_cast(t[0], trt.int32).get_output(0), net.add_cast(t[0], trt.float16).get_output(0),
                net.add_shape(t[0]).get_output(0)]

    const, ident, as_int, as_half, shape = run_layer(add, {"x": x}, device)
    np.testing.assert_array_equal(const, w), assert_close(ident, x)
    np.testing.assert_array_equal(as_int, np.trunc(x.astype(np.float32)).astype(np.int32))
    assert as_half.dtype == np.float16 and np.array_equal(as_half, x.astype(np.float32).astype(np.float16))
    assert shape.dtype == np.int64 and list(shape) == [2, 3]


@pytest.mark.parametrize("first,dims,second", [((1, 0, 2), None, ()), ((), (0, -1), ()),
                                               ((2, 0, 1), (4, 0, 0), (1, 0, 2)), ((), (6, 4), (1, 0)), ((), (-1,), ())])
def test_shuffle(first, dims, second, device):
    x = RNG.normal(size=(2, 3, 4))

    def add(net, t):
        layer = net.add_shuffle(t[0])
        if first:
            layer.first_transpose = first
        if dims is not None:
            layer.reshape_dims = dims
        if second:
            layer.second_transpose = second
        return layer

    (got,) = run_layer(add, {"x": x}, device)
    y = np.transpose(x, first) if first else x
    if dims is not None:
        y = y.reshape([y.shape[i] if d == 0 else d for i, d in enumerate(dims)])
    if second:
        y = np.transpose(y, second)
    assert_close(got, y)


def test_shuffle_dynamic_reshape_from_shape_tensor(device):
    x, like = RNG.normal(size=(2, 3, 4)), np.zeros((4, 6), np.float32)

    def add(net, t):
        layer = net.add_shuffle(t[0])
        layer.set_input(1, net.add_shape(t[1]).get_output(0))
        return layer

    (got,) = run_layer(add, {"x": x, "like": like}, device)
    assert_close(got, x.reshape(4, 6))


@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1])
def test_concatenation(axis, device):
    ax = 0 if axis is None else axis % 3  # default axis for a rank-3 tensor is rank - 3 = 0
    shapes = [tuple(n if i == ax else d for i, d in enumerate((2, 3, 4))) for n in (1, 2, 3)]
    arrays = {f"x{i}": RNG.normal(size=s) for i, s in enumerate(shapes)}

    def add(net, t):
        layer = net.add_concatenation(t)
        if axis is not None:
            layer.axis = axis
        return layer

    (got,) = run_layer(add, arrays, device)
    assert_close(got, np.concatenate(list(arrays.values()), axis=ax))


def _slice_ref(x, start, size, stride, mode, fill=0.0):
    out = np.empty(size)
    for o in np.ndindex(*size):
        idx, ok = [], True
        for i, n in enumerate(x.shape):
            j = start[i] + o[i] * stride[i]
            if mode == trt.SampleMode.WRAP:
                j %= n
            elif mode == trt.SampleMode.CLAMP:
                j = min(max(j, 0), n - 1)
            elif mode == trt.SampleMode.REFLECT:
                period = 2 * (n - 1)
                j = abs(j) % period if period else 0
                j = period - j if j >= n else j
            elif not 0 <= j < n:
                ok = False
            idx.append(j)
        out[o] = x[tuple(idx)] if ok else fill
    return out


@pytest.mark.parametrize("mode,start,size,stride", [
    (trt.SampleMode.STRICT_BOUNDS, (0, 1, 3), (2, 2, 2), (1, 1, -1)),
    (trt.SampleMode.STRICT_BOUNDS, (1, 2, 0), (1, 3, 2), (1, -1, 3)),
    (trt.SampleMode.WRAP, (-1, 2, 3), (3, 5, 4), (1, 1, 2)),
    (trt.SampleMode.CLAMP, (-2, 1, 5), (4, 4, 3), (1, 1, -2)),
    (trt.SampleMode.FILL, (-1, -2, 1), (3, 6, 3), (1, 1, 2)),
    (trt.SampleMode.REFLECT, (-3, -1, 4), (5, 6, 5), (1, 1, -1))])
def test_slice_modes(mode, start, size, stride, device):
    x = RNG.normal(size=(2, 3, 5))

    def add(net, t):
        layer = net.add_slice(t[0], start, size, stride)
        layer.mode = mode
        if mode == trt.SampleMode.FILL:
            layer.set_input(4, net.add_constant((), np.array(7.5, np.float32)).get_output(0))
        return layer

    (got,) = run_layer(add, {"x": x}, device)
    assert_close(got, _slice_ref(x.astype(np.float32).astype(np.float64), start, size, stride, mode, 7.5))


@pytest.mark.parametrize("axes", [None, 1, 2, 4])
def test_softmax(axes, device):
    x = RNG.normal(0, 3, (2, 3, 4))

    def add(net, t):
        layer = net.add_softmax(t[0])
        if axes is not None:
            layer.axes = axes
        return layer

    (got,) = run_layer(add, {"x": x}, device)
    ax = 0 if axes is None else int(math.log2(axes))
    e = np.exp(x - x.max(axis=ax, keepdims=True))
    assert_close(got, e / e.sum(axis=ax, keepdims=True), rtol=1e-5, atol=1e-6)


R_REF = {trt.ReduceOperation.SUM: np.sum, trt.ReduceOperation.PROD: np.prod, trt.ReduceOperation.MAX: np.max,
         trt.ReduceOperation.MIN: np.min, trt.ReduceOperation.AVG: np.mean}


@pytest.mark.parametrize("op", list(R_REF))
@pytest.mark.parametrize("axes,keep", [(0b010, True), (0b101, False), (0b111, False), (0b110, True)])
def test_reduce(op, axes, keep, device):
    x = RNG.uniform(0.5, 1.5, (2, 3, 4))
    (got,) = run_layer(lambda n, t: n.add_reduce(t[0], op, axes, keep), {"x": x}, device)
    ax = tuple(i for i in range(3) if axes >> i & 1)
    assert_close(got, R_REF[op](x.astype(np.float32).astype(np.float64), axis=ax, keepdims=keep), rtol=1e-5)


def test_reduce_integer_sum_and_max(device):
    x = RNG.integers(-50, 50, (3, 5)).astype(np.int32)
    got = run_layer(lambda n, t: [n.add_reduce(t[0], trt.ReduceOperation.SUM, 2, False).get_output(0),
                                  n.add_reduce(t[0], trt.ReduceOperation.MAX, 1, True).get_output(0)], {"x": x}, device)
    np.testing.assert_array_equal(got[0], x.sum(1)), np.testing.assert_array_equal(got[1], x.max(0, keepdims=True))


# ------------------------------------------------------------------------------------------ bad inputs
def _errors(build):
    _, net = new_network()
    build(net).name = "the_layer"
    return " ".join(net._layer_errors())


_inp = lambda net, name, shape, dtype=trt.float32: net.add_input(name, dtype, shape)  # noqa: E731


@pytest.mark.parametrize("build,msg", [
    (lambda n: n.add_elementwise(_inp(n, "a", (2, 3)), _inp(n, "b", (4, 3)), EW.SUM), "cannot be broadcast"),
    (lambda n: n.add_elementwise(_inp(n, "a", (2, 3)), _inp(n, "b", (2, 3), trt.int32), EW.SUM), "add a cast"),
    (lambda n: n.add_elementwise(_inp(n, "a", (2, 3)), _inp(n, "b", (3,)), EW.SUM), "different ranks"),
    (lambda n: n.add_unary(_inp(n, "a", (2,), trt.int32), U.EXP), "floating-point"),
    (lambda n: n.add_convolution_nd(_inp(n, "a", (1, 3, 5, 5)), 2, (3, 3), np.ones(10, np.float32)),
     "kernel has 10 values"),
    (lambda n: n.add_convolution_nd(_inp(n, "a", (1, 3, 5)), 2, (3, 3), np.ones(54, np.float32)), "expected rank 4"),
    (lambda n: n.add_matrix_multiply(_inp(n, "a", (2, 3)), MO.NONE, _inp(n, "b", (4, 5)), MO.NONE), "inner dimensions"),
    (lambda n: n.add_concatenation([_inp(n, "a", (2, 3)), _inp(n, "b", (3, 4))]), "outside the concatenation axis"),
    (lambda n: n.add_slice(_inp(n, "a", (4,)), (2,), (3,), (1,)), "outside 0..3"),
    (lambda n: n.add_reduce(_inp(n, "a", (2, 3)), trt.ReduceOperation.SUM, 0b100, False), "outside a tensor of rank 2"),
    (lambda n: n.add_pooling_nd(_inp(n, "a", (1, 1, 2, 2)), trt.PoolingType.MAX, (3, 3)), "larger than the padded"),
    (lambda n: n.add_reduce(_inp(n, "a", (2, 3)), trt.ReduceOperation.NONE, 1, False), "NONE"),
])
def test_bad_inputs_name_the_layer(build, msg):
    errs = _errors(build)
    assert "the_layer" in errs and msg in errs, errs


def test_bad_shuffle_names_layer():
    def build(net):
        layer = net.add_shuffle(_inp(net, "a", (2, 3)))
        layer.reshape_dims = (4, 2)
        return layer
    errs = _errors(build)
    assert "the_layer" in errs and "cannot reshape (2, 3)" in errs
