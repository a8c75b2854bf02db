"""Start kserve's ModelServer on a repository's models."""
from __future__ import annotations

import logging


def build_registry(repository: str, logger=None):
    """kserve's model registry on the repository, every model loaded (engines built or loaded, warmed up)."""
    _import_kserve()
    from .metrics import server_metrics
    from .registry import InferrtModelRepository

    registry = InferrtModelRepository(repository, server_metrics(), logger)
    registry.load_models()
    return registry


def serve(repository: str, http_port: int = 8000, grpc_port: int = 8001, grpc: bool = True, logger=None,
          log_requests: bool = False) -> None:
    """Serve until SIGINT/SIGTERM: kserve's HTTP server with Triton's routes, and Triton's gRPC service."""
    _import_kserve()
    from kserve import model_server

    from .grpc_service import InferrtModelServer
    from .http_compat import install
    from .metrics import server_metrics
    from .routes import add_triton_routes

    _log_to_stderr()
    registry = build_registry(repository, logger)
    install(model_server.app)
    add_triton_routes(model_server.app, registry, server_metrics())
    server = InferrtModelServer(registry, server_metrics(), http_port=http_port, grpc_port=grpc_port, grpc=grpc,
                                log_requests=log_requests)
    use_event_loop(server.event_loop)
    server.start(list(registry.get_models().values()))


def serve_ray(repository: str, options: dict, http_port: int = 8000, grpc_port: int = 8001, grpc: bool = True,
              address: str | None = None, log_requests: bool = False) -> None:
    """Serve the repository's models as Ray Serve deployments behind kserve's server until SIGINT/SIGTERM."""
    kserve = _import_kserve()
    from kserve import model_server

    from .binary_request import InferrtDataPlane
    from .grpc_service import quiet_request_logs
    from .http_compat import install
    from .ray_serve import ray_models

    _log_to_stderr()
    models = ray_models(repository, options, address)
    install(model_server.app)
    server = kserve.ModelServer(http_port=http_port, grpc_port=grpc_port, enable_grpc=grpc,
                                enable_latency_logging=log_requests)
    server.dataplane = InferrtDataPlane(model_registry=server.registered_models)   # binary inputs stay bytes
    quiet_request_logs(log_requests)   # kserve's own gRPC server (the front's) logs each call's method regardless
    use_event_loop(server.event_loop)
    server.start(models)


def use_event_loop(kind: str) -> str:
    """Make ``asyncio.run`` (which kserve's ModelServer.start serves in) use the event loop kserve's ``event_loop``
    setting names: ``auto`` (kserve's default: uvloop when installed, as uvicorn[standard] installs it), ``uvloop``
    or ``asyncio``. kserve hands the setting to uvicorn, but uvicorn applies it only when it starts the loop itself,
    which it does not inside ModelServer.start, so without this the server runs on asyncio's default loop.
    Returns the loop chosen."""
    import asyncio

    if kind == "asyncio":
        asyncio.set_event_loop_policy(None)
        return "asyncio"
    try:
        import uvloop
    except ImportError:
        if kind == "uvloop":
            raise ModuleNotFoundError("kserve's event_loop is 'uvloop' but uvloop is not installed: pip install uvloop",
                                      name="uvloop") from None
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    # ModelServer.start asks for the current loop (asyncio.get_event_loop) before asyncio.run; uvloop's policy
    # does not make one on demand as asyncio's does
    asyncio.set_event_loop(asyncio.new_event_loop())
    return "uvloop"


def _log_to_stderr() -> None:
    """inferrt.serve's lines (models loading, ready, warnings) on stderr beside kserve's: kserve configures its own
    loggers only, and the root logger has no handler."""
    log = logging.getLogger("inferrt.serve")
    log.setLevel(logging.INFO)
    if not log.handlers:
        h = logging.StreamHandler()
        h.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(process)s %(name)s %(levelname)s %(message)s",
                                         "%Y-%m-%d %H:%M:%S"))
        log.addHandler(h)
        log.propagate = False


def _import_kserve():
    from .kserve_import import import_kserve

    return import_kserve()
