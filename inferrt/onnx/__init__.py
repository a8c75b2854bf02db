"""The ONNX parser: ``OnnxParser`` and the per-operator importers (``importers/``, one op family per file)."""
