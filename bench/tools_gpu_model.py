"""The ONNX models of ``bench/tools_gpu_check.sh``, and their shape flags.

    python bench/tools_gpu_model.py bench resnet50 model.onnx [--small]   # bench/run.py's model, dynamic batch
    python bench/tools_gpu_model.py conv model.onnx                       # Conv -> Relu -> Add(relu, conv)

Both print two lines: the inference shapes in trtexec's spelling (``x:@x3x224x224``, inputs joined by ``,``) and
in Polygraphy's (``x:[@,3,224,224]``, inputs joined by a space), with ``@`` where the batch goes. A ``bench``
model has ``bench/run.py``'s seeded weights (``bench/models.make_model``), so ``inferrt exec`` on it times the very
network the bench times.
"""
from __future__ import annotations

import argparse
import os
import sys

BATCH = "@"


def shape_specs(names: list, shapes: list, batch_axes: list) -> tuple[str, str]:
    """(trtexec spec, Polygraphy spec) with ``@`` on each input's batch axes."""
    execs, polys = [], []
    for name, shape, axes in zip(names, shapes, batch_axes):
        dims = [BATCH if i in axes else str(d) for i, d in enumerate(shape)]
        execs.append(f"{name}:{'x'.join(dims)}")
        polys.append(f"{name}:[{','.join(dims)}]")
    return ",".join(execs), " ".join(polys)


def bench_model(name: str, path: str, small: bool) -> tuple[str, str]:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    from models import export_onnx, make_model

    # bench/kernels.py must not shadow the `kernels` package transformers imports: bench/ goes last on the path
    sys.path[:] = [q for q in sys.path if os.path.abspath(q or ".") != here] + [here]

    model, inputs, names, dyn = make_model(name, 1, small)
    with open(path, "wb") as f:
        f.write(export_onnx(model, inputs, names, dyn))
    return shape_specs(names, [tuple(x.shape) for x in inputs], [set(dyn.get(n, {})) for n in names])


def conv_model(path: str) -> tuple[str, str]:
    """y = Relu(conv) + conv (the builder fuses Relu and Add), x [N, 3, 8, 8], opset 17."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Add", ["r", "c"], ["y"], name="add")]
    graph = helper.make_graph(nodes, "conv_relu_add",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 8, 8])], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return shape_specs(["x"], [(1, 3, 8, 8)], [{0}])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="kind", required=True)
    b = sub.add_parser("bench", help="a bench/run.py model with its seeded weights")
    b.add_argument("name", help="bench/run.py's model name: resnet50, mobilenet_v2, vit_b_16, bert_base, gpt2")
    b.add_argument("onnx")
    b.add_argument("--small", action="store_true", help="bench/run.py's tiny configuration")
    c = sub.add_parser("conv", help="the small Conv/Relu/Add model")
    c.add_argument("onnx")
    a = p.parse_args(argv)
    specs = bench_model(a.name, a.onnx, a.small) if a.kind == "bench" else conv_model(a.onnx)
    print("\n".join(specs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
