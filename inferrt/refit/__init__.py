"""Refit: refittable and weight-stripped plans, TensorRT's ``Refitter`` and ``OnnxParserRefitter``.

Build side: ``record.py`` (what a REFIT / STRIP_PLAN build keeps in the plan). Load side: ``state.py``. Refit:
``refitter.py`` (the API), ``recompute.py`` (the build's passes run again on the new weights), ``apply.py`` (the new
constants into the live engine), ``reserialize.py`` (the refitted engine's plan), ``onnx_refitter.py``.
"""
from .onnx_refitter import OnnxParserRefitter  # noqa: F401
from .refitter import Refitter  # noqa: F401
