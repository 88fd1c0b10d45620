"""The report checks' on-disk cache (sim/report_cache.py): keyed by design and settings, computed
once, read back as stored."""

from models import synth
from sim import report_cache


def test_an_entry_is_computed_once_and_read_back(monkeypatch, tmp_path):
    monkeypatch.setattr(synth, "cache_root", lambda: tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return 224, 4.3062, 0
    path = report_cache.cache_file("check", "int8", (), 2, 2)
    assert path.parent == tmp_path / "check" and path.name.startswith("int8-")
    assert report_cache.cached(path, ("cycles", "pj", "wrong"), compute) == (224, 4.3062, 0)
    assert report_cache.cached(path, ("cycles", "pj", "wrong"), compute) == (224, 4.3062, 0)
    assert len(calls) == 1
    # the fields are read by name: another order gives the values in that order
    assert report_cache.cached(path, ("wrong", "cycles"), compute) == (0, 224)
    assert [p.name for p in (tmp_path / "check").iterdir()] == [path.name]     # no temporary left


def test_the_key_covers_options_and_settings(monkeypatch, tmp_path):
    monkeypatch.setattr(synth, "cache_root", lambda: tmp_path)
    path = report_cache.cache_file("check", "lut", (("weight_bits", 4), ("a", 1)), 2, 2)
    # the options' order does not matter, their values and every setting do
    assert path == report_cache.cache_file("check", "lut", (("a", 1), ("weight_bits", 4)), 2, 2)
    assert path != report_cache.cache_file("check", "lut", (("weight_bits", 2), ("a", 1)), 2, 2)
    assert path != report_cache.cache_file("check", "lut", (("weight_bits", 4), ("a", 1)), 4, 4)
    assert path != report_cache.cache_file("other", "lut", (("weight_bits", 4), ("a", 1)), 2, 2)
