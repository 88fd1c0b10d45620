"""The batch cost model's on-disk fact cache: a new process reads the facts instead of building
probes, gives the same numbers, and a code change starts a new cache."""

import numpy as np
import pytest

from models import cost_batch, hardware_cache
from models.cost import CostConfig
from models.cost_batch import evaluate_batch
from models.workloads import get_workload

CONFIGS = [CostConfig("int8", r, c, "ws") for r, c in ((2, 3), (4, 4))] + \
          [CostConfig("lut", 4, 2, "os", pe_options=(("weight_bits", 2),))]


PROBE = cost_batch._probe     # its lru_cache (the tests replace the module's name with a counter)


def _new_process():
    hardware_cache.HARDWARE.clear_memory()
    PROBE.cache_clear()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PEARRAY_HARDWARE_DIR", str(tmp_path / "hw"))
    _new_process()
    yield tmp_path / "hw"
    _new_process()


def _probes(monkeypatch):
    built = []
    real = PROBE.__wrapped__

    def probe(*key):
        built.append(key)
        return real(*key)
    monkeypatch.setattr(cost_batch, "_probe", probe)
    return built


def test_a_new_process_reads_the_facts_from_disk(cache, monkeypatch):
    gemms = get_workload("minilm-l6")
    built = _probes(monkeypatch)
    first = evaluate_batch(CONFIGS, gemms)
    assert len(built) == 3 and len(list(cache.glob("hardware-*.pkl"))) == 1
    _new_process()
    built.clear()
    again = evaluate_batch(CONFIGS, gemms)
    assert built == []                        # no probe accelerator built
    for field in ("cycles", "energy_total_pj", "area_total_um2", "tops_roofline_per_mm2"):
        assert np.array_equal(getattr(first, field), getattr(again, field))
    # another configuration adds to the same file, keeping the others
    evaluate_batch([CostConfig("int8", 3, 3, "ws")], gemms)
    _new_process()
    built.clear()
    evaluate_batch([*CONFIGS, CostConfig("int8", 3, 3, "ws")], gemms)
    assert built == []


def test_a_code_change_or_a_broken_file_recomputes(cache, monkeypatch):
    gemms = get_workload("minilm-l6")
    built = _probes(monkeypatch)
    evaluate_batch(CONFIGS, gemms)
    monkeypatch.setattr(hardware_cache, "code_digest", lambda: "0" * 32)   # other code
    _new_process()
    built.clear()
    evaluate_batch(CONFIGS, gemms)
    assert len(built) == 3 and len(list(cache.glob("hardware-*.pkl"))) == 2
    (cache / f"hardware-{'0' * 32}.pkl").write_bytes(b"truncated")
    _new_process()
    built.clear()
    evaluate_batch(CONFIGS, gemms)
    assert len(built) == 3
