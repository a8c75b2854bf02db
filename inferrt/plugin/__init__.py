"""Plugins: TensorRT's decorator API (``tensorrt.plugin``, used as ``import inferrt.plugin as trtp``) and, in the
submodules, the V3 interfaces (``IPluginV3``... exported at ``inferrt``'s top level as TensorRT does).

==================  ===============================================================================================
module              role
==================  ===============================================================================================
interfaces          IPluginV3, IPluginV3OneCore/Build/Runtime, IPluginCreatorV3One, descriptors, TensorRTPhase
fields              PluginField, PluginFieldCollection, PluginFieldType (and their plan form)
exprs               IDimensionExpr, IExprBuilder, DimsExprs, DimensionOperation (and their plan form)
registry            get_plugin_registry(), IPluginRegistry, init_libnvinfer_plugins
shapes              output types and shapes of a plugin layer (build: asked; run: evaluated from the plan)
plan_record         a plugin in the plan, and recreating it from the registry when a plan is loaded
tactic              the ``plugin`` tactic: the plugin's tactics timed by the autotuner, the JIT runner
aot                 AOT decorator plugins: the Triton kernel compiled at build time, stored in the plan, launched
buffers             TensorPointer, as_torch, as_numpy: enqueue's buffers as addresses or torch tensors
decorators, descs   register, impl, aot_impl, autotune, op; TensorDesc, Tensor, ShapeExpr... (this module's API)
onnx_fallback       an ONNX node with no importer built as a plugin of its op type
==================  ===============================================================================================
"""
from .buffers import TensorPointer, as_numpy, as_torch  # noqa: F401
from .decorators import QDP_REGISTRY, aot_impl, autotune, impl, op, register  # noqa: F401
from .descs import (AutoTuneCombination, KernelLaunchParams, ShapeExpr, ShapeExprs, SymExprs, SymInt32,  # noqa: F401
                    SymIntExprs, Tensor, TensorDesc, cdiv, from_shape_expr, max, min)
