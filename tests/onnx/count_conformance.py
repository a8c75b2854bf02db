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
    except OSError:  # another worker finished first
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


def light_model_dir() -> str:
    import onnx.backend.test

    return os.path.join(os.path.dirname(onnx.backend.test.__file__), "data", "light")


def run_light(backend, name: str, device: str = "CPU") -> None:
    """Run a shipped ``light_<name>.onnx`` model and compare with its ``_output_0.pb`` (rtol 1e-3, atol 1e-7)."""
    import onnx
    from onnx import numpy_helper
    from onnx.backend.test.runner import Runner

    d = light_model_dir()
    model = onnx.load(os.path.join(d, f"light_{name}.onnx"))
    inits = {i.name for i in model.graph.initializer}
    ins = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        shape = [dim.dim_value for dim in vi.type.tensor_type.shape.dim]
        ins.append(np.ones(shape, dtype=onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)))
    ref = numpy_helper.to_array(onnx.load_tensor(os.path.join(d, f"light_{name}_output_0.pb")))
    got = backend.prepare(model, device).run(ins)
    Runner.assert_similar_outputs([ref], [got[0]], rtol=1e-3, atol=1e-7, model_dir=name)


def count(backend, names, verbose=False):
    passed, failures = 0, {}
    for name in names:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run_case(backend, name)
            passed += 1
        except Exception as e:  # noqa: BLE001 - every failure counts the same here
            failures[name] = f"{type(e).__name__}: {' | '.join(str(e).split(chr(10)))}"
            if verbose:
                print(f"FAIL {name}: {failures[name][:400]}", flush=True)
    return passed, failures


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--failures", action="store_true", help="list inferrt's failing cases")
    ap.add_argument("--only", default="", help="comma-separated case name prefixes")
    ap.add_argument("--no-ort", action="store_true", help="skip onnxruntime")
    args = ap.parse_args(argv)
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
    from inferrt.onnx.backend import InferrtBackend

    names = case_names()
    if args.only:
        names = [n for n in names if n.startswith(tuple(args.only.split(",")))]
    t0 = time.time()
    ok, fails = count(InferrtBackend, names, verbose=args.failures)
    print(f"inferrt:     {ok}/{len(names)} node cases pass ({time.time() - t0:.0f} s)")
    if not args.no_ort:
        import onnxruntime.backend as ort_backend

        t0 = time.time()
        ok_ort, _ = count(ort_backend, names)
        print(f"onnxruntime: {ok_ort}/{len(names)} node cases pass ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
