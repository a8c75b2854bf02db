"""The plugin names TensorRT exposes at its top level (``trt.IPluginV3``, ``trt.get_plugin_registry``...), for
``inferrt/_engine_api.py``."""
from .buffers import TensorPointer  # noqa: F401
from .exprs import DimensionOperation, DimsExprs, IDimensionExpr, IExprBuilder  # noqa: F401
from .fields import PluginField, PluginFieldCollection, PluginFieldType  # noqa: F401
from .interfaces import (DynamicPluginTensorDesc, IPluginCapability, IPluginCreatorInterface,  # noqa: F401
                         IPluginCreatorV3One, IPluginResourceContext, IPluginV3, IPluginV3OneBuild, IPluginV3OneCore,
                         IPluginV3OneRuntime, PluginCapabilityType, PluginTensorDesc, TensorRTPhase)
from .registry import (IPluginRegistry, get_builder_plugin_registry, get_plugin_registry,  # noqa: F401
                       init_libnvinfer_plugins)
from .v2 import IPluginCreator, IPluginV2, IPluginV2DynamicExt, IPluginV2Ext  # noqa: F401
