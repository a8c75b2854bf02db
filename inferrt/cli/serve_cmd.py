"""``inferrt serve --model-repository DIR``: a Triton-style repository served over KServe's v2 protocol (HTTP and
gRPC) with dynamic batching and Prometheus metrics (``/metrics`` on the HTTP port)."""
from __future__ import annotations


def add_serve_parser(sub) -> None:
    p = sub.add_parser("serve", allow_abbrev=False,
                       help="serve a Triton-style model repository (KServe v2 / Open Inference Protocol)")
    p.add_argument("--model-repository", required=True, metavar="DIR",
                   help="folder of <model>/config.pbtxt and <model>/<version>/model.plan|model.onnx")
    p.add_argument("--http-port", type=int, default=8000, metavar="N", help="HTTP port (default 8000)")
    p.add_argument("--grpc-port", type=int, default=8001, metavar="N", help="gRPC port (default 8001)")
    p.add_argument("--no-grpc", action="store_true", help="serve HTTP only")


def cmd_serve(args) -> int:
    import sys

    from ..errors import InferrtError

    from ..serve.server import serve

    try:
        serve(args.model_repository, http_port=args.http_port, grpc_port=args.grpc_port, grpc=not args.no_grpc)
    except ModuleNotFoundError as e:
        if e.name not in ("kserve", "prometheus_client", "fastapi", "uvicorn", "grpc"):
            raise
        print(f"inferrt serve needs kserve ({e.name} is missing): pip install 'inferrt[serve]'", file=sys.stderr)
        return 2
    except InferrtError as e:
        print(f"inferrt serve: {e}", file=sys.stderr)
        return 1
    return 0
