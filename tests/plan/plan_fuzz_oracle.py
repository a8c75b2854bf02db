"""The oracle of plan fuzzing (``bench/fuzz.py``): load a plan through the Pythonic and the TensorRT API, run
what loads, install the kernels of what carries any into a sandboxed private cache, and classify the outcome.

Good kinds: ``refused`` (a PlanError with a message), ``ran``, ``run_error`` (an inferrt error while running a
forged engine), ``too_big`` (loaded, more memory than a fuzz case runs with), ``installed`` (kernels written, all
inside the private cache under names inferrt derived). Bad kinds: ``raw`` (an exception
that is not an inferrt error: an internal traceback), ``internal`` (an empty or "please report" message),
``disagree`` (the TensorRT API and the Pythonic API judged the plan differently), ``escaped`` (a file written
outside the private cache, a file there under a name inferrt did not derive, or a module loaded from the sandbox).
Crashes and hangs are the caller's to see (``bench/fuzz.py`` runs each case in a child process).

What may be in the sandbox (``check_sandbox``):

* inferrt's private cache (``$INFERRT_CACHE``): its areas as ``inferrt/tactics/private_cache.py`` lays them out,
  under names inferrt derives: ``kernels-<uid>/<sha>/kernel.<ext>`` (plan kernels, ``PRIVATE_FILE``) and
  ``triton_src-<uid>/pw_<sha>.py`` (the source text of the pointwise kernels inferrt generates from a graph,
  which Triton's JIT reads through ``inspect``; the name is the SHA-256 of inferrt's own generated text, never taken
  from the plan).
* Triton's cache directory (``$TRITON_CACHE_DIR``): only what Triton itself writes there, in its own layout
  (``TRITON_FILE``): ``<cache key>/<kernel>.<IR or binary>`` and ``__grp__<kernel>.json`` for the kernels Triton
  compiles from inferrt's generated sources (when a plan carries no kernel for them, or for the seed plans the
  worker builds), and Triton's host modules (``TRITON_HOST_MODULES``: ``cuda_utils``, the driver utilities, and
  ``__triton_launcher``, a kernel signature's launcher; ``hip_utils`` on ROCm), which Triton compiles from its own
  C sources into its cache and imports. These are the only modules that may be loaded from the sandbox, and only
  from Triton's cache. A plan's kernel files never land there (``PlanKernelCache`` serves them from the private
  cache), and no other shared object may appear anywhere.
* the CUDA driver's JIT cache (``$CUDA_CACHE_PATH``; the driver's default is ``$HOME/.nv/ComputeCache``): the
  driver stores there the machine code it compiles from PTX (libraries that compile kernels at run time, such as
  cuDNN's runtime-fused convolutions, load PTX), in its own layout (``CUDA_JIT_FILE``: ``index`` and
  ``<hex>/<hex>/<hex name>``). The fuzzer points ``CUDA_CACHE_PATH`` at its own sandbox folder so that ``$HOME``
  stays checked.
* ``$HOME``: nothing."""
from __future__ import annotations

import os
import re
import sys
import sysconfig

import numpy as np

import inferrt as trt

INTERNAL = re.compile(r"please report|INTERNAL_ERROR|Traceback", re.I)
RUN_LIMIT = 1 << 26  # bytes of inputs + activations a fuzz case may run with
GOOD = ("refused", "ran", "run_error", "too_big", "installed")
KERNEL_FILE = re.compile(r"kernels-\d+(/[0-9a-f]{40}(/kernel\.(json|cubin|hsaco|ptx))?)?")
PRIVATE_FILE = re.compile(KERNEL_FILE.pattern + r"|triton_src-\d+(/pw_[0-9a-f]{24}\.py)?")
#: Triton's own host modules, compiled by Triton from its C sources into its cache dir and imported from there
TRITON_HOST_MODULES = ("cuda_utils", "__triton_launcher", "hip_utils")
_EXT_SUFFIX = re.escape(sysconfig.get_config_var("EXT_SUFFIX") or ".so")
CUDA_JIT_FILE = re.compile(r"index|[0-9a-f]{1,2}(/[0-9a-f]{1,2}(/[0-9a-f]{1,64})?)?")
TRITON_FILE = re.compile(
    r"([A-Z2-7]{52}|[0-9a-f]{64})"                       # Triton's cache key (base32 of a SHA-256; hex in old ones)
    r"(/(__grp__)?[A-Za-z_][A-Za-z0-9_]{0,199}\.(json|source|ttir|ttgir|llir|ptx|cubin|amdgcn|hsaco)"
    rf"|/({'|'.join(TRITON_HOST_MODULES)}){_EXT_SUFFIX})?")


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
    ``sandbox["cache"]`` (the caller points INFERRT_CACHE there, TRITON_CACHE_DIR at ``sandbox["triton"]``, HOME
    at ``sandbox["home"]`` and CUDA_CACHE_PATH at ``sandbox["cuda"]``); refused, or "installed" when every written
    file is one inferrt named inside the private cache and nothing was loaded from the sandbox."""
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
    """("escaped", what) when a file lies outside the private cache and Triton's own cache layout, or under a name
    neither inferrt nor Triton derived, or a module other than Triton's host modules was loaded from the sandbox (see
    the module's docstring); None when all is well."""
    stray = [f for f in _tree(sandbox["cache"]) if not PRIVATE_FILE.fullmatch(f)]
    stray += [f"triton/{f}" for f in _tree(sandbox["triton"]) if not TRITON_FILE.fullmatch(f)]
    stray += [f"cuda/{f}" for f in _tree(sandbox["cuda"]) if not CUDA_JIT_FILE.fullmatch(f)]
    stray += [f"home/{f}" for f in _tree(sandbox["home"])]
    loaded = [name for name, mod in list(sys.modules.items())
              if any(_under(_file_of(mod), sandbox[k]) for k in sandbox) and not _triton_host_module(name, mod, sandbox)]
    if stray or loaded:
        return "escaped", f"files {stray[:5]}, modules {loaded[:5]}"
    return None


def _file_of(mod) -> str:
    return str(getattr(mod, "__file__", None) or "")


def _under(path: str, root) -> bool:
    root = os.path.abspath(str(root))
    return bool(path) and os.path.abspath(path).startswith(root + os.sep)


def _triton_host_module(name: str, mod, sandbox: dict) -> bool:
    """Whether ``mod`` is one of Triton's host modules, imported from its place in Triton's cache."""
    if name not in TRITON_HOST_MODULES or not _under(_file_of(mod), sandbox["triton"]):
        return False
    rel = os.path.relpath(os.path.abspath(_file_of(mod)), os.path.abspath(str(sandbox["triton"])))
    return bool(TRITON_FILE.fullmatch(rel.replace(os.sep, "/"))) and os.path.basename(rel).startswith(name + ".")
