"""Config tensors against the engine (auto-complete, mismatches named by field) and request shape checks."""
import pytest

pytest.importorskip("google.protobuf")

from inferrt.errors import BuildError  # noqa: E402
from inferrt.serve.model_config import parse_model_config  # noqa: E402
from inferrt.serve.tensors import check_shape, resolve_io  # noqa: E402


@pytest.fixture(scope="module")
def engine():
    import inferrt
    from inferrt.builder.builder import Builder
    from inferrt.logger import Logger, Severity
    from inferrt.models.mnist import build_mnist_network

    net = build_mnist_network(Builder(Logger(Severity.WARNING)).create_network(0))
    return inferrt.build_engine(net, profiles={"x": [(1, 1, 28, 28), (4, 1, 28, 28), (4, 1, 28, 28)]}, device="cpu")


def _cfg(text):
    c = parse_model_config(text)
    c.name = "m"
    return c


def test_autocomplete_from_engine(engine):
    ins, outs = resolve_io(engine, _cfg("max_batch_size: 4"))
    assert [(s.name, s.datatype, s.dims) for s in ins] == [("x", "FP32", (1, 28, 28))]
    assert [(s.name, s.datatype, s.dims) for s in outs] == [("prob", "FP32", (10,))]
    assert ins[0].metadata(True) == {"name": "x", "datatype": "FP32", "shape": [-1, 1, 28, 28]}
    ins, _ = resolve_io(engine, _cfg("max_batch_size: 0"))
    assert ins[0].dims == (-1, 1, 28, 28)     # no batch dimension: the engine's whole shape


def test_reshape_maps_client_dims_to_engine_dims(engine):
    ins, _ = resolve_io(engine, _cfg('max_batch_size: 4 input [ { name: "x" data_type: TYPE_FP32 dims: [ 784 ] '
                                     'reshape: { shape: [ 1, 28, 28 ] } } ]'))
    assert ins[0].dims == (784,) and ins[0].engine_dims == (1, 28, 28)


@pytest.mark.parametrize("text, match", [
    ('max_batch_size: 4 input [ { name: "y" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] } ]', "input names"),
    ('max_batch_size: 4 input [ { name: "x" data_type: TYPE_FP16 dims: [ 1, 28, 28 ] } ]', "data_type TYPE_FP16"),
    ('max_batch_size: 4 input [ { name: "x" data_type: TYPE_FP32 dims: [ 1, 28, 27 ] } ]', "dims"),
    ('max_batch_size: 4 output [ { name: "prob" data_type: TYPE_FP32 dims: [ 784 ] '
     'reshape: { shape: [ 28, 28 ] } } ]', "reshape"),
])
def test_mismatches_name_the_tensor_and_field(engine, text, match):
    with pytest.raises(BuildError, match=match):
        resolve_io(engine, _cfg(text))


def test_static_batch_engine_needs_matching_max_batch_size():
    import inferrt
    from inferrt.builder.builder import Builder
    from inferrt.logger import Logger, Severity
    from inferrt.models.mnist import build_mnist_network

    net = build_mnist_network(Builder(Logger(Severity.WARNING)).create_network(0), dynamic_batch=False)
    e = inferrt.build_engine(net, device="cpu")
    with pytest.raises(BuildError, match="max_batch_size: 0"):
        resolve_io(e, _cfg("max_batch_size: 8"))
    ins, _ = resolve_io(e, _cfg("max_batch_size: 0"))
    assert ins[0].dims == (1, 1, 28, 28)


def test_check_shape(engine):
    (x,), _ = resolve_io(engine, _cfg("max_batch_size: 4"))
    assert check_shape(x, [2, 1, 28, 28], 4) is None
    assert "has shape [2, 28, 28]" in check_shape(x, [2, 28, 28], 4)
    assert "has shape [2, 1, 28, 29]" in check_shape(x, [2, 1, 28, 29], 4)
    assert "outside 1..max_batch_size (4)" in check_shape(x, [5, 1, 28, 28], 4)
    assert "outside" in check_shape(x, [0, 1, 28, 28], 4)


def _relu_engine(shape, profile):
    """ReLU over input "x" of ``shape`` (-1: variable) with one optimization profile (min, opt, max)."""
    import inferrt
    from inferrt.builder.builder import Builder
    from inferrt.logger import Logger, Severity

    net = Builder(Logger(Severity.WARNING)).create_network(0)
    x = net.add_input("x", inferrt.float32, shape)
    net.mark_output(net.add_activation(x, inferrt.ActivationType.RELU).get_output(0))
    return inferrt.build_engine(net, profiles={"x": profile}, device="cpu")


def test_profile_batch_range_must_cover_max_batch_size(engine):
    # the fixture's profile takes batch 1..4
    with pytest.raises(BuildError, match=r"max_batch_size is 8 but the engine's input 'x' takes batch 1\.\.4 .*"
                                         r"set max_batch_size to at most 4"):
        resolve_io(engine, _cfg("max_batch_size: 8"))
    resolve_io(engine, _cfg("max_batch_size: 2"))   # a smaller max batch is inside the profile
    e = _relu_engine((-1, 3), [(2, 3), (4, 3), (4, 3)])
    with pytest.raises(BuildError, match=r"takes batch 2\.\.4 .*profile whose batch starts at 1"):
        resolve_io(e, _cfg("max_batch_size: 4"))


def test_variable_dims_are_checked_against_the_profile():
    e = _relu_engine((-1, -1), [(1, 2), (4, 8), (4, 16)])
    (x,), _ = resolve_io(e, _cfg("max_batch_size: 4"))
    assert x.dims == (-1,) and (x.low, x.high) == ((2,), (16,))
    assert check_shape(x, [3, 2], 4) is None and check_shape(x, [1, 16], 4) is None
    assert check_shape(x, [3, 17], 4) == ("input 'x' has shape [3, 17]: dimension 1 is 17, the engine's "
                                          "optimization profile takes 2..16")
    assert "dimension 1 is 1" in check_shape(x, [3, 1], 4)
    (x,), _ = resolve_io(e, _cfg("max_batch_size: 0"))     # no batch dim: every dim is checked
    assert check_shape(x, [5, 8], 0) == ("input 'x' has shape [5, 8]: dimension 0 is 5, the engine's "
                                         "optimization profile takes 1..4")
    assert check_shape(x, [4, 8], 0) is None
