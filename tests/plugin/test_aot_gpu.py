"""AOT decorator plugins on the GPU: the Triton kernel compiled at build time goes into the plan, and a fresh process
that never imports the plugin's definition loads the plan and runs it, matching numpy."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_close

import inferrt as trt

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "examples" / "plugins"))


@pytest.mark.gpu
def test_aot_kernel_travels_in_the_plan(tmp_path):
    import triton_aot_plugin as example

    engine = example.build()
    plan = bytes(engine.serialize())
    node = next(n for n in engine.graph.nodes if n.kind == "plugin_v3")
    assert node.attrs.plugin.aot and node.attrs.aot_kernel["name"]
    (tmp_path / "aot.plan").write_bytes(plan)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 1000)).astype(np.float32), rng.standard_normal((5, 1000)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import inferrt as trt
        engine = trt.load_engine({str(tmp_path / 'aot.plan')!r})
        assert "triton_aot_plugin" not in sys.modules and not __import__("inferrt.plugin").plugin.QDP_REGISTRY
        out = engine.create_execution_context().infer({{"x": np.load({str(tmp_path / 'x.npy')!r}),
                                                        "y": np.load({str(tmp_path / 'y.npy')!r})}})
        np.save({str(tmp_path / 'out.npy')!r}, np.asarray(list(out.values())[0]))
    """)
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr[-3000:]
    assert_close(np.load(tmp_path / "out.npy"), x.astype(np.float64) + 0.5 * y)


@pytest.mark.gpu
def test_gpu_build_times_plugin_tactics():
    """On the GPU the autotuner really times every valid tactic of a V3 plugin and records the winner."""
    sys.path.insert(0, str(Path(__file__).parent))
    from plugins_for_tests import ScaledPadPlugin, register_scaled_pad

    register_scaled_pad()
    builder = trt.Builder(trt.Logger())
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (8, 3, 64))
    layer = net.add_plugin_v3([x], [], ScaledPadPlugin(2.0, 1))
    net.mark_output(layer.get_output(0))
    engine = trt.build_engine(net, device="cuda")
    node = next(n for n in engine.graph.nodes if n.kind == "plugin_v3")
    assert node.info.tactic == "plugin" and node.info.tactic_point["tactic"] in (7, 3)
    xv = np.random.default_rng(0).standard_normal((8, 3, 64)).astype(np.float32)
    out = list(engine.create_execution_context().infer({"x": xv}).values())[0]
    assert_close(np.asarray(out), np.pad(xv.astype(np.float64), ((0, 0), (0, 0), (1, 1))) * 2.0)
