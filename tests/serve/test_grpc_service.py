"""Triton's gRPC extensions (serve/grpc_service.py) on a repository of one CPU model, called without a server:
model config, statistics, repository index, load/unload framing and parameters, ModelReady of unknown models."""
import asyncio
import os

import numpy as np
import pytest

pytest.importorskip("kserve")

from grpc_interceptor.exceptions import InvalidArgument, NotFound  # noqa: E402
from kserve.errors import ModelNotFound  # noqa: E402
from kserve.protocol.grpc import grpc_predict_v2_pb2 as kpb  # noqa: E402
from kserve.protocol.infer_type import InferInput, InferRequest  # noqa: E402
from kserve.protocol.model_repository_extension import ModelRepositoryExtension  # noqa: E402

from inferrt.serve import grpc_messages as tpb  # noqa: E402
from inferrt.serve.grpc_service import TritonExtensions, method_handlers  # noqa: E402
from inferrt.serve.metrics import ServeMetrics  # noqa: E402
from inferrt.serve.registry import InferrtModelRepository  # noqa: E402


@pytest.fixture
def ext(tmp_path):
    import inferrt
    from inferrt.builder.builder import Builder
    from inferrt.logger import Logger, Severity
    from inferrt.models.mnist import build_mnist_network

    net = build_mnist_network(Builder(Logger(Severity.WARNING)).create_network(0))
    engine = inferrt.build_engine(net, profiles={"x": [(1, 1, 28, 28), (4, 1, 28, 28), (4, 1, 28, 28)]},
                                  device="cpu")
    os.makedirs(tmp_path / "repo" / "m" / "1")
    inferrt.save_plan(engine, str(tmp_path / "repo" / "m" / "1" / "model.plan"))
    (tmp_path / "repo" / "m" / "config.pbtxt").write_text(
        'platform: "tensorrt_plan" max_batch_size: 4 dynamic_batching { preferred_batch_size: [ 4 ] }')
    metrics = ServeMetrics()
    registry = InferrtModelRepository(str(tmp_path / "repo"), metrics)
    registry.load_models()
    yield TritonExtensions(registry, metrics, ModelRepositoryExtension(model_registry=registry))
    for m in list(registry.get_models().values()):
        m.stop()


def _call(method, request):
    return asyncio.run(method(request, None))


def test_model_config_is_completed_from_the_engine(ext):
    cfg = _call(ext.ModelConfig, tpb.ModelConfigRequest(name="m")).config
    assert (cfg.name, cfg.platform, cfg.max_batch_size) == ("m", "tensorrt_plan", 4)
    assert list(cfg.dynamic_batching.preferred_batch_size) == [4]
    assert [(t.name, list(t.dims)) for t in cfg.input] == [("x", [1, 28, 28])]
    assert [(t.name, list(t.dims)) for t in cfg.output] == [("prob", [10])]
    assert _call(ext.ModelConfig, tpb.ModelConfigRequest(name="m", version="1")).config.name == "m"
    with pytest.raises(ModelNotFound):
        _call(ext.ModelConfig, tpb.ModelConfigRequest(name="nope"))
    with pytest.raises(NotFound, match="no version '2' loaded; version 1 is served"):
        _call(ext.ModelConfig, tpb.ModelConfigRequest(name="m", version="2"))


def test_statistics_count_the_model_requests(ext):
    model = ext.registry.get_model("m")
    x = np.zeros((3, 1, 28, 28), np.float32)
    inp = InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=True)
    asyncio.run(model.predict(InferRequest("m", [inp])))
    (st,) = _call(ext.ModelStatistics, tpb.ModelStatisticsRequest(name="m")).model_stats
    assert (st.name, st.version, st.inference_count, st.execution_count) == ("m", "1", 3, 1)
    assert st.inference_stats.success.count == 1 and st.inference_stats.compute_infer.ns > 0
    assert [(b.batch_size, b.compute_infer.count) for b in st.batch_stats] == [(3, 1)]
    assert st.last_inference > 0
    every = _call(ext.ModelStatistics, tpb.ModelStatisticsRequest()).model_stats
    assert [s.name for s in every] == ["m"]
    with pytest.raises(InvalidArgument, match="needs a model name"):
        _call(ext.ModelStatistics, tpb.ModelStatisticsRequest(version="1"))


def test_repository_index_unload_load_and_parameters(ext):
    (row,) = _call(ext.RepositoryIndex, tpb.RepositoryIndexRequest()).models
    assert (row.name, row.version, row.state) == ("m", "1", "READY")
    req = tpb.RepositoryModelUnloadRequest(model_name="m")
    req.parameters["unload_dependents"].bool_param = True     # what tritonclient always sends
    _call(ext.RepositoryModelUnload, req)
    assert _call(ext.ModelReady, kpb.ModelReadyRequest(name="m")).ready is False
    assert [r.state for r in _call(ext.RepositoryIndex, tpb.RepositoryIndexRequest()).models] == ["UNAVAILABLE"]
    assert list(_call(ext.RepositoryIndex, tpb.RepositoryIndexRequest(ready=True)).models) == []

    load = tpb.RepositoryModelLoadRequest(model_name="m")
    load.parameters["config"].string_param = '{"max_batch_size": 2}'
    with pytest.raises(InvalidArgument, match=r"parameters \['config'\] are not supported"):
        _call(ext.RepositoryModelLoad, load)
    with pytest.raises(InvalidArgument, match="model_name is empty"):
        _call(ext.RepositoryModelLoad, tpb.RepositoryModelLoadRequest())
    with pytest.raises(NotFound, match="repository 'other' is not served"):
        _call(ext.RepositoryModelLoad, tpb.RepositoryModelLoadRequest(repository_name="other", model_name="m"))
    _call(ext.RepositoryModelLoad, tpb.RepositoryModelLoadRequest(repository_name="repo", model_name="m"))
    assert _call(ext.ModelReady, kpb.ModelReadyRequest(name="m")).ready is True
    assert _call(ext.ModelReady, kpb.ModelReadyRequest(name="m", version="3")).ready is False
    assert _call(ext.ModelReady, kpb.ModelReadyRequest(name="nope")).ready is False


def test_wire_format_uses_tritons_field_numbers():
    """Encoded bytes, checked field by field: tag = field number << 3 | wire type (2: length-delimited)."""
    req = tpb.RepositoryModelLoadRequest(model_name="m")
    assert req.SerializeToString() == b"\x12\x01m"            # model_name is field 2 (kserve's is field 1)
    idx = tpb.RepositoryIndexResponse(models=[tpb.RepositoryIndexResponse.ModelIndex(name="a", state="READY")])
    assert idx.SerializeToString() == b"\x0a\x0a\x0a\x01a\x1a\x05READY"
    resp = tpb.ModelConfigResponse()
    resp.config.max_batch_size = 4
    assert resp.SerializeToString() == b"\x0a\x02\x20\x04"    # config = 1 { max_batch_size = 4 (varint) }


def test_every_service_method_has_a_handler(ext):
    from kserve.protocol.dataplane import DataPlane
    from kserve.protocol.grpc.servicer import InferenceServicer

    servicer = InferenceServicer(DataPlane(model_registry=ext.registry), ext.repository_extension)
    handlers = method_handlers(servicer, ext)
    assert set(handlers) == {"ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata",
                             "ModelInfer", "ModelConfig", "ModelStatistics", "RepositoryIndex",
                             "RepositoryModelLoad", "RepositoryModelUnload"}
    assert handlers["ModelReady"].unary_unary == ext.ModelReady
    assert handlers["ModelInfer"].unary_unary == servicer.ModelInfer
    # the load request is decoded in Triton's framing: the model name from field 2
    assert handlers["RepositoryModelLoad"].request_deserializer(b"\x12\x01m").model_name == "m"
