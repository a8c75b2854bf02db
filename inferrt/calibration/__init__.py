"""Calibration shared by AutoCast and the quantizer: the data a calibration runs on (``feeds``: .npz / dicts /
lists checked against the model, split into batches, or random feeds) and the runs that capture the values it
measures (``capture``: onnxruntime on the CPU, or inferrt's own engine on CUDA).
"""
from .capture import EngineRunner, OrtRunner, capture, make_runner, probe_model, resolve_device
from .feeds import calibration_feeds, graph_inputs, random_feed, user_feeds

__all__ = ["calibration_feeds", "user_feeds", "random_feed", "graph_inputs", "capture", "make_runner",
           "probe_model", "resolve_device", "OrtRunner", "EngineRunner"]
