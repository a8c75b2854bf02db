"""The plan manifest's node entries (name, kind, info) for a few builds match a recorded structure.

``manifest_nodes.json`` was recorded before node kinds became ``inferrt.ir.kinds.Kind`` constants: the strings a plan
stores for kinds and info keys must not move with internal refactors (old plans load, new plans are byte-identical).
A deliberate change to what the passes produce updates it: ``PYTHONPATH=. python tests/plan/test_manifest_nodes.py``.
"""
from __future__ import annotations

import json
import pathlib

import inferrt as trt
from inferrt.plan.format import read_plan
from tests.passes.nets import gelu_erf, layer_norm, linear, new_network, resnet_block_network, softmax_primitives
from tests.plan.plan_tools import build_small_network

RECORD = pathlib.Path(__file__).with_name("manifest_nodes.json")


def _transformer_bits():
    """layer norm, linear, GELU and two softmaxes (one under a log) from primitives, concatenated in place."""
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (2, 4, 16))
    y = layer_norm(net, x, 16, "ln")
    y = gelu_erf(net, linear(net, y, 16, 16, "fc"), 3, "gelu")
    s = softmax_primitives(net, y, 2, 3, "sm")
    lg = net.add_unary(softmax_primitives(net, y, 2, 3, "lsm"), trt.UnaryOperation.LOG)
    lg.name = "lsm_log"
    lg.metadata = "recorded:log"
    cat = net.add_concatenation([s, lg.get_output(0)])
    cat.axis = 2
    cat.name = "cat"
    cat.get_output(0).name = "y"
    net.mark_output(cat.get_output(0))
    return builder, net


def _small():
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    return builder, build_small_network(builder)


def _resnet():
    return resnet_block_network(batch=2)


def _nodes(make, fp16=False):
    builder, net = make()
    config = builder.create_builder_config()
    config.device = "cpu"
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    for i in range(net.num_inputs):
        t = net.get_input(i)
        if -1 in tuple(t.shape):
            prof = builder.create_optimization_profile()
            shape = tuple(2 if d == -1 else d for d in t.shape)
            prof.set_shape(t.name, shape, shape, shape)
            config.add_optimization_profile(prof)
    manifest, _ = read_plan(bytes(builder.build(net, config)))
    return [[n["name"], n["kind"], n["info"]] for n in manifest["graph"]["nodes"]]


CASES = {"small": (_small, False), "small_fp16": (_small, True), "resnet_block": (_resnet, False),
         "transformer_bits": (_transformer_bits, False)}


def _record() -> dict:
    return {name: _nodes(make, fp16) for name, (make, fp16) in CASES.items()}


def test_manifest_node_entries_match_the_record():
    recorded = json.loads(RECORD.read_text())
    now = json.loads(json.dumps(_record()))
    assert sorted(now) == sorted(recorded)
    for name in recorded:
        assert now[name] == recorded[name], f"manifest nodes of {name!r} changed"


def test_the_record_exercises_kinds_and_info_keys():
    recorded = json.loads(RECORD.read_text())
    kinds = {k for nodes in recorded.values() for _, k, _ in nodes}
    keys = {key for nodes in recorded.values() for _, _, info in nodes for key in info}
    assert {"fused_conv", "fused_matmul", "constant", "softmax", "layer_norm", "concatenation"} <= kinds
    assert {"tactic", "metadata", "writes_into", "aliased_inputs", "elided"} <= keys


if __name__ == "__main__":
    RECORD.write_text(json.dumps(_record(), indent=1, sort_keys=True) + "\n")
