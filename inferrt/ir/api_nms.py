"""Network API for ops/nms.py: ``add_nms`` (TensorRT 10)."""
from __future__ import annotations

from .layer import layer_class
from .network import network_method

INMSLayer = layer_class("INMSLayer", "nms")


@network_method
def add_nms(self, boxes, scores, max_output_boxes_per_class):
    """Non-max suppression; outputs selected indices [K, 3] (batch, class, box) and K. Thresholds: set_input(3/4)."""
    return self._add("nms", [boxes, scores, max_output_boxes_per_class])
