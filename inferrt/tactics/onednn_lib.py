"""oneDNN called directly (its C API through ctypes), for CPU convolutions whose primitive is built once and kept.

Why not PyTorch's oneDNN ops: ``torch.ops.mkldnn._convolution_pointwise`` rebuilds oneDNN's primitive descriptor on
every call (ideep), 35 to 110 us a convolution before any arithmetic (measured 2026-12-07: a 64->64 1x1 convolution
on 4x4 takes 55-84 us through PyTorch, 6-9 us through a kept primitive; ResNet-50 has 53 convolutions, MobileNetV2 52),
and PyTorch does not export the oneDNN it links (its symbols are local to ``libtorch_cpu.so``). So this module loads
the oneDNN of the ``onednn-cpu-gomp`` wheel (the ``cpu`` extra), which runs its parallel regions on the GNU OpenMP
runtime PyTorch's CPU wheels load too: one thread pool, whose size PyTorch's and inferrt's thread settings control.

Where the library is missing, of another major version, or would run on a second OpenMP runtime (two pools fighting
for the cores), ``library()`` is None and the convolution tactic keeps PyTorch's op; ``INFERRT_ONEDNN=0`` turns it
off. Only what the convolution tactic uses is bound: memory descriptors given by strides (no format-tag enums, which
move between releases), the convolution primitive with binary-add and eltwise post-ops, and the weight reorder into the
layout the chosen implementation asks for (``format_tag::any``).
"""
from __future__ import annotations

import ctypes as C
import functools
import logging
import os
import sys
import threading

import torch



_log = logging.getLogger("inferrt.onednn")

_Dims = C.c_int64 * 12          # dnnl_dims_t
_F32 = 3                        # dnnl_f32
_CPU = 1                        # dnnl_cpu engine kind
_IN_ORDER = 1                   # dnnl_stream_in_order
_FORWARD_INFERENCE = 96
_CONVOLUTION_DIRECT = 1
_TAG_ANY = 1                    # dnnl_format_tag_any
_SCRATCHPAD_USER = 1
_QUERY_IMPL_INFO = 8            # dnnl_query_impl_info_str
_QUERY_WEIGHTS_MD = 131
_QUERY_DST_MD = 133
_QUERY_SCRATCHPAD_MD = 136
ARG_SRC, ARG_DST, ARG_WEIGHTS, ARG_BIAS, ARG_SCRATCHPAD = 1, 17, 33, 41, 80
_ARG_SRC_1 = 2
_POST_OP_ARG_BASE = 32768       # DNNL_ARG_ATTR_MULTIPLE_POST_OP(i) = base * (i + 1)
_BINARY_ADD = 0x1FFF0

#: post-op activations: name -> dnnl_alg_kind_t (oneDNN 3.x's eltwise enum, from 0x20 in declaration order)
ELTWISE = {"relu": 0x20, "tanh": 0x21, "sigmoid": 0x29, "gelu_tanh": 0x2B, "clip": 0x2E, "gelu_erf": 0x31}


class OnednnError(RuntimeError):
    """A oneDNN call returned a status other than success (the call and the status are in the message)."""


class _Arg(C.Structure):
    _fields_ = [("arg", C.c_int), ("memory", C.c_void_p)]


class _Lib:
    """The loaded library, its CPU engine and one in-order stream per thread."""

    def __init__(self, cdll, version):
        self.dll = cdll
        self.version = version
        cdll.dnnl_primitive_desc_query_md.restype = C.c_void_p
        cdll.dnnl_memory_desc_get_size.restype = C.c_size_t
        cdll.dnnl_memory_set_data_handle.argtypes = [C.c_void_p, C.c_void_p]
        cdll.dnnl_primitive_execute.argtypes = [C.c_void_p, C.c_void_p, C.c_int, C.c_void_p]
        self.engine = C.c_void_p()
        self.check("dnnl_engine_create", C.byref(self.engine), _CPU, 0)
        self._streams = threading.local()

    def check(self, fn, *args):
        status = getattr(self.dll, fn)(*args)
        if status != 0:
            raise OnednnError(f"oneDNN {fn} returned status {status}")

    def stream(self):
        """This thread's stream (oneDNN streams are not to be shared between threads)."""
        s = getattr(self._streams, "s", None)
        if s is None:
            s = self._streams.s = C.c_void_p()
            self.check("dnnl_stream_create", C.byref(s), self.engine, _IN_ORDER)
        return s

    def md_strides(self, shape, strides):
        md = C.c_void_p()
        self.check("dnnl_memory_desc_create_with_strides", C.byref(md), len(shape), _Dims(*shape), _F32,
                   _Dims(*strides))
        return md

    def md_any(self, shape):
        md = C.c_void_p()
        self.check("dnnl_memory_desc_create_with_tag", C.byref(md), len(shape), _Dims(*shape), _F32, _TAG_ANY)
        return md

    def memory(self, md, ptr=0):
        m = C.c_void_p()
        self.check("dnnl_memory_create", C.byref(m), md, self.engine, C.c_void_p(ptr))
        return m

    def md_size(self, md) -> int:
        return int(self.dll.dnnl_memory_desc_get_size(C.c_void_p(md)))


def _omp_runtimes() -> set:
    """The distinct GNU/Intel OpenMP runtimes mapped into this process."""
    try:
        with open("/proc/self/maps") as f:
            return {ln.split()[-1] for ln in f if "libgomp" in ln or "libiomp" in ln}
    except OSError:
        return set()


def _library_path():
    try:
        from importlib.metadata import distribution
        dist = distribution("onednn-cpu-gomp")
    except Exception:
        return None
    for f in dist.files or ():
        if f.name.startswith("libdnnl.so"):
            return str(dist.locate_file(f))
    return None


_ON, _OFF = ("1", "true", "on", "yes", ""), ("0", "false", "off", "no")


def _enabled() -> bool:
    """``INFERRT_ONEDNN`` read strictly: a value that is neither on nor off is an error, not a silent default."""
    raw = os.environ.get("INFERRT_ONEDNN", "1")
    value = raw.strip().lower()
    if value not in _ON + _OFF:
        raise ValueError(f"INFERRT_ONEDNN={raw!r} is not understood: set it to 0 (CPU convolutions through "
                         f"PyTorch's oneDNN op) or 1 (kept oneDNN primitives where the cpu extra is installed)")
    return value in _ON


@functools.lru_cache(maxsize=1)
def library():
    """The loaded oneDNN (``_Lib``), or None where it cannot serve (see the module docstring)."""
    if not _enabled():
        return None
    if not sys.platform.startswith("linux"):
        return None
    path = _library_path()
    if path is None:
        return None
    before = _omp_runtimes()
    try:
        cdll = C.CDLL(path)
        cdll.dnnl_version.restype = C.POINTER(C.c_int * 3)
        version = tuple(cdll.dnnl_version().contents)
    except OSError as e:
        _log.info(f"oneDNN at {path} not loaded ({e}); CPU convolutions use PyTorch's oneDNN ops")
        return None
    if version[0] != 3:
        _log.info(f"oneDNN {version} at {path} is not a 3.x release; CPU convolutions use PyTorch's oneDNN ops")
        return None
    runtimes = _omp_runtimes()
    if len(runtimes) > 1 and len(runtimes) > len(before):
        _log.info(f"oneDNN at {path} brought a second OpenMP runtime ({sorted(runtimes)}): two thread pools would "
                  "oversubscribe the cores, so CPU convolutions use PyTorch's oneDNN ops")
        return None
    try:
        return _Lib(cdll, version)
    except (OnednnError, AttributeError) as e:
        _log.info(f"oneDNN at {path} unusable ({e}); CPU convolutions use PyTorch's oneDNN ops")
        return None


@functools.lru_cache(maxsize=1)
def _omp():
    """(omp_get_max_threads, omp_set_num_threads) of the OpenMP runtime PyTorch uses."""
    gomp = C.CDLL("libgomp.so.1")   # already loaded by PyTorch's CPU library: the same handle
    return gomp.omp_get_max_threads, gomp.omp_set_num_threads


def sync_threads(n: int) -> None:
    """Make this thread's OpenMP team size ``n`` (PyTorch's count), as PyTorch does before its own parallel
    regions: a thread that never ran a PyTorch parallel region would otherwise run oneDNN on every core."""
    get, put = _omp()
    if get() != n:
        put(n)


class ConvPrimitive:
    """One oneDNN forward convolution for one channels-last source shape and thread count, with its weights reordered
    into the implementation's layout, ready to run on any source/destination addresses of that shape.

    ``post`` is a list of ("add",) (add a channels-last tensor of the output's shape, the residual, read while
    the output is in cache) and ("eltwise", name, alpha, beta) entries, in order. Executions may run concurrently from several threads: the
    memory objects and scratchpad are per thread."""

    def __init__(self, lib, src_shape, weight, has_bias, stride, dilation, pad_l, pad_r, groups,
                 post):
        self.lib = lib
        n, ci, h, w = src_shape
        co = weight.shape[0]
        k = weight.shape[2:]
        ho = (h + pad_l[0] + pad_r[0] - (dilation[0] * (k[0] - 1) + 1)) // stride[0] + 1
        wo = (w + pad_l[1] + pad_r[1] - (dilation[1] * (k[1] - 1) + 1)) // stride[1] + 1
        self.out_shape = (n, co, ho, wo)
        self.src_shape = tuple(src_shape)
        self._to_cl = None
        # the source is channels-last (NHWC strides, whatever PyTorch reports for a size-1 dimension: with one
        # channel, NCHW strides for the same bytes send oneDNN to its reference kernel, 100x slower)
        src_md = lib.md_strides(src_shape, (h * w * ci, 1, w * ci, ci))
        dst_md = lib.md_strides(self.out_shape, (ho * wo * co, 1, wo * co, co))
        wshape = [co, ci // groups, *k] if groups == 1 else [groups, co // groups, ci // groups, *k]
        w_any = lib.md_any(wshape)
        bias_md = lib.md_strides([co], [1]) if has_bias else None
        attr, po = C.c_void_p(), C.c_void_p()
        lib.check("dnnl_primitive_attr_create", C.byref(attr))
        lib.check("dnnl_post_ops_create", C.byref(po))
        out_strides = (ho * wo * co, 1, wo * co, co)
        self._binary_arg = None
        for i, p in enumerate(post):
            if p[0] == "add":
                self._binary_md = lib.md_strides(self.out_shape, out_strides)
                lib.check("dnnl_post_ops_append_binary", po, _BINARY_ADD, self._binary_md)
                self._binary_arg = _POST_OP_ARG_BASE * (i + 1) | _ARG_SRC_1
            else:
                lib.check("dnnl_post_ops_append_eltwise", po, ELTWISE[p[1]], C.c_float(p[2]), C.c_float(p[3]))
        lib.check("dnnl_primitive_attr_set_post_ops", attr, po)
        lib.check("dnnl_primitive_attr_set_scratchpad_mode", attr, _SCRATCHPAD_USER)
        pd = C.c_void_p()
        lib.check("dnnl_convolution_forward_primitive_desc_create", C.byref(pd), lib.engine, _FORWARD_INFERENCE,
                  _CONVOLUTION_DIRECT, src_md, w_any, bias_md, dst_md, _Dims(*stride),
                  _Dims(*(d - 1 for d in dilation)), _Dims(*pad_l), _Dims(*pad_r), attr)
        impl = C.c_char_p()
        lib.check("dnnl_primitive_desc_query", pd, _QUERY_IMPL_INFO, 0, C.byref(impl))
        self.impl = (impl.value or b"").decode()
        self.prim = C.c_void_p()
        lib.check("dnnl_primitive_create", C.byref(self.prim), pd)
        self._w_md = lib.dll.dnnl_primitive_desc_query_md(pd, _QUERY_WEIGHTS_MD, 0)
        self._scratch_md = lib.dll.dnnl_primitive_desc_query_md(pd, _QUERY_SCRATCHPAD_MD, 0)
        self._scratch_bytes = lib.md_size(self._scratch_md) if self._scratch_md else 0
        self._src_md, self._dst_md, self._bias_md, self._w_any = src_md, dst_md, bias_md, w_any
        self._pd, self._attr, self._po = pd, attr, po       # kept alive with the primitive
        self.weights = self._reorder_weights(weight.reshape(wshape).contiguous())
        self._w_mem = lib.memory(C.c_void_p(self._w_md), self.weights.data_ptr())
        self._states: dict = {}     # thread ident -> that thread's memory objects, scratchpad and stream

    def _reorder_weights(self, dense):
        """``dense`` (contiguous float) into the primitive's weight layout, once."""
        lib = self.lib
        src_md = lib.md_strides(list(dense.shape), list(dense.stride()))
        out = torch.empty(lib.md_size(self._w_md) // 4 + 16, dtype=torch.float32)
        rpd, rp = C.c_void_p(), C.c_void_p()
        lib.check("dnnl_reorder_primitive_desc_create", C.byref(rpd), src_md, lib.engine, C.c_void_p(self._w_md),
                  lib.engine, None)
        lib.check("dnnl_primitive_create", C.byref(rp), rpd)
        args = (_Arg * 2)(_Arg(ARG_SRC, lib.memory(src_md, dense.data_ptr())),
                          _Arg(ARG_DST, lib.memory(C.c_void_p(self._w_md), out.data_ptr())))
        lib.check("dnnl_primitive_execute", rp, lib.stream(), 2, args)
        lib.check("dnnl_stream_wait", lib.stream())
        for m in (args[0].memory, args[1].memory):
            lib.dll.dnnl_memory_destroy(C.c_void_p(m))
        lib.dll.dnnl_primitive_destroy(rp)
        lib.dll.dnnl_primitive_desc_destroy(rpd)
        lib.dll.dnnl_memory_desc_destroy(src_md)
        return out

    def _thread_state(self):
        key = threading.get_ident()
        st = self._states.get(key)
        if st is None:
            lib = self.lib
            scratch = torch.empty(self._scratch_bytes // 4 + 16, dtype=torch.float32)
            src, dst = lib.memory(self._src_md), lib.memory(self._dst_md)
            bias = lib.memory(self._bias_md) if self._bias_md is not None else None
            entries = [_Arg(ARG_SRC, src), _Arg(ARG_WEIGHTS, self._w_mem), _Arg(ARG_DST, dst),
                       _Arg(ARG_SCRATCHPAD, lib.memory(C.c_void_p(self._scratch_md), scratch.data_ptr()))]
            if bias is not None:
                entries.append(_Arg(ARG_BIAS, bias))
            res = lib.memory(self._binary_md) if self._binary_arg is not None else None
            if res is not None:
                entries.append(_Arg(self._binary_arg, res))
            args = (_Arg * len(entries))(*entries)
            st = self._states[key] = (src, dst, bias, res, C.cast(args, C.c_void_p), len(entries), args, scratch,
                                      lib.stream())
        return st

    def __del__(self):
        _release(self, lambda: (
            [e.memory for st in self._states.values() for e in st[6] if e.arg != ARG_WEIGHTS] + [self._w_mem],
            [("dnnl_primitive_destroy", self.prim), ("dnnl_primitive_desc_destroy", self._pd),
             ("dnnl_post_ops_destroy", self._po), ("dnnl_primitive_attr_destroy", self._attr)],
            [self._src_md, self._dst_md, self._bias_md, self._w_any, getattr(self, "_binary_md", None)]))

    def to_channels_last(self, x):
        """``x`` (of the source shape) as a channels-last float tensor: through a kept oneDNN reorder into this
        thread's buffer when ``x`` is NCHW-contiguous (twice as fast as PyTorch's copy for a 3-channel image, and no
        fresh pages per call: ResNet-50's b8 input is 4.8 MB), else PyTorch's copy. The buffer is reused by this
        thread's next call: the result is only for the convolution that follows at once."""
        if x.dtype != torch.float32 or not x.is_contiguous() or tuple(x.shape) != self.src_shape:
            return x.float().contiguous(memory_format=torch.channels_last)
        if self._to_cl is None:
            self._to_cl = _Reorder(self.lib, self.src_shape)
        return self._to_cl(x)

    def __call__(self, x, y, bias=None, residual=None):
        """Run on ``x`` (channels-last, of the source shape this primitive was built for) into ``y`` (channels-last
        float of ``out_shape``); ``bias`` contiguous float;
        ``residual`` channels-last float of ``out_shape`` for an add post-op."""
        src, dst, bmem, rmem, args, nargs, _, _, stream = self._thread_state()
        setp = self.lib.dll.dnnl_memory_set_data_handle
        setp(src, x.data_ptr())
        setp(dst, y.data_ptr())
        if bmem is not None:
            setp(bmem, bias.data_ptr())
        if rmem is not None:
            setp(rmem, residual.data_ptr())
        status = self.lib.dll.dnnl_primitive_execute(self.prim, stream, nargs, args)
        if status != 0:
            raise OnednnError(f"oneDNN convolution ({self.impl}) failed with status {status}")
        return y


class _Reorder:
    """NCHW-contiguous float32 into channels-last, for one 4-D shape, as one kept oneDNN reorder primitive, with
    an output buffer and memory objects per thread (the result is read before that thread's next call)."""

    def __init__(self, lib, shape):
        n, c, h, w = shape
        self.lib, self.shape = lib, tuple(shape)
        self._src_md = lib.md_strides(shape, (c * h * w, h * w, w, 1))
        self._dst_md = lib.md_strides(shape, (h * w * c, 1, w * c, c))
        self._pd, self.prim = C.c_void_p(), C.c_void_p()
        lib.check("dnnl_reorder_primitive_desc_create", C.byref(self._pd), self._src_md, lib.engine, self._dst_md,
                  lib.engine, None)
        lib.check("dnnl_primitive_create", C.byref(self.prim), self._pd)
        self._states: dict = {}

    def __call__(self, x):
        key = threading.get_ident()
        st = self._states.get(key)
        if st is None:
            lib = self.lib
            out = torch.empty(self.shape, dtype=torch.float32, memory_format=torch.channels_last)
            src, dst = lib.memory(self._src_md), lib.memory(self._dst_md, out.data_ptr())
            args = (_Arg * 2)(_Arg(ARG_SRC, src), _Arg(ARG_DST, dst))
            st = self._states[key] = (src, out, C.cast(args, C.c_void_p), args, lib.stream())
        src, out, args, _, stream = st
        self.lib.dll.dnnl_memory_set_data_handle(src, x.data_ptr())
        status = self.lib.dll.dnnl_primitive_execute(self.prim, stream, 2, args)
        if status != 0:
            raise OnednnError(f"oneDNN reorder to channels-last failed with status {status}")
        return out

    def __del__(self):
        _release(self, lambda: ([e.memory for st in self._states.values() for e in st[3]],
                                [("dnnl_primitive_destroy", self.prim), ("dnnl_primitive_desc_destroy", self._pd)],
                                [self._src_md, self._dst_md]))


def _release(owner, handles) -> None:
    """Free a kept primitive's oneDNN objects when it is collected: ``handles()`` gives (memory objects, (destroy
    function, handle) pairs, memory descriptors). Nothing when its construction failed before the primitive
    existed; nothing raised at interpreter shutdown (the library may already be gone)."""
    dll = getattr(getattr(owner, "lib", None), "dll", None)
    if dll is None or getattr(owner, "prim", None) is None:
        return
    try:
        memories, objects, descriptors = handles()
        for m in memories:
            dll.dnnl_memory_destroy(C.c_void_p(m))
        for fn, h in objects:
            getattr(dll, fn)(h)
        for md in descriptors:
            if md is not None:
                dll.dnnl_memory_desc_destroy(md)
    except Exception:   # noqa: BLE001 - see the docstring
        pass
