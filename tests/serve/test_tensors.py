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
