"""GPU tactics of the quantized products (``ops/quantized.py``, made by ``passes/fuse_qdq.py``) with INT8 or FP8
inputs: ``triton_quantized_gemm`` (``quantized_matmul``, the GEMM template of ``triton_gemm.py``) and
``triton_quantized_conv_nhwc`` (``quantized_conv``, the implicit-GEMM template of ``triton_conv.py``).

The template reads the float input and quantizes each tile with the per-tensor scale as it loads it (round half to
even and saturate, as the Q layer does: ``triton_gemm.quantize_operand_lines``, the values of
``ops.quantized.quantized_input``), so no separate quantize pass writes an INT8 copy of the activation (tuning
parameter ``QUANTIZE="load"``, the default; ``"pass"`` quantizes the activation by one Triton pass before the
product, ``triton_quantize.py``, and the autotuner keeps the faster per layer); it
multiplies the quantized values (INT8 x INT8/INT4 accumulated exactly in INT32, FP8 E4M3 x E4M3 in FP32) and its
epilogue program starts with the dequantize, a product with the per-output-channel vector ``sx * sw[c]``, followed
by the bias and the layer's steps, all in registers before the single store. Weights, that vector and the FP32 input
scale are prepared once per weight tensor, in the first (un-captured) execution (INT4 values are already held in
int8); nothing in a later call reads to the host or allocates, so CUDA graphs capture it. The input and output may be
of different float types (a network's FP32 input into an FP16 layer). FP8 needs a GPU of compute capability 8.9 or
later. Weight-only layers (``input_type`` FLOAT) run through ``dequantized_weights``
(``tactic_dequantized_weights.py``) or the generic implementation.
"""
from __future__ import annotations

from ..enums import DataType, MatrixOperation as MO
from ..ir.kinds import Kind
from ..ops import Spec, get_op
from ..ops.quantized import matmul_output_axis, output_channel_scale, quantized_input
from .registry import Tactic, register_tactic
from .tactic_cuda_fused import epilogue_program
from .tactic_triton_conv import _conv_dims, conv_geometry
from .tactic_triton_gemm import problem_dims
from .tactic_triton_pointwise import triton_available
from .triton_conv import ConvLauncher, pack_weight
from .triton_gemm import _ELEM, GEMM_DTYPES, GEMM_SPACE, GemmLauncher, epilogue_supported, gemm_fits, view3
from .triton_quantize import QuantizeLauncher
from .tuning import TuningSpace

#: the GEMM template's parameters with reduction blocks of 32 and 64 (8-bit tensor-core products take K in steps of
#: 32), and where the input is quantized: in the product's tile loads ("load") or by one pass over the activation
#: before it ("pass", ``triton_quantize.py``); last, so that the single variation "pass" is the first one timed
_PARAMS = dict(GEMM_SPACE.params, BLOCK_K=(32, 64), QUANTIZE=("load", "pass"))


def _operand_bytes(point, node, specs) -> int:
    """Bytes per element of the pipelined operand tiles in the shared-memory check: one (quantized by a pass
    before), or the input's float type when its tiles are loaded as they are and quantized in registers (an upper
    bound for the one-byte weights too)."""
    return 1 if point["QUANTIZE"] == "pass" else _ELEM.get(specs[node.inputs[0]].dtype, 4)


QUANT_GEMM_SPACE = TuningSpace(_PARAMS, lambda p, node, specs: gemm_fits(p, problem_dims(node, specs)[0],
                                                                         _operand_bytes(p, node, specs)))
QUANT_CONV_SPACE = TuningSpace(_PARAMS, lambda p, node, specs: gemm_fits(p, _conv_dims(node, specs),
                                                                         _operand_bytes(p, node, specs)))


def dequantize_epilogue_program(steps, with_bias: bool):
    """(program, kernel input plan) of a quantized layer's epilogue: input 0 is the FP32 accumulator, input 1 the
    per-output-channel dequantize scale ("scale"), then the bias ("bias") and the residuals (their input index)."""
    return epilogue_program(steps, with_bias, scaled=True)


def _fp8_ok() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 9)


def _common_supports(node, specs):
    """The checks both tactics share: INT8 / FP8 inputs, float input and output types (not necessarily the same:
    the input is quantized in the kernel and the output written in its own type), an epilogue the template
    compiles."""
    a = node.attrs
    if a.input_type not in (DataType.INT8, DataType.FP8) or (a.input_type == DataType.FP8 and not _fp8_ok()):
        return False
    x, out = specs[node.inputs[0]], specs[node.outputs[0]]
    if x.dtype not in GEMM_DTYPES or out.dtype not in GEMM_DTYPES or x.shape is None or out.shape is None:
        return False
    prog, plan = dequantize_epilogue_program(a.epilogue, _with_bias(node))
    dts = [DataType.FLOAT, DataType.FLOAT] + [specs[node.inputs[2 if p == "bias" else p]].dtype for p in plan[2:]]
    return epilogue_supported(prog, dts)


def conv_weights_k_major(input_type) -> bool:
    """Whether the convolution packs its weights K-major (``triton_conv.pack_weight``): INT8 yes (the weight tiles
    are then pipelined into shared memory with cp.async). FP8 no: Triton 3.6 fails to compile the FP8 template with
    K-major weights and in-kernel quantized inputs at BLOCK_K 64 ("Cannot use F32 as the accumulator element type
    when the max_num_imprecise_acc is less than 32" in its pipeliner), while the GEMM template compiles either way."""
    return input_type == DataType.INT8


def _with_bias(node):
    return len(node.inputs) > 2 and bool(node.inputs[2])


def _storage(input_type):
    import torch

    return torch.int8 if input_type == DataType.INT8 else torch.float8_e4m3fn


def _column_scale(ins, n):
    """``sx * sw[c]`` as n float32 values on the kernel's device."""
    import torch

    sx = ins[5].to(torch.float64).reshape(())
    return (output_channel_scale(ins[4], n).to(sx.device) * sx).to(torch.float32).contiguous()


def _input_scale(ins):
    """The per-tensor input scale as the one FP32 value the kernel divides by (the quantize layer's
    ``x.float() / sx.float()``)."""
    import torch

    return ins[5].to(torch.float32).reshape(1).contiguous()


@register_tactic
class TritonQuantizedGemm(Tactic):
    name = "triton_quantized_gemm"
    version = 3     # 2: the input quantized in the kernel's loads; 3: or by a quantize pass (QUANTIZE)
    constant_inputs = (1, 4, 5)
    kinds = (Kind.QUANTIZED_MATMUL,)
    devices = ("cuda",)
    space = QUANT_GEMM_SPACE

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device) or specs is None or not triton_available():
            return False
        if not _common_supports(node, specs):
            return False
        x, w, out = specs[node.inputs[0]], specs[node.inputs[1]], specs[node.outputs[0]]
        if len(x.shape) < 2 or w.shape is None or any(d != 1 for d in w.shape[:-2]):
            return False   # one weight matrix (leading dims of 1): the batch of x folds into the rows
        n = w.shape[matmul_output_axis(node.attrs, len(w.shape))]
        return tuple(out.shape[-2:]) == (x.shape[-2], n) and tuple(out.shape[:-2]) == tuple(x.shape[:-2])

    def runner(self, node, device, point):
        a = node.attrs
        prog, plan = dequantize_epilogue_program(a.epilogue, _with_bias(node))
        gemm = GemmLauncher(prog, point)
        quantize = QuantizeLauncher() if point["QUANTIZE"] == "pass" else None
        prepared: dict = {}

        def run(ins, outs):
            x, w, out = ins[0], ins[1], outs[0]
            key = (w.data_ptr(), ins[4].data_ptr(), ins[5].data_ptr())
            prep = prepared.get(key)
            if prep is None:
                wm = w.reshape(w.shape[-2:])
                wm = (wm.t() if a.op1 == MO.TRANSPOSE else wm).to(_storage(a.input_type))
                prep = prepared[key] = (wm.unsqueeze(0), _column_scale(ins, wm.shape[1]), _input_scale(ins))
            b3, scale, sx = prep
            k, n = b3.shape[1], b3.shape[2]
            if quantize is not None:
                x = quantize(x, sx, b3.dtype, lambda: quantized_input(a, x, ins[5]))
            a3 = view3(x, (1, -1, k))   # the rows of every batch: one weight matrix
            shape = tuple(out.shape)
            shape3 = (1, a3.shape[1], n)
            extras = [scale.expand(shape3)]
            extras += [view3((ins[2] if p == "bias" else ins[p]).expand(shape), shape3) for p in plan[2:]]
            try:
                out3, copy_back = out.view(shape3), False
            except RuntimeError:
                import torch

                out3, copy_back = torch.empty(shape3, dtype=out.dtype, device=out.device), True
            gemm(out3, a3, b3, extras, a_scale=None if quantize is not None else sx)
            if copy_back:
                out.copy_(out3.view(shape))
            return None

        run.launchers = [gemm] + ([quantize] if quantize is not None else [])
        return run


@register_tactic
class TritonQuantizedConvNHWC(Tactic):
    name = "triton_quantized_conv_nhwc"
    version = 4     # 2: the input quantized in the kernel's loads; 3: K-major weights; 4: QUANTIZE "pass"
    constant_inputs = (1, 4, 5)
    kinds = (Kind.QUANTIZED_CONV,)
    devices = ("cuda",)
    space = QUANT_CONV_SPACE

    def supports(self, node, specs, device):
        if not super().supports(node, specs, device) or specs is None or not triton_available():
            return False
        a = node.attrs
        if len(a.kernel_size_nd) != 2 or a.num_groups != 1 or not _common_supports(node, specs):
            return False
        x, out = specs[node.inputs[0]], specs[node.outputs[0]]
        if len(x.shape) != 4 or len(out.shape) != 4:
            return False
        conv_in = [x, Spec(x.dtype, specs[node.inputs[1]].shape)]
        (conv,) = get_op(Kind.CONVOLUTION).infer(a, conv_in)
        return not any(c >= 0 and o >= 0 and c != o for c, o in zip(conv.shape, out.shape))

    def runner(self, node, device, point):
        a = node.attrs
        prog, plan = dequantize_epilogue_program(a.epilogue, _with_bias(node))
        launch = ConvLauncher(prog, point)
        quantize = QuantizeLauncher() if point["QUANTIZE"] == "pass" else None
        prepared: dict = {}
        generic = node.op

        def run(ins, outs):
            x, w, out = ins[0], ins[1], outs[0]
            geometry = conv_geometry(a, x, out)
            if geometry is None:
                (y,) = generic.run(a, ins, outs)
                out.copy_(y)
                return None
            k, s, d, pre = geometry
            shape = tuple(out.shape)
            key = (w.data_ptr(), ins[4].data_ptr(), ins[5].data_ptr())
            prep = prepared.get(key)
            if prep is None:
                wmat = pack_weight(w, a.num_output_maps, x.shape[1], k, _storage(a.input_type),
                                   k_major=conv_weights_k_major(a.input_type))
                prep = prepared[key] = (wmat, _column_scale(ins, a.num_output_maps), _input_scale(ins))
            wmat, scale, sx = prep
            extras = [scale.reshape(1, -1, 1, 1).expand(shape)]
            extras += [(ins[2].reshape(1, -1, 1, 1) if p == "bias" else ins[p]).expand(shape) for p in plan[2:]]
            if quantize is not None:
                xq = quantize(x, sx, wmat.dtype, lambda: quantized_input(a, x, ins[5]))
                launch(out, xq, wmat, k, (s, pre, d), extras)
            else:
                launch(out, x, wmat, k, (s, pre, d), extras, x_scale=sx)
            return None

        run.launchers = [launch] + ([quantize] if quantize is not None else [])
        return run
