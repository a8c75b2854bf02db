"""The Pythonic layer: one-call build, plan save/load, raising inferrt exceptions instead of returning None.

    engine = inferrt.build_engine("model.onnx", profiles={"x": [(1, 3, 224, 224), (8, 3, 224, 224), (32, 3, 224, 224)]})
    inferrt.save_plan(engine, "model.plan")
    engine = inferrt.load_engine("model.plan")
    outputs = engine.create_execution_context().infer({"x": array})
"""
from __future__ import annotations

import numbers
import os

from .enums import BuilderFlag
from .errors import BuildError, ParseError, PlanError
from .logger import Logger, Severity


def profile_spanning(feeds) -> dict:
    """The ``profiles`` entry ``{input: (min, opt, max)}`` covering every feed's shapes (``feeds``: a list of
    ``{input: array}``; opt is the first feed's shape)."""
    import numpy as np

    prof = {}
    for name in feeds[0]:
        shapes = [tuple(np.shape(f[name])) for f in feeds]
        lo = tuple(min(s[i] for s in shapes) for i in range(len(shapes[0])))
        hi = tuple(max(s[i] for s in shapes) for i in range(len(shapes[0])))
        prof[name] = (lo, shapes[0], hi)
    return prof


def _export_torch(module, example_inputs, profiles, input_names):
    """ONNX bytes of a torch module (opset 17); dims that vary across ``profiles`` are exported as dynamic."""
    import io

    import torch

    if example_inputs is None:
        raise TypeError("building from a torch.nn.Module needs example_inputs=(tensor, ...) to trace it")
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    names = list(input_names or [f"input_{i}" for i in range(len(example_inputs))])
    dynamic = {}
    for prof in _profile_list(profiles):
        for name, (mn, _, mx) in prof.items():
            dims = {i: f"{name}_d{i}" for i, (a, b) in enumerate(zip(mn, mx)) if a != b}
            if dims:
                dynamic.setdefault(name, {}).update(dims)
    buf = io.BytesIO()
    was_training = module.training
    module.eval()
    # PyTorch's fused MultiheadAttention / TransformerEncoderLayer fast path (taken in eval mode without grad)
    # traces to ops ONNX has no mapping for (aten::_native_multi_head_attention, _transformer_encoder_layer_fwd);
    # the plain path computes the same function
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            torch.onnx.export(module, tuple(example_inputs), buf, input_names=names, opset_version=17,
                              dynamic_axes=dynamic or None, dynamo=False)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        module.train(was_training)
    return buf.getvalue()


def _profile_list(profiles) -> list[dict]:
    """``profiles=``: one dict or a list of dicts {input name: (min, opt, max) shapes}; BuildError naming the input
    whose entry is not three shapes."""
    if profiles is None:
        return []
    listed = [profiles] if isinstance(profiles, dict) else profiles
    if not isinstance(listed, (list, tuple)) or not all(isinstance(p, dict) for p in listed):
        raise BuildError(f"profiles must be a dict {{input name: (min, opt, max)}} or a list of such dicts, got "
                         f"{type(profiles).__name__}")
    for i, prof in enumerate(listed):
        for name, triple in prof.items():
            ok = isinstance(triple, (list, tuple)) and len(triple) == 3 and all(
                isinstance(shape, (list, tuple)) and all(isinstance(d, numbers.Integral) and not isinstance(d, bool)
                                                         for d in shape) for shape in triple)
            if not ok:
                raise BuildError(f"profiles[{i}][{name!r}] must be three shapes (min, opt, max) of integers, for "
                                 f"example ((1, 3, 224, 224), (8, 3, 224, 224), (32, 3, 224, 224)); got "
                                 f"{str(triple)[:120]}")
    return list(listed)


def network_from(source, builder, logger):
    from .ir.network import INetworkDefinition

    if isinstance(source, INetworkDefinition):
        return source
    if isinstance(source, (str, os.PathLike, bytes, bytearray)) or hasattr(source, "SerializeToString"):
        from .onnx.parser import OnnxParser

        network = builder.create_network()
        parser = OnnxParser(network, logger)
        if hasattr(source, "SerializeToString"):
            ok = parser.parse(source.SerializeToString())
        elif isinstance(source, (bytes, bytearray)):
            ok = parser.parse(bytes(source))
        else:
            ok = parser.parse_from_file(os.fspath(source))
        if not ok:
            errs = [parser.get_error(i) for i in range(parser.num_errors)]
            raise ParseError("the ONNX model could not be imported:\n  " + "\n  ".join(str(e) for e in errs), errs)
        return network
    raise TypeError(f"cannot build from a {type(source).__name__}; pass an INetworkDefinition, an ONNX file path, "
                    f"ONNX bytes or an onnx.ModelProto")


def build_engine(source, *, profiles=None, fp16=False, bf16=False, device=None, logger=None, config=None,
                 optimization_level=None, example_inputs=None, input_names=None):
    """Build an engine from a network, an ONNX path/bytes/ModelProto, or a ``torch.nn.Module`` (traced with
    ``example_inputs`` and exported to ONNX opset 17; inputs are named ``input_names`` or ``input_0``...).
    ``profiles``: one dict or a list of dicts ``{input: (min, opt, max)}``; dims that differ between min and max are
    dynamic. Raises ParseError or BuildError with every problem found."""
    from .builder.builder import Builder
    from .runtime.load import load_engine as _load

    logger = logger or Logger(Severity.WARNING)
    builder = Builder(logger)
    if _is_torch_module(source):
        source = _export_torch(source, example_inputs, profiles, input_names)
    network = network_from(source, builder, logger)
    config = config or builder.create_builder_config()
    if device is not None:
        config.device = device
    if fp16:
        config.set_flag(BuilderFlag.FP16)
    if bf16:
        config.set_flag(BuilderFlag.BF16)
    if optimization_level is not None:
        config.builder_optimization_level = optimization_level
    for prof in _profile_list(profiles):
        p = builder.create_optimization_profile()
        for name, (mn, op, mx) in prof.items():
            p.set_shape(name, mn, op, mx)
        if p._errors:
            raise BuildError("; ".join(p._errors))
        config.add_optimization_profile(p)
    plan = builder.build(network, config)
    return _load(plan, logger, device=config.device if config.device not in (None, "auto") else None)


def save_plan(engine_or_plan, path) -> None:
    """Write an engine's plan (or plan bytes) to ``path``."""
    data = engine_or_plan.serialize() if hasattr(engine_or_plan, "serialize") else engine_or_plan
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"save_plan takes an engine or plan bytes, not a {type(data).__name__}")
    with open(path, "wb") as f:
        f.write(bytes(data))


def load_engine(plan, logger=None, device=None):
    """Load an engine from a plan path or bytes; raises PlanError naming what is wrong. ``device`` (``cuda:N``,
    ``N`` or a ``torch.device``) places a GPU plan's engine on that GPU (default: the current one)."""
    from .runtime.load import load_engine as _load

    if isinstance(plan, (str, os.PathLike)):
        try:
            with open(plan, "rb") as f:
                plan = f.read()
        except OSError as e:
            raise PlanError(f"cannot read plan file: {e}") from None
    return _load(plan, logger, device=device)


def _is_torch_module(obj) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)
