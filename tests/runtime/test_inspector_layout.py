"""The engine inspector's JSON in TensorRT's layout, as Polygraphy and trex read it: "Layers" with Name, LayerType,
Inputs/Outputs (Name, Location, Dimensions, Format/Datatype), TacticName, TacticValue, StreamId, and "Bindings"."""
from __future__ import annotations

import json
import re

import numpy as np

import inferrt as trt
from inferrt.builder.algorithm import IAlgorithm
from inferrt.tactics.registry import get_tactic
from tests.helpers import new_network


def _engine(fp16=False):
    builder, net = new_network()
    x = net.add_input("x", trt.float16 if fp16 else trt.float32, (2, 4))
    w = net.add_constant((4, 4), np.eye(4, dtype=np.float16 if fp16 else np.float32)).get_output(0)
    mm = net.add_matrix_multiply(x, trt.MatrixOperation.NONE, w, trt.MatrixOperation.NONE)
    r = net.add_activation(mm.get_output(0), trt.ActivationType.RELU)
    net.mark_output(r.get_output(0))
    cfg = builder.create_builder_config()
    cfg.device = "cpu"
    return trt.Runtime(builder.logger).deserialize_cuda_engine(builder.build(net, cfg))


def test_layers_and_bindings_in_tensorrts_layout():
    engine = _engine()
    info = json.loads(engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
    assert info["Bindings"] == ["x", engine.output_names[0]]
    assert len(info["Layers"]) == engine.num_layers
    for layer in info["Layers"]:
        assert {"Name", "LayerType", "Inputs", "Outputs", "TacticName", "TacticValue", "StreamId"} <= set(layer)
        assert layer["StreamId"] == 0 and re.fullmatch(r"0x[0-9a-f]{16}", layer["TacticValue"])
        algo = IAlgorithm(layer["TacticName"], get_tactic(layer["TacticName"]).version, [])
        assert int(layer["TacticValue"], 16) == algo.algorithm_variant.tactic   # the id a selector is shown
        for t in layer["Inputs"] + layer["Outputs"]:
            assert list(t) == ["Name", "Location", "Dimensions", "Format/Datatype"]
            assert t["Location"] == "Host" and t["Format/Datatype"] == "Row major linear FP32"


def test_reduced_precision_spelling():
    engine = _engine(fp16=True)
    info = json.loads(engine.create_engine_inspector().get_layer_information(0, trt.LayerInformationFormat.JSON))
    assert info["Inputs"][0]["Format/Datatype"] == "Row major linear FP16"
