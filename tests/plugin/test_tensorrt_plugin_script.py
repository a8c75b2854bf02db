"""A script written against TensorRT's ``tensorrt.plugin`` API runs unchanged when ``tensorrt`` and
``tensorrt.plugin`` resolve to inferrt and inferrt.plugin (run in a fresh process, so the alias stays there)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parents[2]

SCRIPT = textwrap.dedent('''
    import sys
    import inferrt, inferrt.plugin
    sys.modules["tensorrt"] = inferrt
    sys.modules["tensorrt.plugin"] = inferrt.plugin

    from typing import Tuple

    import numpy as np
    import torch
    import tensorrt as trt
    import tensorrt.plugin as trtp


    @trtp.register("sample::circ_pad_plugin")
    def circ_pad_plugin_desc(inp0: trtp.TensorDesc, pads: np.ndarray) -> trtp.TensorDesc:
        ndim = inp0.ndim
        out_desc = inp0.like()
        for i in range(np.size(pads) // 2):
            out_desc.shape_expr[ndim - i - 1] += int(pads[i * 2] + pads[i * 2 + 1])
        return out_desc


    @trtp.impl("sample::circ_pad_plugin")
    def circ_pad_plugin_impl(inp0: trtp.Tensor, pads: np.ndarray, outputs: Tuple[trtp.Tensor], stream: int) -> None:
        x = torch.from_dlpack(inp0)
        y = torch.from_dlpack(outputs[0])
        y.copy_(torch.nn.functional.pad(x, tuple(int(p) for p in pads), mode="circular"))


    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    x = network.add_input("x", trt.float32, (1, 2, 3, 4))
    layer = network.add_plugin(trtp.op.sample.circ_pad_plugin(x, pads=np.array([1, 1, 2, 2], np.int32)))
    network.mark_output(layer.get_output(0))
    config = builder.create_builder_config()
    plan = builder.build_serialized_network(network, config)
    engine = trt.Runtime(logger).deserialize_cuda_engine(plan)
    xv = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    out = list(engine.create_execution_context().infer({"x": xv}).values())[0]
    ref = np.pad(xv, ((0, 0), (0, 0), (2, 2), (1, 1)), mode="wrap")
    assert np.array_equal(np.asarray(out), ref), (np.asarray(out).shape, ref.shape)
    print("ok", tuple(np.asarray(out).shape))
''')


def test_tensorrt_plugin_script_runs_unchanged():
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""})
    assert r.returncode == 0, r.stderr[-3000:]
    assert "ok (1, 2, 7, 6)" in r.stdout
