"""The ONNX-only ops (in their family modules of ops/, and signal.py) through the network API:
symbolic shape inference, clear errors, exact integer math, seeded randomness, and CPU/GPU agreement with numpy."""
from __future__ import annotations

import numpy as np
import pytest

import inferrt as trt
from helpers import build_and_run, new_network
from inferrt.enums import DataType
from inferrt.ops import Spec, get_op
from inferrt.ops.base import OpError

RNG = np.random.default_rng(5)


def _run(kind, feeds, attrs=None, consts=None, device="cpu", dynamic=(), n_out=None):
    """One ``kind`` layer over graph inputs ``feeds`` and constants ``consts`` (kept in order: feeds then consts)."""
    builder, net = new_network()
    ins, profiles = [], {}
    for k, v in feeds.items():
        shape = tuple(-1 for _ in v.shape) if k in dynamic else v.shape
        from inferrt.dtypes import from_numpy_dtype

        ins.append(net.add_input(k, from_numpy_dtype(v.dtype), shape))
        if k in dynamic:
            profiles[k] = (tuple(1 for _ in v.shape), v.shape, tuple(2 * d for d in v.shape))
    for v in (consts or {}).values():
        ins.append(None if v is None else net.add_constant(np.shape(v), np.asarray(v)).get_output(0))
    layer = net._add(kind, ins, attrs or {})
    outs = range(n_out if n_out is not None else layer.num_outputs)
    for i in outs:
        t = layer.get_output(i)
        t.name = f"o{i}"
        net.mark_output(t)
    got = build_and_run(builder, net, feeds, device, [profiles] if profiles else None)
    return [got[f"o{i}"] for i in outs]


# ----------------------------------------------------------------------------------------------- shape inference
def _attrs(kind, extra):
    a = get_op(kind).default_attrs()
    a.update(extra)
    return a


def test_symbolic_shapes():
    f = DataType.FLOAT
    dft = get_op("dft").infer_all(_attrs("dft", {"axis": 1, "onesided": True}),
                                  [Spec(f, (-1, 16, 1))])
    assert dft[0].shape == (-1, 9, 2)
    mm = get_op("integer_matmul").infer_all(get_op("integer_matmul").default_attrs(),
                                            [Spec(DataType.UINT8, (-1, 3, 4)), Spec(DataType.INT8, (4, 5))])
    assert mm[0].shape == (-1, 3, 5) and mm[0].dtype == DataType.INT32
    conv = get_op("integer_conv")
    a = _attrs("integer_conv", {"auto_pad": "SAME_UPPER", "strides": (2, 2)})
    out = conv.infer_all(a, [Spec(DataType.UINT8, (-1, 3, -1, 9)), Spec(DataType.UINT8, (8, 3, 3, 3))])
    assert out[0].shape == (-1, 8, -1, 5)
    u = get_op("unique").infer_all(_attrs("unique", {"axis": 1}), [Spec(f, (2, 7))])
    assert [s.shape for s in u] == [(2, -1), (-1,), (7,), (-1,)]
    c = get_op("compress").infer_all(get_op("compress").default_attrs(), [Spec(f, (3, 4)), Spec(DataType.BOOL, (5,))])
    assert c[0].shape == (-1,)


@pytest.mark.parametrize("kind,attrs,specs,match", [
    ("dft", {"axis": -1}, [Spec(DataType.FLOAT, (2, 8, 2))], "trailing"),
    ("integer_matmul", {}, [Spec(DataType.FLOAT, (2, 3)), Spec(DataType.INT8, (3, 2))], "INT8 or UINT8"),
    ("integer_matmul", {}, [Spec(DataType.INT8, (2, 3)), Spec(DataType.INT8, (4, 2))], "inner dimensions"),
    ("stft", {"onesided": True}, [Spec(DataType.FLOAT, (1, 64, 2)), Spec(DataType.INT64, (), np.array(8))],
     "real signal"),
    ("compress", {"axis": 0}, [Spec(DataType.FLOAT, (2, 3)), Spec(DataType.BOOL, (4,))], "only 2"),
    ("col2im", {}, [Spec(DataType.FLOAT, (1, 8, 5)), Spec(DataType.INT64, (2,), np.array([4, 4])),
                    Spec(DataType.INT64, (2,), np.array([2, 2]))], "blocks"),
    ("det", {}, [Spec(DataType.FLOAT, (2, 3, 4))], "square"),
    ("random", {"distribution": "gamma"}, [], "normal"),
])
def test_errors_say_what_is_wrong(kind, attrs, specs, match):
    op = get_op(kind)
    with pytest.raises(OpError, match=match):
        op.infer_all(_attrs(kind, attrs), specs)


def test_layer_error_names_the_layer():
    _, net = new_network()
    x = net.add_input("x", trt.float32, (2, 3))
    layer = net._add("integer_matmul", [x, x])
    layer.name = "imm"
    assert any("imm" in e and "INT8 or UINT8" in e for e in net._layer_errors())


# ----------------------------------------------------------------------------------------------- exact integer math
def test_integer_matmul_large_k_exact(device):
    a = RNG.integers(-128, 128, (4, 4096)).astype(np.int8)
    b = RNG.integers(-128, 128, (4096, 3)).astype(np.int8)
    got = _run("integer_matmul", {"a": a, "b": b}, device=device)[0]
    np.testing.assert_array_equal(got, a.astype(np.int64) @ b.astype(np.int64))


def test_integer_conv_matches_int64_loop(device):
    x = RNG.integers(0, 256, (1, 2, 5, 5)).astype(np.uint8)
    w = RNG.integers(-128, 128, (3, 2, 2, 2)).astype(np.int8)
    got = _run("integer_conv", {"x": x}, {"pads": (1, 1, 0, 0)}, consts={"w": w, "xz": np.array(7, np.uint8)},
               device=device)[0]
    xp = np.pad(x.astype(np.int64) - 7, ((0, 0), (0, 0), (1, 0), (1, 0)))
    ref = np.zeros((1, 3, 5, 5), np.int64)
    for i in range(5):
        for j in range(5):
            ref[0, :, i, j] = (xp[0, None, :, i:i + 2, j:j + 2] * w.astype(np.int64)).sum((1, 2, 3))
    np.testing.assert_array_equal(got, ref)


def test_requantize_rounds_half_to_even_and_saturates(device):
    acc = np.array([[1, 3, 5, -1, -3, 1000, -1000]], np.int32)      # acc * 0.5: 0.5 1.5 2.5 -0.5 -1.5 ...
    got = _run("requantize", {"acc": acc}, {"to_type": DataType.INT8},
               consts={"a": np.array(0.5, np.float32), "b": np.array(1.0, np.float32),
                       "y": np.array(1.0, np.float32), "z": np.array(0, np.int8)}, device=device)[0]
    np.testing.assert_array_equal(got, [[0, 2, 2, 0, -2, 127, -128]])


def test_dynamic_quantize_linear_roundtrip(device):
    x = RNG.standard_normal((4, 6)).astype(np.float32)
    y, s, z = _run("dynamic_quantize_linear", {"x": x}, device=device)
    lo, hi = min(x.min(), 0), max(x.max(), 0)
    np.testing.assert_allclose(s, (hi - lo) / 255, rtol=1e-6)
    np.testing.assert_allclose((y.astype(np.float32) - z.astype(np.float32)) * s, x, atol=s / 2 + 1e-6)


# ----------------------------------------------------------------------------------------------- data-dependent
def test_unique_and_compress_dynamic(device):
    x = RNG.integers(0, 4, (3, 5)).astype(np.float32)
    y, first, inv, cnt = _run("unique", {"x": x}, {"sorted": True}, device=device, dynamic=("x",))
    ref_y, ref_first, ref_inv, ref_cnt = np.unique(x, return_index=True, return_inverse=True, return_counts=True)
    for g, r in ((y, ref_y), (first, ref_first), (inv, ref_inv.reshape(-1)), (cnt, ref_cnt)):
        np.testing.assert_array_equal(g, r)
    c = np.array([True, False, True, True, False])
    got = _run("compress", {"x": x, "c": c}, {"axis": 1}, device=device, dynamic=("x", "c"))[0]
    np.testing.assert_array_equal(got, x[:, c])


# ----------------------------------------------------------------------------------------------- signal
def test_dft_matches_numpy_fft(device):
    x = RNG.standard_normal((3, 10, 2)).astype(np.float32)
    got = _run("dft", {"x": x}, {"axis": 1}, consts={"n": np.array(16, np.int64)}, device=device)[0]
    ref = np.fft.fft(x[..., 0] + 1j * x[..., 1], n=16, axis=1)
    np.testing.assert_allclose(got[..., 0] + 1j * got[..., 1], ref, atol=1e-4)


def test_stft_matches_numpy(device):
    sig = RNG.standard_normal((1, 40, 1)).astype(np.float32)
    win = np.hamming(8).astype(np.float32)
    got = _run("stft", {"s": sig}, consts={"step": np.array(4, np.int64), "w": win}, device=device)[0]
    frames = np.stack([sig[0, i:i + 8, 0] * win for i in range(0, 33, 4)])
    ref = np.fft.rfft(frames, axis=-1)
    np.testing.assert_allclose(got[0, ..., 0] + 1j * got[0, ..., 1], ref, atol=1e-4)


def test_window_folds_to_a_constant():
    _, net = new_network()
    n = net.add_constant((), np.array(6, np.int64)).get_output(0)
    layer = net._add("window", [n], {"window": "hann", "periodic": False})
    spec = net._spec(layer.get_output(0))
    np.testing.assert_allclose(spec.value, np.hanning(6), atol=1e-6)


# ----------------------------------------------------------------------------------------------- random
def test_random_seeded_is_reproducible_and_not_folded(device):
    a = _run("random", {}, {"distribution": "normal", "a": 2.0, "b": 3.0, "seed": 1.5, "shape": (20000,)},
             device=device)[0]
    b = _run("random", {}, {"distribution": "normal", "a": 2.0, "b": 3.0, "seed": 1.5, "shape": (20000,)},
             device=device)[0]
    np.testing.assert_array_equal(a, b)
    assert abs(a.mean() - 2.0) < 0.1 and abs(a.std() - 3.0) < 0.1
    u = _run("random", {}, {"distribution": "uniform", "a": -1.0, "b": 4.0, "shape": (20000,)}, device=device)[0]
    assert u.min() >= -1.0 and u.max() < 4.0 and abs(u.mean() - 1.5) < 0.1
    _, net = new_network()
    layer = net._add("random", [], {"seed": 3.0, "shape": (4,)})
    assert net._spec(layer.get_output(0)).value is None           # never a build-time constant


def test_bernoulli_and_multinomial(device):
    p = np.array([[0.0, 1.0, 0.3]] * 4000, np.float32)
    y = _run("bernoulli", {"p": p}, {"seed": 2.0}, device=device)[0]
    assert (y[:, 0] == 0).all() and (y[:, 1] == 1).all() and abs(y[:, 2].mean() - 0.3) < 0.05
    logits = np.log(np.array([[0.1, 0.6, 0.3], [1.0, 1e-9, 1e-9]], np.float32))
    m = _run("multinomial", {"x": logits}, {"sample_size": 5000, "seed": 4.0}, device=device)[0]
    assert m.shape == (2, 5000) and m.dtype == np.int32
    np.testing.assert_allclose(np.bincount(m[0], minlength=3) / 5000, [0.1, 0.6, 0.3], atol=0.03)
    assert (m[1] == 0).all()


# ----------------------------------------------------------------------------------------------- vision
def test_col2im_inverts_unfold_counts(device):
    import torch

    img = RNG.standard_normal((1, 2, 6, 5)).astype(np.float32)
    cols = torch.nn.functional.unfold(torch.from_numpy(img), (3, 2), padding=(1, 0), stride=(1, 2)).numpy()
    got = _run("col2im", {"c": cols}, {"pads": (1, 0, 1, 0), "strides": (1, 2)},
               consts={"im": np.array([6, 5], np.int64), "bl": np.array([3, 2], np.int64)}, device=device)[0]
    ref = torch.nn.functional.fold(torch.from_numpy(cols), (6, 5), (3, 2), padding=(1, 0), stride=(1, 2)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_center_crop_pad_odd_sizes(device):
    x = np.arange(35, dtype=np.float32).reshape(5, 7)
    got = _run("center_crop_pad", {"x": x}, consts={"s": np.array([2, 10], np.int64)}, device=device)[0]
    ref = np.zeros((2, 10), np.float32)
    ref[:, 1:8] = x[1:3]
    np.testing.assert_array_equal(got, ref)


def test_tensor_scatter_drops_out_of_range_linear_writes(device):
    past = np.zeros((2, 4, 1), np.float32)
    upd = np.ones((2, 2, 1), np.float32)
    got = _run("tensor_scatter", {"p": past, "u": upd}, {"axis": 1},
               consts={"w": np.array([3, 1], np.int64)}, device=device)[0]
    np.testing.assert_array_equal(got[..., 0], [[0, 0, 0, 1], [0, 1, 1, 0]])
