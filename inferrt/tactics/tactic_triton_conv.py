"""GPU tactic ``triton_conv_nhwc``: 2-D convolutions (plain ``convolution`` and ``fused_conv`` with bias and
epilogue) through the implicit-GEMM kernel of ``triton_conv.py``. It competes with ``cudnn_conv_epilogue`` and
``cudnn_conv_bias_relu`` in the autotuner, which keeps whichever is fastest at the profile's shapes.

Supported: one group, FP16 / BF16 / FP32 input, kernel and output of one type, any stride, padding (explicit,
asymmetric or SAME_*) and dilation. Made for channels-last tensors (the layout ``assign_formats`` gives 4-D float
values on the GPU); other layouts run through their strides. A residual add that widens the convolution's batch or
pixels (a fused output larger than the convolution's) is not supported when the shapes say so at build time; when
dynamic shapes turn out that way at run time, the call runs the layer's generic implementation.

``CONV_SPACE`` has the GEMM template's parameters; its constraint reads the implicit product's sizes: rows = output
pixels (N·OH·OW), columns = output channels, reduction block = the input channels of one kernel tap.
"""
from __future__ import annotations

from ..enums import DataType, PaddingMode as PM
from ..ir.kinds import Kind
from ..ops import get_op
from ..ops.conv import conv_out_dim, resolve_padding, spatial_params
from .registry import Tactic, register_tactic
from .tactic_cuda_fused import epilogue_program
from .tactic_triton_pointwise import triton_available
from .triton_conv import ConvLauncher, pack_weight
from .triton_gemm import _ELEM, GEMM_DTYPES, GEMM_SPACE, epilogue_supported, gemm_fits
from .tuning import TuningSpace


def _conv_dims(node, specs):
    """(rows, output channels, input channels) of the implicit product at ``specs`` (-1 where unknown)."""
    x, out = specs[node.inputs[0]].shape, specs[node.outputs[0]].shape
    if x is None or out is None or len(out) != 4:
        return -1, -1, -1
    rows = out[0] * out[2] * out[3] if all(isinstance(d, int) and d >= 0 for d in (out[0], out[2], out[3])) else -1
    return rows, node.attrs.num_output_maps, x[1]


def conv_geometry(a, x, out):
    """(kernel, strides, dilations, leading padding) of the convolution of ``x`` into ``out``, or None when ``out``'s
    shape is not the convolution's own (a residual broadcasting its batch or pixels: the generic op runs that)."""
    k, s, d, pre, post = spatial_params(a, 2)
    pre, post = resolve_padding(a.padding_mode, x.shape[2:], k, s, d, pre, post)
    up = a.padding_mode == PM.EXPLICIT_ROUND_UP
    own = (x.shape[0], a.num_output_maps,
           *(conv_out_dim(x.shape[2 + i], k[i], s[i], d[i], pre[i], post[i], up) for i in range(2)))
    return (k, s, d, pre) if tuple(out.shape) == own else None


def _conv_constraint(point, node, specs) -> bool:
    return gemm_fits(point, _conv_dims(node, specs), _ELEM.get(specs[node.inputs[0]].dtype, 4))


CONV_SPACE = TuningSpace(GEMM_SPACE.params, _conv_constraint)


def _plan(node):
    with_bias = len(node.inputs) > 2 and bool(node.inputs[2])
    return epilogue_program(node.attrs.get("epilogue", []), with_bias)


@register_tactic
class TritonConvNHWC(Tactic):
    name = "triton_conv_nhwc"
    version = 2     # 2: the template reads the weights through their strides
    constant_inputs = (1,)
    kinds = (Kind.FUSED_CONV, Kind.CONVOLUTION)
    devices = ("cuda",)
    space = CONV_SPACE

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device) or specs is None or not triton_available():
            return False
        a = node.attrs
        if a.get("transposed") or len(a.kernel_size_nd) != 2 or a.num_groups != 1:
            return False
        if len(node.inputs) < 2 or not node.inputs[1]:
            return False   # the kernel as an attribute only (never after lowering): the generic tactic runs it
        x, w, out = specs[node.inputs[0]], specs[node.inputs[1]], specs[node.outputs[0]]
        if x.shape is None or len(x.shape) != 4 or out.shape is None or len(out.shape) != 4:
            return False
        if x.dtype not in GEMM_DTYPES or w.dtype != x.dtype or out.dtype != x.dtype:
            return False
        (conv,) = get_op(Kind.CONVOLUTION).infer(a, [specs[i] if i else None for i in node.inputs[:3]])
        if any(c >= 0 and o >= 0 and c != o for c, o in zip(conv.shape, out.shape)):
            return False   # the residual widens the convolution's batch or pixels
        prog, plan = _plan(node)
        dts = [DataType.FLOAT] + [specs[node.inputs[2 if p == "bias" else p]].dtype for p in plan[1:]]
        return epilogue_supported(prog, dts)

    def runner(self, node, device, point):
        a = node.attrs
        prog, plan = _plan(node)
        launch = ConvLauncher(prog, point)
        packed: dict = {}
        generic = node.op

        def run(ins, outs):
            x, w = ins[0], ins[1]
            out = outs[0]
            geometry = conv_geometry(a, x, out)
            if geometry is None:
                (y,) = generic.run(a, ins, outs)
                out.copy_(y)
                return None
            k, s, d, pre = geometry
            shape = tuple(out.shape)
            key = (w.data_ptr(), x.dtype)
            wmat = packed.get(key)
            if wmat is None:
                wmat = packed[key] = pack_weight(w, a.num_output_maps, x.shape[1], k, x.dtype)
            extras = [(ins[2].reshape(1, -1, 1, 1) if p == "bias" else ins[p]).expand(shape) for p in plan[1:]]
            launch(out, x, wmat, k, (s, pre, d), extras)
            return None

        run.launchers = [launch]
        return run
