"""BitMoD: levels, tie rule, type selection, INT8 scale option, Booth digits and FP term decomposition."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from models.quant import bitmod
from models.quant.common import relative_error
from models.quant.common import round_f16


def test_levels_match_spec_units():
    spec = lambda t: sorted(set(bitmod.fp_levels_spec_units(t).tolist()))
    assert spec("fp4") == [-6, -4, -3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 3, 4, 6]
    assert set(spec("fp4_er_pos")) - set(spec("fp4")) == {5.0}
    assert set(spec("fp4_er_neg")) - set(spec("fp4")) == {-5.0}
    assert set(spec("fp4_ea_pos")) - set(spec("fp4")) == {8.0}
    assert set(spec("fp4_ea_neg")) - set(spec("fp4")) == {-8.0}
    assert spec("fp3") == [-4, -2, -1, 0, 1, 2, 4]
    assert {t: (set(spec(t)) - set(spec("fp3"))).pop() for t in bitmod.MIXED["mixed3"]} == {
        "fp3_er_pos": 3.0, "fp3_er_neg": -3.0, "fp3_ea_pos": 6.0, "fp3_ea_neg": -6.0}
    for t in bitmod.MIXED["mixed4"]:
        assert len(bitmod.LEVELS[t]) == 16  # -0 code replaced by one special value
    for t in bitmod.MIXED["mixed3"]:
        assert len(bitmod.LEVELS[t]) == 8


def test_ties_go_to_the_lower_level():
    # group absmax 12 -> scale 1 in code units (fp4); 5 is the midpoint of 4 and 6, 7 of 6 and 8
    x = np.zeros((1, 128), np.float32)
    x[0, :6] = [12.0, 5.0, 7.0, -5.0, 0.5, -0.5]
    out = bitmod.fake_quant_bitmod(x, "fp4")
    assert out[0, :6].tolist() == [12.0, 4.0, 6.0, -6.0, 0.0, -1.0]


@settings(max_examples=30, deadline=None)
@given(x=hnp.arrays(np.float32, (3, 256), elements=st.floats(-4, 4, width=32)),
       t=st.sampled_from(["int4", "fp4", "flint4", "fp3", "fp6_e2m3", "mixed4", "mixed3"]))
def test_codes_on_grid_and_error_bounded(x, t):
    qt = bitmod.quantize_bitmod(x, t)
    types = bitmod.MIXED.get(t, (t,))
    sel = np.repeat(qt.meta["selector"], 128, axis=1)
    for i, name in enumerate(types):
        assert set(qt.codes[sel == i].tolist()) <= set(int(v) for v in bitmod.LEVELS[name])
    # nearest level: the error is the distance to the closest level of the group's type (float64),
    # up to the fp16 roundings of x, x/s and q*s (a few 2**-11 relative); an SV type's short side
    # (e.g. -12 vs +16) clamps, which this bound includes
    s = qt.expand(qt.scale)
    best = np.full(x.shape, np.inf)
    for i, name in enumerate(types):
        lv = np.asarray(bitmod.LEVELS[name])
        dist = np.min(np.abs(x[..., None] / s[..., None] - lv), axis=-1) * s
        best = np.where(sel == i, dist, best)
    assert np.all(np.abs(qt.dequantize() - x) <= best + np.abs(x) * 4e-3 + 1e-6)
    assert qt.meta["selector"].min() >= 0 and qt.meta["selector"].max() < len(types)


def test_mixed_picks_min_mse_with_earlier_type_on_ties():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 256)).astype(np.float32)
    x[0, :128] = np.abs(x[0, :128])  # a group where the positive SVs can help
    qt = bitmod.quantize_bitmod(x, "mixed4")
    per_type = [bitmod._fp16_group_mse(bitmod.quantize_bitmod(x, t).dequantize().reshape(4, 2, 128).astype(np.float16),
                                       x.reshape(4, 2, 128).astype(np.float16)) for t in bitmod.MIXED["mixed4"]]
    per_type = np.stack(per_type)  # (4 types, rows, groups)
    # the first index of the minimum = strict '<' updates in type order (ties keep the earlier type)
    assert np.array_equal(qt.meta["selector"], np.argmin(per_type, axis=0))
    # an all-zero group: every type has error 0 -> er_pos (index 0)
    z = bitmod.quantize_bitmod(np.zeros((1, 128), np.float32), "mixed4")
    assert z.meta["selector"].tolist() == [[0]]


def test_int8_second_level_scale():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 512)).astype(np.float32) * rng.uniform(0.1, 3, (8, 1)).astype(np.float32)
    qt = bitmod.quantize_bitmod(x, "mixed4", scale_format="int8")
    s = qt.scale
    s2 = qt.meta["second_level_scale"]
    assert s2.shape == (8, 1) and np.all(s.max(axis=1, keepdims=True) <= 255 * s2 * (1 + 1e-12))
    codes = qt.meta["scale_codes"]
    assert codes.dtype == np.uint8 and codes.min() >= 1
    assert np.array_equal(s, codes * s2)  # every group scale is an 8-bit multiple of the row scale
    ref = bitmod.fake_quant_bitmod(x, "mixed4")
    assert relative_error(x, qt.dequantize()) < 1.1 * relative_error(x, ref)
    assert bitmod.bitmod_bits_per_element("mixed4", scale_bits=8) == 4 + 10 / 128


def test_booth_exhaustive_int8_int6():
    for bits in (8, 6):
        v = np.arange(-(1 << (bits - 1)), 1 << (bits - 1))
        d = bitmod.booth_radix4(v, bits)
        assert d.shape == (v.size, bits // 2)
        assert d.min() >= -2 and d.max() <= 2
        assert np.array_equal((d.astype(np.int64) * 4 ** np.arange(bits // 2)).sum(-1), v)
        e, s, n = bitmod.booth_terms(v, bits)
        assert np.array_equal((s.astype(np.int64) << e.astype(np.int64)).sum(-1), v)
        assert n.max() <= bits // 2 and np.array_equal(n, np.count_nonzero(d, axis=-1))
    assert bitmod.booth_radix4(np.array([-128]), 8).tolist() == [[0, 0, 0, -2]]
    assert bitmod.booth_radix4(np.array([127]), 8).tolist() == [[-1, 0, 0, 2]]
    with pytest.raises(ValueError, match="out of INT6 range"):
        bitmod.booth_radix4(np.array([40]), 6)
    with pytest.raises(ValueError, match="unsupported Booth bits"):
        bitmod.booth_radix4(np.array([1]), 4)


@pytest.mark.parametrize("t", sorted(k for k in bitmod.LEVELS if k.startswith(("fp3", "fp4"))))
def test_fp_terms_reconstruct_every_level(t):
    v = bitmod.fp_levels_spec_units(t)
    e, s, n = bitmod.fp_terms(v)
    assert n.max() <= 2
    rec = (s.astype(np.float64) * np.ldexp(1.0, e.astype(np.int64))).sum(-1)
    assert np.array_equal(rec, v)
    assert np.array_equal(n, np.count_nonzero(s, axis=-1))


def test_fp_terms_examples_and_limits():
    e, s, n = bitmod.fp_terms(np.array([1.5, 3.0, 5.0, 6.0, 8.0, -0.5, 0.0]))
    assert n.tolist() == [2, 2, 2, 2, 1, 1, 0]
    assert e[:5].tolist() == [[0, -1], [1, 0], [2, 0], [2, 1], [3, 0]]
    assert s[5].tolist() == [-1, 0]
    with pytest.raises(ValueError, match="more than two"):
        bitmod.fp_terms(np.array([7.0]))
    with pytest.raises(ValueError, match="multiples of 0.5"):
        bitmod.fp_terms(np.array([0.25]))


def test_bad_input():
    with pytest.raises(ValueError, match="does not divide K"):
        bitmod.quantize_bitmod(np.ones((2, 100)), "fp4", 128)
    with pytest.raises(ValueError, match="NaN"):
        bitmod.quantize_bitmod(np.full((1, 128), np.nan), "fp4")
    with pytest.raises(ValueError, match="unsupported BitMoD dtype"):
        bitmod.quantize_bitmod(np.ones((1, 128)), "fp5")
    with pytest.raises(ValueError, match="scale_format"):
        bitmod.quantize_bitmod(np.ones((1, 128)), "fp4", scale_format="fp8")


# ---------------------------------------------------------------------------------------------
# Fast paths == reference arithmetic (bit for bit)
# ---------------------------------------------------------------------------------------------
def test_rf16_equals_round_f16():
    rng = np.random.default_rng(0)
    f16 = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    f16 = f16[np.isfinite(f16)].astype(np.float32)
    with np.errstate(over="ignore"):
        half = np.spacing(np.abs(f16).astype(np.float16)).astype(np.float32) / 2
    half = np.where(np.isfinite(half), half, np.float32(16.0))
    cases = [f16, f16 + half, f16 - half, np.nextafter(f16 + half, np.float32(np.inf)),
             np.nextafter(f16 - half, np.float32(-np.inf)),
             (rng.standard_normal(1 << 16) * 10.0 ** rng.integers(-12, 12, 1 << 16)).astype(np.float32),
             np.float32([0.0, -0.0, 1e-45, -1e-45, 2.0 ** -25, -(2.0 ** -25), 2.0 ** -26,
                         65504, 65520, -65520, 2.0 ** 99])]
    for v in cases:
        keep = v.copy()
        got = bitmod._rf16(v)
        assert np.array_equal(got.view(np.uint32), round_f16(v).view(np.uint32))  # incl. the sign of zero
        assert np.array_equal(v.view(np.uint32), keep.view(np.uint32))  # input untouched
        a = np.abs(v)
        assert np.array_equal(bitmod._rf16(a, nonneg=True).view(np.uint32), round_f16(a).view(np.uint32))
        r = bitmod._rf16(v[np.abs(v) < 2.0 ** 40])
        sq = r * r  # d * d of the group error
        assert np.array_equal(bitmod._rf16(sq, nonneg=True).view(np.uint32), round_f16(sq).view(np.uint32))


@settings(max_examples=40, deadline=None)
@given(t=hnp.arrays(np.float32, 64, elements=st.floats(-40, 40, width=32)),
       group=st.sampled_from(["mixed4", "mixed3"]))
def test_shared_lattice_equals_level_tables(t, group):
    for lv, lattices in bitmod._type_groups(bitmod.MIXED[group]):
        for shared, members in lattices:
            for v in (t, (np.round(t * 4) / 4).astype(np.float32)):  # also every midpoint exactly
                idx = shared.index(v)
                for which, (i, tab) in enumerate(members):
                    assert np.array_equal(shared.take(which, idx), tab(v))


def _reference_rows_fp16(wg, types):
    """The fp16 type loop done the plain way (round_f16 everywhere, one type at a time)."""
    r, ng, _ = wg.shape
    w32h = round_f16(wg)
    absmax16 = np.max(np.abs(w32h), axis=-1, keepdims=True)
    best_err = np.full((r, ng), np.inf)
    sel = np.zeros((r, ng), dtype=np.int8)
    s_best = np.zeros((r, ng, 1))
    wq_best = np.zeros(wg.shape, dtype=np.float32)
    q_best = np.zeros(wg.shape, dtype=np.int16)
    for i, name in enumerate(types):
        lv = bitmod.LEVELS[name]
        s = bitmod._fp16_scale(absmax16, lv)
        wq, q = bitmod._quant_group_fp16(w32h, s, lv)
        err = bitmod._fp16_group_mse(wq, w32h) if len(types) > 1 else np.zeros((r, ng))
        upd = err < best_err
        if i == 0:
            upd[...] = True
        best_err[upd] = err[upd]
        sel[upd] = i
        m3 = np.broadcast_to(upd[..., None], wg.shape)
        np.copyto(wq_best, wq, where=m3)
        np.copyto(q_best, q, where=m3, casting="unsafe")
        s_best[upd] = s[upd]
    return wq_best, q_best, s_best[..., 0], sel, best_err


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1),
       t=st.sampled_from(["mixed4", "mixed3", "fp4", "fp3", "int4", "fp6_e2m3", "fp4_ea_neg"]))
def test_fp16_rows_equal_reference_loop(seed, t):
    rng = np.random.default_rng(seed)
    types = bitmod.MIXED.get(t, (t,))
    w = (rng.standard_normal((3, 4, 128)) * 10.0 ** rng.uniform(-6, 3)).astype(np.float32)
    w[0, 0] = 0.0  # all-zero group: every type ties
    w[0, 1] = np.round(w[0, 1] * 4) / 4  # many exact midpoints (ties to the lower level)
    w[1, 0, :8] = [12.0, 5.0, 7.0, -5.0, 0.5, -0.5, 10.0, -14.0]
    w[2, 3] = np.abs(w[2, 3])  # a group for the positive special values
    got = bitmod._bitmod_rows_fp16(w, types)
    ref = _reference_rows_fp16(w, types)
    for a, b in zip(got[:5], ref):
        assert a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("dtype", ["mixed4", "mixed3", "fp4"])
def test_memory_layout_does_not_change_the_result(dtype):
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((256, 12)) * 0.05).astype(np.float32)
    a = bitmod.quantize_bitmod(w.T, dtype)
    b = bitmod.quantize_bitmod(np.ascontiguousarray(w.T), dtype)
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.scale, b.scale)
    assert np.array_equal(a.meta["selector"], b.meta["selector"])
