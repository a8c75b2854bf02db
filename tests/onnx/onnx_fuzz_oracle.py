"""The oracle of the ONNX fuzz test: parse, build on the CPU, reload the plan, run, and classify the outcome."""
from __future__ import annotations

import re
import signal

import numpy as np


INTERNAL = re.compile(r"please report|INTERNAL_ERROR|Traceback", re.I)
NAMES_LAYER = re.compile(r"\b(layer|node)\b '|\b(layer|node) \"", re.I)
RUN_LIMIT = 1 << 26  # bytes of inputs + activations a fuzz case may run with


class Outcome:
    """Kinds: refused_parse, refused_build, ran, run_error (an inferrt error naming the layer), too_big (built,
    more memory than the test runs with); bad kinds fail the test: internal (an internal-error message), raw (an
    exception that is not an inferrt error), plan_rejected (the loader refused a plan the builder wrote),
    unnamed_run_error (an inferrt run-time error naming no layer), hang."""

    GOOD = ("refused_parse", "refused_build", "ran", "run_error", "too_big")

    def __init__(self, kind, detail=""):
        self.kind = kind
        self.detail = detail

    def __repr__(self):
        return f"{self.kind}: {self.detail[:500]}"


class _Hang(BaseException):  # not an Exception: code under test must not catch it
    pass


def _alarm(signum, frame):
    raise _Hang


def _input_shapes(engine) -> dict:
    return {name: tuple(engine.get_tensor_profile_shape(name, 0)[1]) if -1 in tuple(engine.get_tensor_shape(name))
            else tuple(engine.get_tensor_shape(name)) for name in engine.input_names}


def _feed(engine, shapes, rng_np):
    feeds = {}
    for name, shape in shapes.items():
        dt = engine.get_tensor_dtype(name).name
        if dt in ("FLOAT", "HALF", "BF16"):
            arr = rng_np.standard_normal(shape).astype(np.float16 if dt == "HALF" else np.float32)
            if dt == "BF16":
                import torch

                arr = torch.from_numpy(arr).to(torch.bfloat16)
        elif dt == "BOOL":
            arr = rng_np.random(shape) < 0.5
        else:
            np_dt = {"INT64": np.int64, "INT32": np.int32, "INT8": np.int8, "UINT8": np.uint8}.get(dt, np.int32)
            arr = rng_np.integers(0, 3, shape).astype(np_dt)
        feeds[name] = arr
    return feeds


def _profiles(builder, network, config):
    for i in range(network.num_inputs):
        t = network.get_input(i)
        shape = tuple(t.shape)
        if any(d < 0 for d in shape):
            fixed = tuple(2 if d < 0 else d for d in shape)
            p = builder.create_optimization_profile()
            p.set_shape(t.name, fixed, fixed, fixed)
            config.add_optimization_profile(p)
            # one profile with every dynamic input
            for j in range(network.num_inputs):
                u = network.get_input(j)
                if j != i and any(d < 0 for d in u.shape):
                    f2 = tuple(2 if d < 0 else d for d in u.shape)
                    p.set_shape(u.name, f2, f2, f2)
            return


def run_case(data: bytes, seed: int = 0, timeout_s: int = 120) -> Outcome:
    """Parse, build (CPU), reload the plan, run; the outcome kind and what it said. A case still running after
    ``timeout_s`` is a hang (the slowest legitimate mutants, Loops whose trip count became 10**6, take about a
    minute on one CPU core)."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout_s)
    try:
        return _run_case(data, seed)
    except _Hang:
        return Outcome("hang", f"no outcome within {timeout_s} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _run_case(data, seed):
    import inferrt
    from inferrt.errors import BuildError, InferrtError, PlanError
    from inferrt.logger import Logger, Severity
    from inferrt.onnx.parser import OnnxParser

    logger = Logger(Severity.INTERNAL_ERROR)
    builder = inferrt.Builder(logger)
    if seed % 8 == 0:  # TensorRT's supports_model walks the same paths with its own bookkeeping
        try:
            OnnxParser(builder.create_network(), logger).supports_model(data)
        except _Hang:
            raise
        except Exception as e:  # noqa: BLE001
            return Outcome("raw", f"supports_model raised {type(e).__name__}: {e}")
    network = builder.create_network()
    parser = OnnxParser(network, logger)
    try:
        ok = parser.parse(data)
    except _Hang:
        raise
    except Exception as e:  # noqa: BLE001
        return Outcome("raw", f"parse raised {type(e).__name__}: {e}")
    if not ok:
        errs = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        if not errs:
            return Outcome("internal", "parse returned False without an error")
        bad = [e for e in errs if INTERNAL.search(e)]
        return Outcome("internal", bad[0]) if bad else Outcome("refused_parse", errs[0])
    config = builder.create_builder_config()
    config.device = "cpu"
    try:
        _profiles(builder, network, config)
        plan = builder.build(network, config)
    except _Hang:
        raise
    except BuildError as e:
        return Outcome("internal", str(e)) if INTERNAL.search(str(e)) else Outcome("refused_build", str(e))
    except Exception as e:  # noqa: BLE001
        return Outcome("raw", f"build raised {type(e).__name__}: {e}")
    try:
        engine = inferrt.load_engine(bytes(plan))
    except PlanError as e:
        return Outcome("plan_rejected", str(e))
    except Exception as e:  # noqa: BLE001
        return Outcome("raw", f"load raised {type(e).__name__}: {e}")
    try:
        shapes = _input_shapes(engine)
        need = engine.device_memory_size + sum(8 * int(np.prod(s, dtype=object)) for s in shapes.values())
        if need > RUN_LIMIT:
            return Outcome("too_big", f"{need} bytes")
        feeds = _feed(engine, shapes, np.random.default_rng(seed))
        ctx = engine.create_execution_context()
        if ctx is None:
            return Outcome("raw", "create_execution_context returned None")
        ctx.infer(feeds)
    except _Hang:
        raise
    except InferrtError as e:
        if INTERNAL.search(str(e)):
            return Outcome("internal", str(e))
        return Outcome("run_error", str(e)) if NAMES_LAYER.search(str(e)) else Outcome("unnamed_run_error", str(e))
    except Exception as e:  # noqa: BLE001
        return Outcome("raw", f"run raised {type(e).__name__}: {e}")
    return Outcome("ran")
