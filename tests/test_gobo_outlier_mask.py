"""GOBO's outlier check on a flag mask (:func:`models.gobo_gemm.check_outlier_mask`, the accuracy
path's) raises exactly what :func:`models.gobo_gemm.check_outliers_flagged` raises on the codes
``mask << 3``: nothing for lists whose outliers all sit at flagged weights, else the same error
(type and message) for the first offending outlier in the list's (n, k) order, outside the
weights or unflagged, whichever comes first."""

import numpy as np
import pytest

from hw.pe_gobo import OUTLIER_FLAG_BIT
from models import gobo_gemm
from models.gobo_format import GoboDictionary


def _outcome(check, *args):
    try:
        check(*args)
    except ValueError as e:
        return str(e)
    return None


def _same(mask, table):
    want = _outcome(gobo_gemm.check_outliers_flagged, mask.astype(np.int64) << OUTLIER_FLAG_BIT, table)
    assert _outcome(gobo_gemm.check_outlier_mask, mask, table) == want
    return want


def test_random_lists():
    rng = np.random.default_rng(51)
    outcomes = set()
    for _ in range(200):
        k, n = rng.integers(1, 9, 2)
        mask = rng.random((k, n)) < 0.5
        count = int(rng.integers(0, 6))
        spots = {(int(rng.integers(0, k + 2)), int(rng.integers(0, n + 2))) for _ in range(count)}
        table = GoboDictionary((0,) * 8, tuple((a, b, 0x3C00) for a, b in spots))
        outcome = _same(mask, table)
        outcomes.add(None if outcome is None else outcome.split(":")[-1][:12])
    assert len(outcomes) >= 3                     # passes, unflagged and outside all occur


def test_first_offender_in_list_order():
    mask = np.zeros((4, 4), dtype=bool)
    mask[1, 0] = True
    # sorted by (n, k): (1, 0) flagged, (3, 0) unflagged, then (0, 9) outside
    table = GoboDictionary((0,) * 8, ((0, 9, 1), (3, 0, 1), (1, 0, 1)))
    assert "not outlier-flagged" in _same(mask, table)
    table = GoboDictionary((0,) * 8, ((9, 0, 1), (3, 1, 1), (1, 0, 1)))
    assert "outside" in _same(mask, table)
    assert _same(mask, GoboDictionary((0,) * 8, ((1, 0, 1),))) is None
    assert _same(mask, GoboDictionary((0,) * 8)) is None


def test_a_broken_check_is_caught():
    """The comparison can fail: the codes' check on another mask gives another outcome."""
    mask = np.ones((3, 3), dtype=bool)
    table = GoboDictionary((0,) * 8, ((2, 2, 1),))
    assert _outcome(gobo_gemm.check_outlier_mask, mask, table) is None
    with pytest.raises(ValueError, match="not outlier-flagged"):
        gobo_gemm.check_outliers_flagged(np.zeros((3, 3), dtype=np.int64), table)
