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

from ..enums import BoundingBoxFormat as BBF, DataType, LayerType
from .base import DTYPE, INT, Enum, OpDef, OpError, Spec, register

_FLOATS = (DataType.FLOAT, DataType.HALF, DataType.BF16)


def corners(boxes, fmt):
    """[..., 4] boxes -> (y1, x1, y2, x2) with y1 <= y2 and x1 <= x2."""
    if fmt == BBF.CENTER_SIZES:
        xc, yc, w, h = boxes.unbind(-1)
        return yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2
    a, b, c, d = boxes.unbind(-1)
    return torch.minimum(a, c), torch.minimum(b, d), torch.maximum(a, c), torch.maximum(b, d)


def iou_matrix(boxes, fmt):
    y1, x1, y2, x2 = corners(boxes, fmt)
    area = (y2 - y1) * (x2 - x1)
    ih = (torch.minimum(y2[:, None], y2[None, :]) - torch.maximum(y1[:, None], y1[None, :])).clamp(min=0)
    iw = (torch.minimum(x2[:, None], x2[None, :]) - torch.maximum(x1[:, None], x1[None, :])).clamp(min=0)
    inter = ih * iw
    union = area[:, None] + area[None, :] - inter
    valid = (area[:, None] > 0) & (area[None, :] > 0) & (union > 0)
    return torch.where(valid, inter / torch.where(union > 0, union, torch.ones_like(union)), torch.zeros_like(union))


def greedy_select(iou, limit, threshold):
    """Indices (into the score-sorted candidates) kept by greedy suppression, at most ``limit``."""
    n = iou.shape[0]
    suppress = (iou > threshold).cpu().numpy()
    alive = np.ones(n, dtype=bool)
    keep = []
    for i in range(n):
        if not alive[i]:
            continue
        keep.append(i)
        if len(keep) >= limit:
            break
        alive[i + 1:] &= ~suppress[i, i + 1:]
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
        boxes, scores, max_out = ins[:3]
        limit = int(max_out.reshape(-1)[0].item())
        iou_t = float(ins[3].reshape(-1)[0].item()) if len(ins) > 3 and ins[3] is not None else 0.0
        score_t = ins[4].reshape(-1)[0].item() if len(ins) > 4 and ins[4] is not None else None
        dev = boxes.device
        b = boxes.to(torch.float32)
        s = scores.to(torch.float32)
        rows = []
        if limit > 0:
            for n in range(s.shape[0]):
                for c in range(s.shape[2]):
                    sc = s[n, :, c]
                    bx = b[n, :, c] if b.dim() == 4 else b[n]
                    cand = torch.arange(sc.shape[0], device=dev)
                    if score_t is not None:
                        cand = cand[sc > score_t]
                    order = torch.sort(sc[cand], descending=True, stable=True).indices
                    cand = cand[order[:a.topk_box_limit]]
                    if cand.numel() == 0:
                        continue
                    keep = greedy_select(iou_matrix(bx[cand], a.bounding_box_format), limit, iou_t)
                    sel = cand[torch.tensor(keep, dtype=torch.int64, device=dev)]
                    rows.append(torch.stack([torch.full_like(sel, n), torch.full_like(sel, c), sel], dim=1))
        dt = torch.int32 if a.indices_type == DataType.INT32 else torch.int64
        out = torch.cat(rows).to(dt) if rows else torch.zeros((0, 3), dtype=dt, device=dev)
        return [out, torch.tensor(out.shape[0], dtype=torch.int32, device=dev)]
