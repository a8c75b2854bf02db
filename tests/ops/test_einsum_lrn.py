"""IEinsumLayer and ILRNLayer against numpy float64 references."""
import numpy as np
import pytest

import inferrt as trt
from tests.helpers import assert_close, new_network, run_layer

RNG = np.random.default_rng(2)


@pytest.mark.parametrize("equation,shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("ij->ji", [(3, 5)]),
    ("ij,kj", [(3, 4), (5, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 2)]),
    ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 2)]),
    ("ijk->", [(2, 3, 4)]),
])
def test_einsum_matches_numpy(equation, shapes, device):
    arrays = {f"x{i}": RNG.normal(size=s) for i, s in enumerate(shapes)}
    (got,) = run_layer(lambda n, t: n.add_einsum(t, equation), arrays, device)
    assert_close(got, np.einsum(equation, *arrays.values()), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("equation,shapes,msg", [
    ("ij,jk->ik", [(3, 4)], "2 input term(s) but the layer has 1"),
    ("ijk,jk->ik", [(3, 4), (4, 5)], "names 3 dims but input 0 has rank 2"),
    ("ij,jk->ik", [(3, 4), (5, 6)], "subscript 'j' has size 4"),
    ("ij,jk->iz", [(3, 4), (4, 5)], "no input term has"),
    ("i1,jk->ik", [(3, 4), (4, 5)], "subscripts must be letters"),
])
def test_einsum_bad_equation_names_layer(equation, shapes, msg):
    _, net = new_network()
    ts = [net.add_input(f"x{i}", trt.float32, s) for i, s in enumerate(shapes)]
    layer = net.add_einsum(ts, equation)
    layer.name = "my_einsum"
    errs = " ".join(net._layer_errors())
    assert "my_einsum" in errs and msg in errs


def test_einsum_layer_properties():
    _, net = new_network()
    a = net.add_input("a", trt.float32, (2, 3))
    layer = net.add_einsum([a], "ij->ji")
    assert isinstance(layer, trt.IEinsumLayer) and layer.equation == "ij->ji"
    assert tuple(layer.get_output(0).shape) == (3, 2)
    layer.equation = "ij->i"
    assert tuple(layer.get_output(0).shape) == (2,)


def ref_lrn(x, size, alpha, beta, k):
    x = x.astype(np.float64)
    c = x.shape[1]
    out = np.empty_like(x)
    lo_off, hi_off = (size - 1) // 2, size - 1 - (size - 1) // 2
    for ch in range(c):
        lo, hi = max(0, ch - lo_off), min(c - 1, ch + hi_off)
        sq = (x[:, lo:hi + 1] ** 2).sum(axis=1)
        out[:, ch] = x[:, ch] / (k + alpha / size * sq) ** beta
    return out


@pytest.mark.parametrize("shape,window,alpha,beta,k", [
    ((2, 7, 4, 5), 3, 1e-3, 0.75, 1.0), ((1, 5, 6, 6), 5, 0.5, 0.5, 2.0), ((2, 4, 3), 1, 1e-2, 1.0, 1.0),
    ((1, 6, 2, 2, 2), 4, 0.1, 0.6, 1.5), ((2, 3, 5, 5), 15, 0.2, 0.75, 1.0)])
def test_lrn(shape, window, alpha, beta, k, device):
    x = RNG.normal(size=shape) * 2

    def add(net, t):
        layer = net.add_lrn(t[0], window, alpha, beta, k)
        assert isinstance(layer, trt.ILRNLayer)
        assert (layer.window_size, layer.alpha, layer.beta, layer.k) == (window, pytest.approx(alpha), beta, k)
        return layer

    (got,) = run_layer(add, {"x": x}, device)
    assert_close(got, ref_lrn(x, window, alpha, beta, k), rtol=1e-4, atol=1e-5)


def test_lrn_bad_input_names_layer():
    _, net = new_network()
    x = net.add_input("x", trt.float32, (5,))
    net.add_lrn(x, 3, 1e-4, 0.75, 1.0).name = "my_lrn"
    errs = " ".join(net._layer_errors())
    assert "my_lrn" in errs and "channel" in errs
