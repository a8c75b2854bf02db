"""``inferrt.ir.kinds``: one declaration per registered op kind, and no kind spelled as a string in comparisons."""
from __future__ import annotations

import pathlib
import re

from inferrt.ir.kinds import Kind, all_kinds
from inferrt.ops import REGISTRY, _load_all

ROOT = pathlib.Path(__file__).resolve().parents[2] / "inferrt"
#: packages whose kind comparisons go through ``Kind`` (inferrt/onnx and inferrt/ir are not converted yet)
CONVERTED = ("passes", "ops", "runtime", "tactics", "builder")


def test_every_registered_kind_is_declared_and_every_declared_kind_is_registered():
    _load_all()
    assert all_kinds() - set(REGISTRY) == set(), "declared in Kind but no op registers it"
    assert set(REGISTRY) - all_kinds() == set(), "registered by an op but missing from inferrt/ir/kinds.py"


def test_constants_are_the_plain_strings_the_plan_stores():
    for attr, value in vars(Kind).items():
        if attr.isupper():
            assert type(value) is str and attr == value.upper(), attr
    assert Kind.FUSED_CONV == "fused_conv" and {"fused_conv": 1}[Kind.FUSED_CONV] == 1
    assert f"{Kind.CONSTANT}" == "constant" and repr(Kind.CONSTANT) == "'constant'"


def test_no_string_kind_comparisons_left_in_converted_packages():
    kinds = all_kinds()
    pattern = re.compile(r"""\bkind (?:==|!=|in|not in) (?:\(\s*)?["']([a-z_0-9]+)["']""")
    found = []
    for pkg in CONVERTED:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if any(m.group(1) in kinds for m in pattern.finditer(line)):
                    found.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not found, "compare with inferrt.ir.kinds.Kind instead:\n" + "\n".join(found)
