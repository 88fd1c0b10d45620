"""OliVe OVP: pair rule, grids and ties, byte encoding, exponent-integer MAC == integer GEMM."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from models import realdata
from models.quant import ovp, ovp_format, ovp_search

MODES = ["int4", "flint4", "int8"]


def _heavy(rows, k, seed):
    """Gaussian with a few large outliers, so every code path (outliers, victims, pairs) is hit."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, k)).astype(np.float32)
    mask = rng.random((rows, k)) < 0.08
    x[mask] *= rng.uniform(4, 40, size=mask.sum()).astype(np.float32)
    return x


seeds = st.integers(0, 2 ** 32 - 1)


def test_grids_in_integer_units():
    c = ovp_format.CONFIGS
    assert c["int4"].bias == 2 and c["flint4"].bias == 3 and c["int8"].bias == 2
    pos = lambda cfg: sorted(v * cfg.unit for v in cfg.outlier_grid if v > 0)
    assert pos(c["int4"]) == [12, 16, 24, 32, 48, 64, 96]
    assert pos(c["flint4"]) == [24, 32, 48, 64, 96, 128, 192]
    o8 = pos(c["int8"])  # E2M5: (32 + m) << (e + 2), (e, m) = (0, 0) excluded
    assert o8[:3] == [132, 136, 140] and o8[-1] == 63 * 32 and len(o8) == 4 * 32 - 1
    assert max(c["int4"].normal_grid) == 28 and max(c["flint4"].normal_grid) == 32
    assert sorted(v * c["flint4"].unit for v in c["flint4"].normal_grid if v >= 0) == [0, 1, 2, 3, 4, 6, 8, 16]


@pytest.mark.parametrize("t,expect", [
    (38.0, 48.0), (-38.0, -48.0),  # normal/outlier border: the outlier (later in the list) wins
    (6.0, 8.0), (-6.0, -4.0),  # inside the normal grid: the larger value
    (56.0, 64.0), (-56.0, -48.0),  # inside the outlier grid: the larger value
    (37.99, 28.0), (-37.99, -28.0), (1e6, 384.0), (-1e6, -384.0), (2.0, 4.0), (-2.0, 0.0),
])
def test_int4_nearest_and_ties(t, expect):
    g = ovp_format._grid(ovp_format.CONFIGS["int4"])
    assert float(g.nearest(np.array([t], np.float32))[0]) == expect
    assert float(g.nearest_search(np.array([t]))[0]) == expect


@settings(max_examples=40, deadline=None)
@given(t=hnp.arrays(np.float32, 64, elements=st.floats(-500, 500, width=32)), mode=st.sampled_from(MODES))
def test_lattice_table_equals_search(t, mode):
    g = ovp_format._grid(ovp_format.CONFIGS[mode])
    lattice = np.round(t * 8) / 8  # also hit lattice points / midpoints exactly
    for v in (t, lattice.astype(np.float32)):
        assert np.array_equal(g.nearest(v), g.nearest_search(v).astype(np.float32))


@settings(max_examples=30, deadline=None)
@given(seed=seeds, mode=st.sampled_from(MODES), rows=st.integers(1, 5), kh=st.integers(1, 16))
def test_pair_rule_and_code_ranges(seed, mode, rows, kh):
    x = _heavy(rows, 2 * kh, seed)
    qt = ovp.quantize_ovp(x, mode)
    cfg = ovp_format.CONFIGS[mode]
    out, vic = qt.meta["outlier"], qt.meta["victim"]
    pairs_out = out.reshape(rows, kh, 2).sum(-1)
    assert pairs_out.max(initial=0) <= 1  # at most one outlier per pair
    assert np.all(qt.codes[vic] == 0)
    # each victim's partner is the outlier
    partner = np.empty_like(vic)
    partner[:, 0::2], partner[:, 1::2] = out[:, 1::2], out[:, 0::2]
    assert np.array_equal(vic, partner)
    normal_int = {round(v * cfg.unit) for v in cfg.normal_grid}
    outl_int = {round(v * cfg.unit) for v in cfg.outlier_grid}
    vals = qt.codes.astype(int)
    assert set(vals[out].tolist()) <= outl_int
    assert set(vals[~out].tolist()) <= normal_int


def test_two_outliers_keep_left():
    # alpha 28 -> scale 1 (int4 normalised units); pair (100, 200): both outliers -> left kept
    x = np.array([[100.0, 200.0, -1.0, -300.0, 300.0, 2.0, 4.0, 8.0]], np.float32)
    qt = ovp.quantize_ovp(x, "int4", alpha=28.0)
    v = qt.codes[0] * 4  # back to normalised units
    # 100 -> 96, 200 -> 192 (both outliers: left kept); -1 -> 0, -300 -> -256 (left victim);
    # 300 -> 256, 2 -> 4 (tie up) but it is the victim; 4, 8 normals
    assert v.tolist() == [96, 0, 0, -256, 256, 0, 4, 8]
    assert qt.meta["victim"][0].tolist() == [False, True, True, False, False, True, False, False]


@settings(max_examples=30, deadline=None)
@given(seed=seeds, mode=st.sampled_from(MODES), kh=st.integers(1, 12))
def test_encode_decode_round_trip(seed, mode, kh):
    x = _heavy(3, 2 * kh, seed)
    qt = ovp.quantize_ovp(x, mode)
    cfg = ovp_format.CONFIGS[mode]
    words = ovp_format.encode_pairs(qt)
    assert words.shape == (3, kh)
    assert words.dtype == (np.uint8 if cfg.bits == 4 else np.uint16)  # one byte per 4-bit pair
    nb = cfg.bits
    lo, hi = words.astype(int) & ((1 << nb) - 1), words.astype(int) >> nb
    vic = qt.meta["victim"]
    assert np.array_equal(lo == cfg.victim_code, vic[:, 0::2])  # victim nibble holds 1000
    assert np.array_equal(hi == cfg.victim_code, vic[:, 1::2])
    e, i = ovp_format.decode_pairs(words, mode)
    assert np.array_equal(i << e, qt.codes.astype(np.int64))
    assert np.all(e[~qt.meta["outlier"]] == 0)
    assert np.all(e[qt.meta["outlier"]] >= cfg.bias)
    mag = np.abs(i[qt.meta["outlier"]])
    assert np.all((mag >= 2 ** cfg.mant_bits) & (mag < 2 ** (cfg.mant_bits + 1)))


def test_decoder_on_handmade_bytes():
    # low nibble = left element
    words = np.array([[0x87, 0x9F, 0x08, 0x1E]], np.uint8)
    e, i = ovp_format.decode_pairs(words, "int4")
    # 0x87: right nibble 1000 = victim <0, 0>, so the left 0111 is abfloat s=0 e=11 m=1 -> <3+2, 3>
    # 0x9F: left 1111 normal -1, right 1001 normal -7
    # 0x08: left 1000 victim, right 0000 outlier s=0 e=00 m=0 (never produced, decodes to <2, 2>)
    # 0x1E: left 1110 = -2, right 0001 = +1
    assert e.tolist() == [[5, 0, 0, 0, 0, 2, 0, 0]]
    assert i.tolist() == [[3, 0, -1, -7, 0, 2, -2, 1]]


@settings(max_examples=25, deadline=None)
@given(seed=seeds, mode=st.sampled_from(MODES), m=st.integers(1, 6), n=st.integers(1, 6), kh=st.integers(1, 20))
def test_exponent_integer_gemm_equals_integer_gemm(seed, mode, m, n, kh):
    a = ovp.quantize_ovp(_heavy(m, 2 * kh, seed), mode, per_channel=False)  # activations: per tensor
    w = ovp.quantize_ovp(_heavy(n, 2 * kh, seed + 1), mode)  # weights: per output channel
    ea, ia = ovp_format.decode_pairs(ovp_format.encode_pairs(a), mode)
    ew, iw = ovp_format.decode_pairs(ovp_format.encode_pairs(w), mode)
    y = ovp_format.ovp_gemm(ea, ia, ew, iw)
    ref = a.codes.astype(np.int64) @ w.codes.astype(np.int64).T
    assert np.array_equal(y, ref)
    # the dequantised product follows from the integer one
    np.testing.assert_allclose(y * a.scale * w.scale.T, a.dequantize() @ w.dequantize().T, rtol=1e-9, atol=1e-9)


def test_ovp_mac_identity():
    e, p = ovp_format.ovp_mac(np.array([2, 0]), np.array([3, -7]), np.array([4, 0]), np.array([-2, 5]))
    assert e.tolist() == [6, 0] and p.tolist() == [-6, -35]
    assert ((3 << 2) * (-2 << 4)) == (-6 << 6)


def test_per_tensor_search_shape():
    x = _heavy(4, 32, 7)
    alpha, best = ovp_search.search_alpha(x, "int4", per_channel=False)
    assert alpha.shape == (1, 1) and best.shape == (1,)
    xmax = ovp_search.x_max_3sigma(x, per_channel=False)[0, 0]
    assert 0.75 * xmax * (1 - 1e-6) <= alpha[0, 0] <= 1.49 * xmax * (1 + 1e-6)


@pytest.mark.parametrize("x,match", [
    (np.ones((2, 7), np.float32), "even last axis"),
    (np.array([[1.0, np.nan]]), "NaN"),
    (np.array([[np.inf, 1.0]]), "inf"),
    (np.ones(8), "2-D"),
])
def test_bad_input(x, match):
    with pytest.raises(ValueError, match=match):
        ovp.quantize_ovp(x, "int4")


def test_bad_mode_and_alpha():
    with pytest.raises(ValueError, match="unsupported OVP mode"):
        ovp.quantize_ovp(np.ones((2, 4)), "int3")
    with pytest.raises(ValueError, match="alpha"):
        ovp.quantize_ovp(np.ones((2, 4)), "int4", alpha=-1.0)


# ---------------------------------------------------------------------------------------------
# Fast paths == reference arithmetic (bit for bit)
# ---------------------------------------------------------------------------------------------
def _reference_search(x, mode):
    """The per-row alpha search done the plain way: every candidate's reference float32 SSE
    (``_sq_error_rows``), MSE ``fl(SSE / K)``, first minimum."""
    cfg = ovp_format.CONFIGS[mode]
    x32 = np.asarray(x, dtype=np.float32)
    xmax = ovp_search.x_max_3sigma(x32)
    xmax = np.where(xmax > 0, xmax, np.float32(1.0))
    ratios = np.asarray([np.float32(i * 0.01) for i in ovp_search.ALPHA_RATIOS], dtype=np.float32)
    sse = np.stack([ovp_search._sq_error_rows(x32, (xmax * r) / np.float32(cfg.normal_max), cfg) for r in ratios])
    mse = sse.astype(np.float32) / np.float32(x32.shape[1])
    best = np.argmin(mse, axis=0)
    alpha = (xmax[:, 0] * ratios[best]).astype(np.float32).reshape(-1, 1)
    return alpha, mse[best, np.arange(x32.shape[0])].astype(np.float64)


def _search_inputs(seed):
    rng = np.random.default_rng(seed)
    yield (rng.standard_normal((12, 256)) * 0.05).astype(np.float32)  # Gaussian weights
    yield _heavy(9, 320, seed)  # outliers and victims
    yield _heavy(5, 94, seed + 1)  # K % 32 != 0
    x = np.round(rng.standard_normal((8, 128)) * 8).astype(np.float32) / 4  # values on lattice points
    x[0] = 0.0  # all-zero row: every candidate ties (SSE 0): the first one wins
    x[1] = 1.0  # constant row
    x[2, ::2] = 0.0
    yield x
    yield (rng.standard_normal((6, 64)) * 10.0 ** rng.uniform(-3, 3, (6, 1))).astype(np.float32)
    yield rng.integers(-3, 4, size=(16, 96)).astype(np.float32)  # few distinct values: near-ties


@pytest.fixture(params=["default", "certify-all"])
def cert_min_k(request, monkeypatch):
    """Run with the default row-length switch, and with the certified argmin for every K."""
    if request.param == "certify-all":
        monkeypatch.setattr(ovp_search, "_CERT_MIN_K", {"uniform": 0, "table": 0})
    return request.param


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=seeds, mode=st.sampled_from(MODES))
def test_search_alpha_equals_reference_search(cert_min_k, seed, mode):
    for x in _search_inputs(seed):
        alpha, best = ovp_search.search_alpha(x, mode)
        ref_alpha, ref_best = _reference_search(x, mode)
        assert np.array_equal(alpha, ref_alpha) and alpha.dtype == ref_alpha.dtype
        assert np.array_equal(best, ref_best)


@pytest.mark.parametrize("mode", MODES)
def test_search_alpha_equals_reference_search_gaussian_block(cert_min_k, mode):
    # enough rows for the certified per-row argmin (int4 / flint4) and the dense search (int8)
    x = (np.random.default_rng(11).standard_normal((96, 512)) * 0.05).astype(np.float32)
    alpha, best = ovp_search.search_alpha(x, mode)
    ref_alpha, ref_best = _reference_search(x, mode)
    assert np.array_equal(alpha, ref_alpha) and np.array_equal(best, ref_best)


@pytest.mark.parametrize("mode", ["int4", "flint4"])
def test_search_alpha_on_minilm_equals_reference_search(cert_min_k, mode):
    """Real rows: MiniLM's weight channels (K = 384) and an activation tensor's rows, through the
    certified argmin (flint4 at every K; int4 with certify-all) and the dense search."""
    a, w = realdata.real_gemm("minilm:L0.ffn2", dtype=np.float32)
    for x in (np.ascontiguousarray(w.T[:160]), np.ascontiguousarray(a[:48])):
        alpha, best = ovp_search.search_alpha(x, mode)
        ref_alpha, ref_best = _reference_search(x, mode)
        assert np.array_equal(alpha, ref_alpha) and np.array_equal(best, ref_best)


def test_search_alpha_long_rows_equals_reference_search():
    # rows long enough for the certified argmin by default, K % 32 != 0 for the dense tail
    rng = np.random.default_rng(12)
    assert max(ovp_search._CERT_MIN_K.values()) <= 4096
    for x in ((rng.standard_normal((6, 4096)) * 0.05).astype(np.float32), _heavy(4, 4114, 13)):
        for mode in MODES:
            alpha, best = ovp_search.search_alpha(x, mode)
            ref_alpha, ref_best = _reference_search(x, mode)
            assert np.array_equal(alpha, ref_alpha) and np.array_equal(best, ref_best)


@pytest.mark.parametrize("mode", MODES)
def test_dense_search_equals_sq_error_rows(mode):
    cfg = ovp_format.CONFIGS[mode]
    rng = np.random.default_rng(5)
    for x in (_heavy(7, 256, 3), (rng.standard_normal((9, 128)) * 0.1).astype(np.float32),
              np.round(rng.standard_normal((4, 64)) * 40).astype(np.float32) / 8):
        xmax = ovp_search.x_max_3sigma(x)
        nm = np.float32(cfg.normal_max)
        sc = np.stack([(xmax[:, 0] * np.float32(r)) / nm for r in (0.13, 0.75, 1.0, 1.49, 3.0)])
        got = ovp_search._search_rows_fast(x, sc, cfg)
        ref = np.stack([ovp_search._sq_error_rows(x, s[:, None], cfg) for s in sc])
        assert np.array_equal(got, ref)


@settings(max_examples=30, deadline=None)
@given(s=st.floats(2.0 ** -60, 2.0 ** 60, width=32), mode=st.sampled_from(MODES))
def test_thresholds_are_exact(s, mode):
    s = np.float32(s)
    cells = ovp_search._Cells(ovp_format.CONFIGS[mode])
    m = np.concatenate([cells.mids, np.float32([ovp_search._dense(ovp_format.CONFIGS[mode]).t_out])])
    theta, valid = ovp_search._thresholds(m, s)
    assert np.all(valid)
    below = np.nextafter(theta, np.float32(-np.inf))
    assert np.all(theta / s >= m) and not np.any(below / s >= m)


@settings(max_examples=40, deadline=None)
@given(t=hnp.arrays(np.float32, 64, elements=st.floats(-600, 600, width=32)), mode=st.sampled_from(MODES))
def test_nearest_union_equals_grid(t, mode):
    cfg = ovp_format.CONFIGS[mode]
    g = ovp_format._grid(cfg)
    edges = np.float32([0.0, -0.0, 38.0, -38.0, 40.0, -40.0, 32.375, -32.375])
    for v in (t, (np.round(t * 8) / 8).astype(np.float32), edges):
        v = v.reshape(2, -1) if v.size % 2 == 0 else v.reshape(1, -1)
        got = ovp._nearest_union(v.copy(), cfg)
        assert np.array_equal(got, g.nearest(v))  # equal values (a zero may differ in sign only)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, mode=st.sampled_from(MODES), per_channel=st.booleans())
def test_quantize_given_alpha_equals_reference_arithmetic(seed, mode, per_channel):
    cfg = ovp_format.CONFIGS[mode]
    x = _heavy(5, 2 * (1 + seed % 40), seed)
    xm = ovp_search.x_max_3sigma(x, per_channel)
    alpha = xm * np.float32(0.9)
    qt = ovp.quantize_ovp(x, mode, alpha=alpha, per_channel=per_channel)
    a = alpha.reshape(-1, 1) if per_channel else alpha.reshape(1, 1)
    out, q32, is_out, vict, _ = ovp_format._fake_quant_f32(x, a, cfg)
    assert np.array_equal(qt.meta["fake_quant"].view(np.uint32), out.view(np.uint32))  # bits, incl. -0.0
    assert np.array_equal(qt.codes, np.rint(q32.astype(np.float64) * cfg.unit).astype(np.int16))
    assert np.array_equal(qt.meta["outlier"], is_out) and np.array_equal(qt.meta["victim"], vict)


def test_pair_victims_into():
    rng = np.random.default_rng(2)
    for _ in range(50):
        m = rng.random((rng.integers(1, 4), 2 * rng.integers(1, 30))) < rng.random()
        v = np.empty_like(m)
        ovp_format._pair_victims_into(m, v)
        assert np.array_equal(v, ovp_format._pair_victims(m))


@pytest.mark.parametrize("mode", ["int4", "flint4"])
def test_certified_argmin_is_the_reference_argmin(mode):
    cfg = ovp_format.CONFIGS[mode]
    rng = np.random.default_rng(8)
    for x in ((rng.standard_normal((40, 256)) * 0.05).astype(np.float32), _heavy(40, 192, 9),
              (rng.standard_t(3, (40, 128)) * 0.02).astype(np.float32)):
        xmax = ovp_search.x_max_3sigma(x)
        ratios = np.asarray([np.float32(i * 0.01) for i in ovp_search.ALPHA_RATIOS], dtype=np.float32)
        sc = (xmax[:, 0][None, :] * ratios[:, None]) / np.float32(cfg.normal_max)
        cert, best = ovp_search._certify_block(x, sc, cfg, ovp_search._cells(cfg))
        sse = np.stack([ovp_search._sq_error_rows(x, s[:, None], cfg) for s in sc])
        ref = np.argmin(sse.astype(np.float32) / np.float32(x.shape[1]), axis=0)
        assert cert.mean() > 0.8  # the fast path is really taken
        assert np.array_equal(best[cert], ref[cert])


@pytest.mark.parametrize("mode", ["int4", "flint4", "int8"])
def test_memory_layout_does_not_change_the_result(mode):
    """A Fortran-ordered input (e.g. a transposed weight) quantises exactly like its C-ordered
    copy: outliers and victims included (a flat write into a reshaped copy once lost them)."""
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((202, 11)) * 0.05).astype(np.float32)
    mask = rng.random(w.shape) < 0.03
    w[mask] *= rng.uniform(4, 40, size=mask.sum()).astype(np.float32)
    f_order = w.T                              # F-contiguous (11, 202)
    c_order = np.ascontiguousarray(f_order)
    a, b = ovp.quantize_ovp(f_order, mode), ovp.quantize_ovp(c_order, mode)
    assert a.meta["outlier"].sum() > 0
    for key in ("outlier", "victim", "fake_quant", "alpha"):
        assert np.array_equal(a.meta[key], b.meta[key]), key
    assert np.array_equal(a.codes, b.codes)


def _cell_sq_search(x, s, cells):
    """The definition: the level of ``fl(x / s)`` found among the midpoints (ties up, clamped)."""
    q = cells.levels[np.searchsorted(cells.mids, x / s, side="right")]
    return ((q * s).astype(np.float64) - x.astype(np.float64)) ** 2


@pytest.mark.parametrize("mode", MODES)
def test_cell_term_is_the_midpoint_search(mode):
    """The certificate's cell terms (a closed form on the uniform int grids) against the search:
    ties on every midpoint at scales that are not powers of two, one ulp either side, the levels,
    signed zeros, subnormal and overflowing quotients, random values."""
    cfg = ovp_format.CONFIGS[mode]
    cells, dn = ovp_search._Cells(cfg), ovp_search._dense(cfg)
    rng = np.random.default_rng(31)
    s = rng.uniform(0.01, 3.0, 40).astype(np.float32)
    m = np.concatenate([cells.mids, np.nextafter(cells.mids, np.float32(np.inf)),
                        np.nextafter(cells.mids, np.float32(-np.inf)), cells.levels,
                        np.float32([0.0, -0.0, 1e-45, -1e-45, 3e-39, -3e-39, 60.0, -60.0, 1e6, -1e6])])
    x = (m[:, None] * s[None, :]).astype(np.float32)             # fl(m s): mostly fl(x / s) == m
    s2 = np.broadcast_to(s, x.shape)
    tiny = np.float32([1e-45, -1e-45, 1e-40, -1e-40])[:, None] * np.ones((1, 40), np.float32)
    cases = [(x, s2), (tiny, np.full(tiny.shape, np.float32(3.0))),
             (np.float32([3e38, -3e38, 1e30])[:, None] * np.ones((1, 3), np.float32),
              np.full((3, 3), np.float32(2.0 ** -100))),
             ((rng.standard_normal((50, 40)) * 20).astype(np.float32), s2[:50])]
    assert np.mean(np.isin(x / s2, cells.mids)) > 0.2                     # ties are there
    for xc, sc in cases:
        with np.errstate(over="ignore"):
            got = ovp_search._cell_sq(xc, sc, cells, dn)
            want = _cell_sq_search(xc, sc, cells)
        assert np.array_equal(got, want)
    # ties going down instead would be seen
    with np.errstate(over="ignore"):
        down = cells.levels[np.searchsorted(cells.mids, x / s2, side="left")]
        assert not np.array_equal(((down * s2).astype(np.float64) - x.astype(np.float64)) ** 2,
                                  ovp_search._cell_sq(x, s2, cells, dn))
