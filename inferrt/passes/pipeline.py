"""The pass manager: one explicit, ordered pipeline; INFO logs what each pass changed; a debug switch dumps the
graph after each pass and checks the IR's invariants (well-formed, shapes infer, no origin name lost).

Choosing passes: ``config.passes`` (a list of pass names; ``[]`` turns optimization off) or the environment
variable ``INFERRT_PASSES`` (comma-separated names, or ``none``) select a subset, still run in pipeline order;
``INFERRT_DISABLE_PASSES`` (comma-separated) removes passes from whatever was selected.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import time

from ..errors import BuildError
from ..logger import Severity
from ..ops.base import Attrs
from .eliminate_common_subexpressions import eliminate_common_subexpressions
from .eliminate_concat import eliminate_concat
from .eliminate_dead_layers import eliminate_dead_layers
from .eliminate_noops import eliminate_noops
from .fold_batchnorm_into_weights import fold_batchnorm_into_weights
from .fold_constants import fold_constants
from .fold_padding_into_conv import fold_padding_into_conv
from .fuse_add_layer_norm import fuse_add_layer_norm
from .fuse_attention import fuse_attention
from .fuse_conv_matmul_epilogue import fuse_conv_matmul_epilogue
from .fuse_gelu import fuse_gelu
from .fuse_horizontal_convs import fuse_horizontal_convs
from .fuse_horizontal_matmuls import fuse_horizontal_matmuls
from .fuse_norms import fuse_norms
from .fuse_pointwise import fuse_pointwise
from .fuse_qdq import fuse_qdq
from .fuse_softmax import fuse_softmax
from .merge_shuffles import merge_shuffles
from .propagate_dequantize import propagate_dequantize
from .sink_reshapes import sink_reshapes
from .rewrite import refresh_specs

#: (name, function(graph, ctx) -> number of changes, what a change is called), in order. The pattern passes match
#: exact chains of layers whose inner values are read only inside the chain, so the order is: make values constant
#: and canonical first, then fuse the specific patterns, then the general epilogue and horizontal fusions, then
#: pointwise fusion (which swallows whatever elementwise layers are left), then record aliases and drop the dead.
#: Precision guarding, precision and format assignment are the second stage, POST_PIPELINE (below).
PIPELINE = [
    # First: every later matcher reads constants (scales, epsilons, reshape dims, masks, weights) and folded shape
    # arithmetic (Shape ─ Gather ─ Reshape) turns dynamic-looking reshapes into constant ones.
    ("fold_constants", fold_constants, "layers folded"),
    # Needs the folded constants (x·1, x+0 and reshapes to x's own shape only show once they are known); removing
    # identities and same-type casts makes the chains the fusions look for adjacent.
    ("eliminate_noops", eliminate_noops, "no-ops removed"),
    # After the two above (constant reshape dims become attributes, identity reshapes are gone); leaves one shuffle
    # per transpose/reshape chain, the form fuse_attention (Kᵀ) and sink_reshapes (a lone reshape) match.
    ("merge_shuffles", merge_shuffles, "shuffles merged"),
    # On the canonical graph the passes above made (folded constants with equal bytes, merged shuffles), so twins
    # compare equal; a subexpression an exporter computed twice becomes one value read twice, the form the
    # fusions match.
    ("eliminate_common_subexpressions", eliminate_common_subexpressions, "duplicates removed"),
    # Drops what folding and merging orphaned before the fusions test "read only inside the pattern": a dead
    # reader would make a value look shared.
    ("eliminate_dead_layers", eliminate_dead_layers, "dead layers removed"),
    # After fold_constants (which keeps the dequantize layers of quantized weights) and merge_shuffles (one shuffle
    # per chain); before fold_batchnorm_into_weights, which folds into a dequantize scale only when the dequantize
    # feeds the product directly.
    ("propagate_dequantize", propagate_dequantize, "dequantize layers moved"),
    # Needs constant per-channel scales (fold_constants); before the epilogue fusion, which would take the shift as
    # a bias but cannot take the scale, before fuse_pointwise, which would swallow the mul/add, and before
    # fuse_horizontal_convs, whose members must have constant kernels (the folded kernel is one).
    ("fold_batchnorm_into_weights", fold_batchnorm_into_weights, "scales folded"),
    # Matches a plain ``convolution``: before the epilogue fusion turns it into ``fused_conv``, and before
    # fuse_horizontal_convs (equal padding, and convolutions that read one input only once its paddings are gone).
    ("fold_padding_into_conv", fold_padding_into_conv, "paddings folded"),
    # Before fuse_attention, which matches a SoftMax layer, and before fuse_pointwise (exp, sub, div).
    ("fuse_softmax", fuse_softmax, "fusions"),
    # Shares no layers with fuse_softmax or fuse_gelu (either order works); before fuse_pointwise, which would
    # swallow the sub/mul/div/add chain.
    ("fuse_norms", fuse_norms, "fusions"),
    # Makes GELU one activation layer, which sink_reshapes can move and the epilogue fusion can absorb; before
    # fuse_pointwise, which would otherwise fuse the erf/tanh expression elementwise.
    ("fuse_gelu", fuse_gelu, "fusions"),
    # Needs fuse_softmax (SoftMax layer), merge_shuffles (one Kᵀ shuffle) and folded scalar scales and causal
    # masks; before the epilogue fusion, which would take an unscaled mask add after MatMul(Q, Kᵀ) as a residual.
    ("fuse_attention", fuse_attention, "fusions"),
    # After fuse_gelu: a GELU is then one activation to move past (its raw expression reads the reshape's output
    # twice and would not move). Exists for the next pass: the layer it moves above the reshape joins the epilogue.
    ("sink_reshapes", sink_reshapes, "reshapes moved"),
    # After the BatchNorm and padding folds, fuse_gelu and sink_reshapes (each makes more epilogue steps
    # adjacent to the product); before the horizontal fusions, which merge whole fused layers: merged first, each
    # member's bias and activation would sit behind a slice, out of the epilogue's reach.
    ("fuse_conv_matmul_epilogue", fuse_conv_matmul_epilogue, "fusions"),
    # After the epilogue fusion (bias, residual and activation are then in the epilogue the quantized layer keeps)
    # and before the horizontal fusions (which merge float products only); last, it folds the quantized weights
    # no product took into float constants.
    ("fuse_qdq", fuse_qdq, "fusions"),
    # After the epilogue fusion (above); members have equal epilogues and concatenated biases.
    ("fuse_horizontal_matmuls", fuse_horizontal_matmuls, "layers merged"),
    # Same as the matrix products, for convolutions with one group.
    ("fuse_horizontal_convs", fuse_horizontal_convs, "layers merged"),
    # After the epilogue fusion (a residual add right after a product belongs in its epilogue) and fuse_norms (makes
    # the layer_norm); before fuse_pointwise, which would swallow the add.
    ("fuse_add_layer_norm", fuse_add_layer_norm, "fusions"),
    # After every pattern fusion: it takes whatever elementwise / unary / activation / cast / Scale layers remain,
    # and no pattern can see inside a pointwise layer.
    ("fuse_pointwise", fuse_pointwise, "fusions"),
    # After all fusions: its rewrites remove slices the horizontal fusions made when a concatenation rebuilds the
    # merged output, and its alias records (info.writes_into) must name the final producers, which a later
    # fusion would replace.
    ("eliminate_concat", eliminate_concat, "concatenations handled"),
    # Last: the constants only replaced layers read (original weights of merged and fused layers, absorbed
    # biases) and any layer whose output no longer reaches an output, so the plan holds no unused weights.
    ("eliminate_dead_layers", eliminate_dead_layers, "dead layers removed"),
]

PASS_NAMES = tuple(dict.fromkeys(name for name, _, _ in PIPELINE))


def _guard_reduced_precision(graph, ctx) -> int:
    from .guard_reduced_precision import guard_for_build

    return len(guard_for_build(graph, ctx.config, ctx.device, ctx.profiles, ctx.log))


def _assign_precision(graph, ctx) -> int:
    from .assign_precision import assign_precision

    return assign_precision(graph, ctx.config, ctx.device, ctx.log)


def _assign_formats(graph, ctx) -> int:
    from .assign_formats import assign_formats

    return assign_formats(graph, ctx.device, ctx.log)


#: The second stage: decisions about the optimized graph's layers, as they will run. Always run (``config.passes``
#: does not select them: a plan must have its precisions and formats decided), and a failure fails the build
#: instead of being skipped; each pass keeps the specs it changes and logs its own summary (unit None).
POST_PIPELINE = [
    # First: runs sample data through the final layers in FLOAT (the optimization profiles give the shapes) and
    # marks the layers whose values the reduced type cannot hold, for assign_precision to keep in FLOAT.
    ("guard_reduced_precision", _guard_reduced_precision, None),
    # After the guard (reads its marks) and after every fusion (lowers the layers that will run, inserting casts
    # between the FLOAT islands and the rest).
    ("assign_precision", _assign_precision, None),
    # Last: channels-last applies to 4-D float values, whose dtypes assign_precision has settled.
    ("assign_formats", _assign_formats, None),
]


class PassContext:
    def __init__(self, config=None, log=None, device="cpu", profiles=None):
        self.config = config
        self.device = device
        #: the build's optimization profiles, [{input: (min, opt, max)}] (the range guard's sample shapes)
        self.profiles = profiles if profiles is not None else [{}]
        self._log = log or (lambda sev, msg: None)

    def log(self, severity, msg):
        self._log(severity, msg)


def _names(value, where):
    if isinstance(value, str):
        value = [] if value.strip().lower() in ("", "none") else [v.strip() for v in value.split(",") if v.strip()]
    value = list(value)
    unknown = [v for v in value if v not in PASS_NAMES]
    if unknown:
        raise BuildError(f"{where} names unknown passes {unknown}; known passes: {', '.join(PASS_NAMES)}")
    return value


def selected_pipeline(config=None):
    """The pipeline after ``config.passes``, ``$INFERRT_PASSES`` and ``$INFERRT_DISABLE_PASSES``."""
    chosen = getattr(config, "passes", None)
    where = "config.passes"
    if chosen is None and os.environ.get("INFERRT_PASSES") is not None:
        chosen, where = os.environ["INFERRT_PASSES"], "$INFERRT_PASSES"
    keep = set(PASS_NAMES) if chosen is None else set(_names(chosen, where))
    keep -= set(_names(os.environ.get("INFERRT_DISABLE_PASSES", ""), "$INFERRT_DISABLE_PASSES"))
    return [p for p in PIPELINE if p[0] in keep]


def _origins(graph):
    return {o for n in graph.nodes for o in (n.origin or [n.name])}


def snapshot_graph(graph):
    """A copy of the graph's structure (weights are shared: passes never modify an array in place)."""
    nodes = [dataclasses.replace(n, inputs=list(n.inputs), outputs=list(n.outputs), attrs=Attrs(n.attrs),
                                 origin=list(n.origin), info=copy.deepcopy(n.info)) for n in graph.nodes]
    return nodes, list(graph.inputs), list(graph.outputs), dict(graph.specs)


def _restore(graph, snap):
    graph.nodes, graph.inputs, graph.outputs, graph.specs = snap


def run_post_pipeline(graph, ctx: PassContext):
    """Run POST_PIPELINE, after ``run_pipeline``: every pass, failures raised (see POST_PIPELINE)."""
    return run_pipeline(graph, ctx, POST_PIPELINE, required=True)


def run_pipeline(graph, ctx: PassContext, pipeline=None, required: bool = False):
    """Run the passes in order. A pass that fails on an unexpected graph is undone and reported as a warning, so
    an optimizer bug costs speed, never a build (with ``config.debug_passes`` it raises instead). ``required``
    (POST_PIPELINE): a failure raises, and the passes keep the specs themselves (they are not re-inferred)."""
    debug = bool(getattr(ctx.config, "debug_passes", False))
    steps = pipeline if pipeline is not None else selected_pipeline(ctx.config)
    for step in steps:
        name, fn = step[0], step[1]
        unit = step[2] if len(step) > 2 else "changes"
        t0 = time.perf_counter()
        before = _origins(graph) if debug else None
        snap = None if debug or required else snapshot_graph(graph)
        try:
            changes = fn(graph, ctx)
            if changes:
                graph.check()
                if not required:
                    refresh_specs(graph)   # infers every shape: a pass that broke the graph fails here
        except Exception as e:  # noqa: BLE001 - any bug in a pass: keep the graph as it was before it
            if debug or required:
                raise
            _restore(graph, snap)
            ctx.log(Severity.WARNING, f"pass {name} failed and was skipped ({type(e).__name__}: {e}); the engine "
                                      f"is built without it. Please report this with the model.")
            continue
        if changes and unit is not None:
            ctx.log(Severity.INFO, f"{name}: {changes} {unit} ({len(graph.nodes)} layers, "
                                   f"{(time.perf_counter() - t0) * 1e3:.1f} ms)")
        if debug:
            graph.check()
            graph.infer()
            if name != "eliminate_dead_layers":
                lost = before - _origins(graph)
                if lost:
                    raise AssertionError(f"pass {name} lost the origin names {sorted(lost)}")
            ctx.log(Severity.VERBOSE, f"graph after {name}:\n{graph!r}")
    return graph
