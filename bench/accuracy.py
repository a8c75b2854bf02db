"""Top-1 agreement with FP32 of every precision path, on models trained here in seconds (no downloads).

    python bench/accuracy.py                       # CPU engines
    python bench/accuracy.py --device cuda         # GPU engines (FP16/BF16 flags then run reduced-precision kernels)
    python bench/accuracy.py --json accuracy.json --paths fp16 int8-entropy fp8

Models: a CNN trained on scikit-learn's bundled digits and a two-layer transformer trained to reverse sequences
(tests/accuracy/trained_models.py); paths: tests/accuracy/agreement.py. Agreement is against the FP32 engine
(TF32 off) on the same device; accuracy is against the held-out labels.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.accuracy.agreement import PATHS, measure  # noqa: E402
from tests.accuracy.trained_models import digits_cnn, reversal_transformer  # noqa: E402

MODELS = {"digits_cnn": digits_cnn, "reversal_transformer": reversal_transformer}


def _device_name(device: str) -> str:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name()
    return platform.processor() or platform.machine()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the engines run (default cpu)")
    p.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS), help="precision paths (default all)")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--json", default="accuracy.json", help="where to write the results (default accuracy.json)")
    args = p.parse_args(argv)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("error: --device cuda but torch sees no GPU", file=sys.stderr)
            return 2
    results = {"device": args.device, "device_name": _device_name(args.device), "models": {}}
    for name in args.models:
        t0 = time.perf_counter()
        trained = MODELS[name]()
        t_train = time.perf_counter() - t0
        table = measure(trained, args.paths, args.device)
        results["models"][name] = {"train_s": round(t_train, 2), "held_out": int(len(trained.held_out)),
                                   "pytorch_fp32_accuracy": trained.fp32_accuracy, "paths": table}
    names = list(results["models"])
    print(f"Top-1 agreement with the FP32 engine (accuracy on held-out labels) | device: {args.device} "
          f"({results['device_name']})")
    header = f"{'path':<20}" + "".join(f"{n:>30}" for n in names)
    print(header)
    print("-" * len(header))
    for path in ["fp32"] + list(args.paths):
        cells = []
        for n in names:
            row = results["models"][n]["paths"].get(path)
            cells.append("(not available)" if row is None else
                         f"{100 * row['agreement']:7.2f}% ({100 * row['accuracy']:6.2f}%)")
        print(f"{path:<20}" + "".join(f"{c:>30}" for c in cells))
    for n in names:
        m = results["models"][n]
        print(f"{n}: {m['held_out']} held-out rows, trained in {m['train_s']} s")
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
