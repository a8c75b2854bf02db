"""Convert an FX graph of aten ops (a whole graph or one partition) into an inferrt network and build its plan.

Placeholders become network inputs (symbolic dims as -1, with an optimization profile from their
``torch.export.Dim`` ranges); symbolic-int placeholders become 1-element INT64 inputs; every other node goes through
its converter (``converters/``); the graph outputs are marked as network outputs in the types PyTorch gives them.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.fx

from inferrt.dtypes import from_torch_dtype
from inferrt.enums import BuilderFlag, DataType, NetworkDefinitionCreationFlag
from inferrt.errors import BuildError
from inferrt.torch.converters import lookup, target_name
from inferrt.torch.converters.context import ConversionError, ConvertContext, SymDim
from inferrt.torch.input_specs import spec_of


@dataclasses.dataclass
class EngineArtifact:
    """A built engine of one graph piece: its plan and how to call it."""
    #: the plan; None for an engine the cache refitted, whose plan (with the new weights) is written on first use
    plan: bytes | None
    inputs: list           # InputSpec per engine input, in call order
    outputs: list          # [{"name", "kind": "tensor"|"int"}] per graph output, in order
    tuple_output: bool     # the piece returns a tuple (else one value)
    nodes: list            # names of the FX nodes it runs
    #: the plan already loaded (the cache's), for EngineModule to use instead of loading ``plan``
    engine: object = dataclasses.field(default=None, repr=False, compare=False)

    def plan_bytes(self) -> bytes:
        """The plan, weights included (a refitted engine's is serialized now: only saving needs it)."""
        if self.plan is None:
            from inferrt.refit.reserialize import reserialize

            self.plan = bytes(reserialize(self.engine, strip=False))
        return self.plan

    def meta(self) -> dict:
        return {"inputs": [s.to_json() for s in self.inputs], "outputs": self.outputs,
                "tuple_output": self.tuple_output, "nodes": self.nodes}


def _attr_getter(gm):
    def get(target):
        obj = gm
        for part in target.split("."):
            obj = getattr(obj, part)
        return obj
    return get


def build_network(gm: torch.fx.GraphModule, network, specs: list):
    """Fill ``network`` from ``gm``; returns (output descriptions, tuple_output)."""
    ctx = ConvertContext(network, _attr_getter(gm))
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    for node, spec in zip(placeholders, specs):
        if spec.kind == "int":
            t = network.add_input(node.name, DataType.INT64, (1,))
            ctx.values[node] = SymDim(t)
        else:
            shape = tuple(-1 if mn != mx else mn for mn, _, mx in spec.dims)
            ctx.values[node] = network.add_input(node.name, from_torch_dtype(getattr(torch, spec.dtype)), shape)
    out_node = None
    for node in gm.graph.nodes:
        ctx.node = node
        if node.op == "placeholder":
            continue
        if node.op == "get_attr":
            ctx.values[node] = ctx.parameter(node.target)
            continue
        if node.op == "output":
            out_node = node
            break
        if node.op != "call_function":
            ctx.fail(f"{node.op} nodes cannot be converted")
        conv = lookup(node.target)
        if conv is None:
            ctx.fail(f"no converter for {target_name(node.target)}")
        ctx.values[node] = conv.fn(ctx, node)
    ctx.node = out_node
    result = out_node.args[0]
    tuple_output = isinstance(result, (list, tuple))
    results = list(result) if tuple_output else [result]
    outputs, marked = [], set()
    for i, r in enumerate(results):
        name = f"output_{i}" if not isinstance(r, torch.fx.Node) else r.name
        v = ctx.evaluate(r)
        kind = "int" if isinstance(v, (SymDim, int)) and not isinstance(v, bool) else "tensor"
        if isinstance(v, int) and not isinstance(v, bool):
            v = ctx.ints([v])
        t = ctx.tensor(v)
        want = ctx.out_dtype(r) if isinstance(r, torch.fx.Node) and kind == "tensor" else DataType.INT64
        if want is not None and t.dtype != want:
            t = ctx.cast(t, want)
        if id(t) in marked or network.internal.producer(t) is None:
            t = ctx.identity(t)
        marked.add(id(t))
        t.name = f"out{i}:{name}"
        network.mark_output(t)
        outputs.append({"name": t.name, "kind": kind})
    return outputs, tuple_output


def _is_float_tensor(v) -> bool:
    return isinstance(v, torch.Tensor) and v.is_floating_point()


def network_flags(settings) -> int:
    return 1 << int(NetworkDefinitionCreationFlag.STRONGLY_TYPED) if settings.precision == "strongly_typed" else 0


def convert(gm: torch.fx.GraphModule, settings, logger, specs: list | None = None,
            refittable: bool = False) -> EngineArtifact:
    """Build ``gm`` into a plan. Raises BuildError naming the node that failed to convert or build.
    ``refittable``: build with BuilderFlag.REFIT when the graph reads floating-point tensors (the engine cache refits
    such plans, graph_refitter.py)."""
    from inferrt.builder.builder import Builder

    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    specs = specs or [spec_of(n.name, n.meta.get("val")) for n in placeholders]
    builder = Builder(logger)
    network = builder.create_network(network_flags(settings))
    try:
        outputs, tuple_output = build_network(gm, network, specs)
    except ConversionError as e:
        causes = network.internal.layer_errors()[:3]
        why = ("; caused by " + "; ".join(causes)) if causes else ""
        raise BuildError(f"converting the graph to an inferrt network failed: {e}{why}") from None
    config = builder.create_builder_config()
    config.device = settings.device
    get = _attr_getter(gm)
    if refittable and any(n.op == "get_attr" and _is_float_tensor(get(n.target)) for n in gm.graph.nodes):
        config.set_flag(BuilderFlag.REFIT)
    if not settings.tf32:
        config.clear_flag(BuilderFlag.TF32)
    if settings.precision == "fp16":
        config.set_flag(BuilderFlag.FP16)
    elif settings.precision == "bf16":
        config.set_flag(BuilderFlag.BF16)
    if settings.optimization_level is not None:
        config.builder_optimization_level = int(settings.optimization_level)
    if any(s.dynamic for s in specs):
        prof = builder.create_optimization_profile()
        for s in specs:
            mn, opt, mx = s.profile()
            prof.set_shape(s.name, mn, opt, mx)
        config.add_optimization_profile(prof)
    plan = builder.build(network, config)
    nodes = [n.name for n in gm.graph.nodes if n.op == "call_function"]
    return EngineArtifact(bytes(plan), specs, outputs, tuple_output, nodes)
