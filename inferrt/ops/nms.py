"""NMS (INMSLayer): greedy non-max suppression per batch item and class; data-dependent output count.

Inputs: boxes [B, N, 4] (shared by all classes) or [B, N, C, 4] (per class), scores [B, N, C],
max_output_boxes_per_class (scalar INT32/INT64), optional iou_threshold (3) and score_threshold (4) scalars.
Outputs: selected indices [K, 3] rows (batch, class, box), in batch, class, descending-score order;
and the number of selected boxes K (INT32 scalar). A box is suppressed when its IoU with a kept box is greater
than iou_threshold; a box is considered only when its score is greater than score_threshold.
"""
from __future__ import annotations

import numpy as np
import torch

from ..dtypes import FLOAT_TYPES as _FLOATS
from ..enums import BoundingBoxFormat as BBF, DataType, LayerType
from .base import DTYPE, INT, Enum, OpDef, OpError, Spec, register


def corners(boxes, fmt):
    """[..., 4] boxes (numpy) -> (y1, x1, y2, x2) with y1 <= y2 and x1 <= x2."""
    a, b, c, d = (boxes[..., i] for i in range(4))
    if fmt == BBF.CENTER_SIZES:  # x_center, y_center, width, height
        return b - d / 2, a - c / 2, b + d / 2, a + c / 2
    return np.minimum(a, c), np.minimum(b, d), np.maximum(a, c), np.maximum(b, d)


def greedy_nms(y1, x1, y2, x2, order, limit, threshold):
    """Greedy suppression over candidates ``order`` (sorted by descending score); at most ``limit`` kept.

    The IoU of each kept box is computed only against the candidates after it that are still alive, so the cost is
    (kept boxes) x (candidates), not candidates squared."""
    y1, x1, y2, x2 = y1[order], x1[order], y2[order], x2[order]
    area = (y2 - y1) * (x2 - x1)
    alive = np.ones(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(order[i])
        if len(keep) >= limit:
            break
        r = slice(i + 1, None)
        ih = np.clip(np.minimum(y2[i], y2[r]) - np.maximum(y1[i], y1[r]), 0, None)
        iw = np.clip(np.minimum(x2[i], x2[r]) - np.maximum(x1[i], x1[r]), 0, None)
        inter = ih * iw
        union = area[i] + area[r] - inter
        ok = (area[i] > 0) & (area[r] > 0) & (union > 0)
        iou = np.where(ok, inter / np.where(ok, union, 1), 0)
        alive[r] &= ~(iou > threshold)
    return keep


@register
class NMS(OpDef):
    kind = "nms"
    layer_type = LayerType.NMS
    attrs = {"bounding_box_format": (Enum(BBF), BBF.CORNER_PAIRS), "topk_box_limit": (INT, 2000),
             "indices_type": (DTYPE, DataType.INT32)}
    inputs = ("boxes", "scores", "max_output_boxes_per_class", "iou_threshold", "score_threshold")
    min_inputs = 3
    num_outputs = 2
    data_dependent = True

    def infer(self, a, ins):
        boxes, scores, max_out = ins[:3]
        if boxes.rank not in (3, 4) or (boxes.shape[-1] >= 0 and boxes.shape[-1] != 4):
            raise OpError(f"boxes have shape {tuple(boxes.shape)}; expected [batch, boxes, 4] or "
                          f"[batch, boxes, classes, 4]")
        if scores.rank != 3:
            raise OpError(f"scores have shape {tuple(scores.shape)}; expected [batch, boxes, classes]")
        for i, (b, s) in enumerate(zip(boxes.shape[:boxes.rank - 1], scores.shape)):
            if b >= 0 and s >= 0 and b != s:
                raise OpError(f"boxes {tuple(boxes.shape)} and scores {tuple(scores.shape)} disagree in dim {i}")
        if boxes.dtype not in _FLOATS or scores.dtype not in _FLOATS:
            raise OpError(f"boxes ({boxes.dtype.name}) and scores ({scores.dtype.name}) must be FLOAT or HALF")
        if max_out.shape is None or len(max_out.shape) > 1 or (max_out.shape and max_out.shape[0] not in (1, -1)):
            raise OpError("max_output_boxes_per_class must be a scalar (or a 1-element 1-D tensor)")
        if max_out.dtype not in (DataType.INT32, DataType.INT64):
            raise OpError(f"max_output_boxes_per_class must be INT32 or INT64, got {max_out.dtype.name}")
        for k, name in ((3, "iou_threshold"), (4, "score_threshold")):
            t = ins[k] if len(ins) > k else None
            if t is not None and (t.dtype not in _FLOATS or (t.shape and any(d > 1 for d in t.shape))):
                raise OpError(f"{name} must be a FLOAT scalar")
        if a.indices_type not in (DataType.INT32, DataType.INT64):
            raise OpError(f"indices_type {a.indices_type.name} must be INT32 or INT64")
        if a.topk_box_limit < 1:
            raise OpError(f"topk_box_limit {a.topk_box_limit} must be positive")
        return [Spec(a.indices_type, (-1, 3)), Spec(DataType.INT32, ())]

    def run(self, a, ins, outs):
        # greedy NMS is sequential: it runs on the host, after one copy of boxes and scores
        boxes, scores, max_out = ins[:3]
        limit = int(max_out.reshape(-1)[0].item())
        iou_t = float(ins[3].reshape(-1)[0].item()) if len(ins) > 3 and ins[3] is not None else 0.0
        score_t = float(ins[4].reshape(-1)[0].item()) if len(ins) > 4 and ins[4] is not None else None
        b = boxes.detach().to(torch.float32).cpu().numpy()
        s = scores.detach().to(torch.float32).cpu().numpy()
        y1, x1, y2, x2 = corners(b, a.bounding_box_format)
        rows = []
        if limit > 0:
            for n in range(s.shape[0]):
                for c in range(s.shape[2]):
                    sc = s[n, :, c]
                    cand = np.nonzero(sc > score_t)[0] if score_t is not None else np.arange(sc.shape[0])
                    order = cand[np.argsort(-sc[cand], kind="stable")][:a.topk_box_limit]
                    if not len(order):
                        continue
                    pick = (n, slice(None), c) if b.ndim == 4 else (n, slice(None))
                    keep = greedy_nms(y1[pick], x1[pick], y2[pick], x2[pick], order, limit, iou_t)
                    rows.extend((n, c, k) for k in keep)
        dt = torch.int32 if a.indices_type == DataType.INT32 else torch.int64
        out = torch.tensor(rows, dtype=torch.int64).reshape(-1, 3).to(device=boxes.device, dtype=dt)
        return [out, torch.tensor(len(rows), dtype=torch.int32, device=boxes.device)]
