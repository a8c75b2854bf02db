"""Triton's Prometheus metrics (names as Triton exports them, counters of microseconds for durations), collected by
prometheus-client and served by kserve's ``/metrics`` route:

    nv_inference_request_success / _failure   requests per model and version
    nv_inference_count / nv_inference_exec_count   inferences (batch items) and executions: count / exec = avg batch
    nv_inference_request_duration_us / queue_duration_us / compute_infer_duration_us   cumulative microseconds
    nv_gpu_memory_used_bytes   CUDA memory held by this process per GPU (absent without a GPU)
"""
from __future__ import annotations

import threading

from prometheus_client.core import GaugeMetricFamily, Metric

_COUNTERS = {
    "nv_inference_request_success": "Number of successful inference requests, all batch sizes",
    "nv_inference_request_failure": "Number of failed inference requests, all batch sizes",
    "nv_inference_count": "Number of inferences performed (a batch of n counts n)",
    "nv_inference_exec_count": "Number of model executions performed (one per batch)",
    "nv_inference_request_duration_us": "Cumulative inference request duration in microseconds (queue included)",
    "nv_inference_queue_duration_us": "Cumulative inference queuing duration in microseconds",
    "nv_inference_compute_infer_duration_us": "Cumulative compute inference duration in microseconds",
}


class ServeMetrics:
    """Per-(model, version) counters; ``collect`` is prometheus-client's collector interface."""

    def __init__(self):
        self._lock = threading.Lock()
        self._values: dict[tuple[str, str], dict[str, float]] = {}
        self._batches: dict[tuple[str, str], dict[int, list]] = {}   # batch size -> [executions, compute ns]
        self._last: dict[tuple[str, str], int] = {}                  # last inference, ms since the epoch

    def add(self, model: str, version: str, **increments: float) -> None:
        with self._lock:
            row = self._values.setdefault((model, version), dict.fromkeys(_COUNTERS, 0.0))
            for k, v in increments.items():
                row[k] += v

    def add_batch(self, model: str, version: str, batch_size: int, compute_s: float) -> None:
        import time

        with self._lock:
            row = self._batches.setdefault((model, version), {}).setdefault(batch_size, [0, 0])
            row[0] += 1
            row[1] += int(compute_s * 1e9)
            self._last[(model, version)] = int(time.time() * 1000)

    def statistics(self, model: str, version: str) -> dict:
        """Triton's statistics extension entry of one model version (durations in ns)."""
        with self._lock:
            v = dict(self._values.get((model, version), dict.fromkeys(_COUNTERS, 0.0)))
            batches = {k: list(r) for k, r in self._batches.get((model, version), {}).items()}
            last = self._last.get((model, version), 0)
        ok, fail = int(v["nv_inference_request_success"]), int(v["nv_inference_request_failure"])
        ns = lambda key: int(v[key] * 1000)  # noqa: E731
        return {
            "name": model, "version": version, "last_inference": last,
            "inference_count": int(v["nv_inference_count"]), "execution_count": int(v["nv_inference_exec_count"]),
            "inference_stats": {"success": {"count": ok, "ns": ns("nv_inference_request_duration_us")},
                                "fail": {"count": fail, "ns": 0},
                                "queue": {"count": ok, "ns": ns("nv_inference_queue_duration_us")},
                                "compute_infer": {"count": ok, "ns": ns("nv_inference_compute_infer_duration_us")}},
            "batch_stats": [{"batch_size": b, "compute_infer": {"count": r[0], "ns": r[1]}}
                            for b, r in sorted(batches.items())],
        }

    def value(self, model: str, version: str, name: str) -> float:
        with self._lock:
            return self._values.get((model, version), {}).get(name, 0.0)

    def collect(self):
        with self._lock:
            rows = {k: dict(v) for k, v in self._values.items()}
        for name, doc in _COUNTERS.items():
            # "unknown" (exposed as untyped): prometheus-client would rename a counter to <name>_total, and these
            # keep Triton's names so Triton dashboards and alerts work unchanged; the values only grow
            m = Metric(name, doc, "unknown")
            for (model, version), row in sorted(rows.items()):
                m.add_sample(name, {"model": model, "version": version}, row[name])
            yield m
        gpu = _gpu_memory()
        if gpu:
            g = GaugeMetricFamily("nv_gpu_memory_used_bytes", "GPU memory held by this server (CUDA caching "
                                  "allocator, reserved bytes)", labels=["gpu_uuid"])
            for uuid, used in gpu:
                g.add_metric([uuid], used)
            yield g


def _gpu_memory() -> list[tuple[str, float]]:
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        uuid = str(getattr(props, "uuid", f"cuda:{i}"))
        out.append((f"GPU-{uuid}" if not uuid.startswith("GPU-") else uuid, float(torch.cuda.memory_reserved(i))))
    return out


_metrics: ServeMetrics | None = None


def server_metrics() -> ServeMetrics:
    """The process's metrics, registered with prometheus-client's default registry on first use."""
    global _metrics
    if _metrics is None:
        from prometheus_client import REGISTRY

        _metrics = ServeMetrics()
        REGISTRY.register(_metrics)
    return _metrics
