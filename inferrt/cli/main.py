"""``inferrt`` command line: ``inferrt exec`` builds (or loads) an engine, runs it and reports latency."""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _cmd_exec(args) -> int:
    import inferrt as trt

    try:
        shapes = dict(_parse_shapes(args.shapes))
    except ValueError:
        print(f"error: --shapes {args.shapes!r} is not like name:1x3x224x224[,name2:...]", file=sys.stderr)
        return 2

    logger = trt.Logger(trt.Logger.VERBOSE if args.verbose else trt.Logger.WARNING)
    if args.load_engine:
        try:
            engine = trt.load_engine(args.load_engine, logger)
        except trt.PlanError as e:
            print(f"error: cannot load engine {args.load_engine!r}: {e}", file=sys.stderr)
            return 2
    else:
        builder = trt.Builder(logger)
        config = builder.create_builder_config()
        config.device = args.device
        if args.fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        if args.onnx:
            network = builder.create_network(0)
            parser = trt.OnnxParser(network, logger)
            if not parser.parse_from_file(args.onnx):
                for i in range(parser.num_errors):
                    print(f"error: {parser.get_error(i)}", file=sys.stderr)
                return 2
        else:
            from ..models.mnist import build_mnist_network

            network = build_mnist_network(builder.create_network(0))
        dynamic = [network.get_input(i) for i in range(network.num_inputs)
                   if any(d < 0 for d in network.get_input(i).shape)]
        if dynamic:
            prof = builder.create_optimization_profile()
            for t in dynamic:
                shp = shapes.get(t.name) or tuple(args.batch if d < 0 else d for d in t.shape)
                prof.set_shape(t.name, shp, shp, shp)
            config.add_optimization_profile(prof)
        t0 = time.perf_counter()
        try:
            plan = builder.build(network, config)
        except trt.BuildError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"[build] {time.perf_counter() - t0:.3f} s, plan {len(plan)} bytes")
        if args.save_engine:
            try:
                trt.save_plan(plan, args.save_engine)
            except OSError as e:
                print(f"error: cannot save engine to {args.save_engine!r}: {e}", file=sys.stderr)
                return 2
            print(f"[build] saved plan to {args.save_engine}")
        engine = trt.load_engine(plan, logger)
    ctx = engine.create_execution_context()
    rng = np.random.default_rng(0)
    feeds = {}
    for name in engine.input_names:
        shp = shapes.get(name) or tuple(args.batch if d < 0 else d for d in engine.get_tensor_shape(name))
        dt = trt.nptype(engine.get_tensor_dtype(name))
        feeds[name] = rng.standard_normal(shp).astype(dt) if np.dtype(dt).kind == "f" else \
            rng.integers(0, 2, shp).astype(dt)
    try:
        outs = ctx.infer(feeds)
        times = []
        for _ in range(args.warmup):
            ctx.infer(feeds)
        for _ in range(args.iterations):
            t0 = time.perf_counter()
            ctx.infer(feeds)
            times.append((time.perf_counter() - t0) * 1e3)
    except trt.InferrtError as e:
        print(f"error: inference failed: {e}", file=sys.stderr)
        return 2
    device = engine.manifest["device"]["name"]
    for name, v in outs.items():
        flat = np.asarray(v).reshape(-1)
        first = np.array2string(flat[:10], precision=4, max_line_width=10 ** 6)
        print(f"[output] {name} shape={tuple(np.shape(v))} first values={first}")
    t = np.array(times)
    print(f"[latency] device={device} iterations={len(t)} min={t.min():.3f} ms median={np.median(t):.3f} ms "
          f"mean={t.mean():.3f} ms max={t.max():.3f} ms p99={np.percentile(t, 99):.3f} ms")
    return 0


def _parse_shapes(spec):
    """'x:1x3x224x224,y:1x10' -> [(name, shape)]."""
    if not spec:
        return []
    out = []
    for part in spec.split(","):
        name, _, dims = part.rpartition(":")
        if not name:
            raise ValueError(part)
        out.append((name, tuple(int(d) for d in dims.split("x"))))
    return out


def _positive(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _non_negative(text: str) -> int:
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {v}")
    return v


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="inferrt", description="inferrt: build and run inference engines")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("exec", help="build (or load) an engine, run it on random inputs and report latency "
                                    "(without --onnx/--loadEngine: the built-in MNIST CNN)")
    e.add_argument("--onnx", help="ONNX model to build")
    e.add_argument("--loadEngine", dest="load_engine", help="plan file to load instead of building")
    e.add_argument("--saveEngine", dest="save_engine", help="write the built plan here")
    e.add_argument("--shapes", help="input shapes, e.g. x:8x3x224x224")
    e.add_argument("--batch", type=_positive, default=1, help="batch size for dynamic dims (default 1)")
    e.add_argument("--fp16", action="store_true")
    e.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    e.add_argument("--iterations", type=_positive, default=50)
    e.add_argument("--warmup", type=_non_negative, default=5)
    e.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    return {"exec": _cmd_exec}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
