"""FlatCall: a compiled graph as a plain function of its flat inputs, for the per-call path.

``ExportedProgram.module()`` wraps the graph in torch.export's calling convention, paid on every call: two forward
pre-hooks (one flattens the arguments against the input spec), a forward hook, the pytree flatten in the generated
``forward``, a call of ``_guards_fn`` (the export's shape guards, as generated Python) and the pytree unflatten of
the outputs. On ResNet-50 with one engine that was most of the time a call spent outside the engine.

Where those checks are already made, the callers run this instead: the same nodes (engine modules and the PyTorch
ops between them) in a plain ``GraphModule`` without hooks or guard call, flat inputs in, the module's output
structure out. The callers are ``CompiledModule`` when every input shape is static (its InputSpec checks are then
exactly the guards' equality checks) and the ``torch.compile`` backend (dynamo has guarded the inputs, and each
build serves one exact input signature).
"""
from __future__ import annotations

import torch
import torch.fx
import torch.utils._pytree as pytree

_GUARDS = "_guards_fn"


class FlatCall:
    def __init__(self, gm: torch.fx.GraphModule):
        graph = torch.fx.Graph()
        out = graph.graph_copy(gm.graph, {})
        graph.output(out)
        for n in list(graph.nodes):
            if n.op == "call_module" and n.target == _GUARDS:
                graph.erase_node(n)
        self.module = torch.fx.GraphModule(gm, graph)
        self._forward = self.module.forward   # bound once: no nn.Module __call__ (hooks, tracing state) per call
        self.num_inputs = sum(1 for n in graph.nodes if n.op == "placeholder")
        in_spec = getattr(gm, "_in_spec", None)
        out_spec = getattr(gm, "_out_spec", None)
        #: the inputs are positional leaves only (``(x, y, ...), {}``): a call's arguments are its flat inputs
        self.positional = in_spec is None or in_spec == pytree.tree_structure(((0,) * self.num_inputs, {}))
        self._out_spec = out_spec
        leaves = out_spec is not None and all(out_spec.child(i).is_leaf() for i in range(out_spec.num_children))
        if out_spec is None or (out_spec.type is tuple and leaves):
            self._out = "flat"
        elif out_spec.is_leaf():
            self._out = "leaf"
        else:
            self._out = "tree"

    def __call__(self, *flat):
        outs = self._forward(*flat)
        if self._out == "flat":
            return tuple(outs)
        if self._out == "leaf":
            return outs[0]
        return pytree.tree_unflatten(list(outs), self._out_spec)
