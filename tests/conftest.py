import os

import pytest

os.environ.setdefault("INFERRT_DEVICE", "auto")


def _share_cores_between_workers():
    """Under pytest-xdist every worker would start PyTorch's and OpenMP's pools with one thread per core: 16 workers
    on 16 cores ran 256 threads, and CPU-bound steps (training the accuracy models, CPU reference engines, kernel
    compilation) slowed down tenfold. Each worker gets its share of the cores instead (at least one); subprocesses
    the tests start inherit it through OMP_NUM_THREADS. A user's explicit OMP_NUM_THREADS is kept."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if workers < 2:
        return
    share = str(max(1, (os.cpu_count() or 1) // workers))
    os.environ.setdefault("OMP_NUM_THREADS", share)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


_share_cores_between_workers()


def _has_cuda():
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def pytest_runtest_logreport(report):
    """With INFERRT_FAILURE_LOG=<file>, each failure's test id and traceback is appended to the file as it happens
    (from every xdist worker), so a run stopped by a time limit still leaves the reasons of what failed so far.
    With INFERRT_DURATION_LOG=<file>, every phase's duration and test id is appended the same way."""
    if getattr(report, "node", None) is not None:
        return  # the xdist controller's copy of a worker's report: the worker wrote it already
    timing = os.environ.get("INFERRT_DURATION_LOG")
    if timing:
        with open(timing, "a") as f:
            f.write(f"{report.duration:.3f} {report.when} {report.nodeid}\n")
    path = os.environ.get("INFERRT_FAILURE_LOG")
    if not path or not report.failed:
        return
    with open(path, "a") as f:
        f.write(f"=== {report.nodeid} ({report.when})\n{report.longreprtext}\n")


def pytest_collection_modifyitems(config, items):
    if _has_cuda():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request):
    """Run a test on the CPU and, under the gpu marker, on the GPU."""
    return request.param
