"""EngineModule: one inferrt engine as a ``torch.nn.Module`` piece of a compiled graph.

Tensors go to the engine as they are (on the engine's device; inputs on another device are copied); a symbolic
size passes as a 1-element INT64 tensor and comes back as an int.

On the GPU the engine runs on a stream of its own that waits for the caller's current stream and that the
caller's stream then waits for (events only): the call returns without synchronizing the host, so PyTorch work
around the engine stays queued behind it, as with any PyTorch op. Tensors crossing the two streams are recorded
on the stream that uses them, so the caching allocator does not reuse their memory too early."""
from __future__ import annotations

import torch

from inferrt.logger import Logger, Severity
from inferrt.torch.input_specs import InputSpec


class EngineModule(torch.nn.Module):
    def __init__(self, plan: bytes | None, meta: dict, cuda_graphs: bool = True, logger=None,
                 label: str = "engine", engine=None):
        """``engine``: the plan already loaded (the engine cache's, refitted); else ``plan`` is loaded here."""
        super().__init__()
        from inferrt.runtime.load import load_engine

        self.meta = meta
        self.label = label
        self.inputs = [s if isinstance(s, InputSpec) else InputSpec.from_json(s) for s in meta["inputs"]]
        self.outputs = meta["outputs"]
        self.tuple_output = bool(meta["tuple_output"])
        self.engine = engine if engine is not None else load_engine(plan, logger or Logger(Severity.WARNING))
        self.context = self.engine.create_execution_context()
        self.cuda_graphs = bool(cuda_graphs)
        if not self.cuda_graphs:
            self.context.cuda_graphs = False
        self.device = self.engine.device
        self._stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None

    def forward(self, *args):
        feeds = {}
        for spec, a in zip(self.inputs, args):
            if spec.kind == "int":
                feeds[spec.name] = torch.tensor([int(a)], dtype=torch.int64, device=self.device)
            else:
                feeds[spec.name] = a if a.device == self.device else a.to(self.device)
        if self._stream is None:
            outs = self.context.infer(feeds)
        else:
            caller = torch.cuda.current_stream(self.device)
            outs = self.context.infer(feeds, stream=self._stream)  # waits for `caller` itself before reading
            for t in feeds.values():
                t.record_stream(self._stream)
            caller.wait_stream(self._stream)
            for t in outs.values():
                if isinstance(t, torch.Tensor):  # a block without tensor inputs answers with numpy
                    t.record_stream(caller)
        res = []
        for o in self.outputs:
            v = outs[o["name"]]
            if not isinstance(v, torch.Tensor):  # a block without tensor inputs: infer() answers with numpy
                v = torch.from_numpy(v).to(self.device)
            res.append(int(v.reshape(-1)[0]) if o["kind"] == "int" else v)
        return tuple(res) if self.tuple_output else res[0]

    def extra_repr(self) -> str:
        return f"{self.label}: {len(self.meta['nodes'])} ops, inputs {[s.name for s in self.inputs]}"
