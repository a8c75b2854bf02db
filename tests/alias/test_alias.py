"""The ``tensorrt`` alias (inferrt/alias): ``import tensorrt`` gives inferrt, on the path or in-process, and the
version attributes TensorRT code reads."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import inferrt
from inferrt import alias
from inferrt._version import TENSORRT_API_VERSION, __version__ as release

ROOT = Path(__file__).resolve().parents[2]


def _python(code, extra_path=()):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *extra_path]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_version_is_tensorrts_api_level_and_inferrts_release_is_separate():
    assert inferrt.__version__ == TENSORRT_API_VERSION
    major, minor, patch = (int(p) for p in inferrt.__version__.split("."))
    assert major == 10 and minor >= 1   # Polygraphy takes its TensorRT >= 10.1 paths
    assert inferrt.inferrt_version == release and inferrt.inferrt_version != inferrt.__version__


def test_path_holds_only_the_tensorrt_package():
    folder = Path(alias.path())
    assert (folder / "tensorrt" / "__init__.py").is_file()
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith("__")) == ["tensorrt"]


def test_import_tensorrt_with_the_folder_on_the_path_is_inferrt():
    r = _python("import tensorrt as trt, inferrt, sys\n"
                "assert trt is inferrt and sys.modules['tensorrt'] is inferrt\n"
                "print(trt.__version__, trt.inferrt_version, trt.Builder.__module__)", [alias.path()])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [inferrt.__version__, inferrt.inferrt_version, "inferrt.builder.builder"]


def test_without_the_alias_tensorrt_is_not_shadowed():
    r = _python("import importlib.util\nspec = importlib.util.find_spec('tensorrt')\n"
                "print('inferrt' in (spec.origin if spec else ''))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_python_m_inferrt_alias_prints_the_folder():
    r = subprocess.run([sys.executable, "-m", "inferrt.alias"], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == alias.path()


def test_install_in_process_and_refusal_when_another_tensorrt_came_first(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    alias.install()
    import tensorrt

    assert tensorrt is inferrt
    alias.install()   # idempotent
    other = type(sys)("tensorrt")
    other.__file__ = "/opt/nvidia/tensorrt/__init__.py"
    monkeypatch.setitem(sys.modules, "tensorrt", other)
    with pytest.raises(ImportError, match="/opt/nvidia/tensorrt/__init__.py.*before anything imports tensorrt"):
        alias.install()
