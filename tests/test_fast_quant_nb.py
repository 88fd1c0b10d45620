"""The compiled ANT quantiser kernels (models.fast_quant) against the numpy they replaced: the
clip screen keeps every row's reference min-MSE clip (the first minimum of the exactly scored
candidates) and drops what the numpy screen drops; the grid index is numpy's searchsorted,
NaN, infinities, signed zeros and exact midpoints included. search_alpha itself is pinned to
the unscreened reference loop in tests/test_quant_ant.py."""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from models import fast_quant, realdata
from models.quant import ant_format, ovp_format, ovp_search

SCREENED = ("int4", "flint4", "pot4", "uint4", "uflint4", "upot4")   # the 4-bit grids are screened


def _alphas(x):
    absmax = np.max(np.abs(x), axis=1, keepdims=True)
    absmax = np.where(absmax > 0, absmax, np.float32(1)).astype(np.float32)
    return np.stack([(absmax * np.float32(i / 100)).astype(np.float32)[:, 0] for i in ant_format.ALPHA_PERCENT])


def _reference_argmin(x, alphas, t_):
    """Per row, the first candidate with the least exactly scored MSE (the search's choice)."""
    errors = np.stack([ant_format._candidate_errors(x, alphas[c][:, None], t_, True)[:, 0]
                       for c in range(len(alphas))])
    return np.argmin(errors, axis=0), errors


@functools.cache
def _cases():
    rng = np.random.default_rng(11)
    base = rng.standard_normal((8, 48)).astype(np.float32)
    out = base.copy()
    out[1, 3], out[5, 0] = 4e4, -2e6
    ties = np.tile(np.float32([[0.0], [0.5], [-3.0], [1.0]]), (1, 24))       # equal MSE for many clips
    grid = (rng.integers(-8, 8, (12, 64)) * np.float32(0.125)).astype(np.float32)   # on midpoints
    a, w = realdata.real_gemm("minilm:L0.ffn2", dtype=np.float32)
    return {
        "gauss": rng.standard_normal((48, 96)).astype(np.float32),
        "heavy tails": rng.standard_t(2.0, (32, 200)).astype(np.float32),
        "all-zero rows": np.vstack([np.zeros((3, 40), np.float32), base[:, :40]]),
        "ties": ties,
        "on the grid": grid,
        "outliers": out,
        "signed zeros": np.where(base > 0.3, base, np.float32(-0.0)).astype(np.float32),
        "tiny (scales out of range)": (base * np.float32(1e-39)).astype(np.float32),
        "mixed magnitudes": (base * np.float32(10.0) ** rng.integers(-15, 15, base.shape)).astype(np.float32),
        "minilm weight channels": np.ascontiguousarray(w.T[:96]),
        "minilm activations (one tensor)": np.ascontiguousarray(a[:16]).reshape(1, -1),
    }


@pytest.mark.parametrize("case", list(_cases()))
def test_screen_keeps_the_reference_choice(case):
    x = _cases()[case]
    alphas = _alphas(x)
    with np.errstate(all="ignore"):
        for name in SCREENED:
            t_ = ant_format.get_type(name)
            keep = ant_format._screen(x, alphas, t_)
            assert keep.shape == alphas.shape and keep.dtype == bool
            best, errors = _reference_argmin(x, alphas, t_)
            rows = np.arange(x.shape[0])
            assert np.all(keep[best, rows]), f"{case} {name}: a row's min-MSE clip was dropped"
            # dropped only when strictly worse than the choice (the bound's guarantee)
            dropped = ~keep & np.isfinite(errors)
            assert np.all(errors[dropped] > np.broadcast_to(errors[best, rows], errors.shape)[dropped])


@pytest.mark.parametrize("case", ["gauss", "heavy tails", "on the grid", "minilm weight channels",
                                  "minilm activations (one tensor)"])
def test_screen_drops_what_the_numpy_screen_drops(case):
    """Same certified bound, same exact cells: the same mask as the numpy screen on ordinary data
    (a kernel that kept everything, or dropped by a looser rule, fails here)."""
    x = _cases()[case]
    alphas = _alphas(x)
    for name in SCREENED:
        t_ = ant_format.get_type(name)
        fast = ant_format._screen(x, alphas, t_)
        assert np.array_equal(fast, ant_format._screen_numpy(x, alphas, t_)), f"{case} {name}"
        assert fast.sum(axis=0).mean() < 4, f"{case} {name}: the screen keeps too much"


def test_screen_catches_a_wrong_cell_count():
    """The kernel's cells decide which clip survives: dividing by the wrong scale (the clip, not
    the step) gives a mask that drops the reference choice, so the test above can fail."""
    x = _cases()["gauss"]
    alphas = _alphas(x)
    t_ = ant_format.get_type("int4")
    wrong = fast_quant.ant_screen(x, alphas, np.asarray(t_.grid, dtype=np.float64))
    best, _ = _reference_argmin(x, alphas, t_)
    assert not np.all(wrong[best, np.arange(x.shape[0])])


def _arranged_cells(arranged, xs, scales, mids):
    """Whether every cell boundary of every candidate (``x >= b s`` or ``x > b s``,
    :func:`models.fast_quant.midpoint_thresholds`) splits ``arranged`` as it splits the sorted
    row ``xs``: each comparison false, then true, along it, with the same count."""
    below, tie_up = fast_quant.midpoint_thresholds(mids)
    a, s = arranged.astype(np.float64), xs.astype(np.float64)
    for scale in scales.astype(np.float64):
        for b, up in zip(below, tie_up):
            m = b * scale
            got, want = (a >= m, s >= m) if up else (a > m, s > m)
            if got.sum() != want.sum() or not np.all(got[len(a) - got.sum():]):
                return False
    return True


@pytest.mark.parametrize("case", ["minilm activations (one tensor)", "gauss", "heavy tails", "signed zeros",
                                  "outliers", "mixed magnitudes"])
def test_inner_arrangement_splits_every_cell_as_the_sort(case):
    """ANT's per-tensor screen arranges a long row instead of sorting it (fast_quant._inner_arranged:
    the elements every candidate puts in the zero cell unsorted between the sorted others): the
    same elements (-0 made +0), and every candidate's every cell boundary splits it as it splits
    the sorted row, so the kernel finds the same cells. A zero cell bounded by the largest scale
    instead of the least fails it (elements some candidate moves out of the zero cell left
    unsorted)."""
    x = np.ascontiguousarray(_cases()[case]).reshape(-1)
    x = np.tile(x, -(-fast_quant.INNER_MIN // x.size))
    xs = np.sort(x) + np.float32(0)
    used = caught = 0
    for name in SCREENED:
        t_ = ant_format.get_type(name)
        grid = np.asarray(t_.grid, dtype=np.float64)
        mids = ((grid[:-1] + grid[1:]) / 2).astype(np.float32)
        scales = (_alphas(x[None]) / np.float32(t_.max_value)).astype(np.float32)[:, 0]
        arranged = fast_quant._inner_arranged(x, scales, mids)
        if arranged is None:
            continue
        used += 1
        assert np.array_equal(np.sort(arranged).view(np.int32), xs.view(np.int32)), f"{case} {name}"
        assert _arranged_cells(arranged, xs, scales, mids), f"{case} {name}"
        # the same zero cell bounded by the largest scale: the arrangement the kernel must not get
        wrong = fast_quant._inner_arranged(x, np.full_like(scales, scales.max()), mids)
        if wrong is not None and not np.array_equal(wrong, arranged):
            assert not _arranged_cells(wrong, xs, scales, mids), f"{case} {name}"
            caught += 1
    if case.startswith("minilm"):           # a real activation tensor: mostly inner on some grids
        assert used and caught, f"{case}: arranged {used}, wrong arrangements caught {caught}"


def _all_midpoints():
    """The float32 midpoints of every ANT grid and OliVe normal grid the screens use."""
    mids = [((np.asarray(t.grid[:-1], float) + t.grid[1:]) / 2) for t in ant_format.TYPES.values()]
    mids += [ovp_search._Cells(ovp_format.get_config(mode)).mids for mode in ("int4", "flint4", "int8")]
    return np.unique(np.concatenate(mids).astype(np.float32))


def test_midpoint_thresholds_are_the_division():
    """``fl32(x / s) >= m`` is the float64 comparison of ``x`` with ``b s`` (tie rule included),
    for every midpoint, scales over the whole allowed range and the float32 values around each
    threshold (where a wrong ``b`` or a float32 product would differ)."""
    mids = _all_midpoints()
    below, tie_up = fast_quant.midpoint_thresholds(mids)
    rng = np.random.default_rng(3)
    scales = np.concatenate([np.float32([2.0 ** -100, 2.0 ** 100, 1.0, 0.1, 3.0]),
                             (2.0 ** rng.uniform(-100, 100, 200)).astype(np.float32)])
    for s in scales:
        t = (below * np.float64(s)).astype(np.float32)
        x = np.concatenate([t, -t])
        for _ in range(3):
            x = np.concatenate([x, np.nextafter(x, np.float32(np.inf)), np.nextafter(x, np.float32(-np.inf))])
        x = np.unique(x)
        with np.errstate(over="ignore"):
            want = (x[None, :] / s) >= mids[:, None]
        thr = below[:, None] * np.float64(s)
        got = np.where(tie_up[:, None], x[None, :] >= thr, x[None, :] > thr)
        assert np.array_equal(got, want), s


def test_midpoint_thresholds_catch_the_midpoint_itself():
    """The comparison with ``m s`` (the midpoint, not where rounding switches to it) differs, so
    the test above can fail."""
    mids = _all_midpoints()
    s = np.float32(0.1)
    x = (mids.astype(np.float64) * s).astype(np.float32)
    x = np.unique(np.concatenate([x, np.nextafter(x, np.float32(-np.inf))]))
    want = (x[None, :] / s) >= mids[:, None]
    assert not np.array_equal(x[None, :] >= mids[:, None] * np.float64(s), want)


def _exact_cell_sums(x, scales, cells):
    """The cell model's ``sum (fl32(q s) - x)**2`` per (candidate, row), element by element:
    ``q`` the level of ``fl32(x / s)`` by numpy's searchsorted (ties up); each term in float64,
    summed by ``math.fsum`` (within ``K u64`` of the exact sum)."""
    out = np.empty(scales.shape)
    for c in range(scales.shape[0]):
        s = scales[c][:, None]
        q = cells.levels[np.searchsorted(cells.mids, x / s, side="right")]
        d = (q * s).astype(np.float64) - x.astype(np.float64)
        out[c] = [math.fsum(row) for row in d * d]
    return out


@pytest.mark.parametrize("mode", ["int4", "flint4"])
@pytest.mark.parametrize("case", ["gauss", "heavy tails", "on the grid", "signed zeros", "outliers",
                                  "all-zero rows", "minilm weight channels"])
def test_cell_estimates_bound_the_exact_cell_sums(mode, case):
    """OliVe's cell model (levels ``fl32(q s)``) from the compiled cells: within its ``eta`` of
    the element-by-element sums, on rows with ties at midpoints, zeros and outliers."""
    x = _cases()[case]
    cfg = ovp_format.get_config(mode)
    cells = ovp_search._cells(cfg)
    scales = ((_alphas(x) * np.float32(0.9)) / np.float32(cfg.normal_max)).astype(np.float32)
    est, eta, big = fast_quant.cell_estimates(np.sort(x, axis=1), scales, cells.levels, cells.mids)
    want = _exact_cell_sums(x, scales, cells)
    assert np.all(np.isfinite(est)) and np.all(eta >= 0) and np.all(big >= want)
    assert np.all(np.abs(est - want) <= eta + x.shape[1] * 2.0 ** -53 * want), f"{case} {mode}"


def test_cell_estimates_catch_a_misplaced_boundary():
    """The bound is tight enough to fail: midpoints a quarter step higher put the values just
    above each true midpoint in the lower cell, and the estimates leave the bound."""
    x = _cases()["gauss"]
    cfg = ovp_format.get_config("int4")
    cells = ovp_search._cells(cfg)
    scales = ((_alphas(x) * np.float32(0.9)) / np.float32(cfg.normal_max)).astype(np.float32)
    want = _exact_cell_sums(x, scales, cells)
    moved = (cells.mids + np.float32(0.25) * np.diff(cells.levels)).astype(np.float32)
    est, eta, _ = fast_quant.cell_estimates(np.sort(x, axis=1), scales, cells.levels, moved)
    assert np.any(np.abs(est - want) > eta + x.shape[1] * 2.0 ** -53 * want)


@pytest.mark.parametrize("name", ["flint4", "pot4", "uflint4", "upot4", "int4", "uint8"])
def test_grid_index_is_searchsorted(name):
    t_ = ant_format.get_type(name)
    grid = np.asarray(t_.grid, dtype=np.float64)
    mids = ((grid[:-1] + grid[1:]) / 2).astype(np.float32)
    rng = np.random.default_rng(2)
    t = np.concatenate([
        mids, np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(-np.inf)),
        grid.astype(np.float32), np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, 3e38, -3e38, 1e-45]),
        (rng.standard_normal(2000) * grid.max()).astype(np.float32)]).astype(np.float32)
    t = t[:t.size // 4 * 4].reshape(-1, 4)[:, ::-1]              # 2-D, not contiguous
    assert np.array_equal(fast_quant.grid_index(mids, t), np.searchsorted(mids.astype(np.float64), t, side="right"))


# ---------------------------------------------------------------------------------------------
# OliVe's dense search pass (uniform grids): the compiled pass against the numpy loop


def _ovp_lanes(x, sc, dn):
    """Rows ``x`` (R x K, K % 32 == 0) in _search_rows_fast's block-major lanes, each lane's row,
    the per-lane scales of the candidates ``sc`` (C x R), and (random) override terms for every
    pair with an element past ``t_lim`` under a candidate, as the search finds them."""
    r, k = x.shape
    nb, w = k // 32, r * 32
    xb = np.ascontiguousarray(x.reshape(r, nb, 32).transpose(1, 0, 2)).reshape(nb, w)
    lane_row = np.repeat(np.arange(r), 32)
    scl = np.ascontiguousarray(sc[:, lane_row])
    t = np.abs(xb)[None] / scl[:, None, :]
    big = (t >= dn.t_lim).reshape(len(sc), -1)
    big = big[:, 0::2] | big[:, 1::2]
    ci, pi = np.nonzero(big)
    pos = np.stack([2 * pi, 2 * pi + 1], axis=1).reshape(-1)
    vals = np.random.default_rng(len(pos)).random(pos.size).astype(np.float32)
    bounds = 2 * np.searchsorted(ci, np.arange(len(sc) + 1))
    return xb, lane_row, scl, pos, vals, bounds


def _ovp_operands(x, mode):
    """The operands _search_rows_fast hands the dense pass for rows ``x`` (R x K, K % 32 == 0):
    block-major lanes, per-lane scales of every candidate, the pairs leaving the dense range."""
    cfg = ovp_format.get_config(mode)
    dn = ovp_search._dense(cfg)
    xb, lane_row, scl, pos, vals, bounds = _ovp_lanes(x, _search_scales(x, cfg), dn)
    div = scl * np.float32(dn.step / 2.0)
    mul = scl * np.float32(dn.step)
    return dn, xb, div, mul, pos, vals, bounds


@pytest.mark.parametrize("mode", ["int4", "int8"])
@pytest.mark.parametrize("case", ["gauss outliers", "zeros", "on the grid", "minilm"])
def test_ovp_dense_pass_is_the_numpy_loop(mode, case):
    rng = np.random.default_rng(4)
    x = {"gauss outliers": rng.standard_normal((24, 96)).astype(np.float32) * np.where(
             rng.random((24, 96)) < 0.05, np.float32(30), np.float32(1)),
         "zeros": np.vstack([np.zeros((2, 64), np.float32), rng.standard_normal((3, 64)).astype(np.float32)]),
         "on the grid": (rng.integers(-16, 16, (8, 64)) * np.float32(0.0625)).astype(np.float32),
         "minilm": np.ascontiguousarray(realdata.real_gemm("minilm:L3.q", dtype=np.float32)[1].T[:40])}[case]
    dn, xb, div, mul, pos, vals, bounds = _ovp_operands(x, mode)
    assert pos.size or case != "gauss outliers"          # the overrides are exercised
    for clip in (dn.clip, not dn.clip):                # both branches of the kernel
        got = fast_quant.ovp_dense_sse(xb, div, mul, dn.f_lo, dn.f_hi, clip, pos, vals, bounds)
        ref_dn = type("D", (), {"clip": clip, "f_lo": dn.f_lo, "f_hi": dn.f_hi})
        want = ovp_search._dense_sse_numpy(xb, div, pos, vals, bounds, ref_dn, mul=mul)
        assert got.dtype == np.float32 and np.array_equal(got.view(np.int32), want.view(np.int32))


def test_ovp_dense_pass_sums_blocks_in_order():
    """The lane sums are float32 and sequential over the blocks: a term too small to move a large
    first block's sum is lost there, as in the numpy loop (a reordered sum would keep it)."""
    x = np.zeros((1, 96), np.float32)
    dn, xb, div, mul, pos, vals, bounds = _ovp_operands(x, "int4")
    vals = np.zeros(0, np.float32)
    pos, bounds = np.zeros(0, np.int64), np.zeros(len(div) + 1, np.int64)
    xb = np.zeros_like(xb)
    xb[0, 0], xb[1, 0], xb[2, 0] = 3e4, 1e-3, -3e4       # error terms: big, tiny, big
    got = fast_quant.ovp_dense_sse(xb, div, mul, dn.f_lo, dn.f_hi, dn.clip, pos, vals, bounds)
    want = ovp_search._dense_sse_numpy(xb, div, pos, vals, bounds, dn, mul=mul)
    assert np.array_equal(got, want)


# ---------------------------------------------------------------------------------------------
# OliVe's dense search pass (table grids: flint4): the compiled midpoint pass against the numpy
# table loop


def _ovp_table_operands(x, sc):
    """The operands _search_rows_fast hands either flint4 dense pass for rows ``x`` (R x K,
    K % 32 == 0) at the candidate scales ``sc`` (C x R): the numpy loop's (divisors, row table
    offsets, per-row tables) and the compiled pass's per-lane scales, with the pairs leaving the
    dense range given (random) override terms."""
    dn = ovp_search._dense(ovp_format.get_config("flint4"))
    xb, lane_row, scl, pos, vals, bounds = _ovp_lanes(x, sc, dn)
    off = (lane_row * 2 * dn.F + dn.F).astype(np.float32)
    div = scl * np.float32(dn.h)
    tabs = (sc[:, :, None] * dn.q_of_f[None, None, :]).reshape(len(sc), -1)
    table = ovp_search._dense_sse_numpy(xb, div, pos, vals, bounds, dn, off=off, tabs=tabs)
    return xb, scl, pos, vals, bounds, table


def _search_scales(x, cfg):
    xmax = ovp_search.x_max_3sigma(x)
    xmax = np.where(xmax > 0, xmax, np.float32(1))
    ratios = np.asarray([np.float32(i * 0.01) for i in ovp_search.ALPHA_RATIOS], dtype=np.float32)
    return (xmax[:, 0][None, :] * ratios[:, None]) / np.float32(cfg.normal_max)


def _flint_cases():
    """(name, x, scales): the search's own scales on random, zero, grid and real rows; scales that
    put elements exactly on every midpoint (ties), at the pair-override border and at the largest
    magnitudes the fast path takes (|t| < 2**30, scales up to 2**100)."""
    cfg = ovp_format.get_config("flint4")
    cells = ovp_search._cells(cfg)
    rng = np.random.default_rng(21)
    gauss = rng.standard_normal((24, 96)).astype(np.float32) * np.where(
        rng.random((24, 96)) < 0.05, np.float32(30), np.float32(1))
    zeros = np.vstack([np.zeros((2, 64), np.float32), rng.standard_normal((3, 64)).astype(np.float32)])
    grid = (rng.integers(-40, 40, (8, 64)) * np.float32(0.5)).astype(np.float32)
    real = np.ascontiguousarray(realdata.real_gemm("minilm:L3.q", dtype=np.float32)[1].T[:40])
    cases = [(name, x, _search_scales(x, cfg)) for name, x in
             (("gauss outliers", gauss), ("zeros", zeros), ("on the grid", grid), ("minilm", real))]
    # ties: elements fl(m s) on the midpoints m (both signs) or levels at scales s that are not
    # powers of two, so fl(x / s) is mostly m itself and the two neighbours' errors differ
    pts = np.concatenate([cells.mids, -cells.mids, cells.levels, np.float32([0.0, -0.0, 39.5, -40.0])])
    s = rng.uniform(0.01, 3.0, (1, 16)).astype(np.float32)
    ties = (rng.choice(pts, (16, 128)).astype(np.float32) * s.T).astype(np.float32)
    assert np.mean(np.isin(ties / s.T, cells.mids)) > 0.3
    cases.append(("ties", ties, np.vstack([s, s * np.float32(2), s * np.float32(0.75)])))
    # max magnitudes: huge scales with t far into the outliers (overrides) and the squares still
    # finite, or tiny scales
    huge = np.float32(2.0 ** 50) * (rng.standard_normal((4, 64)) * 30).astype(np.float32)
    huge[0, :2] = np.float32(2.0 ** 50) * np.float32(2.0 ** 29)      # |t| just below 2**30
    cases.append(("max magnitudes", huge, np.full((3, 4), np.float32(2.0 ** 50))))
    tiny = np.float32(2.0 ** -90) * rng.standard_normal((4, 64)).astype(np.float32)
    cases.append(("tiny", tiny, np.full((3, 4), np.float32(2.0 ** -100))))
    return cases


@pytest.mark.parametrize("case", range(7))
def test_ovp_flint_dense_pass_is_the_numpy_table_loop(case):
    name, x, sc = _flint_cases()[case]
    cells = ovp_search._cells(ovp_format.get_config("flint4"))
    with np.errstate(over="ignore"):                  # the overridden terms of |t| ~ 2**29
        xb, scl, pos, vals, bounds, want = _ovp_table_operands(x, sc)
    got = fast_quant.ovp_dense_sse_levels(xb, scl, cells.levels, cells.mids, pos, vals, bounds)
    assert got.dtype == np.float32 and np.array_equal(got.view(np.int32), want.view(np.int32)), name
    if name in ("gauss outliers", "max magnitudes"):
        assert pos.size                                      # the overrides are exercised


def test_ovp_flint_dense_pass_sees_the_tie_rule():
    """The tie case can fail: midpoints one ulp higher (ties going down) change the sums."""
    _, x, sc = _flint_cases()[4]
    cells = ovp_search._cells(ovp_format.get_config("flint4"))
    xb, scl, pos, vals, bounds, want = _ovp_table_operands(x, sc)
    nudged = np.nextafter(cells.mids, np.float32(np.inf))
    got = fast_quant.ovp_dense_sse_levels(xb, scl, cells.levels, nudged, pos, vals, bounds)
    assert not np.array_equal(got, want)


@pytest.mark.slow          # loads and dequantises the whole GGUF (~10 s CPU)
@pytest.mark.parametrize("name", ["blk.0.attn_k", "blk.17.ffn_up"])
def test_ovp_flint_dense_pass_on_smollm2_weights(name):
    """The SmolLM2 weight rows (K = 576) the accuracy run searches, as _search_rows_fast blocks them."""
    smollm2 = pytest.importorskip("models.smollm2")
    try:
        w = smollm2.load_smollm2().linears[name]
    except smollm2.MissingModelError as e:
        pytest.skip(str(e))
    cfg = ovp_format.get_config("flint4")
    cells = ovp_search._cells(cfg)
    x = np.ascontiguousarray(w.T[:113], dtype=np.float32)
    xb, scl, pos, vals, bounds, want = _ovp_table_operands(x, _search_scales(x, cfg))
    got = fast_quant.ovp_dense_sse_levels(xb, scl, cells.levels, cells.mids, pos, vals, bounds)
    assert np.array_equal(got.view(np.int32), want.view(np.int32))
