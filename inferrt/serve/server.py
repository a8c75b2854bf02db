"""Start kserve's ModelServer on a repository's models."""
from __future__ import annotations

import logging
import sys


def build_models(repository: str, logger=None) -> list:
    """A loaded InferrtModel per repository model (engines built or loaded, instances started, warmed up)."""
    _import_kserve()
    from .metrics import server_metrics
    from .model import InferrtModel
    from .repository import scan_repository

    metrics = server_metrics()
    models = []
    for entry in scan_repository(repository):
        m = InferrtModel(entry, metrics, logger)
        m.load()
        models.append(m)
    return models


def serve(repository: str, http_port: int = 8000, grpc_port: int = 8001, grpc: bool = True, workers: int = 1,
          logger=None) -> None:
    """Serve until SIGINT/SIGTERM. kserve reads its own flags from sys.argv when imported, so inferrt's are hidden
    from it."""
    ModelServer = _import_kserve().ModelServer
    from kserve import model_server

    from .http_compat import install

    logging.getLogger("inferrt.serve").setLevel(logging.INFO)
    models = build_models(repository, logger)
    install(model_server.app)
    ModelServer(http_port=http_port, grpc_port=grpc_port, enable_grpc=grpc, workers=workers).start(models)


def _import_kserve():
    """kserve parses sys.argv when first imported; inferrt's own flags are hidden from it."""
    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        import kserve
    finally:
        sys.argv = argv
    return kserve
