"""Bounds on the work and memory a plan may cost to load, derived from the plan's size and this machine.

A checksum proves nothing about intent: a small forged manifest can ask for hours of shape inference (thousands of
profiles times thousands of layers), tens of times its size in memory (JSON objects in Python), the same weight
blob decoded thousands of times, or inputs larger than any device. ``read_plan`` calls these checks on the parsed
manifest before anything else reads it, and the blob reader charges every decoded blob to a budget; each refusal is
a PlanError that names the limit, the value found and the bound.

=========================  ==========================================================================================
limit                      bound
=========================  ==========================================================================================
manifest bytes             ``MAX_MANIFEST`` (256 MiB), and ``MANIFEST_EXPANSION`` (32) times it within half of this
                           machine's memory (parsed JSON costs 11 to 30 times its text)
manifest nesting           ``MAX_DEPTH`` (64) levels of objects and lists
profiles x layers          ``max(WORK_FLOOR, plan bytes // WORK_BYTES)``: each profile's shapes are inferred through
                           every layer at load (a layer with large attributes counts once per ``LAYER_VALUES``
                           JSON values; I/O tensors count as layers)
blob bytes decoded         ``2 x blob section + BLOB_SLACK``: a blob shared by several constants is decoded for each
input bytes                an input at a profile's max shape (or a static I/O shape) within the device's memory
                           (the GPU's for CUDA plans, this machine's for CPU plans)
activation memory          a profile's recorded device memory within the device's memory
=========================  ==========================================================================================
"""
from __future__ import annotations

import math
import os

from ..errors import PlanError
from . import schema

MAX_MANIFEST = 256 << 20
MANIFEST_EXPANSION = 32
MAX_DEPTH = 64
WORK_FLOOR = 1 << 16
WORK_BYTES = 32
LAYER_VALUES = 64
BLOB_SLACK = 64 << 20
_ITEMSIZE = {"FLOAT": 4, "HALF": 2, "BF16": 2, "INT8": 1, "UINT8": 1, "INT32": 4, "INT64": 8, "BOOL": 1,
             "FP8": 1, "INT4": 1, "FP4": 1, "E8M0": 1, "UINT4": 1, "FP8_E5M2": 1}


def refuse(limit: str, found, bound, fix: str = "the plan is damaged or forged; rebuild it"):
    raise PlanError(f"plan exceeds the limit on {limit}: {found}, beyond the bound of {bound}; {fix}")


def host_memory() -> int:
    """Physical memory of this machine in bytes (a large default where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def device_memory(kind) -> int:
    """Memory of the device a plan of ``kind`` runs on: the current GPU's for "cuda" (when one is present),
    else this machine's."""
    if kind == "cuda":
        try:
            import torch

            if torch.cuda.is_available():
                return torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
        except Exception:  # noqa: BLE001 - no usable CUDA: the loader refuses the plan later with its own message
            pass
    return host_memory()


def check_manifest_size(m_len: int) -> None:
    """Before parsing: the manifest's text and what its parsed form may cost."""
    if m_len > MAX_MANIFEST:
        refuse("manifest bytes", f"{m_len} bytes", f"{MAX_MANIFEST}")
    half = host_memory() // 2
    if m_len * MANIFEST_EXPANSION > half:
        refuse("manifest memory", f"a {m_len}-byte manifest needs up to {m_len * MANIFEST_EXPANSION} bytes parsed",
               f"{half} (half of this machine's memory)", "load it on a machine with more memory")


def _walk(manifest) -> tuple[int, int, int]:
    """(deepest nesting, number of layers: the lengths of every "nodes" list inside the graph, number of JSON
    values inside the graph), iteratively."""
    depth, layers, values = 0, 0, 0
    stack = [(manifest, 1, False)]
    while stack:
        v, d, in_graph = stack.pop()
        if d > depth:
            depth = d
            if depth > MAX_DEPTH:
                refuse("manifest nesting", f"deeper than {MAX_DEPTH} levels", f"{MAX_DEPTH}")
        if in_graph:
            values += len(v)
        if isinstance(v, dict):
            for k, x in v.items():
                if isinstance(x, (dict, list)):
                    g = in_graph or k == schema.GRAPH
                    if g and k == "nodes" and isinstance(x, list):
                        layers += len(x)
                    stack.append((x, d + 1, g))
        else:
            stack.extend((x, d + 1, in_graph) for x in v if isinstance(x, (dict, list)))
    return depth, layers, values


def _elements(shape) -> int | None:
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        return None
    if any(d < 0 for d in shape):
        return None
    return math.prod(shape)


def check_manifest(manifest: dict, plan_bytes: int) -> None:
    """After parsing, before any other check reads it: nesting, work (profiles x layers) and tensor sizes.
    Fields of the wrong type are left to the manifest's own checks (schema.read_manifest)."""
    _, layers, values = _walk(manifest)
    profiles = manifest.get(schema.PROFILES)
    n_prof = len(profiles) if isinstance(profiles, list) else 0
    io = manifest.get(schema.IO) if isinstance(manifest.get(schema.IO), list) else []
    # a profile's checks infer shapes through every layer (whose cost grows with its attributes: a layer counts at
    # least once per LAYER_VALUES JSON values) and visit every I/O tensor
    units = max(layers, values // LAYER_VALUES) + len(io)
    work = max(WORK_FLOOR, plan_bytes // WORK_BYTES)
    if n_prof * units > work:
        refuse("profiles x layers", f"{n_prof} profiles x {units} layers and I/O tensors = {n_prof * units}",
               f"{work} for a plan of {plan_bytes} bytes")
    device = manifest.get(schema.DEVICE)
    kind = device.get("kind") if isinstance(device, dict) else None
    capacity = device_memory(kind)
    where = f"{capacity} bytes of {'GPU' if kind == 'cuda' else 'host'} memory"
    itemsize = {e["name"]: _ITEMSIZE.get(e.get("dtype"), 8) if isinstance(e.get("dtype"), str) else 8 for e in io
                if isinstance(e, dict) and isinstance(e.get("name"), str)}
    for e in io:
        if isinstance(e, dict) and isinstance(e.get("name"), str):
            n = _elements(e.get("shape"))
            if n is not None and n * itemsize[e["name"]] > capacity:
                refuse("input bytes", f"I/O tensor {e['name']!r} of shape {e['shape']} is "
                                      f"{n * itemsize[e['name']]} bytes", where)
    for pi, p in enumerate(profiles if isinstance(profiles, list) else []):
        if not isinstance(p, dict):
            continue
        dm = p.get("device_memory")
        if isinstance(dm, int) and not isinstance(dm, bool) and dm > capacity:
            refuse("activation memory", f"optimization profile {pi} records {dm} bytes", where)
        shapes = p.get("shapes")
        for name, triple in (shapes.items() if isinstance(shapes, dict) else ()):
            if isinstance(triple, list) and len(triple) == 3:
                n = _elements(triple[2])
                if n is not None and n * itemsize.get(name, 8) > capacity:
                    refuse("input bytes", f"input {name!r} at the max shape {triple[2]} of optimization profile "
                                          f"{pi} is {n * itemsize.get(name, 8)} bytes", where)


class BlobBudget:
    """Bytes of blobs decoded from one plan: at most twice its blob section plus ``BLOB_SLACK``."""

    def __init__(self, section_bytes: int):
        self.left = 2 * section_bytes + BLOB_SLACK
        self.bound = self.left

    def take(self, nbytes: int) -> None:
        self.left -= nbytes
        if self.left < 0:
            refuse("blob bytes decoded", f"the graph decodes more than {self.bound} bytes of weights (the same blobs "
                                         f"referenced again and again)", f"{self.bound}")
