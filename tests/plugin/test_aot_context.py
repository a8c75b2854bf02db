"""The AOT launcher's CUDA contexts, on the CPU with a fake CUDA driver that keeps a current context per thread, as
the real one does: the module is loaded and the kernel launched with the GPU's primary context current even when the
calling thread has none (a fresh process: PyTorch creates the context lazily) or another GPU's (an execution context
run from another thread), the thread's own context is left as it was, and a driver error names the kernel, the
error and what to do."""
from __future__ import annotations

import ctypes
import threading

import pytest

torch = pytest.importorskip("torch")

import inferrt.plugin.aot as aot  # noqa: E402

CUDA_ERROR_INVALID_CONTEXT = 201
CUDA_ERROR_NO_BINARY_FOR_GPU = 209
_NAMES = {CUDA_ERROR_INVALID_CONTEXT: (b"CUDA_ERROR_INVALID_CONTEXT", b"invalid device context"),
          CUDA_ERROR_NO_BINARY_FOR_GPU: (b"CUDA_ERROR_NO_BINARY_FOR_GPU", b"no kernel image is available")}


class FakeDriver:
    """The few libcuda entry points the launcher uses; contexts are ints (the primary context of GPU i is 100 + i)."""

    def __init__(self, load_rc=0):
        self.local = threading.local()
        self.calls = []          # (entry point, the context current when it was called)
        self.load_rc = load_rc

    def _stack(self):
        if not hasattr(self.local, "stack"):
            self.local.stack = []
        return self.local.stack

    def current(self):
        s = self._stack()
        return s[-1] if s else None

    def cuInit(self, flags):
        return 0

    def cuDeviceGet(self, dev, ordinal):
        dev._obj.value = ordinal
        return 0

    def cuDevicePrimaryCtxRetain(self, ctx, dev):
        ctx._obj.value = 100 + dev.value
        return 0

    def cuCtxGetCurrent(self, out):
        out._obj.value = self.current()
        return 0

    def cuCtxPushCurrent_v2(self, ctx):
        self._stack().append(ctx.value)
        return 0

    def cuCtxPopCurrent_v2(self, out):
        out._obj.value = self._stack().pop()
        return 0

    def _needs_context(self, what):
        self.calls.append((what, self.current()))
        return 0 if self.current() is not None else CUDA_ERROR_INVALID_CONTEXT

    def cuModuleLoadData(self, module, image):
        rc = self._needs_context("cuModuleLoadData")
        return rc or self.load_rc

    def cuModuleGetFunction(self, func, module, name):
        return self._needs_context("cuModuleGetFunction")

    def cuFuncSetAttribute(self, func, attr, value):
        return self._needs_context("cuFuncSetAttribute")

    def cuLaunchKernel(self, func, *args):
        return self._needs_context("cuLaunchKernel")

    def cuGetErrorName(self, rc, out):
        out._obj.value = _NAMES[rc][0]
        return 0

    def cuGetErrorString(self, rc, out):
        out._obj.value = _NAMES[rc][1]
        return 0


class FakeStream:
    cuda_stream = 0


class FakeTensor:
    shape = (4,)

    def is_contiguous(self):
        return True

    def data_ptr(self):
        return 0


REC = {"hash": "ab" * 32, "name": "scaled_add_kernel", "grid": [["c", 1], ["c", 1], ["c", 1]],
       "block": [["c", 128], ["c", 1], ["c", 1]], "shared_mem": ["c", 0], "args": [], "n_inputs": 1, "n_outputs": 1, "scratch_args": 0}


def _rec():
    return aot._check_record(REC, "test")


@pytest.fixture
def driver(monkeypatch):
    drv = FakeDriver()
    monkeypatch.setattr(torch.cuda._utils, "_get_gpu_runtime_library", lambda: drv)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: FakeStream())
    monkeypatch.setattr(aot, "_PRIMARY", {})
    return drv


def test_module_loads_with_the_primary_context_when_no_context_is_current(driver):
    launcher = aot.AotLauncher(_rec(), b"\x7fELF", device="cuda:1")
    assert driver.calls == [("cuModuleLoadData", 101), ("cuModuleGetFunction", 101)]
    assert driver.current() is None   # the thread is left as it was
    launcher([FakeTensor()], [FakeTensor()], 0)
    assert driver.calls[-1] == ("cuLaunchKernel", 101) and driver.current() is None


def test_launch_from_another_thread_and_another_gpu_context(driver):
    launcher = aot.AotLauncher(_rec(), b"\x7fELF")   # the current GPU: 0
    seen = []

    def other_thread():
        driver.cuCtxPushCurrent_v2(ctypes.c_void_p(101))   # this thread works on GPU 1
        launcher([FakeTensor()], [FakeTensor()], 0)
        seen.append((driver.calls[-1], driver.current()))

    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert seen == [(("cuLaunchKernel", 100), 101)]


def test_current_primary_context_is_not_pushed_again(driver):
    driver.cuCtxPushCurrent_v2(ctypes.c_void_p(100))
    launcher = aot.AotLauncher(_rec(), b"\x7fELF")
    launcher([FakeTensor()], [FakeTensor()], 0)
    assert driver._stack() == [100]


def test_driver_error_names_the_kernel_the_error_and_the_fix(driver):
    driver.load_rc = CUDA_ERROR_NO_BINARY_FOR_GPU
    with pytest.raises(RuntimeError) as e:
        aot.AotLauncher(_rec(), b"\x7fELF")
    msg = str(e.value)
    assert "cuModuleLoadData" in msg and "'scaled_add_kernel'" in msg
    assert "CUDA_ERROR_NO_BINARY_FOR_GPU (209)" in msg and "rebuild the plan on this GPU" in msg
    assert driver.current() is None   # popped on the error too
