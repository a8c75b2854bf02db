"""builder/flags.py: the one list of BuilderFlags, implemented or not, and the warnings the build logs for them."""
from __future__ import annotations

import pytest

import inferrt as trt
from inferrt.builder.flags import IMPLEMENTED, NOT_IMPLEMENTED, flag_warnings


def test_every_flag_is_in_exactly_one_table_with_a_reason():
    for flag in trt.BuilderFlag:
        assert (flag in IMPLEMENTED) != (flag in NOT_IMPLEMENTED), flag.name
        assert (IMPLEMENTED.get(flag) or NOT_IMPLEMENTED.get(flag)).strip(), flag.name


@pytest.mark.parametrize("flag", sorted(NOT_IMPLEMENTED, key=lambda f: f.name), ids=lambda f: f.name)
def test_an_unimplemented_flag_is_named_with_its_reason(flag):
    config = trt.Builder(trt.Logger()).create_builder_config()
    config.set_flag(flag)
    for device in ("cpu", "cuda"):
        (msg,) = flag_warnings(config, device)
        assert msg.startswith(f"BuilderFlag.{flag.name} ") and "ignored" in msg and NOT_IMPLEMENTED[flag] in msg


def test_implemented_flags_warn_only_where_the_device_cannot_honour_them():
    config = trt.Builder(trt.Logger()).create_builder_config()
    for flag in IMPLEMENTED:
        config.set_flag(flag)
    assert flag_warnings(config, "cuda") == []
    cpu = flag_warnings(config, "cpu")
    assert [m.split()[0] for m in cpu] == ["BuilderFlag.FP16", "BuilderFlag.BF16"] and all("CPU" in m for m in cpu)


def test_the_default_config_warns_about_nothing():
    config = trt.Builder(trt.Logger()).create_builder_config()
    assert config.get_flag(trt.BuilderFlag.TF32)
    assert flag_warnings(config, "cpu") == flag_warnings(config, "cuda") == []
