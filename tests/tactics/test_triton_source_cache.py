"""Generated Triton sources go to inferrt's private ``triton_src-<uid>`` cache; what runs (and what Triton's JIT
reads) is always the text inferrt generated, whatever a file planted under its name holds."""
from __future__ import annotations

import hashlib
import os

import pytest
from kernel_tools import all_files, sandbox  # noqa: F401

from inferrt.enums import DataType
from inferrt.tactics import private_cache, triton_codegen

pytest.importorskip("triton")


def _source(alpha: float) -> str:
    return triton_codegen.kernel_source([["input", 0], ["act", "LEAKY_RELU", alpha, 0.0, 0]], [DataType.FLOAT],
                                        DataType.FLOAT, [True])


def _path(src):
    return os.path.join(private_cache.area_path("triton_src"),
                        f"pw_{hashlib.sha256(src.encode()).hexdigest()[:24]}.py")


def test_source_written_to_the_private_cache(sandbox, monkeypatch):
    monkeypatch.setattr(triton_codegen, "_MODULES", {})
    src = _source(0.125)
    kernel = triton_codegen.load_kernel(src)
    area = private_cache.area_path("triton_src")
    assert os.stat(area).st_mode & 0o777 == 0o700
    assert open(_path(src)).read() == src
    assert "0.125" in kernel.src
    assert all_files(sandbox["home"]) == [] and all_files(sandbox["outside"]) == []


def test_planted_file_and_link_are_replaced_not_run_or_followed(sandbox, monkeypatch):
    monkeypatch.setattr(triton_codegen, "_MODULES", {})
    src = _source(0.25)
    area = private_cache.area_path("triton_src")
    os.makedirs(area)
    os.chmod(area, 0o700)
    victim = sandbox["outside"] / "victim.py"
    victim.write_text("precious = 1\n")
    os.symlink(victim, _path(src))
    kernel = triton_codegen.load_kernel(src)
    assert victim.read_text() == "precious = 1\n" and not os.path.islink(_path(src))
    assert open(_path(src)).read() == src and "0.25" in kernel.src

    monkeypatch.setattr(triton_codegen, "_MODULES", {})
    src2 = _source(0.5)
    with open(_path(src2), "w") as f:
        f.write("raise SystemExit('planted code ran')\n")
    kernel2 = triton_codegen.load_kernel(src2)
    assert "0.5" in kernel2.src and open(_path(src2)).read() == src2
