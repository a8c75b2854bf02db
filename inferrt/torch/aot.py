"""Ahead-of-time compile: ``inferrt.torch.compile(module, example_inputs, dynamic_shapes=...)``.

    module --torch.export--> ExportedProgram (aten graph, weights as constants, Dim ranges)
           --partition--> engine blocks + PyTorch nodes --convert--> inferrt plans (one per block)
           --> CompiledModule (same call signature; engine blocks replaced by EngineModules)

Data-dependent Python control flow cannot be exported: it raises ParseError pointing at ``torch.cond`` or at
``torch.compile(backend="inferrt")``, which breaks the graph there and compiles the pieces.
"""
from __future__ import annotations

import copy

import torch
import torch.utils._pytree as pytree

from inferrt.device import on_device
from inferrt.errors import BindingError, ParseError
from inferrt.logger import Logger, Severity
from inferrt.torch.compiled_module import CompiledModule
from inferrt.torch.engine_module import EngineModule
from inferrt.torch.input_specs import spec_of
from inferrt.torch.partition import fuse, place
from inferrt.torch.settings import CompileSettings

_LEAF_TYPES = (torch.Tensor, int, float, bool, type(None))


def check_example_inputs(args, kwargs):
    for path, leaf in pytree.tree_flatten_with_path((args, kwargs))[0]:
        if not isinstance(leaf, _LEAF_TYPES):
            where = pytree.keystr(path)
            raise BindingError(f"example input {where} is a {type(leaf).__name__}; inferrt.torch.compile takes "
                               f"tensors, Python numbers and (nested) lists/tuples/dicts of them")


def export(module, args, kwargs=None, dynamic_shapes=None):
    """torch.export of ``module`` in eval mode; ParseError for what cannot be exported (control flow...)."""
    try:
        with torch.no_grad():
            return torch.export.export(module, tuple(args), kwargs=kwargs or None, dynamic_shapes=dynamic_shapes,
                                       strict=False)
    except Exception as e:  # noqa: BLE001 - torch.export raises many types; all mean "cannot capture"
        text = str(e).strip().splitlines()
        head = text[0] if text else type(e).__name__
        hint = ""
        if "data-dependent" in str(e) or "GuardOnDataDependent" in type(e).__name__ or "Could not guard" in str(e):
            hint = (" The module branches on tensor values (data-dependent control flow): rewrite the branch with "
                    "torch.cond, or use torch.compile(module, backend='inferrt'), which breaks the graph there.")
        elif "Constraints violated" in str(e):
            hint = " A dim marked dynamic in dynamic_shapes was specialized by the model code (see above)."
        raise ParseError(f"torch.export could not capture {type(module).__name__}: {type(e).__name__}: {head}.{hint}",
                         [str(e)]) from None


def build_from_exported(ep, settings, logger, source=None, rebuild=None, artifacts=None):
    """Partition and build an ExportedProgram; with ``artifacts`` ({engine name: EngineArtifact}, from a saved file)
    use those plans instead of building. The branches of ``torch.cond`` are partitioned and built the same way
    (their engines are named ``<branch>.inferrt_engine_<i>``); the cond itself runs in PyTorch."""
    gm = ep.module()
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    ranges = dict(ep.range_constraints)
    specs = [spec_of(n.name, n.meta.get("val"), ranges) for n in placeholders]
    if settings.dryrun and artifacts is None:
        report = _dry_run(gm, settings)
        logger.log(Severity.INFO, str(report))
        return report
    engines: dict = {}
    _build_graph(gm, "", settings, logger, ranges, artifacts, engines)
    return CompiledModule(gm, specs, engines, settings, exported=ep, source=source, rebuild=rebuild)


def _branches(gm) -> list[str]:
    """get_attr targets of the subgraphs that ``torch.cond`` nodes of ``gm`` run."""
    out = []
    for n in gm.graph.nodes:
        if n.op == "call_function" and n.target is torch.ops.higher_order.cond:
            out.extend(a.target for a in n.args[1:3] if isinstance(a, torch.fx.Node) and a.op == "get_attr")
    return list(dict.fromkeys(out))


def _dry_run(gm, settings):
    report = place(gm, settings).report()
    for target in _branches(gm):
        report.branches[target] = _dry_run(getattr(gm, target), settings)
    return report


def _build_graph(gm, prefix, settings, logger, ranges, artifacts, engines):
    from inferrt.torch.engine_cache import cached_convert

    branches = _branches(gm)  # before fusing: cond nodes never join an engine block
    if artifacts is None:
        blocks = place(gm, settings).engines
    else:
        blocks, i = [], 0
        while f"{prefix}inferrt_engine_{i}" in artifacts:
            blocks.append(artifacts[f"{prefix}inferrt_engine_{i}"].nodes)
            i += 1
    for name in fuse(gm, blocks):
        key = prefix + name
        art = artifacts[key] if artifacts is not None else cached_convert(getattr(gm, name), settings, logger, ranges)
        engines[key] = art
        with on_device(settings.device):   # "cuda:N": the engine runs on the GPU of the example inputs
            setattr(gm, name, EngineModule(art.plan, art.meta(), settings.cuda_graphs, logger, label=key,
                                           engine=art.engine))
    for target in branches:
        # a copy: ep.module() shares the branch modules with the ExportedProgram, which must stay as exported
        branch = copy.deepcopy(getattr(gm, target))
        setattr(gm, target, branch)
        _build_graph(branch, f"{prefix}{target}.", settings, logger, ranges, artifacts, engines)
    gm.recompile()


def _default_device(args, kwargs):
    for leaf in pytree.tree_leaves((args, kwargs)):
        if isinstance(leaf, torch.Tensor):
            return str(leaf.device)
    return "cpu"


def compile(module, example_inputs=None, dynamic_shapes=None, *, example_kwargs=None, options=None, logger=None,
            **kwargs):  # noqa: A001 - the public name mirrors torch.compile / torch_tensorrt.compile
    """Compile ``module`` ahead of time for inputs like ``example_inputs`` (a tensor or a tuple), or an
    ``torch.export.ExportedProgram`` as it is (its example inputs and Dim ranges are already in it).

    ``dynamic_shapes``: as ``torch.export`` takes it (``torch.export.Dim(name, min=, max=)`` per dynamic dim);
    each Dim range becomes the engines' optimization profile (min, the example's size as opt, max).
    Options (keywords or ``options={...}``): see :class:`CompileSettings`. Returns a :class:`CompiledModule`
    (or, with ``dryrun=True``, a :class:`DryRunReport` and nothing is built)."""
    settings = CompileSettings.from_options(options, **kwargs)
    logger = logger or Logger(Severity.WARNING)
    if isinstance(module, torch.export.ExportedProgram):
        if example_inputs is not None or dynamic_shapes is not None:
            raise TypeError("an ExportedProgram carries its inputs and dynamic shapes: pass it alone")
        if settings.device is None:
            settings.device = _default_device(list(module.state_dict.values()) + list(module.constants.values()),
                                              None)
        return build_from_exported(module, settings, logger)
    if example_inputs is None:
        raise TypeError("inferrt.torch.compile(module, example_inputs): example_inputs are needed to export the "
                        "module")
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"inferrt.torch.compile takes a torch.nn.Module, got {type(module).__name__}")
    args = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
    check_example_inputs(args, example_kwargs)
    if settings.device is None:
        settings.device = _default_device(args, example_kwargs)
    modes = {m: m.training for m in module.modules()}  # restored one by one: train(flag) would set all alike
    module.eval()
    try:
        ep = export(module, args, example_kwargs, dynamic_shapes)
    finally:
        for m, flag in modes.items():
            m.training = flag

    def rebuild():
        return compile(module, example_inputs, dynamic_shapes, example_kwargs=example_kwargs, options=options,
                       logger=logger, **kwargs)

    return build_from_exported(ep, settings, logger, source=module, rebuild=rebuild)
