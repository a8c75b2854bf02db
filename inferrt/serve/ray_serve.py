"""``inferrt serve --ray``: each repository model runs as a Ray Serve deployment (replicas, autoscaling, GPUs per
replica) behind kserve's model server, through kserve's Ray integration (``kserve.ray.RayModel`` forwards each
v2 request to the deployment's handle).

    HTTP/gRPC (kserve front) ─> RayModel(name) ─> DeploymentHandle ─> replica k: InferrtModel (own engine,
                                                                       instances, dynamic batcher)

Each replica reads the model folder itself (nothing but the path crosses to the replica), so the same repository
serves from one process, several GPUs or a Ray cluster (``--ray-address``). Requests are batched inside each
replica; Triton's nv_* metrics and the config/stats routes are per replica and not served by the front.
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger("inferrt.serve")


class InferrtReplica:
    """The body of one replica: a loaded InferrtModel for the model folder ``path``."""

    def __init__(self, path: str):
        from .metrics import server_metrics
        from .model import InferrtModel
        from .repository import read_model

        logging.getLogger("inferrt.serve").setLevel(logging.INFO)
        self.model = InferrtModel(read_model(path), server_metrics())
        self.model.load()

    def load(self) -> bool:
        return self.model.ready

    async def __call__(self, body, headers=None):
        # kserve's Model.__call__: validate + predict; returns (response, response headers) as RayModel expects
        return await self.model(body, headers=headers)


def _front_model(name: str, handle):
    """kserve's RayModel, answering a replica's protocol error (bad request) as that error rather than as Ray's
    wrapper with the replica's traceback."""
    from .kserve_import import import_kserve

    import_kserve()
    from kserve.ray import RayModel
    from ray.exceptions import RayTaskError

    class InferrtRayModel(RayModel):
        async def __call__(self, body, headers=None, **kwargs):
            try:
                return await super().__call__(body, headers=headers, **kwargs)
            except RayTaskError as e:
                cause = getattr(e, "cause", None)
                if isinstance(cause, Exception):
                    raise cause from None
                raise

    return InferrtRayModel(name, handle)


def deployment_options(replicas: int | None = None, min_replicas: int | None = None,
                       max_replicas: int | None = None, gpus_per_replica: float | None = None,
                       target_ongoing_requests: float | None = None) -> dict:
    """Ray Serve deployment options: fixed ``replicas`` (default 1), or autoscaling between ``min_replicas``
    (default 1) and ``max_replicas`` on in-flight requests per replica (``target_ongoing_requests``, default 64).
    ValueError naming the flag for a contradictory or out-of-range combination."""
    gpus = 0.0 if gpus_per_replica is None else gpus_per_replica
    if gpus < 0:
        raise ValueError(f"--ray-gpus-per-replica must be >= 0, got {gpus}")
    opts = {"ray_actor_options": {"num_gpus": gpus, "num_cpus": 1}}
    if max_replicas is None:
        if min_replicas is not None or target_ongoing_requests is not None:
            raise ValueError("--ray-min-replicas and --ray-target-ongoing-requests are autoscaling settings: "
                             "give --ray-max-replicas too")
        n = 1 if replicas is None else replicas
        if n < 1:
            raise ValueError(f"--ray-replicas must be >= 1, got {n}")
        opts["num_replicas"] = n
        return opts
    if replicas is not None:
        raise ValueError("--ray-replicas fixes the replica count; --ray-max-replicas autoscales: give one of them")
    lo = 1 if min_replicas is None else min_replicas
    if max_replicas < 1 or not 0 <= lo <= max_replicas:
        raise ValueError(f"--ray-min-replicas {lo} / --ray-max-replicas {max_replicas}: need 0 <= min <= max, max >= 1")
    target = 64.0 if target_ongoing_requests is None else target_ongoing_requests
    if target <= 0:
        raise ValueError(f"--ray-target-ongoing-requests must be > 0, got {target}")
    opts["autoscaling_config"] = {"min_replicas": lo, "max_replicas": max_replicas, "initial_replicas": max(lo, 1),
                                  "target_ongoing_requests": target}
    return opts


def ray_models(repository: str, options: dict, address: str | None = None) -> list:
    """kserve RayModels, one Ray Serve application per repository model, each deployed and ready."""
    import ray
    from ray import serve

    from .repository import scan_repository

    entries = scan_repository(repository)   # config errors are reported before Ray starts anything
    if not ray.is_initialized():
        # the workers import inferrt from where this process does
        here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        ray.init(address=address, runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(
            p for p in (here, os.environ.get("PYTHONPATH", "")) if p)}}, log_to_driver=True)
    serve.start(proxy_location="Disabled")   # kserve's server is the ingress
    models = []
    for entry in entries:
        app = serve.deployment(InferrtReplica, name=entry.name, **options).bind(os.path.abspath(entry.path))
        handle = serve.run(app, name=entry.name, route_prefix=None)
        model = _front_model(entry.name, handle)
        model.load()
        log.info("model %r deployed on Ray Serve (%s)", entry.name,
                 options.get("autoscaling_config") or f"{options['num_replicas']} replica(s)")
        models.append(model)
    return models
