"""inferrt's CPU engine against onnxruntime and PyTorch eager, in one process, float32.

    python bench/cpu.py                                   # every model, batch 1 and 8, 2 threads, + shared mode
    python bench/cpu.py --models mnist,resnet50 --batches 8 --no-shared
    python bench/cpu.py --small                           # tiny model configs (smoke test)
    python bench/cpu.py --no-torch                        # inferrt and onnxruntime only

Models: ResNet-50 and MobileNetV2 (torchvision, 224x224), BERT-base and GPT-2 (transformers, sequence 128, eager
attention), all with random weights, and inferrt's shipped MNIST CNN (inferrt/models/mnist.py; the same weights
in a torch module for PyTorch and its ONNX export for onnxruntime). inferrt builds from the same ONNX file
onnxruntime runs (the MNIST CNN from the network API). Before anything is timed, inferrt's output is checked
against onnxruntime's (``inferrt_err``, relative L2, must stay under ``--max-err``), and PyTorch eager's distance
from it is reported (``torch_vs_onnx_err``; the TorchScript ONNX exports of the transformers models differ from
eager by tenths in relative L2 with this transformers version, so eager is not the reference).

Timing: every runner uses ``--threads`` intra-op threads (inferrt: ``context.cpu_threads``; onnxruntime:
``intra_op_num_threads`` with one inter-op thread; PyTorch: ``torch.set_num_threads``). The runners are timed in
rounds, one timed call each per round in rotating order, each after ``SETTLE_S`` of untimed calls of the same
runner (so a call does not pay for the previous runner's spinning threads; see ``time_rounds``), so machine noise
hits them alike; the table gives medians
(milliseconds) and ``ort/irt`` = onnxruntime median / inferrt median (> 1: inferrt is faster). inferrt runs
TensorRT-style (``execute_async_v3`` on bound buffers); onnxruntime ``InferenceSession.run`` on numpy arrays; PyTorch
the module under ``torch.inference_mode``.

Shared mode (on unless ``--no-shared``): a second process spins on one core of this process's affinity mask while
the same rounds run again; it reports each runner's median and p99 and their ratio, with inferrt at ``--threads``
and at its automatic thread count (runtime/cpu_threads.py).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
# ``python bench/cpu.py`` puts bench/ first on sys.path, where bench/kernels.py would shadow the ``kernels`` package
# transformers imports: off it, and the repository root on
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import inferrt  # noqa: E402

MODELS = ("mnist", "mobilenet_v2", "resnet50", "bert_base", "gpt2")


# ---------------------------------------------------------------------------------------------- models
class MnistTorch(torch.nn.Module):
    """inferrt/models/mnist.py's CNN as a torch module, with the same seeded weights."""

    def __init__(self, seed: int = 0):
        super().__init__()
        rng = np.random.default_rng(seed)

        def w(*shape):   # the network builder's draws, in its order
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
            return torch.from_numpy((rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32))

        self.c1 = torch.nn.Conv2d(1, 16, 5, padding=2)
        self.c1.weight.data, self.c1.bias.data = w(16, 1, 5, 5), w(16)
        self.c2 = torch.nn.Conv2d(16, 32, 5, padding=2)
        self.c2.weight.data, self.c2.bias.data = w(32, 16, 5, 5), w(32)
        self.w1 = torch.nn.Parameter(w(32 * 7 * 7, 128))
        self.b1 = torch.nn.Parameter(w(128))
        self.w2 = torch.nn.Parameter(w(128, 10))
        self.b2 = torch.nn.Parameter(w(10))

    def forward(self, x):
        f = torch.nn.functional
        x = f.max_pool2d(f.relu(self.c1(x)), 2)
        x = f.max_pool2d(f.relu(self.c2(x)), 2).flatten(1)
        x = f.relu(x @ self.w1 + self.b1) @ self.w2 + self.b2
        return torch.softmax(x, dim=1)


def make(name: str, batch: int, small: bool):
    """(torch module, input tensors, input names, ONNX bytes, inferrt engine builder)."""
    import importlib.util

    # bench/models.py by path (bench/ is kept off sys.path, see the top of this file)
    spec = importlib.util.spec_from_file_location("bench_models", os.path.join(_HERE, "models.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    export_onnx, make_model = mod.export_onnx, mod.make_model

    if name == "mnist":
        m = MnistTorch().eval()
        inputs = (torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(1)),)
        names = ["x"]
    else:
        m, inputs, names, _ = make_model(name, batch, small)
        if name == "gpt2":          # models.py times GPT-2 at 512; this benchmark at 128 (16 with --small)
            seq = 16 if small else 128
            inputs = (inputs[0][:, :seq].contiguous(),)
    onnx_bytes = export_onnx(m, inputs, names, {})

    def build():
        if name == "mnist":
            from inferrt.models.mnist import build_mnist_network

            b = inferrt.Builder(inferrt.Logger(inferrt.Logger.ERROR))
            net = build_mnist_network(b.create_network(0))
            cfg = b.create_builder_config()
            cfg.device = "cpu"
            prof = b.create_optimization_profile()
            prof.set_shape("x", *(tuple(inputs[0].shape),) * 3)
            cfg.add_optimization_profile(prof)
            return inferrt.Runtime(inferrt.Logger(inferrt.Logger.ERROR)).deserialize_cuda_engine(b.build(net, cfg))
        return inferrt.build_engine(onnx_bytes, device="cpu",
                                    profiles={n: (tuple(x.shape),) * 3 for n, x in zip(names, inputs)})

    return m, inputs, names, onnx_bytes, build


# ---------------------------------------------------------------------------------------------- runners
def inferrt_runner(engine, names, inputs, threads):
    ctx = engine.create_execution_context()
    ctx.cpu_threads = threads
    feeds = [x.contiguous() for x in inputs]
    for n, x in zip(names, feeds):
        ctx.set_input_shape(n, tuple(x.shape))
        ctx.set_tensor_address(n, x.data_ptr())
    out_name = engine.output_names[0]
    out = torch.empty(tuple(ctx.get_tensor_shape(out_name)), dtype=torch.float32)
    ctx.set_tensor_address(out_name, out.data_ptr())

    def run():
        if not ctx.execute_async_v3(0):
            raise RuntimeError("inferrt execute_async_v3 failed (see the log)")
        return out

    return run, ctx


def ort_runner(onnx_bytes, names, inputs, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(onnx_bytes, so, providers=["CPUExecutionProvider"])
    feeds = {n: x.numpy() for n, x in zip(names, inputs)}
    return lambda: sess.run(None, feeds)[0]


def torch_runner(model, inputs, threads):
    def run():
        torch.set_num_threads(threads)
        with torch.inference_mode():
            return model(*inputs)

    return run


def rel_err(a, b) -> float:
    a = np.asarray(a.detach() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    b = np.asarray(b.detach() if isinstance(b, torch.Tensor) else b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


# ---------------------------------------------------------------------------------------------- timing
#: before its timed call in a round, a runner runs untimed for at least this long (one call at least); see time_rounds
SETTLE_S = 0.002


#: before a runner's untimed calls, wait (at most this long) until no thread of this process is busy; see time_rounds
QUIET_MAX_S = 0.3
#: ... judged over windows of this length, quiet when they used under a tenth of one core of CPU time
QUIET_WINDOW_S = 0.002


def _quiesce() -> None:
    """Wait until the thread pools of the other runners have stopped spinning: this process's CPU time over a
    ``QUIET_WINDOW_S`` sleep under a tenth of the window (at most ``QUIET_MAX_S``). Another process's load (the
    shared mode's busy core) is not this process's CPU time and does not delay it."""
    end = time.perf_counter() + QUIET_MAX_S
    while time.perf_counter() < end:
        c0 = time.process_time()
        time.sleep(QUIET_WINDOW_S)
        if time.process_time() - c0 < QUIET_WINDOW_S / 10:
            return


def _settle(run) -> None:
    _quiesce()
    t0 = time.perf_counter()
    run()
    while time.perf_counter() - t0 < SETTLE_S:
        run()


def time_rounds(runners: dict, budget_s: float, min_rounds: int, max_rounds: int) -> dict:
    """Per runner, the list of call times (ms): warm-up, then rounds in rotating order; in a round each runner
    waits until the process is quiet (``_quiesce``), runs untimed for ``SETTLE_S`` (one call at least), then makes
    one timed call.

    Why: every runner's thread pool keeps spinning for a while after a call (onnxruntime's intra-op pool, PyTorch's
    OpenMP team), holding a core that the next runner's parallel regions wait for. Timed straight after another
    runner, a call measured that runner's leftover spinning, not itself (2-core machine, 2026-12-07: onnxruntime on
    MNIST b1 0.065 ms alone, 0.167 ms right after inferrt; inferrt on ResNet-50 b1 47 ms alone, 80 ms right after
    onnxruntime). The untimed calls alone did not cover it: onnxruntime's pool went on spinning on about one core
    for 5 to 60 ms after its call (2-core AMD EPYC, 2026-12-08; process CPU time while the process slept), so
    inferrt's 2-thread regions waited through its settling calls too (MobileNetV2 b1: 11.5 ms alone, 23-26 ms in
    the rounds). Waiting for quiet first makes each runner's timed call follow only its own calls, as in a process
    that runs one of them."""
    names = list(runners)
    per = {}
    for n in names:
        runners[n]()
        t0 = time.perf_counter()
        for _ in range(3):
            runners[n]()
        per[n] = (time.perf_counter() - t0) / 3
    per_round = sum(per[n] + max(per[n], SETTLE_S) + QUIET_WINDOW_S for n in names)
    rounds = int(max(min_rounds, min(max_rounds, budget_s / max(per_round, 1e-6))))
    times = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            _settle(runners[n])
            t0 = time.perf_counter()
            runners[n]()
            times[n].append((time.perf_counter() - t0) * 1e3)
    return times


def stats(ts) -> dict:
    a = np.asarray(ts)
    return {"median_ms": round(float(np.median(a)), 4), "p99_ms": round(float(np.percentile(a, 99)), 4),
            "p10_ms": round(float(np.percentile(a, 10)), 4), "n": len(a)}


class BusyCore:
    """A child process spinning on one core of this process's affinity mask (the last one)."""

    def __init__(self):
        core = max(os.sched_getaffinity(0))
        # it spins until killed, and dies with this process (PR_SET_PDEATHSIG) if the benchmark is interrupted
        code = (f"import ctypes, os, signal\nctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
                f"os.sched_setaffinity(0, {{{core}}})\nwhile True:\n    pass\n")
        self.core = core
        self.proc = subprocess.Popen([sys.executable, "-c", code])
        time.sleep(0.3)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


# ---------------------------------------------------------------------------------------------- rows
def bench_row(name, batch, a) -> dict:
    row = {"model": name, "batch": batch, "threads": a.threads}
    torch.manual_seed(0)
    model, inputs, names, onnx_bytes, build = make(name, batch, a.small)
    t0 = time.perf_counter()
    engine = build()
    row["build_s"] = round(time.perf_counter() - t0, 2)
    row["layers"] = engine.num_layers
    irt, ctx = inferrt_runner(engine, names, inputs, a.threads)
    runners = {"inferrt": irt, "onnxruntime": ort_runner(onnx_bytes, names, inputs, a.threads)}
    if a.torch:
        runners["torch"] = torch_runner(model, inputs, a.threads)
    # outputs first: inferrt against onnxruntime on the same ONNX file (the reference), and how far PyTorch eager is
    # from that file (see the docstring)
    ref = runners["onnxruntime"]()
    row["inferrt_err"] = err = rel_err(runners["inferrt"](), ref)
    if a.torch:
        row["torch_vs_onnx_err"] = rel_err(runners["torch"](), ref)
    if not err < a.max_err:
        raise RuntimeError(f"inferrt's output differs from onnxruntime's: relative L2 error {err:.2e} "
                           f"(limit {a.max_err:.0e})")
    times = time_rounds(runners, a.budget, a.min_rounds, a.max_rounds)
    for n, ts in times.items():
        row[n] = stats(ts)
    row["ort_over_inferrt"] = round(row["onnxruntime"]["median_ms"] / row["inferrt"]["median_ms"], 3)
    if a.torch:
        row["torch_over_inferrt"] = round(row["torch"]["median_ms"] / row["inferrt"]["median_ms"], 3)
    if a.shared:
        auto, _ = inferrt_runner(engine, names, inputs, None)
        runners["inferrt_auto"] = auto
        busy = BusyCore()
        try:
            shared = time_rounds(runners, a.budget, a.min_rounds, a.max_rounds)
            auto()
        finally:
            busy.stop()
        row["shared"] = {n: dict(stats(ts), p99_over_median=round(float(np.percentile(ts, 99) / np.median(ts)), 2))
                         for n, ts in shared.items()}
    return row


def print_table(rows, shared: bool) -> None:
    print(f"{'model':<14}{'batch':>6}{'inferrt':>10}{'ort':>10}{'torch':>10}{'ort/irt':>9}{'torch/irt':>10}"
          f"{'irt err':>9}")
    for r in rows:
        if "error" in r:
            print(f"{r['model']:<14}{r['batch']:>6}  ERROR {r['error'][:150]}")
            continue
        eager = f"{r['torch']['median_ms']:>10.3f}" if "torch" in r else f"{'-':>10}"
        eager_ratio = f"{r['torch_over_inferrt']:>10.2f}" if "torch" in r else f"{'-':>10}"
        print(f"{r['model']:<14}{r['batch']:>6}{r['inferrt']['median_ms']:>10.3f}{r['onnxruntime']['median_ms']:>10.3f}"
              f"{eager}{r['ort_over_inferrt']:>9.2f}{eager_ratio}{r['inferrt_err']:>9.1e}")
    if shared:
        print("\nshared machine (another process spinning on one core): median / p99 ms (p99/median)")
        print(f"{'model':<14}{'batch':>6}" + "".join(f"{n:>26}" for n in ("inferrt", "inferrt_auto", "onnxruntime",
                                                                         "torch")))
        for r in rows:
            if "shared" not in r:
                continue
            cells = []
            for n in ("inferrt", "inferrt_auto", "onnxruntime", "torch"):
                s = r["shared"].get(n)
                if s is None:
                    cells.append("-")
                    continue
                cells.append(f"{s['median_ms']:.3f}/{s['p99_ms']:.3f} ({s['p99_over_median']:.2f})")
            print(f"{r['model']:<14}{r['batch']:>6}" + "".join(f"{c:>26}" for c in cells))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--batches", default="1,8")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads of every runner (default 2)")
    p.add_argument("--budget", type=float, default=6.0, help="seconds of timed rounds per row and mode (default 6)")
    p.add_argument("--min-rounds", type=int, default=15)
    p.add_argument("--max-rounds", type=int, default=400)
    p.add_argument("--max-err", type=float, default=1e-4,
                   help="largest relative L2 error of inferrt against onnxruntime accepted")
    p.add_argument("--no-shared", dest="shared", action="store_false", help="skip the shared-machine mode")
    p.add_argument("--small", action="store_true", help="tiny model configs (smoke test)")
    p.add_argument("--no-torch", dest="torch", action="store_false",
                   help="leave PyTorch eager out (on a loaded machine its OpenMP team makes a row take minutes)")
    p.add_argument("--json", default="bench/results/cpu.json")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    rows = []
    for name in a.models.split(","):
        for b in (int(x) for x in a.batches.split(",")):
            try:
                row = bench_row(name, b, a)
            except Exception as e:  # noqa: BLE001 - a failed row is reported, the others still run
                row = {"model": name, "batch": b, "error": f"{type(e).__name__}: {str(e)[:300]}"}
            rows.append(row)
            print(json.dumps(row), flush=True)
    import onnxruntime as ort

    env = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": platform.processor() or platform.machine(),
           "usable_cores": len(os.sched_getaffinity(0)), "load_avg": os.getloadavg(), "torch": torch.__version__,
           "onnxruntime": ort.__version__, "inferrt": inferrt.inferrt_version, "python": platform.python_version()}
    os.makedirs(os.path.dirname(a.json) or ".", exist_ok=True)
    with open(a.json, "w") as f:
        json.dump({"env": env, "rows": rows}, f, indent=1)
    print(env)
    print_table(rows, a.shared)


if __name__ == "__main__":
    main()
