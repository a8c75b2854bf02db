"""Op tests (a package so their module names do not clash with same-named tests in tests/onnx)."""
