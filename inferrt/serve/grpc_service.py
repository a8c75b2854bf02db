"""Triton's gRPC service (``inference.GRPCInferenceService``) on kserve's gRPC server.

kserve's servicer answers the methods whose messages are Triton's own (health, server and model metadata,
ModelInfer). This module adds what kserve lacks or frames differently, so ``tritonclient.grpc`` works whole:

    ModelReady         ready: false for a model that is not loaded (kserve answers NOT_FOUND)
    ModelConfig        the served config.pbtxt (inputs/outputs completed from the engine)
    ModelStatistics    Triton's statistics extension (the same figures as GET /v2/models/<m>/stats)
    RepositoryIndex    every model folder with its state
    RepositoryModelLoad / RepositoryModelUnload
                       Triton's requests name the model in field 2 (field 1 is the repository), kserve's read
                       field 1, so tritonclient's load_model would reach kserve with no model name

``InferrtModelServer`` is kserve's ModelServer with this service as its gRPC server and InferrtDataPlane (binary
HTTP inputs decoded without Python lists) as its data plane.
"""
from __future__ import annotations

import os
from concurrent import futures

import grpc
from grpc import aio
from grpc_interceptor.exceptions import InvalidArgument, NotFound

from .kserve_import import import_kserve

kserve = import_kserve()
from kserve import model_server  # noqa: E402
from kserve.errors import ModelNotFound  # noqa: E402
from kserve.protocol.grpc import grpc_predict_v2_pb2 as kpb  # noqa: E402
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor  # noqa: E402
from kserve.protocol.grpc.server import GRPCServer  # noqa: E402
from kserve.protocol.grpc.servicer import InferenceServicer  # noqa: E402

from . import grpc_messages as tpb  # noqa: E402
from .binary_request import InferrtDataPlane  # noqa: E402

SERVICE = "inference.GRPCInferenceService"
#: kserve's methods whose request and response messages match Triton's
KSERVE_METHODS = ("ServerLive", "ServerReady", "ServerMetadata", "ModelMetadata", "ModelInfer")


class TritonExtensions:
    """The Triton methods kserve lacks, on an InferrtModelRepository and its ServeMetrics."""

    def __init__(self, registry, metrics, repository_extension):
        self.registry, self.metrics, self.repository_extension = registry, metrics, repository_extension

    def _repository(self, name: str) -> None:
        root = os.path.normpath(self.registry.root)
        if name and name not in (self.registry.root, root, os.path.basename(root)):
            raise NotFound(f"repository {name!r} is not served; this server serves {root!r} (leave "
                           f"repository_name empty)")

    def _model(self, name: str, version: str):
        m = self.registry.get_model(name)
        if m is None or not m.ready:
            raise ModelNotFound(name)
        if version and version != m.version_label:
            raise NotFound(f"model {name!r} has no version {version!r} loaded; version {m.version_label} is served")
        return m

    async def ModelReady(self, request, context):
        # Triton answers ready: false for a model that is not loaded (kserve's servicer answers NOT_FOUND, which
        # tritonclient.grpc's is_model_ready raises instead of returning False)
        m = self.registry.get_model(request.name)
        ready = m is not None and m.ready and request.version in ("", m.version_label) and await m.healthy()
        return kpb.ModelReadyResponse(ready=ready)

    async def ModelConfig(self, request, context):
        return tpb.ModelConfigResponse(config=self._model(request.name, request.version).completed_config())

    async def ModelStatistics(self, request, context):
        if request.name:
            models = [self._model(request.name, request.version)]
        elif request.version:
            raise InvalidArgument("ModelStatistics: a version needs a model name")
        else:
            models = [m for m in self.registry.get_models().values() if m.ready]
        return tpb.ModelStatisticsResponse(model_stats=[
            tpb.statistics_message(self.metrics.statistics(m.name, m.version_label)) for m in models])

    async def RepositoryIndex(self, request, context):
        self._repository(request.repository_name)
        rows = await self.registry.index(ready_only=request.ready)
        return tpb.RepositoryIndexResponse(models=[tpb.RepositoryIndexResponse.ModelIndex(**row) for row in rows])

    def _model_name(self, request, method: str, understood: tuple[str, ...]) -> str:
        self._repository(request.repository_name)
        other = sorted(set(request.parameters) - set(understood))
        if other:
            raise InvalidArgument(f"{method}: parameters {other} are not supported (inferrt serve loads a model "
                                  f"from its repository folder only: no config override or model files); change "
                                  f"the files in the repository and load it again")
        if not request.model_name:
            raise InvalidArgument(f"{method}: model_name is empty")
        return request.model_name

    async def RepositoryModelLoad(self, request, context):
        await self.repository_extension.load(self._model_name(request, "RepositoryModelLoad", ()))
        return tpb.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(self, request, context):
        # unload_dependents (tritonclient always sends it) concerns ensembles' composing models; inferrt serve has
        # no ensembles, so no model depends on another and either value unloads just the named model
        name = self._model_name(request, "RepositoryModelUnload", ("unload_dependents",))
        await self.repository_extension.unload(name)
        return tpb.RepositoryModelUnloadResponse()


def method_handlers(servicer, extensions: TritonExtensions) -> dict:
    """{method: handler} of the whole service: kserve's servicer for KSERVE_METHODS, ``extensions`` for the rest."""
    def handler(fn, request, response):
        return grpc.unary_unary_rpc_method_handler(fn, request_deserializer=request.FromString,
                                                   response_serializer=response.SerializeToString)

    handlers = {m: handler(getattr(servicer, m), getattr(kpb, f"{m}Request"), getattr(kpb, f"{m}Response"))
                for m in KSERVE_METHODS}
    handlers["ModelReady"] = handler(extensions.ModelReady, kpb.ModelReadyRequest, kpb.ModelReadyResponse)
    for m in ("ModelConfig", "ModelStatistics", "RepositoryIndex", "RepositoryModelLoad", "RepositoryModelUnload"):
        handlers[m] = handler(getattr(extensions, m), getattr(tpb, f"{m}Request"), getattr(tpb, f"{m}Response"))
    return handlers


class TritonGRPCServer(GRPCServer):
    """kserve's gRPC server (its interceptors and message size limits) serving ``method_handlers``."""

    def __init__(self, port, data_plane, repository_extension, registry, metrics, kwargs, grace_period=30,
                 log_requests=False):
        super().__init__(port, data_plane, repository_extension, kwargs, grace_period=grace_period)
        self._extensions = TritonExtensions(registry, metrics, repository_extension)
        self._log_requests = log_requests

    async def start(self, max_workers):
        # kserve's LoggingInterceptor logs every call's method: only with log_requests
        interceptors = ((LoggingInterceptor(),) if self._log_requests else ()) + (ExceptionToStatusInterceptor(),)
        self._server = aio.server(
            futures.ThreadPoolExecutor(max_workers=max_workers),
            interceptors=interceptors,
            options=[("grpc.max_send_message_length", self._kwargs.get("grpc_max_send_message_length")),
                     ("grpc.max_receive_message_length", self._kwargs.get("grpc_max_receive_message_length"))])
        handlers = method_handlers(InferenceServicer(self._data_plane, self._model_repository_extension),
                                   self._extensions)
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        self._server.add_registered_method_handlers(SERVICE, handlers)
        self._server.add_insecure_port(f"[::]:{self._port}")
        await self._server.start()
        await self._server.wait_for_termination()


class InferrtModelServer(kserve.ModelServer):
    """kserve's ModelServer whose gRPC server is TritonGRPCServer (``grpc=False``: HTTP only). ``log_requests``:
    kserve's per-request lines (access log, latency and timing traces, gRPC method log); off, as Triton logs no
    requests by default (at thousands of requests a second they cost the front more than anything else)."""

    def __init__(self, registry, metrics, *, http_port: int, grpc_port: int, grpc: bool = True,
                 log_requests: bool = False):
        super().__init__(http_port=http_port, grpc_port=grpc_port, enable_grpc=False, registered_models=registry,
                         enable_latency_logging=log_requests)
        self.dataplane = InferrtDataPlane(model_registry=registry)   # binary inputs stay bytes (binary_request.py)
        quiet_request_logs(log_requests)
        self._triton_grpc = grpc
        self._log_requests = log_requests
        self._metrics = metrics

    def start(self, models) -> None:
        if self._triton_grpc:
            # kserve's stop() shuts down the server it finds in _grpc_server
            self._grpc_server = TritonGRPCServer(self.grpc_port, self.dataplane, self.model_repository_extension,
                                                 self.registered_models, self._metrics, vars(model_server.args),
                                                 grace_period=self.grace_period, log_requests=self._log_requests)
            self.servers.append(self._grpc_server.start(self.max_threads))
        super().start(models)


def quiet_request_logs(log_requests: bool) -> None:
    """kserve's per-request loggers (uvicorn's access log, kserve.trace's latency and timing lines) at INFO with
    ``log_requests``, else WARNING. Call after ModelServer() has configured logging (it sets their levels)."""
    import logging

    for name in ("uvicorn.access", "kserve.trace"):
        logging.getLogger(name).setLevel(logging.INFO if log_requests else logging.WARNING)
