"""Run a Triton test module's ``__main__`` under the CPU interpreter (TRITON_INTERPRET=1) in a child process and
read back the JSON its last stdout line carries: the interpreter must be switched on before Triton is imported, so
the kernels cannot run in the pytest process itself."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_interpreted_module(module: str, *args: str):
    """``python -m module *args`` under TRITON_INTERPRET=1 from the repository root; fails the test with the child's
    stderr tail if it exits non-zero, else returns the JSON of its last stdout line. Skips without Triton."""
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # the child applies numpy_index_shim, then runs the module as ``python -m module`` would
    child = (f"import runpy, sys; from tests.tactics.interpret import numpy_index_shim; numpy_index_shim(); "
             f"sys.argv[1:] = {list(args)!r}; runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
    proc = subprocess.run([sys.executable, "-c", child], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def numpy_index_shim():
    """Triton 3.6's interpreter reads a scalar kernel argument with ``int(array)`` on a one-element array of rank 1,
    which NumPy 2.4 refuses ("only 0-dimensional arrays can be converted"); read the element instead. Applied in
    every interpreted child (``run_interpreted_module``)."""
    import numpy as np
    from triton.runtime import interpreter

    patch = interpreter._patch_lang_tensor
    if getattr(patch, "numpy_index_shim", False):
        return

    def patched(tensor, scope):
        patch(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(np.asarray(self.handle.data).reshape(-1)[0]))

    patched.numpy_index_shim = True
    interpreter._patch_lang_tensor = patched
