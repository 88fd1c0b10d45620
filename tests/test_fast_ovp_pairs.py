"""OliVe's certified alpha search: the compiled outlier-pair corrections
(:func:`models.fast_ovp_pairs.pair_corrections`) equal the numpy reference
(:func:`models.quant.ovp_search._pair_corrections_numpy`) bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

from models import fast_ovp_pairs, realdata
from models.quant import ovp_format, ovp_search
from models.quant.common import division_thresholds
from tools import require

MODES = ["int4", "flint4", "int8"]


def _scales(x, cfg, per_tensor=False):
    """The search's own candidate scales (C x R) of the rows ``x`` (or of the tensor, one row)."""
    xmax = ovp_search.x_max_3sigma(x, not per_tensor)
    xmax = np.where(xmax > 0, xmax, np.float32(1))
    ratios = np.asarray([np.float32(i * 0.01) for i in ovp_search.ALPHA_RATIOS], dtype=np.float32)
    return (xmax[:, 0][None, :] * ratios[:, None]) / np.float32(cfg.normal_max)


def _both(x, sc, mode, est=None, bnd=None):
    """(compiled, numpy) ``(est, bnd)`` after the corrections, from the same starting values."""
    cfg = ovp_format.get_config(mode)
    dn = ovp_search._dense(cfg)
    cells = ovp_search._Cells(cfg)
    rows, cands = x.shape[0], sc.shape[0]
    rng = np.random.default_rng(rows * cands)
    est = rng.random((rows, cands)) if est is None else est
    bnd = rng.random((rows, cands)) + 1 if bnd is None else bnd
    th_out, ok = division_thresholds(dn.t_out, sc.min(axis=0))
    assert np.all(ok)
    got = (est.copy(), bnd.copy())
    # the transposed views _candidate_keep hands it (non-contiguous)
    got_t = (np.ascontiguousarray(est.T).T, np.ascontiguousarray(bnd.T).T)
    want = (est.copy(), bnd.copy())
    fast_ovp_pairs.pair_corrections(x, sc, th_out, *got, dn, ovp_format._grid(cfg).table, cells, cfg.normal_max)
    fast_ovp_pairs.pair_corrections(x, sc, th_out, *got_t, dn, ovp_format._grid(cfg).table, cells,
                                    cfg.normal_max)
    ovp_search._pair_corrections_numpy(x, sc, th_out, *want, cfg, cells)
    assert all(np.array_equal(a.view(np.int64), b.view(np.int64)) for a, b in zip(got_t, got))
    return got, want


def _cases(mode):
    cfg = ovp_format.get_config(mode)
    rng = np.random.default_rng(7)
    heavy = rng.standard_normal((24, 96)).astype(np.float32)
    mask = rng.random(heavy.shape) < 0.08
    heavy[mask] *= rng.uniform(4, 40, size=mask.sum()).astype(np.float32)
    zeros = np.vstack([np.zeros((2, 64), np.float32), heavy[:3, :64]])
    a, w = realdata.real_gemm("minilm:L0.ffn2", dtype=np.float32)
    cases = [("heavy", heavy, _scales(heavy, cfg)), ("zeros", zeros, _scales(zeros, cfg)),
             ("minilm weights", np.ascontiguousarray(w.T[:64]), _scales(np.ascontiguousarray(w.T[:64]), cfg))]
    flat = np.ascontiguousarray(a[:64]).reshape(1, -1)           # the per-tensor search: one row
    cases.append(("minilm acts per tensor", flat, _scales(np.ascontiguousarray(a[:64]), cfg, True)))
    # elements on the outlier border t_out and on the midpoints / levels (ties) at a scale that is
    # not a power of two; +-max magnitudes the search takes (|t| < 2**30, scales up to 2**100)
    dn = ovp_search._dense(cfg)
    cells = ovp_search._Cells(cfg)
    s = rng.uniform(0.01, 3.0, (16, 1)).astype(np.float32)       # one per row
    pts = np.concatenate([cells.mids, -cells.mids, cells.levels, [dn.t_out, -dn.t_out, 0.0, -0.0]])
    ties = (rng.choice(pts.astype(np.float32), (16, 128)) * s).astype(np.float32)
    ties[:, ::7] = np.float32(dn.t_out) * s
    cases.append(("ties", ties, np.vstack([s.T, s.T * np.float32(2), s.T * np.float32(0.75)])))
    huge = np.float32(2.0 ** 50) * (rng.standard_normal((4, 64)) * 30).astype(np.float32)
    huge[0, :2] = np.float32(2.0 ** 50) * np.float32(2.0 ** 29)
    cases.append(("max magnitudes", huge, np.full((3, 4), np.float32(2.0 ** 50))))
    return cases


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", range(6))
def test_pair_corrections_equal_numpy(mode, case):
    name, x, sc = _cases(mode)[case]
    with np.errstate(over="ignore"):
        (est, bnd), (want_est, want_bnd) = _both(x, sc, mode)
    assert np.array_equal(est.view(np.int64), want_est.view(np.int64)), name
    assert np.array_equal(bnd.view(np.int64), want_bnd.view(np.int64)), name
    if name in ("heavy", "ties", "minilm acts per tensor"):
        start = np.random.default_rng(x.shape[0] * sc.shape[0]).random((x.shape[0], sc.shape[0]))
        assert not np.array_equal(est, start), name                    # corrections were made


def test_pair_corrections_see_the_pair_rule():
    """Without the pair rule (a normal maximum no value exceeds: no outliers, no victims) the
    corrections differ: the kernel's victims matter on these rows."""
    _, x, sc = _cases("int4")[0]
    cfg = ovp_format.get_config("int4")
    (est, _), _ = _both(x, sc, "int4")
    dn = ovp_search._dense(cfg)
    th_out, _ = division_thresholds(dn.t_out, sc.min(axis=0))
    rng = np.random.default_rng(x.shape[0] * sc.shape[0])
    e2, b2 = rng.random((x.shape[0], sc.shape[0])), rng.random((x.shape[0], sc.shape[0])) + 1
    fast_ovp_pairs.pair_corrections(x, sc, th_out, e2, b2, dn, ovp_format._grid(cfg).table,
                                    ovp_search._Cells(cfg), np.float32(1e30))
    assert not np.array_equal(e2, est)


@pytest.mark.slow          # loads and dequantises the whole GGUF (~10 s CPU)
@pytest.mark.parametrize("mode", MODES)
def test_pair_corrections_on_smollm2_weights(mode):
    smollm2 = pytest.importorskip("models.smollm2")
    require(smollm2.load_smollm2, smollm2.MissingModelError, "SmolLM2 model")
    x = np.ascontiguousarray(smollm2.load_smollm2().linears["blk.17.ffn_down"].T[:96], dtype=np.float32)
    cfg = ovp_format.get_config(mode)
    (est, bnd), (want_est, want_bnd) = _both(x, _scales(x, cfg), mode)
    assert np.array_equal(est, want_est) and np.array_equal(bnd, want_bnd)


# ---------------------------------------------------------------------------------------------
# the quantiser's element codes in one pass


def _code_cases():
    """(name, x) rows: heavy-tailed, zeros, +-max float32 magnitudes the grid clamps, values on
    the union grid's midpoints and the normal / outlier border at alpha 1 (ties), real MiniLM
    weights and activations."""
    rng = np.random.default_rng(11)
    heavy = rng.standard_normal((24, 96)).astype(np.float32)
    mask = rng.random(heavy.shape) < 0.08
    heavy[mask] *= rng.uniform(4, 40, size=mask.sum()).astype(np.float32)
    extremes = heavy[:4].copy()
    extremes[0, :8] = [np.finfo(np.float32).max, -np.finfo(np.float32).max, 0.0, -0.0,
                       np.finfo(np.float32).tiny, -np.finfo(np.float32).tiny, 1e-45, -1e-45]
    a, w = realdata.real_gemm("minilm:L0.ffn2", dtype=np.float32)
    return [("heavy", heavy), ("zeros", np.zeros((3, 64), np.float32)), ("extremes", extremes),
            ("minilm weights", np.ascontiguousarray(w.T[:96])), ("minilm acts", np.ascontiguousarray(a[:48]))]


def _ties(mode):
    """Values whose ``x / s`` is exactly a midpoint of the union grid (or on the border), s = 1."""
    cfg = ovp_format.get_config(mode)
    g = ovp_format._grid(cfg)
    pts = np.concatenate([g.mids, g.values, [ovp_search._dense(cfg).t_out]]).astype(np.float32)
    pts = np.concatenate([pts, -pts])
    return np.random.default_rng(3).choice(pts, (16, 64)).astype(np.float32)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("per_channel", [True, False])
def test_element_codes_equal_quantiser(mode, per_channel):
    from models.quant import ovp
    cases = _code_cases() + [("ties", _ties(mode))]
    for name, x in cases:
        alphas = [None] + ([np.float32(ovp_format.get_config(mode).normal_max)] if name == "ties" else [])
        for alpha in alphas:
            if name == "extremes" and alpha is None:
                alpha = np.float32(3.0)                      # the search needs a finite sigma
            with np.errstate(over="ignore"):
                codes, a, scale = ovp.quantize_ovp_element_codes(x, mode, alpha, per_channel)
                qt = ovp.quantize_ovp(x, mode, alpha, per_channel)
            assert np.array_equal(codes, ovp_format.element_codes_numpy(qt)), name
            assert np.array_equal(a, qt.meta["alpha"]) and np.array_equal(scale, qt.scale), name
            if name == "heavy" or name == "ties" and alpha is not None:
                assert np.any(codes == ovp_format.get_config(mode).victim_code), name   # pairs exercised


@pytest.mark.parametrize("mode", MODES)
def test_quantisers_meta_unchanged(mode):
    """quantize_ovp_acts / _weights (the lean pass) give the codes and meta of the full path."""
    from models import ovp_gemm
    _, x = _code_cases()[0]
    for per_channel, lean in ((False, ovp_gemm.quantize_ovp_acts), (True, ovp_gemm.quantize_ovp_weights)):
        arg = x.T if per_channel else x
        codes, meta = lean(arg, mode=mode)
        full, _, qt = ovp_gemm.quantize_ovp_codes(x, mode, per_channel=per_channel, need_values=False)
        want = ovp_gemm._meta(qt.scale, qt.meta["alpha"], full, mode, meta["granularity"])
        assert np.array_equal(codes.T if per_channel else codes, full) and meta == want
        assert meta["pairs"] == ovp_gemm.pair_words(full, mode).size          # counted, not made
    odd = np.zeros((3, 7), np.int64)
    assert ovp_gemm._meta(np.ones(1), np.ones(1), odd, mode, "tensor")["pairs"] == ovp_gemm.pair_words(odd, mode).size


# ---------------------------------------------------------------------------------------------
# the dense search's overrides


def _row_case(mode, case):
    """``_cases(mode)[case]`` as rows of the per-row search (the per-tensor row cut into rows of
    64 at its own scales): (name, x, sc, cfg, the grid's _Dense rule)."""
    name, x, sc = _cases(mode)[case]
    if x.shape[0] == 1:                                   # the per-tensor row: the weights' rows
        x, sc = x.reshape(-1, 64), None
    cfg = ovp_format.get_config(mode)
    sc = _scales(x, cfg) if sc is None else sc
    return name, x, sc, cfg, ovp_search._dense(cfg)


@pytest.mark.parametrize("mode", ["int4", "int8"])
@pytest.mark.parametrize("case", range(6))
def test_dense_overrides_equal_numpy(mode, case):
    """The pairs leaving the dense range, as _search_rows_fast finds them, and their terms."""
    name, x, sc, cfg, dn = _row_case(mode, case)
    xf = np.ascontiguousarray(x).reshape(-1)
    k = x.shape[1]
    rows = np.repeat(np.arange(x.shape[0]), k // 2)
    with np.errstate(over="ignore"):
        big = np.abs(x) / sc.min(axis=0)[:, None] >= dn.t_lim
        pl = 2 * np.flatnonzero(big[:, 0::2] | big[:, 1::2])
        got = fast_ovp_pairs.dense_overrides(xf, pl, rows[pl // 2], sc, dn.t_lim, ovp_format._grid(cfg).table,
                                             cfg.normal_max)
        want = ovp_search._dense_overrides_numpy(xf, pl, rows[pl // 2], sc, cfg)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[2], want[2]), name
    assert np.array_equal(got[1].view(np.int32), want[1].view(np.int32)), name
    if name in ("heavy", "ties"):
        assert got[2][-1] > 0, name                                         # overrides made


@pytest.mark.parametrize("mode", ["int4", "int8", "flint4"])
def test_dense_search_on_real_rows_equals_reference(mode):
    """_search_rows_fast (compiled overrides, per-row operands, the lanes' combination) against
    the reference's float32 SSE, bit for bit, on MiniLM weight rows and heavy rows."""
    cfg = ovp_format.get_config(mode)
    _, w = realdata.real_gemm("minilm:L0.ffn2", dtype=np.float32)
    for x in (np.ascontiguousarray(w.T[:80]), _cases(mode)[0][1]):
        sc = _scales(x, cfg)
        got = ovp_search._search_rows_fast(x, sc, cfg)
        want = np.stack([ovp_search._sq_error_rows(x, s[:, None], cfg) for s in sc])
        assert np.array_equal(got.view(np.int32), want.view(np.int32))


@pytest.mark.parametrize("mode", ["int4", "int8"])
@pytest.mark.parametrize("case", range(6))
@pytest.mark.parametrize("step", [1, 3, 1000])
def test_dense_rows_equal_reference(mode, case, step):
    """The whole dense search in one compiled call (fast_ovp_pairs.dense_rows) against
    _search_rows_fast block by block and the reference's float32 SSE, bit for bit; with a ragged
    tail (K % 32) and with a block whose scales leave the fast path's range (ok False there, as
    _search_rows_fast's None)."""
    name, x, sc, cfg, dn = _row_case(mode, case)
    table = ovp_format._grid(cfg).table
    lim = (ovp_search._TINY_SCALE, ovp_search._HUGE_SCALE, ovp_search._MAX_T)
    tail = np.ascontiguousarray(x[:, :x.shape[1] - 30]) if x.shape[1] > 64 else x   # K % 32 == 2
    for rows, broken in ((np.ascontiguousarray(x), False), (tail, False), (tail, True)):
        scr = sc.copy()
        if broken:
            scr[-1, -1] = np.float32(2.0 ** -101)          # the last row's block leaves the range
        with np.errstate(over="ignore"):
            got, ok = fast_ovp_pairs.dense_rows(rows, scr, step, dn, table, cfg.normal_max, *lim)
            for b in range(ok.size):
                sl = slice(b * step, (b + 1) * step)
                ref = ovp_search._search_rows_fast(rows[sl], scr[:, sl], cfg)
                assert ok[b] == (ref is not None), name
                if ref is not None:
                    assert np.array_equal(got[:, sl].view(np.int32), ref.view(np.int32)), name
            whole = ovp_search._exact_sse(rows, scr, cfg, step)
            want = np.stack([ovp_search._sq_error_rows(rows, s[:, None], cfg) for s in scr])
        assert np.array_equal(whole.view(np.int32), want.view(np.int32)), name
        assert ok[-1] != broken and (ok.size == 1 or ok[0]), name   # both paths taken
