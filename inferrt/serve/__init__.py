"""``inferrt serve``: Triton-style model repositories served over KServe's Open Inference Protocol (v2, HTTP and
gRPC) by kserve's model server, with dynamic batching, instance groups and Triton's Prometheus metrics.

Needs the ``serve`` extra (``pip install inferrt[serve]``); importing this package does not import kserve.
"""
from .model_config import parse_model_config
from .repository import ModelEntry, scan_repository

__all__ = ["parse_model_config", "scan_repository", "ModelEntry"]
