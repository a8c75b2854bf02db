"""The plan's refit section is untrusted input like the rest of the plan: a damaged one is a PlanError naming it."""
from __future__ import annotations

import json

import numpy as np
import pytest

import inferrt as trt
from inferrt.plan import schema
from inferrt.plan.format import BlobWriter, read_plan, write_plan

from tests.refit.test_refitter import build, weights


def _rewrite(plan: bytes, edit) -> bytes:
    """The plan with its manifest edited, re-framed with a valid checksum (blobs unchanged)."""
    manifest, blobs = read_plan(plan)
    manifest = json.loads(json.dumps(manifest))
    edit(manifest)
    writer = BlobWriter()
    for i in range(len(blobs)):
        writer.add(blobs.get(i))
    del manifest[schema.BLOBS]
    return write_plan(manifest, writer)


@pytest.mark.parametrize("edit, why", [
    (lambda m: m["refit"].update(mode="REFIT_SOMETIMES"), "mode"),
    (lambda m: m["refit"].update(weights=[]), "'weights' must be an object"),
    (lambda m: m["refit"]["weights"]["conv.weight"].update(node="nowhere"), "names no constant"),
    (lambda m: m["refit"].update(stripped_nodes=["bn"]), "not a constant of the graph"),
])
def test_damaged_refit_section_is_refused(edit, why):
    plan = _rewrite(build(weights(0), "cpu", [trt.BuilderFlag.REFIT]), edit)
    with pytest.raises(trt.PlanError, match="refit section") as e:
        trt.load_engine(plan)
    assert why in str(e.value)


def test_plan_records_weight_digests():
    w = weights(0)
    manifest, _ = read_plan(build(w, "cpu", [trt.BuilderFlag.REFIT, trt.BuilderFlag.STRIP_PLAN]))
    section = manifest["refit"]
    from inferrt.refit.record import digest_of

    assert section["mode"] == "REFIT" and section["stripped"]
    assert {k: v["sha256"] for k, v in section["weights"].items()} == {k: digest_of(a) for k, a in w.items()}
    assert section["weights"]["conv.weight"]["shape"] == [8, 3, 3, 3]
    assert np.all([len(v["sha256"]) == 64 for v in section["weights"].values()])
