"""ONNX backend node conformance suite: generate the cases, run one through a backend, count passes.

The onnx wheel ships no ``backend/test/data/node`` folder, so the node cases are generated from
``onnx.backend.test.case.node.collect_testcases()`` into a cache folder keyed by the onnx version (written once,
atomically, then shared by pytest-xdist workers). Comparison follows onnx's runner (same shapes and dtypes,
``assert_allclose`` at each case's rtol/atol, 1e-3/1e-7 by default).

    python tests/onnx/count_conformance.py            # pass counts for inferrt and onnxruntime
    python tests/onnx/count_conformance.py --failures # also list inferrt's failing cases with the first error line
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import warnings

import numpy as np

LIGHT_MODELS = ("bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
                "squeezenet", "vgg19", "zfnet512")


def cases_dir() -> str:
    """The folder of generated node cases (created on first use)."""
    import onnx

    root = os.environ.get("INFERRT_ONNX_CASES") or os.path.join(tempfile.gettempdir(),
                                                                  f"inferrt-onnx-node-cases-{onnx.__version__}")
    if os.path.isfile(os.path.join(root, "index.json")):
        return root
    tmp = tempfile.mkdtemp(prefix="gen-", dir=os.path.dirname(root))
    _generate(tmp)
    try:
        os.rename(tmp, root)
    except OSError:  # another worker finished first, or a broken folder from an interrupted run is in the way
        if not os.path.isfile(os.path.join(root, "index.json")):
            shutil.rmtree(root, ignore_errors=True)
            try:
                os.rename(tmp, root)
                return root
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def _generate(out_dir: str) -> None:
    from onnx import numpy_helper
    from onnx.backend.test.case import node

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = node.collect_testcases(None)
    index = {}
    for case in cases:
        d = os.path.join(out_dir, case.name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        for i, (inputs, outputs) in enumerate(case.data_sets):
            ds = os.path.join(d, f"test_data_set_{i}")
            os.makedirs(ds, exist_ok=True)
            for kind, values, infos in (("input", inputs, case.model.graph.input),
                                        ("output", outputs, case.model.graph.output)):
                for j, (v, vi) in enumerate(zip(values, infos)):
                    with open(os.path.join(ds, f"{kind}_{j}.pb"), "wb") as f:
                        f.write(_to_proto(numpy_helper, v, vi).SerializeToString())
        index[case.name] = {"rtol": case.rtol, "atol": case.atol, "data_sets": len(case.data_sets)}
    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump(index, f, sort_keys=True)


def _to_proto(numpy_helper, v, vi):
    import onnx

    if isinstance(v, (onnx.TensorProto, onnx.SequenceProto, onnx.OptionalProto)):
        return v
    t = vi.type
    if t.HasField("sequence_type"):
        return numpy_helper.from_list(v, vi.name)
    if t.HasField("optional_type"):
        return numpy_helper.from_optional(v, vi.name)
    if t.HasField("map_type"):
        return numpy_helper.from_dict(v, vi.name)
    return numpy_helper.from_array(np.asarray(v), vi.name)


def case_names() -> list[str]:
    with open(os.path.join(cases_dir(), "index.json")) as f:
        return sorted(json.load(f))


def _load_value(path, vi):
    import onnx
    from onnx import numpy_helper

    with open(path, "rb") as f:
        data = f.read()
    t = vi.type
    if t.HasField("sequence_type"):
        return numpy_helper.to_list(onnx.SequenceProto.FromString(data))
    if t.HasField("optional_type"):
        return numpy_helper.to_optional(onnx.OptionalProto.FromString(data))
    return numpy_helper.to_array(onnx.TensorProto.FromString(data))


def load_case(name: str):
    """(model, [(inputs, outputs)], rtol, atol) of a generated node case."""
    import onnx

    root = cases_dir()
    with open(os.path.join(root, "index.json")) as f:
        meta = json.load(f)[name]
    model = onnx.load(os.path.join(root, name, "model.onnx"))
    sets = []
    for i in range(meta["data_sets"]):
        ds = os.path.join(root, name, f"test_data_set_{i}")
        ins = [_load_value(os.path.join(ds, f"input_{j}.pb"), vi) for j, vi in enumerate(model.graph.input)
               if os.path.exists(os.path.join(ds, f"input_{j}.pb"))]
        outs = [_load_value(os.path.join(ds, f"output_{j}.pb"), vi) for j, vi in enumerate(model.graph.output)]
        sets.append((ins, outs))
    return model, sets, meta["rtol"], meta["atol"]


def run_case(backend, name: str, device: str = "CPU") -> None:
    """Run one node case through ``backend``; raises on any difference (as onnx's runner)."""
    from onnx.backend.test.runner import Runner

    model, sets, rtol, atol = load_case(name)
    rep = backend.prepare(model, device)
    for ins, outs in sets:
        got = rep.run(ins)
        Runner.assert_similar_outputs(outs, list(got), rtol=rtol, atol=atol, model_dir=name)


#: node cases whose outputs are random draws: the reference holds one draw of numpy's generator, which another
#: generator matches only by chance, so these are checked by what a draw must satisfy (shape, dtype, values 0 or 1)
RANDOM_OUTPUT_CASES = ("test_bernoulli", "test_bernoulli_double", "test_bernoulli_double_expanded",
                       "test_bernoulli_expanded", "test_bernoulli_seed", "test_bernoulli_seed_expanded")


def run_random_case(backend, name: str, device: str = "CPU") -> None:
    """Run a Bernoulli case: each output has the reference's shape and dtype and holds only 0 and 1."""
    import numpy as np

    model, sets, _, _ = load_case(name)
    rep = backend.prepare(model, device)
    for ins, outs in sets:
        got = list(rep.run(ins))
        assert len(got) == len(outs), f"{name}: {len(got)} outputs, the reference has {len(outs)}"
        for g, want in zip(got, outs):
            g = np.asarray(g)
            assert g.shape == want.shape and g.dtype == want.dtype, (g.shape, g.dtype, want.shape, want.dtype)
            assert set(np.unique(g).tolist()) <= {0, 1}, f"{name}: a Bernoulli draw holds {np.unique(g)[:8]}"


def light_model_dir() -> str:
    import onnx.backend.test

    return os.path.join(os.path.dirname(onnx.backend.test.__file__), "data", "light")


def run_light(backend, name: str, device: str = "CPU") -> None:
    """Run a shipped ``light_<name>.onnx`` model and compare with its ``_output_0.pb`` as onnx's runner does
    (rtol 1e-3, atol 1e-7)."""
    import onnx
    from onnx import numpy_helper
    from onnx.backend.test.runner import Runner

    d = light_model_dir()
    model = onnx.load(os.path.join(d, f"light_{name}.onnx"))
    inits = {i.name for i in model.graph.initializer}
    # the same deterministic inputs onnx's runner feeds (arange / n), which the shipped outputs were made from
    ins = [Runner.generate_dummy_data(vi, seed=0, name=name, random=False) for vi in model.graph.input
           if vi.name not in inits]
    ref = numpy_helper.to_array(onnx.load_tensor(os.path.join(d, f"light_{name}_output_0.pb")))
    got = backend.prepare(model, device).run(ins)
    Runner.assert_similar_outputs([ref], [got[0]], rtol=1e-3, atol=1e-7, model_dir=name)


def count(backend, names, verbose=False, device="CPU"):
    passed, failures = 0, {}
    for name in names:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                (run_random_case if name in RANDOM_OUTPUT_CASES else run_case)(backend, name, device)
            passed += 1
        except Exception as e:  # noqa: BLE001 - every failure counts the same here
            failures[name] = f"{type(e).__name__}: {' | '.join(str(e).split(chr(10)))}"
            if verbose:
                print(f"FAIL {name}: {failures[name][:400]}", flush=True)
    return passed, failures


#: ONNX element types TensorRT has no DataType for (FLOAT8E4M3FNUZ 18, FLOAT8E5M2FNUZ 20, UINT2 25, INT2 26)
_LOW_BIT = ("FNUZ", "INT2", "UINT2", "data type 18 ", "data type 20 ", "data type 25 ", "data type 26 ")


def classify(name: str, message: str) -> str:
    """A short reason for a failing case, used to group ``expected_failures.py``."""
    import re

    m = message
    if "STRING" in m or "string" in name.lower() or "String" in m:
        return "string tensors (inferrt, like TensorRT, has no string type)"
    if any(k in m for k in _LOW_BIT):
        return "element types TensorRT has no DataType for (INT2, UINT2, FLOAT8E4M3FNUZ, FLOAT8E5M2FNUZ)"
    if "has no tensor type" in m or "sequence" in name or "optional" in name:
        return "sequence / optional / map values (TensorRT has tensors only)"
    if "training" in name or "training_mode" in m:
        return "training-mode behaviour (inference engine)"
    op = re.search(r"no importer for operator ([\w.]+)::(\w+)", m)
    if op:
        return f"unsupported op: {op.group(2)}" + ("" if op.group(1) == "ai.onnx" else f" ({op.group(1)})")
    first = re.sub(r"\s+", " ", m.split(" | ")[-1] if "ParseError" in m else m)
    first = re.sub(r"'[^']*'", "'…'", first)
    first = re.sub(r"\d+(\.\d+)?", "#", first)
    return "open issue: " + first[:140]


def write_expected(failures: dict, light_failures: dict, path: str) -> None:
    groups: dict[str, list[str]] = {}
    for name, msg in sorted(failures.items()):
        groups.setdefault(classify(name, msg), []).append(name)
    lines = ['"""ONNX node conformance cases inferrt is known to fail, grouped by reason.',
             "",
             "Generated by ``python tests/onnx/count_conformance.py --write-expected`` and reviewed; test_conformance.py fails",
             'on an unexpected failure and on a listed case that passes, so keep this list exact."""',
             "", "FAILURES_BY_REASON = {"]
    for reason in sorted(groups, key=lambda r: (r.startswith("open issue"), r)):
        lines.append(f"    {reason!r}: [")
        for n in groups[reason]:
            lines.append(f"        {n!r},")
        lines.append("    ],")
    lines += ["}", "",
              "EXPECTED_FAILURES = {name: reason for reason, names in FAILURES_BY_REASON.items() for name in names}",
              "", "#: light models (onnx/backend/test/data/light) that fail, with the reason",
              "EXPECTED_LIGHT_FAILURES = {"]
    for name, msg in sorted(light_failures.items()):
        lines.append(f"    {name!r}: {classify(name, msg)!r},")
    lines += ["}", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def prune_expected(path: str, passing: set) -> int:
    """Drop ``passing`` cases from expected_failures.py (and groups left empty); returns how many went."""
    lines = open(path).read().split("\n")
    out, removed = [], 0
    for line in lines:
        if line.strip().rstrip(",").strip("'\"") in passing:
            removed += 1
            continue
        if line.strip() == "]," and out and out[-1].rstrip().endswith(": ["):
            out.pop()
            continue
        out.append(line)
    with open(path, "w") as f:
        f.write("\n".join(out))
    return removed


def count_light(backend, verbose=False, device="CPU"):
    passed, failures = 0, {}
    for name in LIGHT_MODELS:
        try:
            run_light(backend, name, device)
            passed += 1
        except Exception as e:  # noqa: BLE001
            failures[name] = f"{type(e).__name__}: {' | '.join(str(e).split(chr(10)))}"
            if verbose:
                print(f"FAIL light {name}: {failures[name][:400]}", flush=True)
    return passed, failures


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--failures", action="store_true", help="list inferrt's failing cases")
    ap.add_argument("--only", default="", help="comma-separated case name prefixes")
    ap.add_argument("--no-ort", action="store_true", help="skip onnxruntime")
    ap.add_argument("--device", default="CPU", help="CPU or CUDA (inferrt's device; onnxruntime runs on the CPU)")
    ap.add_argument("--light", action="store_true", help="also run the light model tests")
    ap.add_argument("--prune-expected", action="store_true",
                    help="run only the listed expected failures and drop those that pass now (fast)")
    ap.add_argument("--write-expected", action="store_true",
                    help="rewrite tests/onnx/expected_failures.py from this run (all cases and light models)")
    args = ap.parse_args(argv)
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
    from inferrt.onnx.backend import InferrtBackend

    names = case_names()
    if args.prune_expected:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from expected_failures import EXPECTED_FAILURES

        listed = [n for n in names if n in EXPECTED_FAILURES]
        _, still = count(InferrtBackend, listed)
        gone = prune_expected(os.path.join(os.path.dirname(os.path.abspath(__file__)), "expected_failures.py"),
                              set(listed) - set(still))
        print(f"{gone} of {len(listed)} expected failures pass now and were removed")
        return 0
    if args.only:
        names = [n for n in names if n.startswith(tuple(args.only.split(",")))]
    t0 = time.time()
    ok, fails = count(InferrtBackend, names, verbose=args.failures, device=args.device)
    print(f"inferrt:     {ok}/{len(names)} node cases pass ({time.time() - t0:.0f} s)")
    light_fails = {}
    if args.light or args.write_expected:
        ok_l, light_fails = count_light(InferrtBackend, verbose=args.failures, device=args.device)
        print(f"inferrt:     {ok_l}/{len(LIGHT_MODELS)} light models pass")
    if args.write_expected:
        if args.only:
            ap.error("--write-expected needs the whole suite (drop --only)")
        write_expected(fails, light_fails, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                        "expected_failures.py"))
    if not args.no_ort:
        import onnxruntime.backend as ort_backend

        t0 = time.time()
        ok_ort, _ = count(ort_backend, names)
        print(f"onnxruntime: {ok_ort}/{len(names)} node cases pass ({time.time() - t0:.0f} s)")
        if args.light:
            ok_l, _ = count_light(ort_backend)
            print(f"onnxruntime: {ok_l}/{len(LIGHT_MODELS)} light models pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
