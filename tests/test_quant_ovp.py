"""OliVe OVP: pair rule, grids and ties, byte encoding, exponent-integer MAC == integer GEMM."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from models.quant import ovp

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
    c = ovp.CONFIGS
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
    g = ovp._grid(ovp.CONFIGS["int4"])
    assert float(g.nearest(np.array([t], np.float32))[0]) == expect
    assert float(g.nearest_search(np.array([t]))[0]) == expect


@settings(max_examples=40, deadline=None)
@given(t=hnp.arrays(np.float32, 64, elements=st.floats(-500, 500, width=32)), mode=st.sampled_from(MODES))
def test_lattice_table_equals_search(t, mode):
    g = ovp._grid(ovp.CONFIGS[mode])
    lattice = np.round(t * 8) / 8  # also hit lattice points / midpoints exactly
    for v in (t, lattice.astype(np.float32)):
        assert np.array_equal(g.nearest(v), g.nearest_search(v).astype(np.float32))


@settings(max_examples=30, deadline=None)
@given(seed=seeds, mode=st.sampled_from(MODES), rows=st.integers(1, 5), kh=st.integers(1, 16))
def test_pair_rule_and_code_ranges(seed, mode, rows, kh):
    x = _heavy(rows, 2 * kh, seed)
    qt = ovp.quantize_ovp(x, mode)
    cfg = ovp.CONFIGS[mode]
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
    cfg = ovp.CONFIGS[mode]
    words = ovp.encode_pairs(qt)
    assert words.shape == (3, kh)
    assert words.dtype == (np.uint8 if cfg.bits == 4 else np.uint16)  # one byte per 4-bit pair
    nb = cfg.bits
    lo, hi = words.astype(int) & ((1 << nb) - 1), words.astype(int) >> nb
    vic = qt.meta["victim"]
    assert np.array_equal(lo == cfg.victim_code, vic[:, 0::2])  # victim nibble holds 1000
    assert np.array_equal(hi == cfg.victim_code, vic[:, 1::2])
    e, i = ovp.decode_pairs(words, mode)
    assert np.array_equal(i << e, qt.codes.astype(np.int64))
    assert np.all(e[~qt.meta["outlier"]] == 0)
    assert np.all(e[qt.meta["outlier"]] >= cfg.bias)
    mag = np.abs(i[qt.meta["outlier"]])
    assert np.all((mag >= 2 ** cfg.mant_bits) & (mag < 2 ** (cfg.mant_bits + 1)))


def test_decoder_on_handmade_bytes():
    # low nibble = left element
    words = np.array([[0x87, 0x9F, 0x08, 0x1E]], np.uint8)
    e, i = ovp.decode_pairs(words, "int4")
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
    ea, ia = ovp.decode_pairs(ovp.encode_pairs(a), mode)
    ew, iw = ovp.decode_pairs(ovp.encode_pairs(w), mode)
    y = ovp.ovp_gemm(ea, ia, ew, iw)
    ref = a.codes.astype(np.int64) @ w.codes.astype(np.int64).T
    assert np.array_equal(y, ref)
    # the dequantised product follows from the integer one
    np.testing.assert_allclose(y * a.scale * w.scale.T, a.dequantize() @ w.dequantize().T, rtol=1e-9, atol=1e-9)


def test_ovp_mac_identity():
    e, p = ovp.ovp_mac(np.array([2, 0]), np.array([3, -7]), np.array([4, 0]), np.array([-2, 5]))
    assert e.tolist() == [6, 0] and p.tolist() == [-6, -35]
    assert ((3 << 2) * (-2 << 4)) == (-6 << 6)


def test_per_tensor_search_shape():
    x = _heavy(4, 32, 7)
    alpha, best = ovp.search_alpha(x, "int4", per_channel=False)
    assert alpha.shape == (1, 1) and best.shape == (1,)
    xmax = ovp.x_max_3sigma(x, per_channel=False)[0, 0]
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
