"""Pass rate of the ONNX node cases whose operator is in TensorRT's supported list (sections 4.1 and 4.2 of
``../shared/reference/tensorrt.md``), from the expected-failure list (which the conformance test keeps exact).

    python tests/onnx/section_coverage.py [path/to/tensorrt.md]

A case counts for the operator it tests: the node of its model whose op type matches the case name (``_expanded``
variants count for their base case's operator).
"""
from __future__ import annotations

import collections
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from count_conformance import cases_dir  # noqa: E402
from expected_failures import EXPECTED_FAILURES  # noqa: E402


def supported_ops(reference: str) -> set[str]:
    text = open(reference).read()
    s41 = text[text.index("### 4.1"):text.index("### 4.2")].split("\n", 2)[2]
    s42 = text[text.index("### 4.2"):text.index("### 4.3")]
    ops = set(re.findall(r"\b([A-Z][A-Za-z0-9]+)", s41))
    for line in s42.splitlines():
        if not line.startswith("| ") or line.startswith("| Op") or line.startswith("|---"):
            continue
        for part in re.split(r"[,/]", line.split("|")[1]):
            m = re.match(r"\s*([A-Z][A-Za-z]+)(?:\{(.*)\})?", part)
            if m:
                ops |= {m.group(1) + x.strip() for x in m.group(2).split(",")} if m.group(2) else {m.group(1)}
    return ops | {"RandomNormalLike", "RandomUniformLike", "RandomNormal", "RandomUniform", "ConstantOfShape",
                  "Constant"}


def case_operator(root: str, name: str):
    import onnx

    base = name[:-len("_expanded")] if name.endswith("_expanded") else name
    for cand in (base, name):
        path = os.path.join(root, cand, "model.onnx")
        if os.path.exists(path):
            types = [n.op_type for n in onnx.load(path, load_external_data=False).graph.node]
            key = base[5:].replace("_", "").lower()
            best = max((t for t in set(types) if key.startswith(t.lower())), key=len, default=None)
            return best or (types[0] if len(set(types)) == 1 else None)
    return None


def main(argv=None):
    argv = argv if argv is not None else sys.argv[1:]
    here = os.path.dirname(os.path.abspath(__file__))
    reference = argv[0] if argv else os.path.join(here, "..", "..", "..", "shared", "reference", "tensorrt.md")
    if not os.path.exists(reference):
        sys.exit(f"TensorRT reference not found at {reference}; pass its path")
    ops = supported_ops(reference)
    root = cases_dir()
    index = json.load(open(os.path.join(root, "index.json")))
    total = passing = 0
    failing = collections.Counter()
    for name in (index if isinstance(index, list) else list(index)):
        op = case_operator(root, name)
        if op is None or op not in ops:
            continue
        total += 1
        if name in EXPECTED_FAILURES:
            failing[op] += 1
        else:
            passing += 1
    print(f"node cases whose operator is in sections 4.1/4.2: {total}; passing {passing} ({100 * passing / total:.1f}%)")
    print("failing by operator:", dict(failing.most_common()))


if __name__ == "__main__":
    main()
