"""ONNX's native (C++) entry points, run in a helper process so that an abort inside them cannot take the caller's
process down.

onnx's checker, shape inference, version converter, inliner and function builders are C++; on some malformed models they
abort (SIGABRT) or crash instead of raising. The parser calls them only through the functions here. They send the
request to one worker process per parsing process (started lazily, reused, restarted when it dies, its address space
capped at half the machine's memory) over pipes with a small protocol, and raise :class:`NativeFailure` naming the
operation when the worker dies or exceeds its time limit (``INFERRT_ONNX_NATIVE_TIMEOUT`` seconds, default 120). Errors
onnx raises normally come back as the same exception types (``ValidationError``, ``InferenceError``, ``ValueError``)
with their messages.

Protocol (both directions): a frame is ``>IQ`` (header length, number of blobs), a UTF-8 JSON header, then each blob as
``>Q`` length + bytes. Requests carry ``{"op": name, "args": {...}}`` with protobuf messages as serialized blobs;
replies carry ``{"ok": true, ...}`` or ``{"ok": false, "type": exception class name, "message": str}``. Nothing is
pickled. Run as a script (``python native_worker.py``) the file is the worker: it imports onnx only, not inferrt."""
from __future__ import annotations

import json
import os
import struct
import sys
import threading

_HEAD = struct.Struct(">IQ")
_LEN = struct.Struct(">Q")
#: a header or blob larger than this is a protocol error (models are sent without their large weights)
_MAX_FRAME = 1 << 34


class NativeFailure(Exception):
    """The worker running an ONNX native entry point crashed, timed out or broke the protocol (``startup``: it could
    not be started at all, which says nothing about the model)."""

    def __init__(self, message, startup=False):
        super().__init__(message)
        self.startup = startup


def failure_message(what: str, e: NativeFailure) -> str:
    """What to tell the user when ``what`` (an onnx entry point run in the worker) failed with ``e``."""
    if e.startup:
        return f"{what} runs in a helper process, which {e}; allow this process to start subprocesses"
    return (f"{what} failed on this model: its helper process {e}; the model is malformed (check it with "
            f"onnx.checker.check_model and re-export it)")


class NativeError(Exception):
    """onnx raised an exception of a type without a counterpart here (the message starts with the type's name)."""


class NativeValueError(NativeError, ValueError):
    """onnx raised ValueError in the worker (the caller's own ValueErrors, such as a model over protobuf's 2 GiB,
    are raised before anything is sent)."""


# ---------------------------------------------------------------------------------------------------- framing
def _write_frame(fd: int, header: dict, blobs=()) -> None:
    h = json.dumps(header).encode()
    parts = [_HEAD.pack(len(h), len(blobs)), h]
    for b in blobs:
        parts += [_LEN.pack(len(b)), b]
    data = memoryview(b"".join(parts))
    while data:
        n = os.write(fd, data)
        data = data[n:]


def _read_exact(fd: int, n: int, deadline=None) -> bytes:
    import select
    import time

    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        b = os.read(fd, min(n - got, 1 << 20))
        if not b:
            raise EOFError
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def _read_frame(fd: int, deadline=None):
    hlen, nblobs = _HEAD.unpack(_read_exact(fd, _HEAD.size, deadline))
    if hlen > _MAX_FRAME or nblobs > 1 << 20:
        raise ValueError(f"bad frame header ({hlen} bytes, {nblobs} blobs)")
    header = json.loads(_read_exact(fd, hlen, deadline))
    blobs = []
    for _ in range(nblobs):
        (blen,) = _LEN.unpack(_read_exact(fd, _LEN.size, deadline))
        if blen > _MAX_FRAME:
            raise ValueError(f"bad blob length {blen}")
        blobs.append(_read_exact(fd, blen, deadline))
    return header, blobs


# ---------------------------------------------------------------------------------------------------- worker side
def _op_check_model(args, blobs):
    import onnx

    onnx.checker.check_model(onnx.ModelProto.FromString(blobs[0]), full_check=bool(args.get("full_check")))
    return {}, []


def _op_infer_shapes(args, blobs):
    import onnx

    out = onnx.shape_inference.infer_shapes(onnx.ModelProto.FromString(blobs[0]),
                                            check_type=bool(args.get("check_type")),
                                            strict_mode=bool(args.get("strict_mode")))
    return {}, [out.SerializeToString()]


def _op_convert_version(args, blobs):
    import onnx
    from onnx import version_converter

    out = version_converter.convert_version(onnx.ModelProto.FromString(blobs[0]), int(args["target"]))
    return {}, [out.SerializeToString()]


def _op_inline_local_functions(args, blobs):
    import onnx
    from onnx import inliner

    return {}, [inliner.inline_local_functions(onnx.ModelProto.FromString(blobs[0])).SerializeToString()]


def _op_context_function(args, blobs):
    import onnx.defs

    schema = onnx.defs.get_schema(args["op_type"], int(args["opset"]), args["domain"])
    data = schema.get_context_dependent_function_with_opset_version(int(args["version"]), blobs[0], blobs[1:])
    return {"found": bool(data)}, [data] if data else []


def _op_infer_node_outputs(args, blobs):
    import onnx
    import onnx.defs
    from onnx import shape_inference

    schema = onnx.defs.get_schema(args["op_type"], int(args["opset"]), args["domain"])
    node = onnx.NodeProto.FromString(blobs[0])
    known = {n: onnx.TypeProto.FromString(b) for n, b in zip(args["names"], blobs[1:])}
    ops = [onnx.helper.make_opsetid(d, int(v)) for d, v in args["opsets"]]
    res = shape_inference.infer_node_outputs(schema, node, known, opset_imports=ops)
    names = list(res)
    return {"names": names}, [res[n].SerializeToString() for n in names]


def _op_selftest(args, blobs):
    """Used by the tests: ``abort`` kills the worker the way a failing C++ assertion does, ``sleep`` hangs it."""
    if args.get("action") == "abort":
        os.abort()
    if args.get("action") == "sleep":
        import time

        time.sleep(float(args.get("seconds", 3600)))
    return {"pid": os.getpid()}, [bytes(b) for b in blobs]


_OPS = {"check_model": _op_check_model, "infer_shapes": _op_infer_shapes, "convert_version": _op_convert_version,
        "inline_local_functions": _op_inline_local_functions, "context_function": _op_context_function,
        "infer_node_outputs": _op_infer_node_outputs, "selftest": _op_selftest}


def serve(fd_in: int, fd_out: int) -> None:
    """The worker's loop: one request, one reply, until the parent closes the pipe."""
    while True:
        try:
            header, blobs = _read_frame(fd_in)
        except EOFError:
            return
        try:
            fn = _OPS[header["op"]]
            reply, out = fn(header.get("args") or {}, blobs)
            reply = dict(reply, ok=True)
        except Exception as e:  # noqa: BLE001 - every onnx error goes back to the caller by type and message
            reply, out = {"ok": False, "type": type(e).__name__, "message": str(e)}, []
        _write_frame(fd_out, reply, out)


def _limit_memory() -> None:
    """Cap the worker's address space at half the machine's memory (at least 4 GiB): a model that makes onnx
    allocate without bound fails in the worker (which the parent reports) instead of exhausting the machine."""
    try:
        import resource

        phys = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        cap = max(4 << 30, phys // 2)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, ValueError, OSError):
        pass


def _main() -> None:
    import onnx  # noqa: F401 - imported while the parent prepares its first request

    _limit_memory()
    fd_in = sys.stdin.fileno()
    fd_out = os.dup(sys.stdout.fileno())  # the protocol's channel; anything onnx prints goes to stderr
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(fd_in, fd_out)


# ---------------------------------------------------------------------------------------------------- parent side
#: runs this file as the worker without putting its folder (inferrt/onnx, whose module names are generic) or the
#: current directory on sys.path
_BOOT = ("import runpy, sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; "
         "runpy.run_path(sys.argv[1], run_name='__main__')")


class _Worker:
    def __init__(self):
        import subprocess
        import tempfile

        self.log = tempfile.TemporaryFile()
        env = dict(os.environ)
        env.pop("PYTHONSTARTUP", None)
        self.proc = subprocess.Popen([sys.executable, "-c", _BOOT, os.path.abspath(__file__)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, env=env, close_fds=True)
        self.pid = os.getpid()

    def alive(self) -> bool:
        return self.pid == os.getpid() and self.proc.poll() is None

    def call(self, op: str, args: dict, blobs, timeout: float):
        import time

        try:
            _write_frame(self.proc.stdin.fileno(), {"op": op, "args": args}, blobs)
            return _read_frame(self.proc.stdout.fileno(), time.monotonic() + timeout)
        except TimeoutError:
            self.kill()
            raise NativeFailure(f"did not finish within {timeout:g} s (set INFERRT_ONNX_NATIVE_TIMEOUT to allow "
                                f"more)") from None
        except (EOFError, OSError, ValueError) as e:  # died (end of file, broken pipe) or sent a bad frame
            import subprocess

            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            raise NativeFailure(self._death(e)) from None

    def _death(self, e) -> str:
        import signal

        rc = self.proc.returncode
        if rc is not None and rc < 0:
            try:
                how = f"was killed by {signal.Signals(-rc).name}"
            except ValueError:
                how = f"was killed by signal {-rc}"
        elif rc is not None:
            how = f"exited with status {rc}"
        else:
            how = f"broke the protocol ({type(e).__name__}: {e})"
        tail = self.stderr_tail()
        return how + (f" ({tail})" if tail else "")

    def stderr_tail(self) -> str:
        try:
            self.log.seek(0)
            lines = [ln.strip() for ln in self.log.read().decode(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.close()

    def close(self):
        for f in (self.proc.stdin, self.proc.stdout, self.log):
            try:
                f.close()
            except OSError:
                pass


_worker: _Worker | None = None
_lock = threading.Lock()


def _shutdown() -> None:
    """At exit: close the worker's input (it exits on end of file) and reap it."""
    if _worker is not None and _worker.pid == os.getpid():
        try:
            _worker.proc.stdin.close()
            _worker.proc.wait(timeout=2)
        except Exception:  # noqa: BLE001 - a stuck worker is killed
            _worker.kill()
        _worker.close()


_hooked_pids: list[int] = []  # processes whose exit hook is registered


def _timeout() -> float:
    try:
        return max(0.1, float(os.environ.get("INFERRT_ONNX_NATIVE_TIMEOUT", "120")))
    except ValueError:
        return 120.0


def call(op: str, args: dict | None = None, blobs=(), timeout: float | None = None):
    """Run ``op`` in the worker; returns (reply header, blobs). Raises NativeFailure if the worker dies or times
    out (it is restarted on the next call), or the onnx exception the operation raised."""
    global _worker
    with _lock:
        if _worker is None or not _worker.alive():
            _start()
        try:
            reply, out = _worker.call(op, args or {}, [bytes(b) for b in blobs], timeout or _timeout())
        except NativeFailure:
            _worker.kill()
            _worker = None
            raise
    if not reply.get("ok"):
        raise _rebuild_error(reply.get("type", ""), reply.get("message", ""))
    return reply, out


def prestart() -> None:
    """Start the worker now without waiting for it (its onnx import overlaps the caller's work)."""
    global _worker
    with _lock:
        if _worker is None or not _worker.alive():
            try:
                _start()
            except NativeFailure:
                pass  # the first call reports it


def _start() -> None:
    global _worker
    if _worker is not None and _worker.pid == os.getpid():
        _worker.kill()
    if os.getpid() not in _hooked_pids:
        import atexit

        atexit.register(_shutdown)
        _hooked_pids.append(os.getpid())
    try:
        _worker = _Worker()
    except OSError as e:
        _worker = None
        raise NativeFailure(f"could not be started ({e})", startup=True) from None


def worker_pid() -> int | None:
    """The process id of the running worker (None when none is running)."""
    return _worker.proc.pid if _worker is not None and _worker.alive() else None


def _rebuild_error(kind: str, message: str) -> Exception:
    import onnx

    table = {"ValidationError": onnx.checker.ValidationError, "InferenceError": onnx.shape_inference.InferenceError,
             "ValueError": NativeValueError, "TypeError": TypeError, "KeyError": KeyError, "IndexError": IndexError}
    cls = table.get(kind)
    return NativeError(f"{kind}: {message}") if cls is None else cls(message)


# ---------------------------------------------------------------------------------------------------- entry points
def check_model(model) -> None:
    """``onnx.checker.check_model`` in the worker."""
    call("check_model", {}, [model.SerializeToString()])


def infer_shapes(model, check_type=False, strict_mode=False):
    """``onnx.shape_inference.infer_shapes`` in the worker."""
    import onnx

    _, out = call("infer_shapes", {"check_type": check_type, "strict_mode": strict_mode},
                  [model.SerializeToString()])
    return onnx.ModelProto.FromString(out[0])


def convert_version(model, target: int):
    """``onnx.version_converter.convert_version`` in the worker."""
    import onnx

    _, out = call("convert_version", {"target": int(target)}, [model.SerializeToString()])
    return onnx.ModelProto.FromString(out[0])


def inline_local_functions(model):
    """``onnx.inliner.inline_local_functions`` in the worker."""
    import onnx

    _, out = call("inline_local_functions", {}, [model.SerializeToString()])
    return onnx.ModelProto.FromString(out[0])


def context_function(op_type, opset, domain, version, node_bytes, input_types):
    """The serialized FunctionProto of a context-dependent function op (``b""`` when ONNX builds none)."""
    reply, out = call("context_function", {"op_type": op_type, "opset": int(opset), "domain": domain,
                                           "version": int(version)}, [node_bytes] + list(input_types))
    return out[0] if reply.get("found") and out else b""


def infer_node_outputs(op_type, opset, domain, node, known: dict, opsets: dict) -> dict:
    """``onnx.shape_inference.infer_node_outputs`` in the worker: {output name: TypeProto}."""
    import onnx

    names = list(known)
    reply, out = call("infer_node_outputs", {"op_type": op_type, "opset": int(opset), "domain": domain,
                                             "names": names, "opsets": [[d, int(v)] for d, v in opsets.items()]},
                      [node.SerializeToString()] + [known[n].SerializeToString() for n in names])
    return {n: onnx.TypeProto.FromString(b) for n, b in zip(reply.get("names", []), out)}


if __name__ == "__main__":
    _main()
