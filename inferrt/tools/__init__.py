"""Polygraphy-style tools on inferrt's own API: comparing runners, inspecting models, plans, data and timing caches,
ONNX surgery, reducing failing models and linting. The ``inferrt`` subcommands in inferrt/cli/ are thin wrappers."""
