"""ANT's 8-bit clip screen (:mod:`models.fast_ant_clip`): the candidates it drops have a strictly
larger reference MSE than one it keeps, so ``search_alpha`` gives the reference loop's alpha and
MSE bit for bit (random rows of many lengths, ties, zero and one-element rows, huge values, scales
out of the normal range, signed zeros, real MiniLM weights; SmolLM2's in
tests/test_fast_quick.py), and it does drop most candidates (a screen that kept everything would
pass the rest)."""
from __future__ import annotations

import functools

import numpy as np
import pytest

from models import fast_ant_clip, realdata
from models.quant import ant_format
from tests.test_fast_quick import _alphas, _reference_search, _same


def _reference_errors(x, alphas, t_):
    """Every candidate's reference MSE per row (C, R), by _candidate_errors."""
    return np.stack([ant_format._candidate_errors(x, alphas[c][:, None], t_, True)[:, 0] for c in range(len(alphas))])


@functools.cache
def _cases():
    rng = np.random.default_rng(41)
    base = rng.standard_normal((6, 96)).astype(np.float32)
    one = np.zeros((3, 64), np.float32)
    one[0, 3], one[1, 0], one[2, 63] = 1.0, -3.5, 1e-3          # one non-zero value per row
    on_mids = (rng.integers(-300, 300, (8, 64)) * np.float32(0.5)).astype(np.float32)
    on_mids[:, 0] = 127.5                                       # absmax 127.5: scale 127.5 / 127 at i = 100
    _, w = realdata.real_gemm("minilm:L0.ffn2", dtype=np.float32)
    cases = {f"gauss K={k}": rng.standard_normal((5, k)).astype(np.float32)
             for k in (1, 2, 31, 32, 33, 160, 161, 576, 1536)}
    cases.update({
        "heavy tails": rng.standard_t(1.5, (24, 200)).astype(np.float32),
        "one big outlier per row": np.hstack([base, np.float32(40) * np.ones((6, 1), np.float32)]),
        "mixed magnitudes": (base * np.float32(10.0) ** rng.integers(-30, 30, base.shape)).astype(np.float32),
        "huge": (base * np.float32(1e37)).astype(np.float32),
        "tiny (scales out of range)": (base * np.float32(1e-39)).astype(np.float32),
        "zero rows (every candidate ties at 0)": np.vstack([np.zeros((2, 96), np.float32), base]),
        "one value per row (ties)": one,
        "on the midpoints": on_mids,
        "signed zeros": np.where(base > 0.3, base, np.float32(-0.0)).astype(np.float32),
        "minilm weight channels": np.ascontiguousarray(w.T[:96]),
    })
    return cases


@pytest.mark.parametrize("case", list(_cases()))
@pytest.mark.parametrize("name", ["int8", "uint8"])
def test_dropped_candidates_are_strictly_worse(case, name):
    """Every candidate the screen drops has a reference MSE strictly above its row's least, so
    every candidate attaining the least (the first of them is the reference's choice) is kept."""
    x = _cases()[case]
    x = np.abs(x) if name == "uint8" else x
    t_ = ant_format.get_type(name)
    alphas = _alphas(x)
    scales = (alphas / np.float32(t_.max_value)).astype(np.float32)
    with np.errstate(all="ignore"):
        keep = fast_ant_clip.clip_screen(x, scales, t_.grid[0], t_.grid[-1], ant_format.ALPHA_PERCENT.index(100))
        errors = _reference_errors(x, alphas, t_)
    least = np.min(errors, axis=0)
    assert np.all(keep | (errors > least)), case
    assert np.all(keep[errors == least]), case


@pytest.mark.parametrize("case", list(_cases()))
def test_search_alpha_int8_equals_the_reference_loop(case):
    x = _cases()[case]
    with np.errstate(all="ignore"):
        for name in ("int8", "uint8"):
            xx = np.abs(x) if name == "uint8" else x
            alpha, mse = ant_format.search_alpha(xx, name, per_row=True)
            ref_alpha, ref_mse = _reference_search(xx, name, True)
            assert _same(alpha, ref_alpha) and _same(mse, ref_mse), f"{case} {name}"


def test_the_screen_drops_most_candidates():
    """On MiniLM's weights the screen keeps few candidates per row (it really screens)."""
    _, w = realdata.real_gemm("minilm:L0.ffn2", dtype=np.float32)
    x = np.ascontiguousarray(w.T)
    t_ = ant_format.get_type("int8")
    scales = (_alphas(x) / np.float32(t_.max_value)).astype(np.float32)
    keep = fast_ant_clip.clip_screen(x, scales, -128, 127, ant_format.ALPHA_PERCENT.index(100))
    assert keep.sum() < 3 * len(x)


def test_candidate_order_starts_at_the_first_and_covers_all():
    order = fast_ant_clip.candidate_order(75, 25)
    assert order[0] == 25 and sorted(order.tolist()) == list(range(75))
    assert order[:26].tolist() == list(range(25, -1, -1))


def test_non_finite_and_long_rows_keep_every_candidate():
    x = np.ones((2, 8), np.float32)
    x[0, 1] = np.nan
    scales = np.full((75, 2), np.float32(1 / 127))
    assert fast_ant_clip.clip_screen(x, scales, -128, 127, 25)[:, 0].all()
    assert fast_ant_clip.clip_screen(np.ones((1, fast_ant_clip.MAX_K), np.float32),
                                     np.full((75, 1), np.float32(1 / 127)), -128, 127, 25).all()
