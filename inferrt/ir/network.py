"""INetworkDefinition: TensorRT's network API.

Layers are added with ``add_*`` methods (the core ones below; the other families live in ``api_*.py`` modules
that register their methods here). Shapes are inferred as layers are added, on symbolic dims (-1), and again
lazily after any edit (``set_input``, an attribute, an input shape). An inference error is recorded on its layer
(``layer._error``), not logged when it happens, since a layer is inferred before its creator has finished setting its
attributes; the parser (after each node) and the builder report the errors that remain, once.
"""
from __future__ import annotations

from ..dtypes import volume
from ..enums import (ActivationType, DataType, ElementWiseOperation, MatrixOperation, NetworkDefinitionCreationFlag,
                     PoolingType, ReduceOperation, UnaryOperation)
from ..logger import Severity
from ..ops import Spec, get_op
from ..ops.activation import DEFAULT_ALPHA_BETA
from ..ops.base import OpError
from ..package_modules import import_submodules
from . import layer as L
from .internal import NetworkInternals
from .kinds import Kind
from .tensor import ITensor
from .type_rules import check_low_bit_inputs
from .weights import Dims, Weights, as_array


def network_method(fn):
    """Register ``fn`` as a method of INetworkDefinition (used by the ``api_*`` modules)."""
    setattr(INetworkDefinition, fn.__name__, fn)
    return fn


class INetworkDefinition:
    def __init__(self, builder=None, flags: int = 0):
        self.builder = builder
        self.flags = int(flags)
        self.name = "network"
        self.error_recorder = None
        self._layers: list = []
        self._inputs: list[ITensor] = []
        self._outputs: list[ITensor] = []
        self._tensors: dict[str, ITensor] = {}
        self._specs: dict[int, Spec] = {}
        self._dirty = False
        self._dirty_layers: dict[int, object] = {}  # layers to re-infer (with everything downstream)
        self._consumers: dict[int, list] = {}  # id(tensor) -> layers reading it
        self._errors: list[str] = []
        self._counter = 0

    # ------------------------------------------------------------------ TensorRT members
    @property
    def num_layers(self) -> int:
        return len(self._layers)

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    @property
    def has_implicit_batch_dimension(self) -> bool:
        return False

    def get_flag(self, flag) -> bool:
        return bool(self.flags >> int(NetworkDefinitionCreationFlag.parse(flag)) & 1)

    def get_layer(self, index: int):
        return self._layers[index] if 0 <= index < len(self._layers) else None

    def get_input(self, index: int):
        return self._inputs[index] if 0 <= index < len(self._inputs) else None

    def get_output(self, index: int):
        return self._outputs[index] if 0 <= index < len(self._outputs) else None

    def __len__(self):
        return len(self._layers)

    # ------------------------------------------------------------------ inferrt's parser and builder
    @property
    def internal(self) -> NetworkInternals:
        """Accessor for inferrt's own parser and builder (not TensorRT API; see ``ir/internal.py``)."""
        return NetworkInternals(self)

    def __getitem__(self, index):
        if not -len(self._layers) <= index < len(self._layers):
            raise IndexError(f"layer index {index} out of range (network has {len(self._layers)} layers)")
        return self._layers[index]

    def __iter__(self):
        return iter(list(self._layers))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_input(self, name: str, dtype, shape) -> ITensor | None:
        name = str(name)
        if name in self._tensors:
            self._log_error(f"add_input: a tensor named {name!r} already exists; network tensor names must be unique")
            return None
        try:
            dtype = DataType.parse(dtype)
            shape = tuple(int(d) for d in shape)
        except (TypeError, ValueError) as e:
            self._log_error(f"add_input {name!r}: {e}")
            return None
        if any(d < -1 for d in shape) or len(shape) > Dims.MAX_DIMS:
            self._log_error(f"add_input {name!r}: shape {shape} is invalid (dims must be >= 0 or -1, at most 8 dims)")
            return None
        t = ITensor(self, name)
        t._input_shape = shape
        t._input_dtype = dtype
        self._tensors[name] = t
        self._inputs.append(t)
        return t

    def mark_output(self, tensor: ITensor) -> None:
        self._check_tensor(tensor, "mark_output")
        if tensor not in self._outputs:
            self._outputs.append(tensor)

    def unmark_output(self, tensor: ITensor) -> None:
        if tensor in self._outputs:
            self._outputs.remove(tensor)

    def mark_output_for_shapes(self, tensor: ITensor) -> bool:
        self.mark_output(tensor)
        return True

    def unmark_output_for_shapes(self, tensor: ITensor) -> bool:
        self.unmark_output(tensor)
        return True

    def remove_tensor(self, tensor: ITensor) -> None:
        if tensor in self._inputs:
            self._inputs.remove(tensor)
            self._tensors.pop(tensor.name, None)
            self._invalidate()

    # ------------------------------------------------------------------ core add_* methods
    def add_activation(self, input, type):  # noqa: A002 - TensorRT's parameter names
        type = ActivationType.parse(type)
        alpha, beta = DEFAULT_ALPHA_BETA.get(type, (0.0, 0.0))
        return self._add("activation", [input], {"type": type, "alpha": alpha, "beta": beta})

    def add_parametric_relu(self, input, slopes):  # noqa: A002
        return self._add("parametric_relu", [input, slopes])

    def add_elementwise(self, input1, input2, op):
        return self._add("elementwise", [input1, input2], {"op": ElementWiseOperation.parse(op)})

    def add_unary(self, input, op):  # noqa: A002
        return self._add("unary", [input], {"op": UnaryOperation.parse(op)})

    def _add_conv(self, kind, input, num_output_maps, kernel_shape, kernel, bias):  # noqa: A002
        kshape = tuple(int(k) for k in kernel_shape)
        attrs = {"num_output_maps": int(num_output_maps), "kernel_size_nd": kshape,
                 "kernel": as_array(kernel), "bias": as_array(bias)}
        return self._add(kind, [input], attrs)

    def add_convolution_nd(self, input, num_output_maps, kernel_shape, kernel, bias=None):  # noqa: A002
        return self._add_conv("convolution", input, num_output_maps, kernel_shape, kernel, bias)

    def add_deconvolution_nd(self, input, num_output_maps, kernel_shape, kernel, bias=None):  # noqa: A002
        return self._add_conv("deconvolution", input, num_output_maps, kernel_shape, kernel, bias)

    def add_pooling_nd(self, input, type, window_size):  # noqa: A002
        return self._add("pooling", [input], {"type": PoolingType.parse(type), "window_size_nd": tuple(window_size)})

    def add_matrix_multiply(self, input0, op0, input1, op1):
        return self._add("matrix_multiply", [input0, input1],
                         {"op0": MatrixOperation.parse(op0), "op1": MatrixOperation.parse(op1)})

    def add_constant(self, shape, weights):
        arr = as_array(weights)
        shape = tuple(int(d) for d in shape)
        if arr is None:
            arr = Weights(weights).numpy() if isinstance(weights, Weights) else None
        if arr is None or arr.size != volume(shape):
            n = 0 if arr is None else arr.size
            self._log_error(f"add_constant: weights hold {n} values but shape {shape} needs {volume(shape)}")
            return None
        return self._add("constant", [], {"weights": arr, "shape": shape})

    def add_identity(self, input):  # noqa: A002
        return self._add("identity", [input])

    def add_cast(self, input, to_type):  # noqa: A002
        return self._add("cast", [input], {"to_type": DataType.parse(to_type)})

    def add_shape(self, input):  # noqa: A002
        return self._add("shape", [input])

    def add_shuffle(self, input):  # noqa: A002
        return self._add("shuffle", [input])

    def add_concatenation(self, inputs):
        return self._add("concatenation", list(inputs))

    def add_slice(self, input, start, shape, stride):  # noqa: A002
        return self._add("slice", [input], {"start": tuple(start), "shape": tuple(shape), "stride": tuple(stride)})

    def add_reduce(self, input, op, axes, keep_dims):  # noqa: A002
        return self._add("reduce", [input], {"op": ReduceOperation.parse(op), "axes": int(axes),
                                              "keep_dims": bool(keep_dims)})

    def add_softmax(self, input):  # noqa: A002
        return self._add("softmax", [input])

    # ------------------------------------------------------------------ machinery
    def _add(self, kind, inputs, attrs=None, num_outputs=None, cls=None, name=None):
        """Create a layer of ``kind``; infer its outputs now (errors are logged, naming the layer)."""
        for i, t in enumerate(inputs):
            if t is not None:
                self._check_tensor(t, f"add layer of kind {kind!r} (input {i})")
        cls = cls or L.LAYER_CLASSES.get(kind) or L.layer_class(f"I{kind.title().replace('_', '')}Layer", kind)
        op = get_op(kind)
        idx = len(self._layers)
        type_name = op.layer_type.name.title().replace("_", "")
        layer = cls(self, kind, inputs, name or f"(Unnamed Layer* {idx}) [{type_name}]", attrs)
        n_out = num_outputs if num_outputs is not None else op.num_outputs
        for i in range(n_out):
            self._counter += 1
            tname = f"{layer.name}_output" + (f"_{i}" if n_out > 1 else "")
            while tname in self._tensors:
                tname += "'"
            t = ITensor(self, tname, layer, i)
            self._tensors[tname] = t
            layer._outputs.append(t)
        self._layers.append(layer)
        for t in inputs:
            if t is not None:
                self._consumers.setdefault(id(t), []).append(layer)
        if not self._dirty and not self._dirty_layers:
            self._infer_layer(layer)
        else:
            self._dirty_layers[id(layer)] = layer
        return layer

    def _check_tensor(self, t, where):
        if not isinstance(t, ITensor):
            raise TypeError(f"{where}: expected an ITensor, got {type(t).__name__}")
        if t._network is not self:
            raise ValueError(f"{where}: tensor {t.name!r} belongs to another network")

    def _rename_tensor(self, t, new):
        if new == t._name:
            return
        if new in self._tensors:
            self._log_error(f"cannot rename tensor {t._name!r} to {new!r}: that name is taken")
            return
        self._tensors.pop(t._name, None)
        t._name = new
        self._tensors[new] = t

    def _log_error(self, msg):
        self._errors.append(msg)
        logger = getattr(self.builder, "logger", None)
        if logger is not None:
            logger.log(Severity.ERROR, msg)
        rec = self.error_recorder
        if rec is not None:
            rec.report_error(3, msg)

    def _invalidate(self, layer=None, tensor=None):
        """Mark shapes stale: everything (no argument), one layer and its downstream, or a tensor's readers."""
        if layer is not None:
            self._dirty_layers[id(layer)] = layer
        elif tensor is not None:
            for c in self._consumers.get(id(tensor), ()):
                self._dirty_layers[id(c)] = c
        else:
            self._dirty = True

    def _rewire(self, layer, old, new):
        """Keep the consumer index right when ``layer`` swaps input ``old`` for ``new``."""
        if old is not None:
            lst = self._consumers.get(id(old), [])
            if layer in lst:
                lst.remove(layer)
        if new is not None:
            self._consumers.setdefault(id(new), []).append(layer)
        self._invalidate(layer)

    def _input_spec(self, t):
        if t._producer is None:
            return Spec(t._input_dtype, t._input_shape)
        return self._specs.get(id(t))

    def _infer_layer(self, layer):
        ins = [None if t is None else self._input_spec(t) for t in layer._inputs]
        unknown = any(s is None or s.shape is None for s, t in zip(ins, layer._inputs) if t is not None)
        out_specs = None
        layer._error = None
        if not unknown:
            try:
                check_low_bit_inputs(layer._kind, layer._op, ins)
                out_specs = layer._op.infer_all(layer._attrs, ins)
            except (OpError, ValueError, TypeError, IndexError, KeyError) as e:
                # recorded, not logged: a layer is often inferred before its creator has set all of its attributes
                # (an importer sets num_groups after add_convolution_nd); whoever validates the finished network
                # (the parser after each node, the builder, is_network_supported) reports what is still wrong, once
                layer._error = f"layer {layer.name!r} ({layer._kind}): {e}"
        if out_specs is None:
            out_specs = [Spec(DataType.FLOAT, None) for _ in layer._outputs]
        for i, (t, s) in enumerate(zip(layer._outputs, out_specs)):
            if i in layer._output_types and layer._kind in (Kind.IDENTITY, Kind.CAST):
                s = Spec(layer._output_types[i], s.shape, None)
            self._specs[id(t)] = s

    def _toposort(self, subset=None):
        """Layers (all, or those in ``subset`` {id: layer}) in dependency order; ValueError naming a layer on a cycle."""
        producer = {id(o): l for l in self._layers for o in l._outputs} if subset is None else \
            {id(o): l for l in subset.values() for o in l._outputs}
        order, state = [], {}
        for root in (self._layers if subset is None else list(subset.values())):
            if id(root) in state:
                continue
            stack = [(root, False)]
            while stack:
                layer, done = stack.pop()
                if done:
                    state[id(layer)] = 2
                    order.append(layer)
                    continue
                if state.get(id(layer)) == 2:
                    continue
                if state.get(id(layer)) == 1:
                    continue
                state[id(layer)] = 1
                stack.append((layer, True))
                for t in layer._inputs:
                    p = producer.get(id(t)) if t is not None else None
                    if p is None:
                        continue
                    if state.get(id(p)) == 1:
                        raise ValueError(f"the network has a cycle through layer {p.name!r}")
                    if state.get(id(p)) != 2:
                        stack.append((p, False))
        return order

    def _refresh(self):
        if self._dirty:
            self._dirty = False
            self._dirty_layers.clear()
            self._specs.clear()
            self._errors = [e for e in self._errors if not e.startswith("layer ")]
            for layer in self._toposort():
                self._infer_layer(layer)
            return
        if not self._dirty_layers:
            return
        # re-infer the edited layers and everything downstream of them, in dependency order
        affected, stack = {}, list(self._dirty_layers.values())
        self._dirty_layers.clear()
        while stack:
            layer = stack.pop()
            if id(layer) in affected:
                continue
            affected[id(layer)] = layer
            for o in layer._outputs:
                stack.extend(self._consumers.get(id(o), ()))
        try:
            order = self._toposort(affected)
        except ValueError:
            self._dirty = True
            return self._refresh()
        for layer in order:
            self._infer_layer(layer)

    def _spec(self, t) -> Spec:
        self._refresh()
        return self._specs.get(id(t)) or Spec(DataType.FLOAT, None)

    def _is_shape_tensor(self, t) -> bool:
        return False

    def _layer_errors(self) -> list[str]:
        """Shape-inference errors of the network as it stands now (recorded on the layers; not logged here: the
        caller reports them, once)."""
        self._refresh()
        return [l._error for l in self._layers if l._error]


import_submodules(__package__, lambda name: name.startswith("api_"))   # the api_<family>.py network methods
