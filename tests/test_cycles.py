"""The analytical cycle model: SCALE-Sim's formulas, the efficiency target, basic laws.
(That the model equals the RTL's counter is checked for every case in test_gemm.py.)"""

import pytest

from models.cycles import gemm_cycles, scalesim_cycles
from models.design import DesignConfig


def _timing(rows, cols, dataflow="ws"):
    return DesignConfig("int8", rows, cols, dataflow).timing()


def test_scalesim_reference_values():
    assert scalesim_cycles(8, 8, "ws", 64, 64, 64) == 5503
    assert scalesim_cycles(8, 8, "os", 64, 64, 64) == 4991


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_64_cube_on_8x8_beats_the_target(dataflow):
    est = gemm_cycles(_timing(8, 8, dataflow), 64, 64, 64)
    assert est.cycles <= 4600
    assert est.utilisation > 0.98
    assert est.cycles < est.scalesim_cycles


def test_ws_formula_by_hand():
    # preload 8 + 63 folds x 64 + 63 tokens + output latency (1 + 8 + 7 + 1) + 1
    assert gemm_cycles(_timing(8, 8), 64, 64, 64).cycles == 8 + 63 * 64 + 63 + 17 + 1


def test_small_m_is_bounded_by_the_weight_load():
    est = gemm_cycles(_timing(16, 16), 3, 64, 64)
    assert est.fold_interval == 16


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_cycles_grow_with_the_gemm(dataflow):
    t = _timing(4, 4, dataflow)
    for m, k, n in [(8, 8, 8), (5, 9, 13)]:
        base = gemm_cycles(t, m, k, n).cycles
        assert gemm_cycles(t, m + 4, k, n).cycles > base
        assert gemm_cycles(t, m, k + 4, n).cycles > base
        assert gemm_cycles(t, m, k, n + 4).cycles > base
