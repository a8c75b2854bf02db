"""The exported program of an ``inferrt.torch`` file, stored without pickle.

``torch.export.save`` keeps the graph as JSON but the weights, constants and example inputs as ``torch.save``
pickles, and ``torch.export.load`` falls back to ``torch.load(weights_only=False)`` (arbitrary code) when the
restricted unpickler refuses a file. So the program is stored in two parts:

    program.json          torch.export's serialized graph (its JSON, from ``torch._export.serde``)
    tensors/<i>.bin       each state-dict entry and tensor constant as raw bytes; ``index.json`` gives its name,
                          group (state_dict / constants), dtype, shape, device and whether it is a Parameter

and loading hands torch's deserializer the tensors as already-built dicts, so nothing is unpickled. A constant that
is not a tensor (a TorchScript object) cannot be stored this way and ``save`` refuses it.
"""
from __future__ import annotations

import zipfile

from inferrt.errors import PlanError

PROGRAM = "program.json"
_GROUPS = ("state_dict", "constants")


def _dtype(name: str):
    import torch

    dt = getattr(torch, name, None) if isinstance(name, str) and name.isidentifier() else None
    if not isinstance(dt, torch.dtype):
        raise PlanError(f"tensor dtype {name!r} is not a torch dtype")
    return dt


def _program_json(exported) -> bytes:
    """torch.export's JSON of ``exported``'s graph, without its weights, constants or example inputs (those are
    stored as raw tensors by :func:`write_program`)."""
    import inspect

    from torch._export.serde.serialize import serialize

    if "serialize_state_dict" in inspect.signature(serialize).parameters:
        return serialize(exported, serialize_state_dict=False, serialize_constants=False,
                         serialize_example_inputs=False).exported_program
    # older torch (2.11 and before) has no switches: serialize() always pickles the state dict, constants and
    # example inputs next to the JSON. Only the JSON is kept; the pickles are dropped here and never written.
    return serialize(exported).exported_program


def write_program(z: zipfile.ZipFile, exported) -> list:
    """Write ``exported`` into ``z``; the tensor table for ``index.json``."""
    import torch

    groups = (("state_dict", exported.state_dict), ("constants", exported.constants))
    for _, entries in groups:   # refused before anything is serialized
        for name, t in entries.items():
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"inferrt.torch.save: the program's constant {name!r} is a {type(t).__name__}, not a "
                                f"tensor; it could only be stored as a pickle, which inferrt files never hold")
    z.writestr(PROGRAM, _program_json(exported))
    table = []
    for group, entries in groups:
        for name, t in entries.items():
            data = t.detach().to("cpu").contiguous()
            file = f"tensors/{len(table)}.bin"
            z.writestr(file, data.reshape(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b"")
            table.append({"name": name, "group": group, "parameter": isinstance(t, torch.nn.Parameter),
                          "dtype": str(data.dtype).removeprefix("torch."), "shape": list(data.shape), "file": file,
                          "device": str(t.device)})
    return table


def _device(name):
    import torch

    try:
        return torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise PlanError(f"tensor device {name!r} is not a torch device") from None


def read_program(z: zipfile.ZipFile, table, device=None):
    """The ExportedProgram stored by :func:`write_program`; PlanError for a damaged or inconsistent file. Each
    tensor goes to ``device`` when given, else back to the device it was saved from (CPU for files that do not
    record one), as ``torch.export.load`` restores them."""
    import torch
    from torch._export.serde.serialize import SerializedArtifact, deserialize

    groups = {g: {} for g in _GROUPS}
    if not isinstance(table, list):
        raise PlanError("the tensor table is not a list")
    for k, e in enumerate(table):
        if not isinstance(e, dict) or e.get("group") not in _GROUPS or not isinstance(e.get("name"), str):
            raise PlanError(f"tensor entry {k} is malformed")
        dtype = _dtype(e.get("dtype"))
        shape = e.get("shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise PlanError(f"tensor {e['name']!r}: shape {shape!r} is not a list of sizes")
        data = z.read(str(e.get("file")))
        numel = 1
        for d in shape:
            numel *= d
        if len(data) != numel * dtype.itemsize:
            raise PlanError(f"tensor {e['name']!r}: {len(data)} bytes where {shape} of {dtype} needs "
                            f"{numel * dtype.itemsize}")
        t = torch.frombuffer(bytearray(data), dtype=torch.uint8).view(dtype).reshape(shape) if numel else \
            torch.empty(shape, dtype=dtype)
        target = _device(device if device is not None else e.get("device", "cpu"))
        if target.type != "cpu":
            try:
                t = t.to(target)
            except (RuntimeError, AssertionError) as err:   # no CUDA (AssertionError), no such GPU (RuntimeError)
                raise PlanError(f"tensor {e['name']!r} was saved on {target} and cannot go there here ({err}); "
                                f"pass load(..., device=...) to place the module elsewhere") from None
        groups[e["group"]][e["name"]] = torch.nn.Parameter(t, requires_grad=False) if e.get("parameter") else t
    artifact = SerializedArtifact(z.read(PROGRAM), groups["state_dict"], groups["constants"], None)
    return deserialize(artifact)
