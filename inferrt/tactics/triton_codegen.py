"""Generate a Triton kernel from a ``pointwise`` program (see ``inferrt/ops/pointwise.py``).

One kernel per (program, input layouts, dtypes): it loads each input once (contiguous inputs of the output's shape
by linear offset, others through broadcast strides), computes in float32 (integers and bools stay integral), and
stores once in the output's dtype. The generated source is written to inferrt's private cache directory (see
``load_kernel``) so Triton's JIT can read it, and is deterministic, so a rebuild or a plan load regenerates the
identical kernel.

``POINTWISE_SPACE`` is the tuning space of every tactic that runs such a kernel: the block of elements one program
handles (``BLOCK``) and the warps it runs with (``num_warps``); the default point is the launch used before spaces
existed.
"""
from __future__ import annotations

import hashlib
import importlib.util
import linecache
import math
import os

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..enums import DataType
from . import private_cache
from .tuning import TuningSpace

MAX_RANK = 6
_TL = {DataType.FLOAT: "tl.float32", DataType.HALF: "tl.float16", DataType.BF16: "tl.bfloat16",
       DataType.INT32: "tl.int32", DataType.INT64: "tl.int64", DataType.INT8: "tl.int8", DataType.UINT8: "tl.uint8",
       DataType.BOOL: "tl.int1"}

_BIN = {"SUM": "({a} + {b})", "PROD": "({a} * {b})", "SUB": "({a} - {b})", "MAX": "tl.maximum({a}, {b})",
        "MIN": "tl.minimum({a}, {b})", "EQUAL": "({a} == {b})", "GREATER": "({a} > {b})", "LESS": "({a} < {b})",
        "AND": "({a} & {b})", "OR": "({a} | {b})", "XOR": "({a} ^ {b})"}
_UN = {"EXP": "tl.exp({a})", "LOG": "tl.log({a})", "SQRT": "tl.sqrt({a})", "RECIP": "(1.0 / {a})",
       "ABS": "tl.abs({a})", "NEG": "(-{a})", "SIN": "tl.sin({a})", "COS": "tl.cos({a})", "ERF": "tl.erf({a})",
       "FLOOR": "tl.floor({a})", "CEIL": "tl.ceil({a})", "NOT": "({a} == 0)", "ISNAN": "({a} != {a})",
       "SIGN": "tl.where({a} > 0, 1.0, tl.where({a} < 0, -1.0, 0.0))",
       "ISINF": "(tl.abs({a}) == float('inf'))"}


def _act(name, a, alpha, beta):
    sig = f"(1.0 / (1.0 + tl.exp(-({a}))))"
    tanh = f"(2.0 / (1.0 + tl.exp(-2.0 * ({a}))) - 1.0)"
    table = {
        "RELU": f"tl.maximum({a}, 0.0)", "SIGMOID": sig, "TANH": tanh,
        "LEAKY_RELU": f"tl.where({a} >= 0, {a}, {a} * {alpha!r})",
        "ELU": f"tl.where({a} >= 0, {a}, {alpha!r} * (tl.exp({a}) - 1.0))",
        "SELU": f"{beta!r} * tl.where({a} >= 0, {a}, {alpha!r} * (tl.exp({a}) - 1.0))",
        "SOFTSIGN": f"({a} / (1.0 + tl.abs({a})))",
        "CLIP": f"tl.minimum(tl.maximum({a}, {alpha!r}), {beta!r})",
        "HARD_SIGMOID": f"tl.minimum(tl.maximum({a} * {alpha!r} + {beta!r}, 0.0), 1.0)",
        "THRESHOLDED_RELU": f"tl.where({a} > {alpha!r}, {a}, 0.0)",
        "GELU_ERF": f"(0.5 * {a} * (1.0 + tl.erf({a} * 0.7071067811865476)))",
        "GELU_TANH": (f"(0.5 * {a} * (1.0 + (2.0 / (1.0 + tl.exp(-2.0 * (0.7978845608028654 * ({a} + 0.044715 * "
                      f"{a} * {a} * {a})))) - 1.0)))"),
    }
    if name == "SCALED_TANH":
        return f"({alpha!r} * (2.0 / (1.0 + tl.exp(-2.0 * {beta!r} * ({a}))) - 1.0))"
    if name == "SOFTPLUS" and beta != 0:
        z = f"({beta!r} * ({a}))"
        return f"({alpha!r} * tl.where({z} > 20.0, {z}, tl.log(1.0 + tl.exp(tl.minimum({z}, 20.0)))))"
    return table.get(name)


def supported(program, in_dtypes) -> bool:
    try:
        _body(program, in_dtypes)
        return True
    except KeyError:
        return False


def _body(program, in_dtypes):
    """Lines computing registers r0..rN, and the float-ness of each register."""
    lines, isf = [], []
    for i, ins in enumerate(program):
        op = ins[0]
        if op == "input":
            dt = in_dtypes[ins[1]]
            expr = f"x{ins[1]}" + (".to(tl.float32)" if dt in _FLOATS else "")
            isf.append(dt in _FLOATS)
        elif op == "scalar":
            dt = DataType[ins[2]]
            v = float(ins[1])
            expr = repr(v) if dt in _FLOATS or v != int(v) else repr(int(v))
            if expr in ("inf", "-inf", "nan"):
                expr = f"float('{expr}')"
            isf.append(dt in _FLOATS)
        elif op == "binary":
            a, b = f"r{ins[2]}", f"r{ins[3]}"
            name = ins[1]
            fl = isf[ins[2]] or isf[ins[3]]
            if name == "DIV":
                if not fl:
                    raise KeyError("integer DIV")  # truncating integer division: generic tactic
                expr = f"({a} / {b})"
            elif name == "POW":
                if not fl:
                    raise KeyError("integer POW")
                expr = f"tl.exp2(tl.log2(tl.abs({a})) * {b}) * tl.where(({a} < 0) & ((tl.floor({b}) % 2) == 1), " \
                       f"-1.0, 1.0)"
                expr = f"tl.where({a} == 0, tl.where({b} == 0, 1.0, 0.0), tl.where(({a} < 0) & " \
                       f"(tl.floor({b}) != {b}), float('nan'), {expr}))"
            elif name == "FLOOR_DIV":
                if not fl:
                    raise KeyError("integer FLOOR_DIV")
                expr = f"tl.floor({a} / {b})"
            else:
                expr = _BIN[name].format(a=a, b=b)
            fl = fl and name not in ("EQUAL", "GREATER", "LESS", "AND", "OR", "XOR")
            isf.append(fl)
        elif op == "unary":
            if ins[1] not in _UN:
                raise KeyError(ins[1])
            if not isf[ins[2]] and ins[1] not in ("ABS", "NEG", "NOT", "SIGN"):
                raise KeyError(f"integer {ins[1]}")
            expr = _UN[ins[1]].format(a=f"r{ins[2]}")
            isf.append(isf[ins[2]] and ins[1] not in ("NOT", "ISNAN", "ISINF"))
        elif op == "act":
            expr = _act(ins[1], f"r{ins[4]}", float(ins[2]), float(ins[3]))
            if expr is None or not isf[ins[4]]:
                raise KeyError(ins[1])
            isf.append(True)
        elif op == "cast":
            dt = DataType[ins[1]]
            if dt not in _TL:
                raise KeyError(ins[1])
            expr = f"r{ins[2]}.to(tl.float32)" if dt in _FLOATS else f"r{ins[2]}.to({_TL[dt]})"
            if dt in _FLOATS and dt != DataType.FLOAT:  # round through the narrow type, as the layer would
                expr = f"r{ins[2]}.to({_TL[dt]}).to(tl.float32)"
            isf.append(dt in _FLOATS)
        elif op == "prelu":
            a, s = f"r{ins[1]}", f"r{ins[2]}"
            expr = f"tl.where({a} >= 0, {a}, {a} * {s})"
            isf.append(True)
        else:
            raise KeyError(op)
        lines.append(f"    r{i} = {expr}")
    return lines, isf


def kernel_source(program, in_dtypes, out_dtype, linear, zero=None):
    """Source of a kernel for this program; ``linear[k]``: input k is read by linear offset (else strided);
    ``zero[k][j]``: input k has stride 0 along (padded) dim j, so that term is left out of its address."""
    lines, _ = _body(program, in_dtypes)
    n = len(in_dtypes)
    args = ["out_ptr"] + [f"in{k}_ptr" for k in range(n)] + ["n"] + [f"d{j}" for j in range(MAX_RANK)]
    args += [f"os{j}" for j in range(MAX_RANK)]
    for k in range(n):
        args += [f"s{k}_{j}" for j in range(MAX_RANK)]
    src = ["import triton", "import triton.language as tl", "", "", "@triton.jit",
           f"def pointwise_kernel({', '.join(args)}, OUT_LINEAR: tl.constexpr, BLOCK: tl.constexpr):",
           "    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)",
           "    mask = offs < n"]
    if True:  # coordinates are needed for strided inputs and for a strided (e.g. NHWC) output
        src.append("    rem = offs")
        for j in reversed(range(1, MAX_RANK)):
            src.append(f"    c{j} = rem % d{j}")
            src.append(f"    rem = rem // d{j}")
        src.append("    c0 = rem")
    for k in range(n):
        if linear[k]:
            src.append(f"    x{k} = tl.load(in{k}_ptr + offs, mask=mask)")
        else:
            terms = [f"c{j} * s{k}_{j}" for j in range(MAX_RANK) if not (zero and zero[k][j])]
            off = " + ".join(terms) or "0"
            src.append(f"    x{k} = tl.load(in{k}_ptr + ({off}), mask=mask)")
    src += lines
    last = f"r{len(program) - 1}"
    src.append("    if OUT_LINEAR:")
    src.append(f"        tl.store(out_ptr + offs, {last}.to({_TL[out_dtype]}), mask=mask)")
    src.append("    else:")
    off = " + ".join(f"c{j} * os{j}" for j in range(MAX_RANK))
    src.append(f"        tl.store(out_ptr + ({off}), {last}.to({_TL[out_dtype]}), mask=mask)")
    return "\n".join(src) + "\n"


_MODULES: dict[str, object] = {}


def load_kernel(source: str):
    """Import the generated source (once per process) and return its jitted kernel.

    Triton's JIT reads a kernel's source through ``inspect``, so the text is also written, as ``pw_<sha256>.py``,
    into inferrt's private ``triton_src-<uid>`` cache (``private_cache.py``: mode 0700, written under a random
    temporary name, no link followed). The module runs ``source`` itself, never what the file holds, and the same
    text is what Triton's JIT sees (``linecache`` holds it)."""
    key = hashlib.sha256(source.encode()).hexdigest()[:24]
    mod = _MODULES.get(key)
    if mod is None:
        name = f"pw_{key}.py"
        fd = private_cache.open_area("triton_src")
        try:
            private_cache.ensure_file(fd, name, source.encode())
        finally:
            os.close(fd)
        path = os.path.join(private_cache.area_path("triton_src"), name)
        linecache.cache[path] = (len(source), None, source.splitlines(True), path)
        spec = importlib.util.spec_from_file_location(f"inferrt_pw_{key}", path)
        mod = importlib.util.module_from_spec(spec)
        exec(compile(source, path, "exec"), mod.__dict__)  # noqa: S102 - inferrt's own generated kernel source
        _MODULES[key] = mod
    return mod.pointwise_kernel


def _dense(t) -> bool:
    return t.is_contiguous() or (t.dim() == 4 and t.is_contiguous(memory_format=__import__("torch").channels_last))


def _block_fits(point, node, specs) -> bool:
    """Prune blocks larger than needed: a block is kept unless a smaller candidate already covers the whole output
    in one program (larger ones would only add idle lanes)."""
    out = specs.get(node.outputs[0]) if node.outputs else None
    if out is None or out.shape is None or any(not isinstance(d, int) or d < 0 for d in out.shape):
        return True
    n = math.prod(out.shape)
    block = point["BLOCK"]
    return not any(n <= b < block for b in POINTWISE_SPACE.params["BLOCK"])


POINTWISE_SPACE = TuningSpace({"BLOCK": (1024, 2048, 512), "num_warps": (4, 8)}, _block_fits)


class PointwiseLauncher:
    """Runs a pointwise program on tensors with one generated kernel per layout/dtype combination, launched with
    ``block`` elements per program and ``num_warps`` warps (a point of ``POINTWISE_SPACE``).

    When the output is dense (contiguous or channels-last), every input with the output's shape and strides is
    read at the same memory offset as the output element (no index arithmetic); others are read through broadcast
    strides.
    """

    def __init__(self, program, block: int = 1024, num_warps: int = 4):
        self.program = program
        self.block = int(block)
        self.num_warps = int(num_warps)
        self.cache = {}
        self.launched = {}   # Triton's compiled variants this launcher ran, by hash: what the plan stores

    def compiled_kernels(self) -> list:
        """The compiled kernels this launcher has run (one per layout, dtype and Triton specialization)."""
        return list(self.launched.values())

    def __call__(self, out, ins):
        import triton

        from ..dtypes import from_torch_dtype

        n = out.numel()
        if n == 0:
            return
        shape = tuple(out.shape)
        ostride = tuple(out.stride())
        out_linear = _dense(out)
        # dense outputs are walked in memory order (e.g. N, H, W, C for channels-last), so the program id's
        # offset is both the output's address and the source of every broadcast operand's coordinates
        perm = sorted(range(len(shape)), key=lambda d: -ostride[d]) if out_linear else list(range(len(shape)))
        pad = MAX_RANK - len(shape)
        dims = (1,) * pad + tuple(shape[d] for d in perm)
        ostr = (0,) * pad + tuple(ostride[d] for d in perm)
        linear, strides, zero = [], [], []
        for x in ins:
            linear.append(out_linear and tuple(x.shape) == shape and tuple(x.stride()) == ostride)
            xs = (x.expand(shape) if tuple(x.shape) != shape else x).stride()
            st = (0,) * pad + tuple(xs[d] for d in perm)
            strides += st
            zero.append(tuple(v == 0 for v in st))
        key = (tuple(linear), tuple(zero), tuple(x.dtype for x in ins), out.dtype)
        k = self.cache.get(key)
        if k is None:
            k = self.cache[key] = load_kernel(kernel_source(
                self.program, [from_torch_dtype(x.dtype) for x in ins], from_torch_dtype(out.dtype), linear, zero))
        compiled = k[(triton.cdiv(n, self.block),)](out, *ins, n, *dims, *ostr, *strides, OUT_LINEAR=out_linear,
                                                    BLOCK=self.block, num_warps=self.num_warps)
        if compiled is not None:
            self.launched[compiled.hash] = compiled
