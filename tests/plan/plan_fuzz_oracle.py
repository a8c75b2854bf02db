"""The oracle of plan fuzzing (``bench/fuzz.py``): load a plan through the Pythonic and the TensorRT API, run
what loads, install the kernels of what carries any into a sandboxed private cache, and classify the outcome.

Good kinds: ``refused`` (a PlanError with a message), ``ran``, ``run_error`` (an inferrt error while running a
forged engine), ``too_big`` (loaded, more memory than a fuzz case runs with), ``installed`` (kernels written, all
inside the private cache under names inferrt derived). Bad kinds: ``raw`` (an exception
that is not an inferrt error: an internal traceback), ``internal`` (an empty or "please report" message),
``disagree`` (the TensorRT API and the Pythonic API judged the plan differently), ``escaped`` (a file written
outside the private cache, a file there under a name inferrt did not derive, or a module loaded from the sandbox).
Crashes and hangs are the caller's to see (``bench/fuzz.py`` runs each case in a child process)."""
from __future__ import annotations

import os
import re
import sys

import numpy as np

import inferrt as trt

INTERNAL = re.compile(r"please report|INTERNAL_ERROR|Traceback", re.I)
RUN_LIMIT = 1 << 26  # bytes of inputs + activations a fuzz case may run with
GOOD = ("refused", "ran", "run_error", "too_big", "installed")
KERNEL_FILE = re.compile(r"kernels-\d+(/[0-9a-f]{40}(/kernel\.(json|cubin|hsaco|ptx))?)?")


class _Quiet(trt.ILogger):
    def __init__(self):
        super().__init__()
        self.errors = []

    def log(self, severity, msg):
        if severity <= trt.Logger.ERROR:
            self.errors.append(msg)


def _feeds(engine, seed):
    """Inputs at profile 0's opt shapes (or the static shapes), or None when they and the activations would take
    more than RUN_LIMIT bytes."""
    rng = np.random.default_rng(seed)
    shapes = {}
    for name in engine.input_names:
        shape = tuple(engine.get_tensor_shape(name))
        shapes[name] = tuple(engine.get_tensor_profile_shape(name, 0)[1]) if -1 in shape else shape
    need = engine.device_memory_size + sum(8 * int(np.prod(s, dtype=object)) for s in shapes.values())
    if need > RUN_LIMIT:
        return None
    feeds = {}
    for name, shape in shapes.items():
        dt = trt.nptype(engine.get_tensor_dtype(name))
        if np.issubdtype(dt, np.floating):
            feeds[name] = rng.standard_normal(shape).astype(np.float32).astype(dt)
        elif dt == np.bool_:
            feeds[name] = rng.random(shape) < 0.5
        else:
            feeds[name] = rng.integers(0, 3, shape).astype(dt)
    return feeds


def judge(data: bytes, seed: int = 0) -> tuple[str, str]:
    """(kind, what was said) for the plan ``data``."""
    try:
        engine = trt.load_engine(data)
    except trt.PlanError as e:
        refusal = str(e)
        if not refusal or INTERNAL.search(refusal):
            return "internal", f"PlanError {refusal!r}"
        engine = None
    except Exception as e:  # noqa: BLE001 - the point of the oracle
        return "raw", f"load_engine raised {type(e).__name__}: {e}"
    if seed % 8 == 0:   # the TensorRT API: None and a logged error exactly when the Pythonic load refuses
        log = _Quiet()
        try:
            other = trt.Runtime(log).deserialize_cuda_engine(data)
        except Exception as e:  # noqa: BLE001
            return "raw", f"deserialize_cuda_engine raised {type(e).__name__}: {e}"
        if (other is None) != (engine is None) or (other is None and refusal not in log.errors):
            return "disagree", f"load_engine {'refused' if engine is None else 'loaded'}, deserialize_cuda_engine " \
                               f"returned {other!r} and logged {log.errors[-1:]}"
    if engine is None:
        return "refused", refusal
    try:
        feeds = _feeds(engine, seed)
        if feeds is None:
            return "too_big", "inputs and activations beyond the run limit"
        engine.create_execution_context().infer(feeds)
    except trt.InferrtError as e:
        return ("internal" if INTERNAL.search(str(e)) else "run_error"), str(e)
    except Exception as e:  # noqa: BLE001
        return "raw", f"running raised {type(e).__name__}: {e}"
    return "ran", ""


def _tree(root) -> list[str]:
    out = []
    for d, dirs, files in os.walk(root):
        out.extend(os.path.relpath(os.path.join(d, n), root) for n in dirs + files)
    return sorted(out)


def judge_install(data: bytes, sandbox: dict) -> tuple[str, str]:
    """Install the kernels of plan ``data`` the way loading a CUDA plan does, into the private cache under
    ``sandbox["cache"]`` (the caller points INFERRT_CACHE there and TRITON_CACHE_DIR and HOME at
    ``sandbox["triton"]`` and ``sandbox["home"]``); refused, or "installed" when every written file is one inferrt named
    inside the private cache and nothing was loaded from the sandbox."""
    from inferrt.plan.format import read_plan
    from inferrt.tactics import kernel_store

    try:
        manifest, blobs = read_plan(data)
        kernel_store.install(manifest.get("kernels"), blobs, len(data))
    except trt.PlanError as e:
        return ("internal" if not str(e) or INTERNAL.search(str(e)) else "refused"), str(e)
    except Exception as e:  # noqa: BLE001
        return "raw", f"install raised {type(e).__name__}: {e}"
    return check_sandbox(sandbox) or ("installed", "")


def check_sandbox(sandbox: dict) -> tuple[str, str] | None:
    """("escaped", what) when a file lies outside the private cache's kernel area or there under a name inferrt did
    not derive, or a module was loaded from the sandbox; None when all is well."""
    stray = [f for f in _tree(sandbox["cache"]) if not KERNEL_FILE.fullmatch(f)]
    stray += [f"{k}/{f}" for k in ("triton", "home") for f in _tree(sandbox[k])]
    loaded = [name for name, mod in list(sys.modules.items())
              if any(str(getattr(mod, "__file__", None) or "").startswith(str(sandbox[k])) for k in sandbox)]
    if stray or loaded:
        return "escaped", f"files {stray[:5]}, modules {loaded[:5]}"
    return None
