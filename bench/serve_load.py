"""Bounded load test of ``inferrt serve`` on localhost (stops by itself).

    python bench/serve_load.py --model resnet50 --fp16 --clients 64 --seconds 30        # the issue's target (GPU)
    python bench/serve_load.py --model mnist --clients 8 --seconds 5                    # quick CPU check
    python bench/serve_load.py --model resnet50 --fp16 --gpus 0,1 --client-batch 8      # instances on two GPUs

Builds the engine (random weights, bench/models.py), measures the engine's own batch-``max_batch`` throughput in
this process, then serves the plan with dynamic batching and drives it with ``--clients`` concurrent batch-1
clients (binary tensor data, spread over ``--client-procs`` processes so the clients are not the bottleneck) for
``--seconds`` (``--client-batch`` items per request; ``--instances`` per GPU of ``--gpus``); the clock starts once
every client process is up. Prints one JSON line: requests/s, the served items/s as a ratio of the engine's
throughput and whether it reaches ``--target`` (0.8) with no failed request, p50/p99 latency, the average batch size
from the server's metrics (nv_inference_count / nv_inference_exec_count), and where a request's time goes on the
server (its whole stay, the queued part, its batch's execution; the rest of the client's latency is HTTP).
``serve_and_drive`` is the served half, reused by bench/multigpu.py.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _engine(model: str, fp16: bool, max_batch: int, device: str):
    import inferrt

    if model == "mnist":
        from inferrt.builder.builder import Builder
        from inferrt.logger import Logger, Severity
        from inferrt.models.mnist import build_mnist_network

        net = build_mnist_network(Builder(Logger(Severity.WARNING)).create_network(0))
        return inferrt.build_engine(net, profiles={"x": [(1, 1, 28, 28), (max_batch, 1, 28, 28)
                                                         , (max_batch, 1, 28, 28)]}, fp16=fp16, device=device)
    from bench.models import export_onnx, make_model

    m, inputs, names, dyn = make_model(model, 1)
    shape = tuple(inputs[0].shape[1:])
    onnx_bytes = export_onnx(m, inputs, names, dyn)
    return inferrt.build_engine(onnx_bytes, profiles={names[0]: [(1, *shape), (max_batch, *shape),
                                                                 (max_batch, *shape)]}, fp16=fp16, device=device)


def _engine_throughput(engine, max_batch: int, seconds: float) -> float:
    import torch

    name = engine.input_names[0]
    shape = (max_batch, *tuple(engine.get_tensor_shape(name))[1:])
    x = torch.randn(shape, device=engine.device)
    ctx = engine.create_execution_context()
    for _ in range(3):
        ctx.infer({name: x})
    sync = torch.cuda.synchronize if engine.device.type == "cuda" else (lambda: None)
    sync()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        ctx.infer({name: x})
        n += 1
    sync()
    return n * max_batch / (time.perf_counter() - t0)


def _client_proc(url, model, name, shape, threads, seconds, out, batch=1, go=None, datatype="FP32"):
    """``threads`` closed-loop clients in one process: each sends its request again as soon as the answer came.
    They start together when ``go`` is set (after every client process is up) and stop ``seconds`` later."""
    import requests

    dtype = {"FP32": np.float32, "FP16": np.float16}[datatype]
    x = np.random.default_rng(os.getpid()).standard_normal((batch, *shape)).astype(dtype)
    header = json.dumps({"inputs": [{"name": name, "datatype": datatype, "shape": list(x.shape),
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "parameters": {"binary_data_output": True}}).encode()
    body = header + x.tobytes()
    hdrs = {"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"}
    lat, errors, last, lock = [], [0], [0.0], threading.Lock()
    sessions = [requests.Session() for _ in range(threads)]
    out.put("ready")
    go.wait(timeout=600)
    stop = time.perf_counter() + seconds

    def run(s):
        mine = []
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                ok = s.post(f"{url}/v2/models/{model}/infer", data=body, headers=hdrs, timeout=60).status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                mine.append(time.perf_counter() - t0)
            else:
                with lock:
                    errors[0] += 1
        with lock:
            lat.extend(mine)
            last[0] = max(last[0], time.time())

    ts = [threading.Thread(target=run, args=(s,)) for s in sessions]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put((lat, errors[0], last[0]))


def _metric(url, name, model):
    import requests

    text = requests.get(f"{url}/metrics", timeout=10).text
    m = re.search(rf'^{name}{{model="{model}",version="1"}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def start_server(repo: str, http_port: int, log, *extra: str) -> subprocess.Popen:
    """``python -m inferrt serve`` on model repository ``repo`` (HTTP on ``http_port``, no gRPC, ``extra`` flags),
    this checkout first on PYTHONPATH, stdout and stderr to the open file ``log``."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "inferrt", "serve", "--model-repository", str(repo),
                             "--http-port", str(http_port), "--no-grpc", *extra], stdout=log,
                            stderr=subprocess.STDOUT, env=env)


def wait_ready(url: str, proc: subprocess.Popen, timeout_s: float, poll_s: float = 0.5) -> bool:
    """Poll ``url``/v2/health/ready until it answers 200 (True), or ``proc`` exits or ``timeout_s`` passes (False)."""
    import requests

    deadline = time.time() + timeout_s
    while True:
        try:
            if requests.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return True
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            return False
        time.sleep(poll_s)


def serve_and_drive(plan_path: str, name: str, shape: tuple, *, max_batch: int, delay_us: int, instance_group: str,
                    clients: int, client_procs: int, seconds: float, client_batch: int = 1,
                    datatype: str = "FP32") -> dict:
    """Serve ``plan_path`` as model "m" (dynamic batching up to ``max_batch``, ``instance_group`` as written in
    config.pbtxt, e.g. ``{ count: 2 kind: KIND_GPU gpus: [ 0, 1 ] }``) from a fresh ``inferrt serve`` process and
    drive it for ``seconds`` with ``clients`` concurrent clients of ``client_batch`` items per request. Returns the
    clients' figures (requests, errors, requests/s, items/s, p50/p99 ms) and the server's average batch; None when
    the server did not come up (its log's tail is printed)."""
    with tempfile.TemporaryDirectory() as repo:
        os.makedirs(os.path.join(repo, "m", "1"))
        os.symlink(os.path.abspath(plan_path), os.path.join(repo, "m", "1", "model.plan"))
        with open(os.path.join(repo, "m", "config.pbtxt"), "w") as f:
            f.write(f'platform: "tensorrt_plan" max_batch_size: {max_batch}\n'
                    f"dynamic_batching {{ max_queue_delay_microseconds: {delay_us} }}\n"
                    f"instance_group [ {instance_group} ]\n")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = open(os.path.join(repo, "server.log"), "w")
        server = start_server(repo, port, log)
        url = f"http://127.0.0.1:{port}"
        try:
            if not wait_ready(url, server, 300):
                print(open(os.path.join(repo, "server.log")).read()[-3000:], file=sys.stderr)
                return None
            names = ("nv_inference_count", "nv_inference_exec_count", "nv_inference_request_success",
                     "nv_inference_request_duration_us", "nv_inference_queue_duration_us",
                     "nv_inference_compute_infer_duration_us")
            before = {n: _metric(url, n, "m") for n in names}
            procs = max(1, min(client_procs, clients))
            ctx = mp.get_context("spawn")
            out, go = ctx.Queue(), ctx.Event()
            workers = [ctx.Process(target=_client_proc, daemon=True, args=(
                url, "m", name, shape, clients // procs + (i < clients % procs), seconds, out, client_batch, go,
                datatype)) for i in range(procs)]
            for w in workers:
                w.start()
            for _ in workers:   # every client process is up (imports, sessions) before the clock starts
                if out.get(timeout=300) != "ready":
                    raise RuntimeError("a client process did not start")
            t0 = time.time()
            go.set()
            lat, errors, end = [], 0, t0
            for _ in workers:
                got, err, last = out.get(timeout=seconds + 120)
                lat += got
                errors += err
                end = max(end, last)
            elapsed = end - t0
            for w in workers:
                w.join(timeout=30)
            d = {n: _metric(url, n, "m") - before[n] for n in names}
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
    lat_ms = np.array(lat) * 1e3
    ok, execs = d["nv_inference_request_success"], d["nv_inference_exec_count"]
    return {"seconds": round(elapsed, 2), "requests": len(lat), "errors": errors,
            "requests_per_s": round(len(lat) / elapsed, 1), "items_per_s": round(len(lat) * client_batch / elapsed, 1),
            "p50_ms": round(float(np.percentile(lat_ms, 50)), 2) if len(lat) else None,
            "p99_ms": round(float(np.percentile(lat_ms, 99)), 2) if len(lat) else None,
            "avg_batch": round(d["nv_inference_count"] / execs, 2) if execs else None,
            # where a request's time goes, from the server's own counters: its whole stay in the server, the part
            # of it queued, and one batch's execution (H2D, engine, D2H); the rest of the client's latency is HTTP
            "server_request_ms": round(d["nv_inference_request_duration_us"] / ok / 1e3, 3) if ok else None,
            "server_queue_ms": round(d["nv_inference_queue_duration_us"] / ok / 1e3, 3) if ok else None,
            "server_batch_ms": round(d["nv_inference_compute_infer_duration_us"] / ok / 1e3, 3) if ok else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet50", help="mnist, resnet50, mobilenet_v2, vit_b_16")
    p.add_argument("--fp16", action="store_true")
    p.add_argument("--device", default=None, help="cpu or cuda (default: what the machine has)")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--client-procs", type=int, default=8)
    p.add_argument("--client-batch", type=int, default=1, help="items per request (default 1)")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--max-batch", type=int, default=64)
    p.add_argument("--delay-us", type=int, default=2000, help="max_queue_delay_microseconds")
    p.add_argument("--instances", type=int, default=2, help="instances per device")
    p.add_argument("--gpus", default="0", help="GPUs of the KIND_GPU instance group, e.g. 0,1 (default 0)")
    p.add_argument("--target", type=float, default=0.8,
                   help="served items/s needed, as a share of the engine's batch-max throughput (default 0.8)")
    args = p.parse_args(argv)
    import torch

    import inferrt
    from inferrt.dtypes import torch_dtype

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    engine = _engine(args.model, args.fp16, args.max_batch, device)
    engine_ips = _engine_throughput(engine, args.max_batch, min(10.0, args.seconds))
    name = engine.input_names[0]
    shape = tuple(engine.get_tensor_shape(name))[1:]
    datatype = {torch.float32: "FP32", torch.float16: "FP16"}.get(torch_dtype(engine.get_tensor_dtype(name)))
    if datatype is None:
        print(f"serve_load: input {name!r} is {engine.get_tensor_dtype(name)}; the clients send FP32 or FP16",
              file=sys.stderr)
        return 2
    gpus = [int(g) for g in args.gpus.split(",") if g.strip()]
    kind = f"KIND_GPU gpus: [ {', '.join(map(str, gpus))} ]" if device == "cuda" else "KIND_CPU"
    with tempfile.TemporaryDirectory() as tmp:
        plan = os.path.join(tmp, "model.plan")
        inferrt.save_plan(engine, plan)
        del engine
        r = serve_and_drive(plan, name, shape, max_batch=args.max_batch, delay_us=args.delay_us,
                            instance_group=f"{{ count: {args.instances} kind: {kind} }}", clients=args.clients,
                            client_procs=args.client_procs, seconds=args.seconds, client_batch=args.client_batch,
                            datatype=datatype)
    if r is None:
        return 1
    ratio = r["items_per_s"] / engine_ips
    print(json.dumps({
        "model": args.model, "fp16": args.fp16, "device": device,
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "gpus": gpus if device == "cuda" else [], "clients": args.clients, "client_batch": args.client_batch,
        "seconds": r["seconds"], "requests": r["requests"], "errors": r["errors"],
        "requests_per_s": r["requests_per_s"], f"engine_batch{args.max_batch}_items_per_s": round(engine_ips, 1),
        f"engine_batch{args.max_batch}_ms": round(args.max_batch / engine_ips * 1e3, 3),
        "items_per_s": r["items_per_s"], "ratio": round(ratio, 3), "target": args.target,
        "meets_target": bool(ratio >= args.target and r["errors"] == 0),
        "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "avg_batch": r["avg_batch"],
        "server_request_ms": r["server_request_ms"], "server_queue_ms": r["server_queue_ms"],
        "server_batch_ms": r["server_batch_ms"],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
