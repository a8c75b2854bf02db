"""The shipped plugin examples run (CPU here; the GPU run covers the AOT kernel path), and so does the README's
ONNX custom-op example."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples" / "plugins"


def _run(args, device):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.parametrize("script", ["torch_plugin.py", "triton_aot_plugin.py"])
def test_example_runs(script, device):
    r = _run([str(EXAMPLES / script)], device)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "max error" in r.stdout
    if script == "triton_aot_plugin.py":
        assert ("AOT kernel" if device == "cuda" else "CPU (impl)") in r.stdout


def test_readme_onnx_custom_op_example(tmp_path, device):
    text = (EXAMPLES / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    path = tmp_path / "readme_example.py"
    path.write_text(code)
    r = _run([str(path)], device)
    assert r.returncode == 0, r.stderr[-3000:]
