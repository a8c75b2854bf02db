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
    p.add_argument("--log-requests", action="store_true",
                   help="log every request (kserve's access, latency and timing lines; off by default, as in "
                        "Triton: they cost the front more than anything else at high request rates)")
    r = p.add_argument_group("Ray Serve scale-out")
    r.add_argument("--ray", action="store_true",
                   help="run each model as a Ray Serve deployment behind the same HTTP/gRPC front")
    r.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster to join (default: start a local Ray instance)")
    r.add_argument("--ray-replicas", type=int, default=None, metavar="N",
                   help="fixed replicas per model (default 1; or autoscale with --ray-max-replicas)")
    r.add_argument("--ray-min-replicas", type=int, default=None, metavar="N", help="autoscaling lower bound")
    r.add_argument("--ray-max-replicas", type=int, default=None, metavar="N",
                   help="autoscaling upper bound (turns autoscaling on)")
    r.add_argument("--ray-gpus-per-replica", type=float, default=None, metavar="G",
                   help="GPUs Ray reserves for each replica (fractions share a GPU; default 0: CPU)")
    r.add_argument("--ray-target-ongoing-requests", type=float, default=None, metavar="R",
                   help="autoscaling target of in-flight requests per replica (default 64)")


def cmd_serve(args) -> int:
    import sys

    from ..errors import InferrtError

    from ..serve.server import serve, serve_ray

    ray_flags = [f for f in ("ray_address", "ray_replicas", "ray_min_replicas", "ray_max_replicas",
                             "ray_gpus_per_replica", "ray_target_ongoing_requests") if getattr(args, f) is not None]
    if ray_flags and not args.ray:
        print(f"inferrt serve: --{ray_flags[0].replace('_', '-')} needs --ray", file=sys.stderr)
        return 2
    try:
        if args.ray:
            from ..serve.ray_serve import deployment_options

            try:
                options = deployment_options(args.ray_replicas, args.ray_min_replicas, args.ray_max_replicas,
                                             args.ray_gpus_per_replica, args.ray_target_ongoing_requests)
            except ValueError as e:
                print(f"inferrt serve: {e}", file=sys.stderr)
                return 2
            serve_ray(args.model_repository, options, http_port=args.http_port, grpc_port=args.grpc_port,
                      grpc=not args.no_grpc, address=args.ray_address, log_requests=args.log_requests)
        else:
            serve(args.model_repository, http_port=args.http_port, grpc_port=args.grpc_port,
                  grpc=not args.no_grpc, log_requests=args.log_requests)
    except ModuleNotFoundError as e:
        if e.name not in ("kserve", "prometheus_client", "fastapi", "uvicorn", "grpc", "grpc_interceptor", "ray"):
            raise
        extra = "serve-ray" if e.name == "ray" else "serve"
        print(f"inferrt serve needs {e.name}: pip install 'inferrt[{extra}]'", file=sys.stderr)
        return 2
    except InferrtError as e:
        print(f"inferrt serve: {e}", file=sys.stderr)
        return 1
    return 0
