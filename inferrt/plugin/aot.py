"""AOT decorator plugins: a Triton kernel compiled at build time, stored in the plan, launched with no Python
definition of the plugin.

Build (``compile_aot``): the plugin's ``aot_impl`` is called for the tactic being prepared with TensorDesc inputs and
outputs whose shapes are symbolic (``in0[1]``...); it compiles its kernel with ``triton.compile`` and returns the
kernel's name, its PTX or cubin, ``KernelLaunchParams`` and ``SymExprs`` (TensorRT's contract). The Triton compiled
kernel is found among those ``triton.compile`` produced during the call and goes into the plan through the kernel
store (tactics/kernel_store.py, the runner's ``launchers``); the node records in ``aot_kernel`` the kernel's hash and
name, and the launch parameters and extra arguments as expression trees (plugin/exprs.py).

Run (``AotLauncher``): the kernel's cubin, installed from the plan by the kernel store, is loaded with the CUDA
driver (``cuModuleLoadData``) and launched with ``cuLaunchKernel`` on the current stream, both with the GPU's primary
context current in the calling thread (``_Current``: PyTorch creates it lazily, and execution contexts may run on
other threads). Arguments, as TensorRT passes them: the input addresses, the extra arguments (32-bit integers
evaluated at the call's shapes), the output addresses, then the two scratch pointers Triton kernels take (null:
kernels that need global scratch memory are refused at build time).

On the CPU there is no AOT kernel: a CPU build of an AOT layer runs the plugin's ``impl`` (stored as a JIT plugin),
and fails naming the plugin when it has none.
"""
from __future__ import annotations

import ctypes

from ..errors import BuildError, PlanError
from .exprs import check_tree, tree_json
from .plan_record import PlanPlugin
from .shapes import identity_of

_RECORD_KEYS = {"hash", "name", "grid", "block", "shared_mem", "args", "n_inputs", "n_outputs", "scratch_args"}


def _is_quick_aot(p) -> bool:
    return bool(getattr(p, "inferrt_aot", False)) and hasattr(p, "d")


def uses_aot(node, device) -> bool:
    p = node.attrs.plugin
    if isinstance(p, PlanPlugin):
        return p.aot
    return _is_quick_aot(p) and str(getattr(device, "type", device)) == "cuda"


def place_for_device(node, device: str) -> None:
    """At build time, before tactics: an AOT decorator plugin built for the CPU becomes its JIT twin (its ``impl``);
    BuildError naming the plugin when it has no ``impl``."""
    p = node.attrs.plugin
    if device == "cuda" or not _is_quick_aot(p):
        return
    if p.d.impl_func is None:
        raise BuildError(f"layer {node.name!r}: plugin {identity_of(p)} has only an @aot_impl (a GPU kernel) and "
                         f"this build targets the CPU; register an @inferrt.plugin.impl({p.d.id!r}) to run it on the "
                         f"CPU, or build on a GPU")
    jit = p.clone()
    jit.inferrt_aot = False
    node.attrs["plugin"] = jit


def check_jit_runnable(node, plugin, device) -> None:
    if isinstance(node.attrs.plugin, PlanPlugin) and plugin is None:
        raise PlanError(f"layer {node.name!r}: plugin {identity_of(node.attrs.plugin)} has no runtime plugin")


# ----------------------------------------------------------------------------------------------------- build
def _captured_compile():
    """A context that records the CompiledKernels ``triton.compile`` returns while it is active."""
    import contextlib

    import triton

    @contextlib.contextmanager
    def ctx():
        orig = triton.compile
        seen = []

        def compile_and_record(*args, **kwargs):
            k = orig(*args, **kwargs)
            seen.append(k)
            return k

        triton.compile = compile_and_record
        try:
            yield seen
        finally:
            triton.compile = orig

    return ctx()


def _tree(v, what, who):
    from .descs import _se

    try:
        return tree_json(_se(v).tree)
    except TypeError:
        raise BuildError(f"plugin {who}: aot_impl gave {what} = {v!r}; use an int or a shape expression") from None


def compile_aot(node, tactic: int):
    """(the record for ``node.attrs.aot_kernel``, the Triton compiled kernel) of the plugin's aot_impl."""
    from .descs import ShapeExpr, TensorDesc

    p = node.attrs.plugin
    who = identity_of(p)
    d = p.d
    ins = [TensorDesc([ShapeExpr(("d", i, k), None) for k in range(rank)], t)
           for i, (t, rank) in enumerate(node.attrs.input_types)]
    outs = tuple(TensorDesc([ShapeExpr(tuple(_tuple(x)), None) for x in row], t)
                 for t, row in zip(node.attrs.output_types, node.attrs.output_exprs))
    with _captured_compile() as seen:
        try:
            res = d.call_with(d.aot_impl_func, ins, p.attrs, outputs=outs, tactic=tactic)
        except Exception as e:  # noqa: BLE001 - the user's code
            raise BuildError(f"layer {node.name!r}: plugin {who}: aot_impl failed: {type(e).__name__}: {e}") from None
    if not isinstance(res, (tuple, list)) or len(res) != 4:
        raise BuildError(f"plugin {who}: aot_impl must return (kernel name, PTX or cubin, KernelLaunchParams, "
                         f"SymExprs), got {type(res).__name__}")
    name, _binary, params, extra = res
    name = name.decode() if isinstance(name, bytes) else str(name)
    compiled = next((k for k in reversed(seen) if getattr(k.metadata, "name", None) == name), None)
    if compiled is None:
        raise BuildError(f"layer {node.name!r}: plugin {who}: aot_impl returned kernel {name!r}, which it did not "
                         f"compile with triton.compile during the call; compile it inside aot_impl")
    md = compiled.metadata
    if getattr(md, "global_scratch_size", 0):
        raise BuildError(f"plugin {who}: kernel {name!r} needs {md.global_scratch_size} bytes of global scratch "
                         f"memory per program, which AOT plugins cannot provide; simplify the kernel")
    if getattr(md, "num_ctas", 1) != 1:
        raise BuildError(f"plugin {who}: kernel {name!r} was compiled with num_ctas={md.num_ctas} (thread-block "
                         f"clusters), which AOT plugins do not launch; compile it with num_ctas=1")
    scratch = sum(hasattr(md, k) for k in ("global_scratch_size", "profile_scratch_size"))
    args = []
    for i, a in enumerate(extra or []):
        if a is None or not hasattr(a, "expr"):
            raise BuildError(f"plugin {who}: extra argument {i} of aot_impl is {a!r}; set it to a SymInt32")
        args.append(["i32", _tree(a.expr, f"extra argument {i}", who)])
    rec = {"hash": compiled.hash, "name": name, "scratch_args": scratch,
           "grid": [_tree(getattr(params, f"grid_{c}"), f"grid_{c}", who) for c in "xyz"],
           "block": [_tree(getattr(params, f"block_{c}"), f"block_{c}", who) for c in "xyz"],
           "shared_mem": _tree(params.shared_mem, "shared_mem", who),
           "args": args, "n_inputs": len(ins), "n_outputs": len(outs)}
    return rec, compiled


def _tuple(x):
    return tuple(_tuple(v) if isinstance(v, list) else v for v in x)


# ----------------------------------------------------------------------------------------------------- run
def _check_record(rec, where) -> dict:
    if not isinstance(rec, dict) or set(rec) != _RECORD_KEYS:
        raise PlanError(f"corrupt plan: {where}: the AOT kernel record must have the fields {sorted(_RECORD_KEYS)}")
    n_in, n_out = rec["n_inputs"], rec["n_outputs"]
    if not all(isinstance(v, int) and 0 <= v <= 64 for v in (n_in, n_out, rec["scratch_args"])) \
            or rec["scratch_args"] > 2:
        raise PlanError(f"corrupt plan: {where}: bad input/output/scratch counts")
    if not isinstance(rec["name"], str) or not isinstance(rec["hash"], str):
        raise PlanError(f"corrupt plan: {where}: kernel name and hash must be strings")
    out = dict(rec)
    for k in ("grid", "block"):
        if not isinstance(rec[k], list) or len(rec[k]) != 3:
            raise PlanError(f"corrupt plan: {where}: {k} must list x, y and z")
        out[k] = [check_tree(t, n_in, where) for t in rec[k]]
    out["shared_mem"] = check_tree(rec["shared_mem"], n_in, where)
    if not isinstance(rec["args"], list) or len(rec["args"]) > 256 or not all(
            isinstance(a, list) and len(a) == 2 and a[0] == "i32" for a in rec["args"]):
        raise PlanError(f"corrupt plan: {where}: extra arguments must be a list of ['i32', expression]")
    out["args"] = [check_tree(a[1], n_in, where) for a in rec["args"]]
    return out


# CUDA driver errors an AOT launcher can meet, with what to do about them (anything else: see _DRIVER_FIX_DEFAULT)
_DRIVER_FIX = {
    200: "the plan's kernel image is invalid for this GPU; rebuild the plan on this GPU",
    201: "no CUDA context was current in the calling thread (an inferrt bug: the launcher makes the device's primary "
         "context current); report it",
    209: "the plan's kernel was compiled for another GPU architecture; rebuild the plan on this GPU",
    218: "the kernel's PTX could not be compiled by this driver; update the NVIDIA driver or rebuild the plan here",
    222: "the kernel was compiled for a newer CUDA than this driver supports; update the NVIDIA driver or rebuild the "
         "plan with this machine's Triton",
    500: "the plan names a kernel its cubin does not contain; rebuild the plan",
    701: "the launch asks for more threads, registers or shared memory than the GPU offers; use smaller blocks "
         "(KernelLaunchParams) in the plugin's aot_impl",
}
_DRIVER_FIX_DEFAULT = "check the GPU (nvidia-smi) and rebuild the plan on this GPU"
_PRIMARY = {}   # GPU index -> its retained primary context (kept for the process' life, as PyTorch and Triton do)


def _driver_error(lib, rc: int) -> str:
    """``CUDA_ERROR_... (rc): description`` of a CUDA driver error code."""
    name, text = ctypes.c_char_p(), ctypes.c_char_p()
    try:
        lib.cuGetErrorName(rc, ctypes.byref(name))
        lib.cuGetErrorString(rc, ctypes.byref(text))
    except AttributeError:  # pragma: no cover - every driver since CUDA 6 has them
        pass
    label = name.value.decode() if name.value else "CUDA driver error"
    return f"{label} ({rc})" + (f": {text.value.decode()}" if text.value else "")


def _primary_context(lib, index: int):
    """The primary context of GPU ``index`` (the one PyTorch and Triton use), retained once per process. PyTorch
    creates it lazily, so it may not exist yet, and it is current only in threads that made it so."""
    ctx = _PRIMARY.get(index)
    if ctx is None:
        dev, ctx = ctypes.c_int(), ctypes.c_void_p()
        for what, rc in (("cuInit", lambda: lib.cuInit(0)),
                         ("cuDeviceGet", lambda: lib.cuDeviceGet(ctypes.byref(dev), index)),
                         ("cuDevicePrimaryCtxRetain", lambda: lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev))):
            code = rc()
            if code != 0:
                raise RuntimeError(f"{what} failed for GPU {index}: {_driver_error(lib, code)}; "
                                   f"{_DRIVER_FIX_DEFAULT}")
        ctx = _PRIMARY.setdefault(index, ctx)
    return ctx


class _Current:
    """While active, ``ctx`` is the calling thread's current CUDA context (pushed, then popped, when another or none
    was current: the thread's own context is left as it was)."""

    def __init__(self, lib, ctx):
        self.lib, self.ctx, self.pushed = lib, ctx, False

    def __enter__(self):
        cur = ctypes.c_void_p()
        if self.lib.cuCtxGetCurrent(ctypes.byref(cur)) != 0 or cur.value != self.ctx.value:
            rc = self.lib.cuCtxPushCurrent_v2(self.ctx)
            if rc != 0:
                raise RuntimeError(f"cuCtxPushCurrent failed: {_driver_error(self.lib, rc)}; {_DRIVER_FIX_DEFAULT}")
            self.pushed = True
        return self

    def __exit__(self, *exc):
        if self.pushed:
            self.lib.cuCtxPopCurrent_v2(ctypes.byref(ctypes.c_void_p()))
            self.pushed = False
        return False


class AotLauncher:
    """Launches one AOT plugin kernel (a cubin) through the CUDA driver, on GPU ``device`` (default: the current one).

    The CUDA driver loads a module into, and launches it from, the context current in the calling thread; PyTorch
    creates the device's primary context lazily (a fresh process that loads a plan may have none yet) and the thread
    that runs an execution context may not be the one that loaded the engine. So every driver call here is made
    with the device's primary context current (``_Current``)."""

    def __init__(self, rec: dict, cubin: bytes, compiled=None, device=None):
        import torch

        self.rec = rec
        self.compiled = compiled
        self.lib = torch.cuda._utils._get_gpu_runtime_library()
        index = torch.device(device).index if device is not None else None
        self.index = torch.cuda.current_device() if index is None else index
        self.ctx = _primary_context(self.lib, self.index)
        self.module = ctypes.c_void_p()
        self.func = ctypes.c_void_p()
        with _Current(self.lib, self.ctx):
            self._check(self.lib.cuModuleLoadData(ctypes.byref(self.module), cubin), "cuModuleLoadData")
            self._check(self.lib.cuModuleGetFunction(ctypes.byref(self.func), self.module, rec["name"].encode()),
                        "cuModuleGetFunction")
        self.shared_configured = 0

    def _check(self, rc, what):
        if rc != 0:
            raise RuntimeError(f"{what} failed for AOT kernel {self.rec['name']!r} on GPU {self.index}: "
                               f"{_driver_error(self.lib, rc)}; {_DRIVER_FIX.get(rc, _DRIVER_FIX_DEFAULT)}")

    def compiled_kernels(self):
        return [self.compiled] if self.compiled is not None else []

    def __call__(self, ins, outs, tactic):
        import torch

        from .exprs import evaluate

        r = self.rec
        ins = [t if t.is_contiguous() else t.contiguous() for t in ins[:r["n_inputs"]]]  # NHWC producers
        shapes = [list(t.shape) for t in ins]
        grid = [evaluate(t, shapes) for t in r["grid"]]
        block = [evaluate(t, shapes) for t in r["block"]]
        shared = evaluate(r["shared_mem"], shapes)
        if min(grid) <= 0:
            return None   # empty tensors: nothing to launch
        keep = [ctypes.c_void_p(t.data_ptr()) for t in ins]
        keep += [ctypes.c_int32(evaluate(t, shapes)) for t in r["args"]]
        keep += [ctypes.c_void_p(t.data_ptr()) for t in outs]
        keep += [ctypes.c_void_p(0) for _ in range(r["scratch_args"])]
        params = (ctypes.c_void_p * len(keep))(*[ctypes.cast(ctypes.byref(k), ctypes.c_void_p) for k in keep])
        stream = ctypes.c_void_p(torch.cuda.current_stream(self.index).cuda_stream)
        with _Current(self.lib, self.ctx):   # this thread may have no context, or another GPU's
            if shared >= 48 * 1024 and shared > self.shared_configured:
                self._check(self.lib.cuFuncSetAttribute(self.func, 8, shared), "cuFuncSetAttribute")
                self.shared_configured = shared
            self._check(self.lib.cuLaunchKernel(self.func, *grid, *block, shared, stream, params, None),
                        "cuLaunchKernel")
        return None


def aot_runner(node, device, tactic: int):
    """The runner of an AOT plugin node: compiled now (build) or from the plan's kernel (load)."""
    p = node.attrs.plugin
    if isinstance(p, PlanPlugin):
        rec = _check_record(node.attrs.aot_kernel, f"layer {node.name!r}")
        from ..tactics.kernel_store import hash_b32, lookup

        installed = lookup(hash_b32(rec["hash"])) if len(rec["hash"]) == 64 else None
        path = installed.paths.get(f"{installed.name}.cubin") if installed is not None else None
        if path is None:
            raise PlanError(f"layer {node.name!r}: the plan carries no compiled kernel {rec['name']!r} for AOT plugin "
                            f"{identity_of(p)}; rebuild the plan")
        with open(path, "rb") as fh:
            launcher = AotLauncher(rec, fh.read(), device=device)
    else:
        raw, compiled = compile_aot(node, tactic)
        node.attrs["aot_kernel"] = raw   # the chosen tactic's kernel is prepared last (compile_chosen)
        launcher = AotLauncher(_check_record(raw, f"layer {node.name!r}"), compiled.asm["cubin"], compiled,
                               device=device)

    def run(ins, outs):
        return launcher(ins, outs, tactic)

    run.launchers = [launcher]
    return run
