"""builder/flags.py: the one list of BuilderFlags, implemented or not, and the warnings the build logs for them."""
from __future__ import annotations

import pytest

import inferrt as trt
from inferrt.builder.flags import IMPLEMENTED, REFUSED, UNUSED_PERMISSIONS, flag_refusals, flag_warnings


def test_every_flag_is_in_exactly_one_table_with_a_reason():
    for flag in trt.BuilderFlag:
        tables = [t for t in (IMPLEMENTED, UNUSED_PERMISSIONS, REFUSED) if flag in t]
        assert len(tables) == 1, flag.name
        assert tables[0][flag].strip(), flag.name


@pytest.mark.parametrize("flag", sorted(UNUSED_PERMISSIONS, key=lambda f: f.name), ids=lambda f: f.name)
def test_an_unused_permission_is_named_with_its_reason(flag):
    config = trt.Builder(trt.Logger()).create_builder_config()
    config.set_flag(flag)
    assert flag_refusals(config) == []
    for device in ("cpu", "cuda"):
        (msg,) = flag_warnings(config, device)
        assert msg.startswith(f"BuilderFlag.{flag.name} ") and "no effect" in msg and UNUSED_PERMISSIONS[flag] in msg


@pytest.mark.parametrize("flag", sorted(REFUSED, key=lambda f: f.name), ids=lambda f: f.name)
def test_a_refused_flag_is_named_with_its_reason_and_the_fix(flag):
    config = trt.Builder(trt.Logger()).create_builder_config()
    config.set_flag(flag)
    (msg,) = flag_refusals(config)
    assert msg.startswith(f"BuilderFlag.{flag.name} ") and REFUSED[flag] in msg
    assert f"config.clear_flag(BuilderFlag.{flag.name})" in msg
    assert flag_warnings(config, "cuda") == []


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
    assert flag_warnings(config, "cpu") == flag_warnings(config, "cuda") == [] == flag_refusals(config)
