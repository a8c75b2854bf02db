"""``python -m inferrt`` runs the command line, and its start-up imports neither PyTorch nor the engine code."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python(*argv, code=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, *(["-c", code] if code else ["-m", "inferrt", *argv])]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_python_m_inferrt_help_lists_trtexec_flags():
    r = _python("exec", "--help")
    assert r.returncode == 0, r.stderr
    for flag in ("--onnx", "--minShapes", "--optShapes", "--maxShapes", "--exportTimes", "--useCudaGraph",
                 "--cpuThreads", "--percentile"):
        assert flag in r.stdout, flag


def test_python_m_inferrt_refuses_bad_flags_without_a_traceback():
    r = _python("exec", "--cpu", "--fp16")
    assert r.returncode == 2 and "--fp16 cannot be honoured on the CPU" in r.stderr and "Traceback" not in r.stderr


def test_start_up_does_not_import_torch():
    code = ("import sys\nfrom inferrt.cli.main import main\n"
            "try:\n    main(['exec', '--help'])\nexcept SystemExit:\n    pass\n"
            "import inferrt\nassert inferrt.DataType.FLOAT.name == 'FLOAT'\n"
            "assert inferrt.Logger and inferrt.__version__\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('inferrt.ir')))\n")
    r = _python(code=code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_engine_api_loads_on_first_use():
    code = ("import sys, inferrt as trt\nassert 'torch' not in sys.modules\n"
            "b = trt.Builder(trt.Logger())\nfrom inferrt import IConvolutionLayer, load_engine\n"
            "assert 'torch' in sys.modules and 'Builder' in dir(trt) and 'IShuffleLayer' in dir(trt)\nprint('ok')")
    r = _python(code=code)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
