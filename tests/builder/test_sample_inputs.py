"""Sample batches for the build-time range check: generated (realistic scale, valid indices, ones for masks, global
RNG untouched) or the user's (config.calibration_data, config.int8_calibrator)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import inferrt as trt
from inferrt.builder.lower_network import lower_network
from inferrt.builder.sample_inputs import MAX_BATCHES, generated_batch, sample_batches, user_batches


def _embedding_network():
    """ids (int32) -> Gather rows of a (50, 8) table; mask (bool) selects; audio (float) is added."""
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    net = builder.create_network(0)
    ids = net.add_input("ids", trt.int32, (-1, 6))
    mask = net.add_input("mask", trt.bool, (-1, 6, 1))
    feat = net.add_input("feat", trt.float32, (-1, 6, 8))
    table = net.add_constant((50, 8), np.arange(400, dtype=np.float32).reshape(50, 8))
    emb = net.add_gather(table.get_output(0), ids, 0)
    s = net.add_elementwise(emb.get_output(0), feat, trt.ElementWiseOperation.SUM)
    sel = net.add_select(mask, s.get_output(0), feat)
    sel.get_output(0).name = "y"
    net.mark_output(sel.get_output(0))
    profiles = [{"ids": ((1, 6), (64, 6), (64, 6)), "mask": ((1, 6, 1), (64, 6, 1), (64, 6, 1)),
                 "feat": ((1, 6, 8), (64, 6, 8), (64, 6, 8))}]
    return builder, net, profiles


def test_generated_batch_has_realistic_values_and_leaves_global_rng_alone():
    _, net, profiles = _embedding_network()
    g = lower_network(net)
    torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    batch = generated_batch(g, profiles[0])
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert batch["ids"].dtype == torch.int32 and tuple(batch["ids"].shape) == (64, 6)
    assert int(batch["ids"].min()) >= 0 and int(batch["ids"].max()) < 50 and int(batch["ids"].max()) > 25
    assert batch["mask"].dtype == torch.bool and bool(batch["mask"].all())
    f = batch["feat"]
    assert f.dtype == torch.float32 and 0.8 < float(f.std()) < 1.2 and abs(float(f.mean())) < 0.2
    # the tone along the last axis: neighbours are correlated (white noise alone would give ~0)
    corr = np.corrcoef(f[..., :-1].flatten().numpy(), f[..., 1:].flatten().numpy())[0, 1]
    assert corr > 0.3
    assert torch.equal(generated_batch(g, profiles[0])["feat"], f)        # fixed seed: builds are reproducible


def test_calibration_data_is_used_converted_and_capped():
    builder, net, profiles = _embedding_network()
    g = lower_network(net)
    config = builder.create_builder_config()
    batch = {"ids": np.zeros((2, 6), np.int64), "mask": np.ones((2, 6, 1), bool),
             "feat": np.full((2, 6, 8), 5.0)}                             # float64 and int64: converted
    config.calibration_data = [batch] * (MAX_BATCHES + 3)
    got, src = sample_batches(g, config, profiles, "cpu")
    assert len(got) == MAX_BATCHES and "config.calibration_data" in src
    assert got[0]["feat"].dtype == torch.float32 and got[0]["ids"].dtype == torch.int32
    assert float(got[0]["feat"].max()) == 5.0


def test_calibration_batch_missing_an_input_names_it():
    builder, net, profiles = _embedding_network()
    config = builder.create_builder_config()
    config.calibration_data = [{"ids": np.zeros((2, 6), np.int32)}]
    with pytest.raises(trt.BuildError, match=r"batch 0 has no value for the inputs \['mask', 'feat'\]"):
        user_batches(lower_network(net), config, profiles, "cpu")


class _Calibrator:
    """TensorRT's IInt8Calibrator protocol: get_batch(names) -> one buffer per input, None when exhausted."""

    def __init__(self, n):
        self.left = n
        self.calls = 0

    def get_batch_size(self):
        return 2

    def get_batch(self, names):
        self.calls += 1
        if not self.left:
            return None
        self.left -= 1
        arrays = {"ids": np.full((2, 6), 3, np.int32), "mask": np.ones((2, 6, 1), bool),
                  "feat": np.full((2, 6, 8), 2.0, np.float32)}
        return [arrays[n] for n in names]


def test_int8_calibrator_batches_are_read_until_exhausted():
    builder, net, profiles = _embedding_network()
    config = builder.create_builder_config()
    cal = _Calibrator(2)
    config.int8_calibrator = cal
    got, src = sample_batches(lower_network(net), config, profiles, "cpu")
    assert len(got) == 2 and cal.calls == 3 and "int8_calibrator" in src
    assert int(got[1]["ids"][0, 0]) == 3


def test_fp16_build_with_generated_data_runs_the_network():
    """Valid indices: the observation runs every layer (no 'could not run' warning)."""
    from tests.passes.precision_nets import Capture

    builder, net, profiles = _embedding_network()
    log = Capture()
    builder = trt.Builder(log)
    config = builder.create_builder_config()
    config.device = "cpu"
    config.set_flag(trt.BuilderFlag.FP16)
    p = builder.create_optimization_profile()
    for k, v in profiles[0].items():
        p.set_shape(k, *v)
    config.add_optimization_profile(p)
    builder.build(net, config)
    assert not [m for m in log.of(trt.Severity.WARNING) if "range guard" in m]
    assert any("range guard: 0 of" in m for m in log.of(trt.Severity.INFO))
