"""The messages of Triton's gRPC extensions that kserve's gRPC service lacks or frames differently, built in code
(descriptor_pb2, field numbers as in Triton's ``grpc_service.proto``) in the pool of the served ``ModelConfig``:

    ModelConfigRequest { name = 1, version = 2 }            ModelConfigResponse { config = 1 (ModelConfig) }
    ModelStatisticsRequest { name = 1, version = 2 }        ModelStatisticsResponse { model_stats = 1 [...] }
    RepositoryIndexRequest { repository_name = 1, ready = 2 }
    RepositoryIndexResponse { models = 1 [ModelIndex { name = 1, version = 2, state = 3, reason = 4 }] }
    RepositoryModelLoadRequest / RepositoryModelUnloadRequest { repository_name = 1, model_name = 2,
        parameters = 3 (map<string, ModelRepositoryParameter { bool_param = 1, int64_param = 2,
                                                               string_param = 3, bytes_param = 4 }>) }
                                                            (responses are empty)
"""
from __future__ import annotations

from google.protobuf import descriptor_pb2, json_format, message_factory

from .model_config import ModelConfig

_F = descriptor_pb2.FieldDescriptorProto
_PKG = "inferrt.serve.triton"
_POOL = ModelConfig.DESCRIPTOR.file.pool


def _add(msg, name, number, ftype, repeated=False, type_name=None):
    f = msg.field.add(name=name, number=number, type=ftype,
                      label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
    if type_name:
        f.type_name = f".{_PKG}.{type_name}"


def _file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(name="inferrt_serve_grpc_extensions.proto", package=_PKG,
                                            syntax="proto3", dependency=[ModelConfig.DESCRIPTOR.file.name])
    S, U64, B, M, BYTES = _F.TYPE_STRING, _F.TYPE_UINT64, _F.TYPE_BOOL, _F.TYPE_MESSAGE, _F.TYPE_BYTES

    for name in ("ModelConfigRequest", "ModelStatisticsRequest"):
        m = fd.message_type.add(name=name)
        _add(m, "name", 1, S)
        _add(m, "version", 2, S)
    _add(fd.message_type.add(name="ModelConfigResponse"), "config", 1, M, type_name="ModelConfig")

    d = fd.message_type.add(name="StatisticDuration")
    _add(d, "count", 1, U64)
    _add(d, "ns", 2, U64)
    s = fd.message_type.add(name="InferStatistics")
    for i, n in enumerate(("success", "fail", "queue", "compute_input", "compute_infer", "compute_output"), 1):
        _add(s, n, i, M, type_name="StatisticDuration")
    b = fd.message_type.add(name="InferBatchStatistics")
    _add(b, "batch_size", 1, U64)
    for i, n in enumerate(("compute_input", "compute_infer", "compute_output"), 2):
        _add(b, n, i, M, type_name="StatisticDuration")
    ms = fd.message_type.add(name="ModelStatistics")
    _add(ms, "name", 1, S)
    _add(ms, "version", 2, S)
    _add(ms, "last_inference", 3, U64)
    _add(ms, "inference_count", 4, U64)
    _add(ms, "execution_count", 5, U64)
    _add(ms, "inference_stats", 6, M, type_name="InferStatistics")
    _add(ms, "batch_stats", 7, M, repeated=True, type_name="InferBatchStatistics")
    _add(fd.message_type.add(name="ModelStatisticsResponse"), "model_stats", 1, M, repeated=True,
         type_name="ModelStatistics")

    r = fd.message_type.add(name="RepositoryIndexRequest")
    _add(r, "repository_name", 1, S)
    _add(r, "ready", 2, B)
    ri = fd.message_type.add(name="RepositoryIndexResponse")
    mi = ri.nested_type.add(name="ModelIndex")
    for i, n in enumerate(("name", "version", "state", "reason"), 1):
        _add(mi, n, i, S)
    _add(ri, "models", 1, M, repeated=True, type_name="RepositoryIndexResponse.ModelIndex")

    p = fd.message_type.add(name="ModelRepositoryParameter")
    p.oneof_decl.add(name="parameter_choice")
    for i, (n, t) in enumerate((("bool_param", B), ("int64_param", _F.TYPE_INT64), ("string_param", S),
                                ("bytes_param", BYTES)), 1):
        p.field.add(name=n, number=i, type=t, label=_F.LABEL_OPTIONAL, oneof_index=0)
    for verb in ("Load", "Unload"):
        m = fd.message_type.add(name=f"RepositoryModel{verb}Request")
        entry = m.nested_type.add(name="ParametersEntry")
        entry.options.map_entry = True
        _add(entry, "key", 1, S)
        _add(entry, "value", 2, M, type_name="ModelRepositoryParameter")
        _add(m, "repository_name", 1, S)
        _add(m, "model_name", 2, S)
        _add(m, "parameters", 3, M, repeated=True, type_name=f"RepositoryModel{verb}Request.ParametersEntry")
        fd.message_type.add(name=f"RepositoryModel{verb}Response")
    return fd


_POOL.Add(_file())


def _cls(name):
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{_PKG}.{name}"))


ModelConfigRequest, ModelConfigResponse = _cls("ModelConfigRequest"), _cls("ModelConfigResponse")
ModelStatisticsRequest, ModelStatisticsResponse = _cls("ModelStatisticsRequest"), _cls("ModelStatisticsResponse")
RepositoryIndexRequest, RepositoryIndexResponse = _cls("RepositoryIndexRequest"), _cls("RepositoryIndexResponse")
RepositoryModelLoadRequest, RepositoryModelLoadResponse = (_cls("RepositoryModelLoadRequest"),
                                                           _cls("RepositoryModelLoadResponse"))
RepositoryModelUnloadRequest, RepositoryModelUnloadResponse = (_cls("RepositoryModelUnloadRequest"),
                                                               _cls("RepositoryModelUnloadResponse"))


def statistics_message(stats: dict):
    """A ModelStatistics message from the statistics extension's JSON entry (ServeMetrics.statistics)."""
    msg = _cls("ModelStatistics")()
    json_format.ParseDict(stats, msg)
    return msg
