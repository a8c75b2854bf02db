"""InferrtModel without a server: kserve InferRequests through validation, the batcher and the engine, checked
against running the engine directly (reshape, unbatched models, requested outputs, concurrent merging)."""
import asyncio
import os

import numpy as np
import pytest

pytest.importorskip("kserve")

from kserve.errors import InvalidInput  # noqa: E402
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput  # noqa: E402

from inferrt.serve.metrics import ServeMetrics  # noqa: E402
from inferrt.serve.model import InferrtModel  # noqa: E402
from inferrt.serve.repository import read_model  # noqa: E402
from tests.helpers import tolerance  # noqa: E402


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    import inferrt
    from inferrt.builder.builder import Builder
    from inferrt.logger import Logger, Severity
    from inferrt.models.mnist import build_mnist_network

    root = tmp_path_factory.mktemp("models")
    out = {}
    for dynamic in (True, False):
        net = build_mnist_network(Builder(Logger(Severity.WARNING)).create_network(0), dynamic_batch=dynamic)
        prof = {"x": [(1, 1, 28, 28), (4, 1, 28, 28), (4, 1, 28, 28)]} if dynamic else None
        engine = inferrt.build_engine(net, profiles=prof, device="cpu")
        path = str(root / f"{'dyn' if dynamic else 'static'}.plan")
        inferrt.save_plan(engine, path)
        out[dynamic] = (path, engine.create_execution_context())
    return out


def _model(tmp_path, plan, config):
    d = tmp_path / "m"
    os.makedirs(d / "1")
    os.symlink(plan, d / "1" / "model.plan")
    (d / "config.pbtxt").write_text(config)
    metrics = ServeMetrics()
    m = InferrtModel(read_model(str(d)), metrics)
    m.load()
    return m, metrics


def _request(x, name="x", datatype="FP32", outputs=None):
    inp = InferInput(name, list(x.shape), datatype)
    inp.set_data_from_numpy(x, binary_data=True)
    return InferRequest("m", [inp], request_outputs=outputs)


def test_reshape_and_concurrent_merging(tmp_path, plans):
    plan, ctx = plans[True]
    model, metrics = _model(tmp_path, plan, 'max_batch_size: 4 input [ { name: "x" data_type: TYPE_FP32 '
                            'dims: [ 784 ] reshape: { shape: [ 1, 28, 28 ] } } ] '
                            "dynamic_batching { max_queue_delay_microseconds: 100000 }")
    try:
        rng = np.random.default_rng(0)
        xs = [rng.standard_normal((1, 784)).astype(np.float32) for _ in range(8)]

        async def run_all():
            return await asyncio.gather(*(model.predict(_request(x)) for x in xs))

        responses = asyncio.run(run_all())
        for x, r in zip(xs, responses):
            got = r.outputs[0].as_numpy()
            np.testing.assert_allclose(got, ctx.infer({"x": x.reshape(1, 1, 28, 28)})["prob"],
                                       *tolerance(np.float32))
        assert metrics.value("m", "1", "nv_inference_count") == 8
        assert metrics.value("m", "1", "nv_inference_exec_count") <= 4     # merged up to max_batch_size 4
        assert model.get_input_types() == [{"name": "x", "datatype": "FP32", "shape": [-1, 784]}]
    finally:
        model.stop()


def test_unbatched_model(tmp_path, plans):
    plan, ctx = plans[False]
    model, _ = _model(tmp_path, plan, "max_batch_size: 0")
    try:
        x = np.random.default_rng(1).standard_normal((1, 1, 28, 28)).astype(np.float32)
        r = asyncio.run(model.predict(_request(x)))
        np.testing.assert_allclose(r.outputs[0].as_numpy(), ctx.infer({"x": x})["prob"], *tolerance(np.float32))
        with pytest.raises(InvalidInput, match="shape"):
            asyncio.run(model.predict(_request(np.ones((2, 1, 28, 28), np.float32))))
    finally:
        model.stop()


def test_request_errors_and_failure_metrics(tmp_path, plans):
    plan, _ = plans[True]
    model, metrics = _model(tmp_path, plan, "max_batch_size: 4")
    try:
        ok = np.ones((1, 1, 28, 28), np.float32)
        cases = [
            (_request(ok, name="y"), "unexpected inference input"),
            (_request(ok.astype(np.float64), datatype="FP64"), "datatype FP64"),
            (_request(ok, outputs=[RequestedOutput("nope", {})]), "requested output 'nope'"),
            (InferRequest("m", []), "lacks"),
        ]
        for req, why in cases:
            with pytest.raises(InvalidInput, match=why):
                asyncio.run(model.predict(req))
        assert metrics.value("m", "1", "nv_inference_request_failure") == len(cases)
        r = asyncio.run(model.predict(_request(ok, outputs=[RequestedOutput("prob", {})])))
        assert r.outputs[0].shape == [1, 10]
        assert metrics.value("m", "1", "nv_inference_request_success") == 1
    finally:
        model.stop()


def test_counters_of_a_model_exist_before_its_first_request():
    """Triton lists a loaded model's nv_inference_* counters at 0 before any request; ``add`` with no increments
    (what load does) creates that row."""
    from inferrt.serve.metrics import ServeMetrics

    m = ServeMetrics()
    assert list(m.collect())[0].samples == []
    m.add("mnist", "1")
    samples = {s.name: s.value for fam in m.collect() for s in fam.samples}
    assert samples["nv_inference_exec_count"] == 0.0 and samples["nv_inference_request_success"] == 0.0


def test_variable_dims_outside_the_profile_are_refused_before_batching(tmp_path):
    """A request whose variable dim is outside the engine's profile gets the protocol's error; the requests batched
    beside it (several shapes, each batch one shape) are answered, checked against numpy."""
    import inferrt
    from inferrt.builder.builder import Builder
    from inferrt.logger import Logger, Severity

    net = Builder(Logger(Severity.WARNING)).create_network(0)
    x = net.add_input("x", inferrt.float32, (-1, -1))
    net.mark_output(net.add_activation(x, inferrt.ActivationType.RELU).get_output(0))
    engine = inferrt.build_engine(net, profiles={"x": [(1, 2), (4, 8), (4, 16)]}, device="cpu")
    plan = str(tmp_path / "relu.plan")
    inferrt.save_plan(engine, plan)
    model, metrics = _model(tmp_path, plan, "max_batch_size: 4 dynamic_batching { max_queue_delay_microseconds: "
                                            "50000 }")
    try:
        rng = np.random.default_rng(2)
        xs = [rng.standard_normal((1, w)).astype(np.float32) for w in (2, 8, 16, 8, 2, 16)]

        async def run_all():
            good = [model.predict(_request(a)) for a in xs]
            bad = model.predict(_request(np.ones((1, 17), np.float32)))
            return await asyncio.gather(*good, bad, return_exceptions=True)

        *responses, refused = asyncio.run(run_all())
        assert isinstance(refused, InvalidInput) and "dimension 1 is 17" in str(refused) and "2..16" in str(refused)
        for a, r in zip(xs, responses):
            np.testing.assert_array_equal(r.outputs[0].as_numpy(), np.maximum(a, 0))
        assert metrics.value("m", "1", "nv_inference_request_failure") == 1
        assert metrics.value("m", "1", "nv_inference_request_success") == len(xs)
    finally:
        model.stop()
