"""Throughput on several GPUs of one host: one GPU against N, from one process and through ``inferrt serve``.

    python bench/multigpu.py                                   # ResNet-50 FP16, batch 64, every GPU of the host
    python bench/multigpu.py --gpus 0,1 --seconds 20 --no-serve
    python bench/multigpu.py --model mnist --seconds 3 --serve-seconds 5     # quick check of the script

The plan is built once, on the first GPU of ``--gpus``; every GPU then deserializes it (``inferrt.load_engine(plan,
device=g)``: a plan runs on every GPU of its kind).

In process: one thread per GPU, each with its own engine, execution context and CUDA stream, a batch of
``--batch`` resident on its GPU, and at most two batches in flight (CUDA graphs replay after the warm-up). All threads
start together; throughput is the images every thread finished over the longest thread's wall time. Measured with
the first GPU alone, then with all of ``--gpus``.

Served: bench/serve_load.py's ``serve_and_drive`` serves the same plan with dynamic batching up to ``--batch``, first
with ``--instances`` instances on the first GPU (``instance_group [ { count: k kind: KIND_GPU gpus: [ 0 ] } ]``),
then with ``--instances`` on each GPU of ``--gpus``, driven by ``--clients`` HTTP clients of ``--client-batch``
images per request. The HTTP front end (one process) copies every image; when its items/s stop growing with the
GPUs, the front end, not the GPUs, is the limit (``avg_batch`` near ``--batch`` and flat items/s show it).

Prints a table and one JSON line (the device's name included: compare figures only from one kind of machine).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
_WARM_UP = threading.Lock()


def _drive(engine, batch: int, seconds: float, start: threading.Barrier, results: dict, key) -> None:
    """One GPU's share: warm up, wait for the other GPUs, then run batches for ``seconds``."""
    import torch

    from inferrt.dtypes import torch_dtype

    ctx = engine.create_execution_context()
    stream = torch.cuda.Stream(device=engine.device)
    name = engine.input_names[0]
    shape = (batch, *tuple(engine.get_tensor_shape(name))[1:])
    x = torch.randn(shape, device=engine.device).to(torch_dtype(engine.get_tensor_dtype(name)))
    with _WARM_UP:   # first launches (kernel loading on this GPU) and the CUDA graph capture, one GPU at a time
        for _ in range(5):
            ctx.infer({name: x}, stream=stream)
        stream.synchronize()
    start.wait()
    pending: collections.deque = collections.deque()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        ctx.infer({name: x}, stream=stream)
        done = torch.cuda.Event()
        done.record(stream)
        pending.append(done)
        if len(pending) > 2:   # two batches in flight: the GPU never waits for the host, the queue stays short
            pending.popleft().synchronize()
        n += 1
    stream.synchronize()
    results[key] = (n * batch, time.perf_counter() - t0)


def engine_throughput(plan: bytes, gpus: list[int], batch: int, seconds: float) -> dict:
    """Images/s of one engine per GPU of ``gpus`` driven at once from this process, and each GPU's share."""
    import inferrt
    from inferrt.cli.exec_run import run_threads

    engines = [inferrt.load_engine(plan, device=g) for g in gpus]
    start = threading.Barrier(len(gpus))
    results: dict = {}
    errors: list = []

    def run(g, e):
        try:
            _drive(e, batch, seconds, start, results, g)
        except BaseException as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)
            start.abort()

    run_threads([threading.Thread(target=run, args=(g, e), name=f"gpu{g}") for g, e in zip(gpus, engines)], errors)
    wall = max(s for _, s in results.values())
    return {"images_per_s": round(sum(n for n, _ in results.values()) / wall, 1),
            "per_gpu": {str(g): round(results[g][0] / results[g][1], 1) for g in gpus}}


def _row(label: str, ips: float, base: float, n: int) -> str:
    scale = ips / base if base else float("nan")
    return f"{label:<28} {ips:>12.1f} {scale:>8.2f}x {scale / n:>10.0%}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet50", help="resnet50 (default), mobilenet_v2, vit_b_16 or mnist")
    p.add_argument("--fp32", action="store_true", help="build in FP32 (default: FP16)")
    p.add_argument("--batch", type=int, default=64, help="batch of the in-process runs and the server's max batch")
    p.add_argument("--gpus", default=None, help="GPU indices, e.g. 0,1 (default: every GPU of the host)")
    p.add_argument("--seconds", type=float, default=15.0, help="in-process measurement per configuration")
    p.add_argument("--no-serve", action="store_true", help="skip the server runs")
    p.add_argument("--serve-seconds", type=float, default=30.0)
    p.add_argument("--instances", type=int, default=2, help="server instances per GPU")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--client-procs", type=int, default=8)
    p.add_argument("--client-batch", type=int, default=8, help="images per request")
    p.add_argument("--delay-us", type=int, default=2000, help="max_queue_delay_microseconds")
    args = p.parse_args(argv)
    import torch

    import inferrt
    from bench.serve_load import _engine, serve_and_drive

    if not torch.cuda.is_available():
        print("error: bench/multigpu.py needs CUDA GPUs", file=sys.stderr)
        return 2
    n = torch.cuda.device_count()
    gpus = [int(g) for g in args.gpus.split(",")] if args.gpus else list(range(n))
    bad = [g for g in gpus if not 0 <= g < n]
    if bad or not gpus or len(set(gpus)) != len(gpus):
        print(f"error: --gpus {args.gpus}: list distinct GPU indices in 0..{n - 1} (this host has {n})",
              file=sys.stderr)
        return 2
    first = gpus[0]
    fp16 = not args.fp32
    t0 = time.perf_counter()
    plan = bytes(_engine(args.model, fp16, args.batch, f"cuda:{first}").serialize())
    build_s = time.perf_counter() - t0
    one = engine_throughput(plan, [first], args.batch, args.seconds)
    many = engine_throughput(plan, gpus, args.batch, args.seconds) if len(gpus) > 1 else one
    report = {"model": args.model, "precision": "fp16" if fp16 else "fp32", "batch": args.batch,
              "device": torch.cuda.get_device_name(first), "gpus": gpus, "build_s": round(build_s, 1),
              "engine": {"1": one, str(len(gpus)): many,
                         "scaling": round(many["images_per_s"] / one["images_per_s"], 3)}}
    lines = [f"{args.model} {report['precision']} batch {args.batch} on {report['device']} x{len(gpus)} {gpus}",
             f"{'configuration':<28} {'images/s':>12} {'vs 1 GPU':>9} {'per GPU':>10}",
             _row(f"in process, GPU {first}", one["images_per_s"], one["images_per_s"], 1),
             _row(f"in process, {len(gpus)} GPUs", many["images_per_s"], one["images_per_s"], len(gpus))]
    if not args.no_serve:
        engine = inferrt.load_engine(plan, device=first)
        name = engine.input_names[0]
        shape = tuple(engine.get_tensor_shape(name))[1:]
        del engine
        served = {}
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.plan")
            with open(path, "wb") as f:
                f.write(plan)
            for label, group in (("1", [first]), (str(len(gpus)), gpus)):
                if label in served:
                    continue
                r = serve_and_drive(path, name, shape, max_batch=args.batch, delay_us=args.delay_us,
                                    instance_group=f"{{ count: {args.instances} kind: KIND_GPU gpus: "
                                                   f"[ {', '.join(map(str, group))} ] }}",
                                    clients=args.clients, client_procs=args.client_procs, seconds=args.serve_seconds,
                                    client_batch=args.client_batch)
                if r is None:
                    return 1
                served[label] = r
        base = served["1"]["items_per_s"]
        top = served[str(len(gpus))]["items_per_s"]
        report["serve"] = {**served, "instances_per_gpu": args.instances, "client_batch": args.client_batch,
                           "clients": args.clients, "scaling": round(top / base, 3) if base else None}
        lines += [_row(f"served, {args.instances} inst. on GPU {first}", base, base, 1),
                  _row(f"served, {args.instances} inst. x {len(gpus)} GPUs", top, base, len(gpus))]
    print("\n".join(lines))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
