"""The autotuner over tuning spaces (tactics/select.py): every point of a tactic's space is timed, the constraint
prunes, the optimization level caps, the timing cache records the chosen point and a hit times nothing."""
from __future__ import annotations

import pytest
from tuning_tools import FakeTimer, FakeTiled, Log, config_with_cache, fake, relu_graph  # noqa: F401

from inferrt.enums import BuilderFlag
from inferrt.tactics import registry, select
from inferrt.tactics.timing_cache import ITimingCache, TimingCacheValue

BEST = ("fake_tiled", {"tile": 64, "warps": 2})


def _select(config, timer, shape=(2, 48), log=None):
    g, specs = relu_graph(shape)
    select.select_tactics(g, specs, "cuda", config, log or Log(), timer=timer, device_name="fake-gpu")
    return g.nodes[0]


def test_every_point_of_the_space_is_timed_and_the_fastest_recorded(fake):
    config, timer, log = config_with_cache(), FakeTimer(BEST), Log()
    node = _select(config, timer, log=log)
    assert len(timer.calls) == 1
    offered = timer.calls[0]
    assert offered[0] == ("generic", {})
    fake_points = [p for name, p in offered if name == "fake_tiled"]
    assert len(fake_points) == 6
    assert sorted((p["tile"], p["warps"]) for p in fake_points) == [(t, w) for t in (32, 64) for w in (1, 2, 4)]
    assert (node.info.tactic, node.info.tactic_point) == BEST
    (entry,) = config.get_timing_cache()._entries.values()
    assert entry == {"tactic": "fake_tiled", "ms": 0.5, "config": {"tile": 64, "warps": 2}}
    assert any("-> fake_tiled(tile=64, warps=2)" in line and "fake_tiled(tile=32, warps=1) " in line
               for line in log.lines), log.lines


def test_a_cache_hit_reuses_the_point_without_timing(fake):
    first = config_with_cache()
    _select(first, FakeTimer(BEST))
    for config in (first, config_with_cache(cache_bytes=first.get_timing_cache().serialize())):
        timer, log = FakeTimer(("generic", {})), Log()
        node = _select(config, timer, log=log)
        assert timer.calls == []
        assert (node.info.tactic, node.info.tactic_point) == BEST
        assert "tactic selection: 0 layers timed, 1 from the timing cache" in log.lines


def test_the_generic_tactic_keeps_no_point(fake):
    config = config_with_cache()
    node = _select(config, FakeTimer(("generic", {})))
    assert node.info.tactic == "generic" and node.info.tactic_point is None
    (entry,) = config.get_timing_cache()._entries.values()
    assert entry == {"tactic": "generic", "ms": 0.5, "config": None}


def test_constraint_prunes_points_per_node(monkeypatch):
    registry._load()
    t = FakeTiled(lambda point, node, specs: point["tile"] <= specs[node.outputs[0]].shape[-1])
    monkeypatch.setitem(registry.TACTICS, t.name, t)
    timer = FakeTimer(("fake_tiled", {"tile": 32, "warps": 4}))
    node = _select(config_with_cache(), timer, shape=(2, 48))
    assert [p for name, p in timer.calls[0] if name == "fake_tiled"] == [
        {"tile": 32, "warps": 1}, {"tile": 32, "warps": 2}, {"tile": 32, "warps": 4}]
    assert node.info.tactic_point == {"tile": 32, "warps": 4}
    timer = FakeTimer(BEST)
    _select(config_with_cache(), timer, shape=(2, 64))
    assert len(timer.calls[0]) == 7


def test_a_tactic_whose_constraint_keeps_nothing_is_dropped(monkeypatch):
    registry._load()
    t = FakeTiled(lambda point, node, specs: False)
    monkeypatch.setitem(registry.TACTICS, t.name, t)
    timer, log = FakeTimer(BEST), Log()
    node = _select(config_with_cache(), timer, log=log)
    assert timer.calls == [] and node.info.tactic == "generic"
    assert any("tactics ['fake_tiled'] have no tuning point" in line for line in log.lines)


def test_no_point_left_for_any_allowed_tactic_fails_naming_the_node(monkeypatch):
    registry._load()
    t = FakeTiled(lambda point, node, specs: False)
    monkeypatch.setitem(registry.TACTICS, t.name, t)
    config = config_with_cache()
    config.algorithm_selector = _Keep("fake_tiled")
    with pytest.raises(RuntimeError, match=r"node 'relu' .*the tuning spaces of \['fake_tiled'\] keep no point"):
        _select(config, FakeTimer(BEST))


class _Keep:
    def __init__(self, name):
        self.name = name

    def select_algorithms(self, layer, choices):
        return [self.name]


@pytest.mark.parametrize("level,fake_points", [(1, 1), (2, 3), (3, 6), (4, 6), (5, 6)])
def test_optimization_level_caps_the_points(fake, level, fake_points):
    timer = FakeTimer(("fake_tiled", {"tile": 32, "warps": 1}))
    node = _select(config_with_cache(level), timer)
    offered = [p for name, p in timer.calls[0] if name == "fake_tiled"]
    assert len(offered) == fake_points
    assert offered[0] == {"tile": 32, "warps": 1}  # the default point always comes first
    assert node.info.tactic_point == {"tile": 32, "warps": 1}


def test_level_zero_times_nothing_and_takes_the_default_point(fake):
    timer = FakeTimer(BEST)
    node = _select(config_with_cache(0), timer)
    assert timer.calls == []
    assert (node.info.tactic, node.info.tactic_point) == ("fake_tiled", {"tile": 32, "warps": 1})


def test_a_single_tactic_with_several_points_is_still_timed(fake):
    config = config_with_cache()
    config.algorithm_selector = _Keep("fake_tiled")
    timer = FakeTimer(BEST)
    node = _select(config, timer)
    assert len(timer.calls[0]) == 6 and {name for name, _ in timer.calls[0]} == {"fake_tiled"}
    assert node.info.tactic_point == BEST[1]


def test_the_key_covers_the_points_timed(fake):
    """A cache filled at level 2 (3 points) does not answer a level-3 build (6 points); levels timing the same
    points share entries."""
    low = config_with_cache(2)
    _select(low, FakeTimer(("fake_tiled", {"tile": 32, "warps": 2})))
    data = low.get_timing_cache().serialize()
    timer = FakeTimer(BEST)
    assert _select(config_with_cache(3, data), timer).info.tactic_point == BEST[1] and len(timer.calls) == 1
    high = config_with_cache(3)
    _select(high, FakeTimer(BEST))
    timer = FakeTimer(("generic", {}))
    assert _select(config_with_cache(5, high.get_timing_cache().serialize()), timer).info.tactic_point == BEST[1]
    assert timer.calls == []


def _only_key(config):
    (key,) = config.get_timing_cache()._entries
    return key


def test_an_entry_with_a_point_outside_the_space_is_timed_again(fake):
    config = config_with_cache()
    _select(config, FakeTimer(BEST))
    key = _only_key(config)
    config.get_timing_cache().record(key, "fake_tiled", 0.1, {"tile": 128, "warps": 2})
    timer = FakeTimer(("fake_tiled", {"tile": 32, "warps": 4}))
    node = _select(config, timer)
    assert len(timer.calls) == 1 and node.info.tactic_point == {"tile": 32, "warps": 4}
    assert config.get_timing_cache().lookup(key)["config"] == {"tile": 32, "warps": 4}


def test_an_entry_without_a_point_means_the_first_point(fake):
    """Entries from ITimingCache.update (TensorRT's editable cache has no field for a point) run the tactic at
    its first point; update keeps the point while the tactic stays the same."""
    config = config_with_cache()
    _select(config, FakeTimer(BEST))
    cache, key = config.get_timing_cache(), _only_key(config)
    cache.update(key, TimingCacheValue("fake_tiled", 0.2))
    assert cache.lookup(key)["config"] == BEST[1]
    cache.update(key, TimingCacheValue("generic", 0.2))
    cache.update(key, TimingCacheValue("fake_tiled", 0.2))
    assert cache.lookup(key)["config"] is None
    timer = FakeTimer(BEST)
    node = _select(config, timer)
    assert timer.calls == [] and node.info.tactic_point == {"tile": 32, "warps": 1}


def test_error_on_cache_miss_still_applies_to_tuned_tactics(fake):
    config = config_with_cache()
    config.set_flag(BuilderFlag.ERROR_ON_TIMING_CACHE_MISS)
    with pytest.raises(RuntimeError, match="timing cache miss for node 'relu'"):
        _select(config, FakeTimer(BEST))


def test_caches_written_before_tuning_spaces_still_load():
    old = ITimingCache(device="dev")
    old.record("k", "generic", 0.25)
    data = old.serialize()
    assert b'"config":null' in data
    assert ITimingCache.deserialize(data).lookup("k") == {"tactic": "generic", "ms": 0.25, "config": None}


@pytest.mark.parametrize("config", ['[1]', '"BLOCK=1024"', '{"BLOCK":[1024]}', '{"BLOCK":{"a":1}}'])
def test_a_cache_with_a_malformed_point_is_refused(config):
    good = ITimingCache(device="dev")
    good.record("k", "t", 1.0, {"BLOCK": 1024})
    data = good.serialize()
    assert ITimingCache.deserialize(data).lookup("k")["config"] == {"BLOCK": 1024}
    bad = data.replace(b'{"BLOCK":1024}', config.encode())
    with pytest.raises(ValueError, match=r"corrupt timing cache: entry k: its tuning point \(config\) must be null or"):
        ITimingCache.deserialize(bad)


def test_tactics_without_parameters_keep_their_cache_key(fake):
    """A one-point tactic is named in the key as before tuning spaces (``name@version``), so older caches still
    hit; a tactic with parameters adds the points timed."""
    generic = registry.get_tactic("generic")
    assert select._timed_as(generic, [{}]) == select._timed_as(generic, None) == "generic@1"
    assert select._timed_as(fake, [{"tile": 32, "warps": 1}]) == 'fake_tiled@1:[{"tile": 32, "warps": 1}]'
