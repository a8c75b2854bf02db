"""Test tools for the plan format: a small network with several weight blobs, and re-framing of edited plans.

``frame`` writes the header of a plan from its parts following the layout documented in ``inferrt/plan/format.py``
(written here independently of the writer, so a forged plan has a *valid* checksum and only its content is wrong).
"""
from __future__ import annotations

import hashlib
import json
import struct

import numpy as np

import inferrt as trt

HEADER = struct.Struct("<8sII5Q32s8s")
ALIGN = 256


def build_small_network(builder, seed=0):
    """x[N,3,8,8] -> conv 3x3 (4) + bias -> relu -> flatten -> FC 256->5 + bias -> softmax -> y[N,5]."""
    rng = np.random.default_rng(seed)
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (-1, 3, 8, 8))
    conv = net.add_convolution_nd(x, 4, (3, 3), rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
                                  rng.standard_normal(4).astype(np.float32))
    conv.padding_nd = (1, 1)
    conv.name = "conv"
    relu = net.add_activation(conv.get_output(0), trt.ActivationType.RELU)
    relu.name = "relu"
    flat = net.add_shuffle(relu.get_output(0))
    flat.reshape_dims = (0, -1)
    flat.name = "flatten"
    w = net.add_constant((256, 5), (rng.standard_normal((256, 5)) / 16).astype(np.float32))
    w.name = "fc.weight"
    mm = net.add_matrix_multiply(flat.get_output(0), trt.MatrixOperation.NONE, w.get_output(0),
                                 trt.MatrixOperation.NONE)
    mm.name = "fc"
    b = net.add_constant((1, 5), rng.standard_normal((1, 5)).astype(np.float32))
    b.name = "fc.bias"
    add = net.add_elementwise(mm.get_output(0), b.get_output(0), trt.ElementWiseOperation.SUM)
    add.name = "fc.add"
    sm = net.add_softmax(add.get_output(0))
    sm.axes = 1 << 1
    sm.name = "softmax"
    sm.get_output(0).name = "y"
    net.mark_output(sm.get_output(0))
    return net


def build_small_plan(device="cpu") -> bytes:
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = build_small_network(builder)
    config = builder.create_builder_config()
    config.device = device
    prof = builder.create_optimization_profile()
    prof.set_shape("x", (1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8))
    config.add_optimization_profile(prof)
    return bytes(builder.build(net, config))


def split(plan: bytes) -> tuple[dict, bytes, int, bytes]:
    """(manifest, blob section, format version, raw manifest bytes) of a well-formed plan."""
    magic, version, hsize, m_off, m_len, b_off, b_len, total, _, _ = HEADER.unpack(plan[:HEADER.size])
    assert magic == b"INFERRT\x00" and hsize == HEADER.size and total == len(plan)
    raw = plan[m_off:m_off + m_len]
    return json.loads(raw), plan[b_off:b_off + b_len], version, raw


def frame(manifest_bytes: bytes, blob_section: bytes, version: int = 1, reserved: bytes = b"\x00" * 8) -> bytes:
    """A plan with a correct header and checksum around ``manifest_bytes`` and ``blob_section``."""
    m_off = HEADER.size
    b_off = m_off + len(manifest_bytes)
    b_off += (-b_off) % ALIGN
    body = manifest_bytes + b"\x00" * (b_off - m_off - len(manifest_bytes)) + blob_section
    total = HEADER.size + len(body)
    head = HEADER.pack(b"INFERRT\x00", version, HEADER.size, m_off, len(manifest_bytes), b_off, len(blob_section),
                       total, b"\x00" * 32, reserved)
    h = hashlib.sha256()
    h.update(head[:56])
    h.update(body)
    return head[:56] + h.digest() + head[88:] + body


def with_manifest(plan: bytes, edit) -> bytes:
    """Re-frame ``plan`` after ``edit(manifest)`` changed its manifest in place (checksum recomputed)."""
    manifest, blobs, version, _ = split(plan)
    edit(manifest)
    return frame(json.dumps(manifest).encode(), blobs, version)


def with_blobs(plan: bytes, edit, extra: list[bytes]) -> bytes:
    """Re-frame ``plan`` with raw byte blobs ``extra`` appended to its blob section, after ``edit(manifest, first)``
    (``first``: the blob index of ``extra[0]``) changed its manifest in place."""
    manifest, blobs, version, _ = split(plan)
    section = bytearray(blobs)
    first = len(manifest["blobs"])
    for data in extra:
        section += b"\x00" * ((-len(section)) % ALIGN)
        manifest["blobs"].append({"offset": len(section), "nbytes": len(data), "dtype": "bytes", "shape": []})
        section += data
    edit(manifest, first)
    return frame(json.dumps(manifest).encode(), bytes(section), version)


def softmax_chain_manifest(layers: int, profiles: int = 1, device_memory: int = 0) -> dict:
    """A CPU plan's manifest, without blobs: x[N, 5] -> softmax -> ... (``layers`` times) -> y, with ``profiles``
    optimization profiles (min/opt/max batch 1/2/4). ``device_memory`` is recorded for every profile (0 passes
    the load checks; the executor plans its own arena per shape)."""
    from inferrt._version import __version__
    from inferrt.device import fingerprint

    names = ["x"] + [f"v{i}" for i in range(layers - 1)] + ["y"]
    nodes = [{"attrs": {"axes": 2}, "info": {"tactic": "generic"}, "inputs": [names[i]], "kind": "softmax",
              "name": f"softmax{i}", "origin": [f"softmax{i}"], "outputs": [names[i + 1]]} for i in range(layers)]
    graph = {"inputs": ["x"], "outputs": ["y"], "nodes": nodes,
             "values": {v: {"dtype": "FLOAT", "shape": [-1, 5]} for v in names}}
    return {"inferrt_version": __version__, "device": fingerprint("cpu"), "name": "chain", "graph": graph,
            "io": [{"name": "x", "mode": "INPUT", "dtype": "FLOAT", "shape": [-1, 5]},
                   {"name": "y", "mode": "OUTPUT", "dtype": "FLOAT", "shape": [-1, 5]}],
            "kernels": [], "profiles": [{"shapes": {"x": [[1, 5], [2, 5], [4, 5]]}, "device_memory": device_memory}
                                        for _ in range(profiles)],
            "profiling_verbosity": "LAYER_NAMES_ONLY", "build": {"flags": []}, "blobs": []}


def frame_manifest(manifest: dict) -> bytes:
    """A plan of ``manifest`` alone (empty blob section)."""
    return frame(json.dumps(manifest).encode(), b"")
