"""IGridSampleLayer and INMSLayer against onnxruntime (GridSample, NonMaxSuppression) and numpy."""
import numpy as np
import pytest

import inferrt as trt
from tests.helpers import assert_close, new_network, run_layer

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

RNG = np.random.default_rng(4)


def run_ort(op, inputs: dict, out_type=TensorProto.FLOAT, opset=20, **attrs):
    """Run one ONNX node in onnxruntime on float32/int64 numpy inputs."""
    types = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64}
    vin = [helper.make_tensor_value_info(k, types[v.dtype], v.shape) for k, v in inputs.items()]
    vout = [helper.make_tensor_value_info("y", out_type, None)]
    node = helper.make_node(op, list(inputs), ["y"], **attrs)
    model = helper.make_model(helper.make_graph([node], "g", vin, vout), opset_imports=[helper.make_opsetid("", opset)],
                              ir_version=9)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, inputs)


MODES = {trt.InterpolationMode.NEAREST: "nearest", trt.InterpolationMode.LINEAR: "linear",
         trt.InterpolationMode.CUBIC: "cubic"}
PADS = {trt.SampleMode.FILL: "zeros", trt.SampleMode.CLAMP: "border", trt.SampleMode.REFLECT: "reflection"}


@pytest.mark.parametrize("interp", list(MODES))
@pytest.mark.parametrize("sample", list(PADS))
@pytest.mark.parametrize("align", [False, True])
def test_grid_sample_4d(interp, sample, align, device):
    x = RNG.normal(size=(2, 3, 5, 6)).astype(np.float32)
    grid = RNG.uniform(-1.3, 1.3, (2, 4, 7, 2)).astype(np.float32)

    def add(net, t):
        layer = net.add_grid_sample(t[0], t[1])
        assert isinstance(layer, trt.IGridSampleLayer)
        assert layer.interpolation_mode == trt.InterpolationMode.LINEAR and layer.sample_mode == trt.SampleMode.FILL
        layer.interpolation_mode, layer.sample_mode, layer.align_corners = interp, sample, align
        return layer

    (got,) = run_layer(add, {"x": x, "grid": grid}, device)
    (want,) = run_ort("GridSample", {"x": x, "grid": grid}, mode=MODES[interp], padding_mode=PADS[sample],
                      align_corners=int(align))
    assert_close(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("interp", [trt.InterpolationMode.NEAREST, trt.InterpolationMode.LINEAR])
@pytest.mark.parametrize("sample", list(PADS))
def test_grid_sample_5d(interp, sample, device):
    x = RNG.normal(size=(1, 2, 3, 4, 5)).astype(np.float32)
    grid = RNG.uniform(-1.2, 1.2, (1, 2, 3, 4, 3)).astype(np.float32)

    def add(net, t):
        layer = net.add_grid_sample(t[0], t[1])
        layer.interpolation_mode, layer.sample_mode = interp, sample
        return layer

    (got,) = run_layer(add, {"x": x, "grid": grid}, device)
    (want,) = run_ort("GridSample", {"x": x, "grid": grid}, mode=MODES[interp], padding_mode=PADS[sample])
    assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_grid_sample_identity_grid_is_exact():
    x = RNG.normal(size=(1, 1, 3, 4))
    ys, xs = np.meshgrid(np.linspace(-1, 1, 3), np.linspace(-1, 1, 4), indexing="ij")
    grid = np.stack([xs, ys], -1)[None]

    def add(net, t):
        layer = net.add_grid_sample(t[0], t[1])
        layer.align_corners = True
        return layer

    (got,) = run_layer(add, {"x": x, "grid": grid})
    assert_close(got, x, atol=1e-6)


@pytest.mark.parametrize("xs,gs,msg", [((2, 3, 4), (2, 4, 2), "rank 3"), ((1, 3, 4, 4), (1, 2, 2, 3), "grid has shape"),
                                       ((2, 3, 4, 4), (1, 2, 2, 2), "batch")])
def test_grid_sample_bad_shapes_name_layer(xs, gs, msg):
    _, net = new_network()
    layer = net.add_grid_sample(net.add_input("x", trt.float32, xs), net.add_input("g", trt.float32, gs))
    layer.name = "my_gs"
    errs = " ".join(net._layer_errors())
    assert "my_gs" in errs and msg in errs


# ------------------------------------------------------------------------------------------------------------ NMS
def _boxes(b, n, center=False):
    c = RNG.uniform(0, 10, (b, n, 2))
    wh = RNG.uniform(1, 4, (b, n, 2))
    if center:
        return np.concatenate([c, wh], -1).astype(np.float32)
    return np.concatenate([c - wh / 2, c + wh / 2], -1).astype(np.float32)


def _run_nms(boxes, scores_bnc, max_out, iou=None, score=None, fmt=None, device="cpu", topk=None):
    feeds = {"boxes": boxes, "scores": scores_bnc}

    def add(net, t):
        m = net.add_constant((), np.array(max_out, np.int32)).get_output(0)
        layer = net.add_nms(t[0], t[1], m)
        assert isinstance(layer, trt.INMSLayer) and layer.topk_box_limit == 2000
        if fmt is not None:
            layer.bounding_box_format = fmt
        if topk is not None:
            layer.topk_box_limit = topk
        if iou is not None:
            layer.set_input(3, net.add_constant((), np.array(iou, np.float32)).get_output(0))
        if score is not None:
            layer.set_input(4, net.add_constant((), np.array(score, np.float32)).get_output(0))
        return layer

    return run_layer(add, feeds, device)


@pytest.mark.parametrize("iou,score,max_out", [(0.5, None, 5), (0.3, 0.4, 10), (0.0, None, 3), (0.7, 0.2, 0),
                                               (1.0, 0.9, 100)])
@pytest.mark.parametrize("center", [False, True])
def test_nms_matches_onnxruntime(iou, score, max_out, center, device):
    boxes = _boxes(2, 12, center)
    scores = RNG.uniform(0, 1, (2, 3, 12)).astype(np.float32)  # ONNX layout [batch, class, box]
    fmt = trt.BoundingBoxFormat.CENTER_SIZES if center else None
    sel, count = _run_nms(boxes, scores.transpose(0, 2, 1).copy(), max_out, iou, score, fmt, device)
    feeds = {"boxes": boxes, "scores": scores, "max": np.array([max_out], np.int64),
             "iou": np.array([iou], np.float32)}
    if score is not None:
        feeds["score"] = np.array([score], np.float32)
    (want,) = run_ort("NonMaxSuppression", feeds, TensorProto.INT64, opset=11, center_point_box=int(center))
    assert sel.dtype == np.int32 and count.dtype == np.int32
    assert int(count) == len(want)
    np.testing.assert_array_equal(sel, want)


def test_nms_class_specific_boxes_and_numpy_reference():
    # two classes, each with its own boxes: class 0 boxes overlap heavily, class 1 boxes are disjoint
    b0 = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    b1 = np.array([[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5]], np.float32)
    boxes = np.stack([b0, b1], axis=1)[None]  # [1, 3 boxes, 2 classes, 4]
    scores = np.array([[[0.9, 0.1], [0.8, 0.7], [0.3, 0.5]]], np.float32)  # [1, 3, 2]
    sel, count = _run_nms(boxes, scores, 10, iou=0.5)
    # class 0: box 0 kept, box 1 (IoU 81/119 > 0.5) suppressed, box 2 kept; class 1: all kept by score order
    np.testing.assert_array_equal(sel, [[0, 0, 0], [0, 0, 2], [0, 1, 1], [0, 1, 2], [0, 1, 0]])
    assert int(count) == 5


def test_nms_topk_box_limit():
    boxes = np.array([[[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5], [6, 6, 7, 7]]], np.float32)
    scores = np.array([[[0.1], [0.9], [0.5], [0.7]]], np.float32)
    sel, _ = _run_nms(boxes, scores, 10, iou=0.5, topk=2)
    np.testing.assert_array_equal(sel, [[0, 0, 1], [0, 0, 3]])


def test_nms_bad_shapes_name_layer():
    _, net = new_network()
    b = net.add_input("b", trt.float32, (1, 5, 3))
    s = net.add_input("s", trt.float32, (1, 5, 2))
    m = net.add_constant((), np.array(3, np.int32)).get_output(0)
    net.add_nms(b, s, m).name = "my_nms"
    errs = " ".join(net._layer_errors())
    assert "my_nms" in errs and "[batch, boxes, 4]" in errs


def ref_cubic_grid_sample(x, grid, pad, align, A=-0.75):
    """Point-by-point numpy float64 reference for N-D cubic grid sampling (4 taps per axis, padding per tap)."""
    n, c = x.shape[:2]
    sp = x.shape[2:]
    nsp = len(sp)

    def kernel(d):
        d = abs(d)
        return ((A + 2) * d - (A + 3)) * d * d + 1 if d <= 1 else ((A * d - 5 * A) * d + 8 * A) * d - 4 * A

    def fetch(b, idx):
        ii = []
        for j, size in zip(idx, sp):
            if pad == "zeros" and not 0 <= j < size:
                return np.zeros(c)
            if pad == "reflection" and size > 1:
                lo, hi = (0, size - 1) if align else (-0.5, size - 0.5)
                while not lo <= j <= hi:
                    j = 2 * lo - j if j < lo else 2 * hi - j
            ii.append(int(min(max(j, 0), size - 1)))
        return x[(b, slice(None), *ii)]

    out = np.zeros((n, c) + grid.shape[1:-1])
    for b in range(n):
        for pos in np.ndindex(*grid.shape[1:-1]):
            g = grid[(b, *pos)][::-1]  # grid lists (x, y, z): reverse to (z, y, x) = spatial order
            coord = [(g[i] + 1) / 2 * (sp[i] - 1) if align else ((g[i] + 1) * sp[i] - 1) / 2 for i in range(nsp)]
            base = [int(np.floor(v)) for v in coord]
            acc = np.zeros(c)
            for offs in np.ndindex(*(4,) * nsp):
                idx = [base[i] + offs[i] - 1 for i in range(nsp)]
                w = np.prod([kernel(coord[i] - idx[i]) for i in range(nsp)])
                acc += w * fetch(b, idx)
            out[(b, slice(None), *pos)] = acc
    return out


@pytest.mark.parametrize("sample", list(PADS))
@pytest.mark.parametrize("align", [False, True])
def test_grid_sample_5d_cubic(sample, align, device):
    x = RNG.normal(size=(1, 2, 3, 4, 5))
    grid = RNG.uniform(-1.3, 1.3, (1, 2, 2, 3, 3))

    def add(net, t):
        layer = net.add_grid_sample(t[0], t[1])
        layer.interpolation_mode, layer.sample_mode, layer.align_corners = trt.InterpolationMode.CUBIC, sample, align
        return layer

    (got,) = run_layer(add, {"x": x, "grid": grid}, device)
    want = ref_cubic_grid_sample(x.astype(np.float32).astype(np.float64), grid.astype(np.float32).astype(np.float64),
                                 PADS[sample], align)
    assert_close(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("sample", list(PADS))
def test_cubic_reference_agrees_with_onnxruntime_in_2d(sample):
    # validates the N-D reference above on the 2-D case onnxruntime supports
    x = RNG.normal(size=(1, 2, 4, 5)).astype(np.float32)
    grid = RNG.uniform(-1.3, 1.3, (1, 3, 3, 2)).astype(np.float32)
    (want,) = run_ort("GridSample", {"x": x, "grid": grid}, mode="cubic", padding_mode=PADS[sample])
    assert_close(ref_cubic_grid_sample(x.astype(np.float64), grid.astype(np.float64), PADS[sample], False), want,
                 rtol=1e-4, atol=1e-4)


def test_grid_sample_half_input(device):
    x = RNG.normal(size=(1, 2, 4, 5)).astype(np.float16)
    grid = RNG.uniform(-1, 1, (1, 3, 3, 2)).astype(np.float16)
    (got,) = run_layer(lambda n, t: n.add_grid_sample(t[0], t[1]), {"x": x, "grid": grid}, device)
    (want,) = run_ort("GridSample", {"x": x.astype(np.float32), "grid": grid.astype(np.float32)}, mode="linear")
    assert got.dtype == np.float16
    assert_close(got, want)


def test_nms_int64_indices_and_dynamic_max_output(device):
    boxes, scores = _boxes(1, 10), RNG.uniform(0, 1, (1, 10, 2)).astype(np.float32)

    def add(net, t):
        layer = net.add_nms(t[0], t[1], t[2])
        layer.indices_type = trt.int64
        layer.set_input(3, net.add_constant((), np.array(0.4, np.float32)).get_output(0))
        return layer

    for k in (1, 4):
        sel, count = run_layer(add, {"boxes": boxes, "scores": scores, "k": np.array([k], np.int64)}, device)
        (want,) = run_ort("NonMaxSuppression", {"boxes": boxes, "scores": scores.transpose(0, 2, 1).copy(),
                                                "max": np.array([k], np.int64), "iou": np.array([0.4], np.float32)},
                          TensorProto.INT64, opset=11)
        assert sel.dtype == np.int64 and int(count) == len(want)
        np.testing.assert_array_equal(sel, want)


def test_nms_many_boxes_matches_onnxruntime_quickly(device):
    import time

    boxes = _boxes(2, 400)
    scores = RNG.uniform(0, 1, (2, 6, 400)).astype(np.float32)
    t0 = time.perf_counter()
    sel, count = _run_nms(boxes, scores.transpose(0, 2, 1).copy(), 50, 0.3, 0.1, device=device)
    elapsed = time.perf_counter() - t0
    (want,) = run_ort("NonMaxSuppression", {"boxes": boxes, "scores": scores, "max": np.array([50], np.int64),
                                            "iou": np.array([0.3], np.float32), "score": np.array([0.1], np.float32)},
                      TensorProto.INT64, opset=11)
    np.testing.assert_array_equal(sel, want)
    assert int(count) == len(want) > 100
    assert elapsed < 20, f"NMS of 2 x 6 x 400 boxes took {elapsed:.1f} s"
