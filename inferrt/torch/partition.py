"""Partitioning: which aten nodes run in inferrt engines and which stay in PyTorch, and why.

A node converts when it is a function call with a registered converter, the converter accepts this use of the op,
its tensors have types inferrt engines hold, and the user did not list it in ``torch_executed_ops``. PyTorch's
CapabilityBasedPartitioner groups convertible nodes into the largest acyclic blocks; blocks with fewer than
``min_block_size`` compute ops stay in PyTorch (a tiny engine costs more in launch and copies than it saves).
Weights used by an engine block are moved into it, so they are constants to the builder (folded, pre-packed).
"""
from __future__ import annotations

import dataclasses
import operator

import torch
import torch.fx
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
from torch.fx.passes.operator_support import OperatorSupportBase
from torch.fx.passes.utils.fuser_utils import fuse_by_partitions

from inferrt.torch.converters import lookup, target_name

_ENGINE_TYPES = {torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool, torch.int8,
                 torch.uint8}
#: ops that do no work of their own; they do not count towards min_block_size
_FREE = {operator.getitem, torch.ops.aten.sym_size.int, torch.ops.aten._assert_tensor_metadata.default,
         torch.ops.aten.view.default, torch.ops.aten.reshape.default, torch.ops.aten.clone.default,
         torch.ops.aten.dropout.default, torch.ops.aten.contiguous.default, torch.ops.aten.detach.default}


def why_not(node: torch.fx.Node, settings) -> str | None:
    """The reason ``node`` cannot run in an engine, or None when it can."""
    if node.op != "call_function":
        return f"{node.op} nodes run in PyTorch"
    name = target_name(node.target)
    if name in settings.torch_executed_ops or name.rsplit(".", 1)[0] in settings.torch_executed_ops:
        return "listed in torch_executed_ops"
    conv = lookup(node.target)
    if conv is None and isinstance(node.target, torch._ops.HigherOrderOperator):
        return (f"control flow ({name}) runs in PyTorch; its branches are partitioned and built on their own "
                f"(see the branch sections)")
    if conv is None:
        return f"no converter for {name}"
    vals = [node.meta.get("val")] + [a.meta.get("val") for a in node.all_input_nodes]
    for v in vals:
        for t in (v if isinstance(v, (list, tuple)) else [v]):
            if isinstance(t, torch.Tensor) and t.dtype not in _ENGINE_TYPES:
                return f"{t.dtype} tensors do not run in inferrt engines"
    if conv.supports is not None:
        reason = conv.supports(node)
        if reason:
            return reason
    return None


class _Support(OperatorSupportBase):
    def __init__(self, settings):
        self.settings = settings
        self.reasons: dict = {}

    def is_node_supported(self, submodules, node) -> bool:
        r = why_not(node, self.settings)
        if r:
            self.reasons[node.name] = r
        return r is None


@dataclasses.dataclass
class Placement:
    """Where each call of the graph runs: ``engines`` lists the node names of each engine block, ``torch`` maps
    every node left in PyTorch to the reason."""
    engines: list
    torch: dict
    targets: dict

    def report(self) -> "DryRunReport":
        return DryRunReport(self)


class DryRunReport:
    """What ``inferrt.torch.compile(..., dryrun=True)`` returns: what runs where and why. ``str()`` is a table."""

    def __init__(self, placement: Placement):
        self.placement = placement
        self.branches: dict = {}  # torch.cond branch name -> its DryRunReport

    @property
    def num_engines(self) -> int:
        return len(self.placement.engines)

    def where(self, node_name: str) -> str:
        for i, names in enumerate(self.placement.engines):
            if node_name in names:
                return f"engine {i}"
        return "pytorch"

    def reason(self, node_name: str) -> str | None:
        return self.placement.torch.get(node_name)

    def to_dict(self) -> dict:
        return {"engines": [list(e) for e in self.placement.engines], "pytorch": dict(self.placement.torch),
                "branches": {k: v.to_dict() for k, v in self.branches.items()}}

    def __str__(self):
        p = self.placement
        n_engine = sum(len(e) for e in p.engines)
        lines = [f"inferrt partition: {n_engine} ops in {len(p.engines)} engine(s), {len(p.torch)} op(s) in PyTorch"]
        for i, names in enumerate(p.engines):
            ops = sorted({p.targets[n] for n in names})
            lines.append(f"  engine {i}: {len(names)} ops ({', '.join(ops[:12])}{' ...' if len(ops) > 12 else ''})")
        for name, why in p.torch.items():
            lines.append(f"  pytorch: {name} ({p.targets.get(name, '?')}): {why}")
        for name, sub in self.branches.items():
            lines.append(f"  branch {name}:")
            lines.extend("  " + line for line in str(sub).splitlines())
        return "\n".join(lines)

    __repr__ = __str__


def place(gm: torch.fx.GraphModule, settings) -> Placement:
    support = _Support(settings)
    partitioner = CapabilityBasedPartitioner(gm, support, allows_single_node_partition=True)
    partitions = partitioner.propose_partitions()
    targets = {n.name: target_name(n.target) for n in gm.graph.nodes if n.op == "call_function"}
    engines, small = [], {}
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    for part in sorted(partitions, key=lambda p: min(order[n] for n in p.nodes)):
        nodes = sorted(part.nodes, key=order.get)
        work = sum(1 for n in nodes if n.target not in _FREE)
        if work < settings.min_block_size or work == 0:
            for n in nodes:
                small[n.name] = (f"in a block of {work} compute op(s), fewer than "
                                 f"min_block_size={settings.min_block_size}")
            continue
        engines.append([n.name for n in nodes])
    torch_nodes = {}
    for n in gm.graph.nodes:
        if n.op != "call_function":
            continue
        if n.name in small:
            torch_nodes[n.name] = small[n.name]
        elif n.name in support.reasons:
            torch_nodes[n.name] = support.reasons[n.name]
    return Placement(engines, torch_nodes, targets)


def fuse(gm: torch.fx.GraphModule, engines: list) -> list:
    """Replace each engine block (node names) by a ``call_module`` of a new submodule; returns the submodule names in
    block order. Weights (get_attr) read by a block become constants inside it."""
    by_name = {n.name: n for n in gm.graph.nodes}
    missing = [nm for block in engines for nm in block if nm not in by_name]
    if missing:
        raise KeyError(f"graph nodes {missing[:5]} of the saved partition are not in the graph")
    parts = [_with_local_sizes(gm, [by_name[nm] for nm in block]) for block in engines]
    fuse_by_partitions(gm, parts, prefix="inferrt_engine_", always_return_tuple=True)
    names = [f"inferrt_engine_{i}" for i in range(len(engines))]
    for name in names:
        _internalize_weights(gm, name)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return names


def _is_size(n) -> bool:
    return n.op == "call_function" and isinstance(n.meta.get("val"), torch.SymInt)


def _with_local_sizes(gm, nodes: list) -> dict:
    """The block's nodes plus private copies of the symbolic-size computations (``sym_size`` and int arithmetic on
    it) it reads from outside, so sizes are computed from the block's input tensors inside the engine rather than
    passed in as ints."""
    block = dict.fromkeys(nodes)
    copies: dict = {}

    def local(a, before):
        if a in copies:
            return copies[a]
        with gm.graph.inserting_before(before):
            c = gm.graph.call_function(a.target, a.args, dict(a.kwargs))
        c.meta = dict(a.meta)
        copies[a] = c
        c.args = tuple(local(x, c) if isinstance(x, torch.fx.Node) and _is_size(x) else x for x in c.args)
        block[c] = None
        return c

    for n in nodes:
        for a in list(n.all_input_nodes):
            if a not in block and _is_size(a):
                n.replace_input_with(a, local(a, n))
    return block


def _internalize_weights(gm, name):
    sub = getattr(gm, name)
    call = next(n for n in gm.graph.nodes if n.op == "call_module" and n.target == name)
    placeholders = [n for n in sub.graph.nodes if n.op == "placeholder"]
    keep = []
    for ph, arg in zip(placeholders, call.args):
        if isinstance(arg, torch.fx.Node) and arg.op == "get_attr":
            value = gm
            for part in arg.target.split("."):
                value = getattr(value, part)
            attr = "w_" + arg.target.replace(".", "_")
            sub.register_buffer(attr, value, persistent=False) if isinstance(value, torch.Tensor) else \
                setattr(sub, attr, value)
            with sub.graph.inserting_before(ph):
                g = sub.graph.get_attr(attr)
            g.meta = dict(ph.meta)
            ph.replace_all_uses_with(g)
            sub.graph.erase_node(ph)
        else:
            keep.append(arg)
    call.args = tuple(keep)
    sub.recompile()
