"""ONNX operator importers, one op family per module; each registers with ``registry.importer``."""
