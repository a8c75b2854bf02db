"""Small ONNX models for the quantizer tests (built with onnx.helper).

``resblock_model`` (conv + bn + relu + residual)::

    x[2,4,8,8] -> c0 (Conv) -> bn0 -> r0 (Relu) = a
    a -> c1 (Conv) -> bn1 -> r1 (Relu) -> c2 (Conv) -> bn2 = m ;  add (Add m, a) -> r2 (Relu) = y0
    y0 -> gap (GlobalAveragePool) -> flat (Flatten) -> fc (Gemm, transB) -> y

``gemm_model`` (transformer-style GEMMs)::

    x[B,T,K] -> ln (LayerNormalization) = h;  h -> q (MatMul wq), h -> k (MatMul wk) ;  s = q + k
    s -> sm (Softmax) -> y ;  h -> out (MatMul wo) -> z          (x has outlier channels when asked)
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _model(graph, opset) -> onnx.ModelProto:
    """The model at the oldest IR version its opset allows (8 for opset 17), not onnx's newest: onnxruntime refuses
    IR versions newer than its own, and a newer onnx package beside it writes them by default (IR 14 with an
    onnxruntime that reads up to 13 on the GPU machine)."""
    from tests.helpers import lowest_ir

    return lowest_ir(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]))


def _init(name, arr):
    return numpy_helper.from_array(np.asarray(arr, np.float32), name)


def _bn(rng, c, name, x, y):
    inits = [_init(f"{name}_g", rng.uniform(0.5, 1.5, c)), _init(f"{name}_b", rng.normal(0, 0.1, c)),
             _init(f"{name}_m", rng.normal(0, 0.1, c)), _init(f"{name}_v", rng.uniform(0.5, 1.5, c))]
    return helper.make_node("BatchNormalization", [x, f"{name}_g", f"{name}_b", f"{name}_m", f"{name}_v"], [y],
                            name=name), inits


def resblock_model(opset=17) -> onnx.ModelProto:
    rng = np.random.default_rng(11)
    c = 4
    nodes, inits = [], []
    for i, (src, dst) in enumerate([("x", "c0o"), ("a", "c1o"), ("r1o", "c2o")]):
        inits.append(_init(f"w{i}", rng.normal(0, 0.3, (c, c, 3, 3))))
        nodes.append(helper.make_node("Conv", [src, f"w{i}"], [dst], name=f"c{i}", pads=[1, 1, 1, 1]))
        bn, bi = _bn(rng, c, f"bn{i}", dst, f"bn{i}o")
        nodes.append(bn)
        inits += bi
        if i == 0:
            nodes.append(helper.make_node("Relu", ["bn0o"], ["a"], name="r0"))
        elif i == 1:
            nodes.append(helper.make_node("Relu", ["bn1o"], ["r1o"], name="r1"))
    nodes += [helper.make_node("Add", ["bn2o", "a"], ["addo"], name="add"),
              helper.make_node("Relu", ["addo"], ["y0"], name="r2"),
              helper.make_node("GlobalAveragePool", ["y0"], ["gapo"], name="gap"),
              helper.make_node("Flatten", ["gapo"], ["flato"], name="flat"),
              helper.make_node("Gemm", ["flato", "wfc", "bfc"], ["y"], name="fc", transB=1)]
    inits += [_init("wfc", rng.normal(0, 0.5, (3, c))), _init("bfc", rng.normal(0, 0.1, 3))]
    g = helper.make_graph(nodes, "resblock", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, c, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], inits)
    return _model(g, opset)


def gemm_model(k=16, n=8, decomposed_ln=False, opset=17) -> onnx.ModelProto:
    """``decomposed_ln``: the LayerNorm as exporters at opset < 17 write it, ending in Mul(gamma) -> Add(beta)."""
    rng = np.random.default_rng(12)
    inits = [_init("wq", rng.normal(0, 0.3, (k, n))), _init("wk", rng.normal(0, 0.3, (k, n))),
             _init("wo", rng.normal(0, 0.3, (k, n))), _init("gamma", rng.uniform(0.5, 1.5, k)),
             _init("beta", rng.normal(0, 0.2, k))]
    if decomposed_ln:
        inits.append(_init("eps", 1e-5))
        ln = [helper.make_node("ReduceMean", ["x"], ["mu"], name="ln_mean", axes=[-1]),
              helper.make_node("Sub", ["x", "mu"], ["xc"], name="ln_sub"),
              helper.make_node("Mul", ["xc", "xc"], ["sq"], name="ln_sq"),
              helper.make_node("ReduceMean", ["sq"], ["var"], name="ln_var", axes=[-1]),
              helper.make_node("Add", ["var", "eps"], ["ve"], name="ln_eps"),
              helper.make_node("Sqrt", ["ve"], ["sd"], name="ln_sqrt"),
              helper.make_node("Div", ["xc", "sd"], ["nx"], name="ln_div"),
              helper.make_node("Mul", ["nx", "gamma"], ["gx"], name="ln_gamma"),
              helper.make_node("Add", ["gx", "beta"], ["h"], name="ln_beta")]
        opset = min(opset, 17)
    else:
        ln = [helper.make_node("LayerNormalization", ["x", "gamma", "beta"], ["h"], name="ln", axis=-1)]
    nodes = ln + [helper.make_node("MatMul", ["h", "wq"], ["qo"], name="q"),
                  helper.make_node("MatMul", ["h", "wk"], ["ko"], name="k"),
                  helper.make_node("Add", ["qo", "ko"], ["s"], name="sum"),
                  helper.make_node("Softmax", ["s"], ["y"], name="sm", axis=-1),
                  helper.make_node("MatMul", ["h", "wo"], ["z"], name="out")]
    g = helper.make_graph(nodes, "gemms", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 4, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 4, n]),
                           helper.make_tensor_value_info("z", TensorProto.FLOAT, ["B", 4, n])], inits)
    return _model(g, opset)


def matmul_model(k=256, n=16, rows=8) -> onnx.ModelProto:
    """x[rows, k] -> mm (MatMul w[k, n]) -> y: one GEMM, for exact error bounds and INT4 blocks."""
    rng = np.random.default_rng(13)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "mm",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, n])],
                          [_init("w", rng.normal(0, 0.2, (k, n)))])
    return _model(g, 17)


def outlier_activations(shape, channels=(3, 7), scale=30.0, seed=0) -> np.ndarray:
    """Standard normal values with a few last-axis channels ``scale`` times larger (LLM-style outliers)."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    x[..., list(channels)] *= scale
    return x


def ort_run(model, feed, outputs=None):
    """onnxruntime on the CPU with graph optimizations off: the Q/DQ graph computed as written. (Its level-2 QDQ
    fusions change results: FP8 Q/DQ around Conv + BatchNorm + Add comes out ~10 % off in onnxruntime 1.32, and
    fused integer ops may differ by a step, onnxruntime issue #32132.)"""
    import onnxruntime as ort

    data = model if isinstance(model, bytes) else model.SerializeToString()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"]).run(outputs, feed)
