"""The L-Mul and MX accuracy fast paths (issue 17, speed) equal the golden GEMM bit for bit.

L-Mul (:func:`models.fast_golden.lmul_float`, the accuracy path): the compiled kernel
:func:`models.fast_lmul.lmul_sums` (each product one integer addition of IEEE patterns, zero and
subnormal operands encoded as tiny values the integer sums absorb) where every partial sum is an
integer below 2**53 (e4m3 always, e5m2 the rows of :func:`~models.fast_golden.lmul_exact_rows`),
Karatsuba limbs on the K-stacks (looked up per code, :func:`~models.fast_golden._lmul_tables`)
for the other e5m2 rows. MX (:func:`~models.fast_golden.mx_fast`): a block row whose integers
span few enough bits (:func:`~models.fast_golden.mx_exact_rows`, spans from compiled per-lane
extremes, :mod:`models.fast_mx`) takes one float64 GEMM also for MXFP8 E5M2, whose 71-bit sums
otherwise go through Karatsuba limbs rounded to odd. Every check compares with the golden GEMM
(the function the RTL is verified against) on random codes, every code pair, extremes (largest
codes, +-0, subnormals, NaN / infinity refused), both exactness criteria at their boundary, and
real MiniLM inputs; float outputs are compared as bit patterns (the sign of a zero included)."""

import numpy as np
import pytest

from hw.pe_mx import scale_terms
from models import fast_fp8, fast_golden as fg, fast_lmul, fast_mx, fp8_gemm, mx_gemm
from models.lmul_gemm import lmul_fields
from models.realdata import real_gemm
from models.registry import PE_KINDS, GemmOperands

LMUL = PE_KINDS["lmul"]
MX = PE_KINDS["mx"]
FORMATS = ("e4m3", "e5m2")


def _bits(y):
    return np.asarray(y, dtype=np.float64).view(np.int64)


def _lmul_same(acts, weights, pe, rng=None):
    """fast_golden == golden (values and dtype), and fast_output == the golden dequantised, bit
    for bit, with random positive scales; the float path is the one taken."""
    rng = rng or np.random.default_rng(0)
    acts, weights = np.asarray(acts, dtype=np.int64), np.asarray(weights, dtype=np.int64)
    a_meta = {"scale": [float(rng.uniform(1e-3, 2.0))]}
    w_meta = {"scale": rng.uniform(1e-3, 2.0, size=weights.shape[1]).tolist()}
    ops = GemmOperands(acts, weights, None, a_meta, w_meta)
    want = LMUL.golden(ops, pe)
    got = fg.fast_golden(LMUL, ops, pe)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    raw = fg.lmul_float(acts, fg.prepare_weights(LMUL, weights, pe), pe)
    # the golden's integers rounded to float64 (Python's int -> float is correctly rounded)
    assert np.array_equal(_bits(raw), _bits(np.asarray(want, dtype=object).astype(np.float64)))
    out = fg.fast_output(LMUL, ops, pe)
    ref = LMUL.dequantize_output(want, acts, a_meta, w_meta, pe)
    assert np.array_equal(_bits(out), _bits(ref))


def _valid(fmt):
    return np.flatnonzero(fp8_gemm.get_format(fmt).valid(np.arange(256)))


@pytest.mark.parametrize("fmt", FORMATS)
def test_lmul_every_code_pair(fmt):
    """K = 1: every output is one product, of every pair of valid codes (zeros, subnormals,
    the largest magnitudes, both signs); K = 2 adds every code to its own negation (sums of 0)."""
    pe = LMUL.prototype(format=fmt)
    v = _valid(fmt)
    _lmul_same(v[:, None], v[None, :], pe)
    _lmul_same(np.stack([v, v], axis=1), np.stack([v, v ^ 0x80]), pe)


@pytest.mark.parametrize("fmt", FORMATS)
def test_lmul_extremes(fmt):
    """The largest code everywhere (one sign: the largest sums; K = 4096), alternating signs,
    -0 and subnormal codes only (every product 0: the float output is +0, as the golden's
    integer 0 dequantises, never -0), and the smallest normals."""
    pe = LMUL.prototype(format=fmt)
    f = fp8_gemm.get_format(fmt)
    top = f.max_normal_code
    k = 4096
    _lmul_same(np.full((2, k), top), np.full((k, 3), top), pe)
    _lmul_same(np.full((2, k), top | 0x80), np.full((k, 3), top), pe)
    signs = (np.arange(k) % 2) << 7
    _lmul_same((top | signs)[None, :], np.full((k, 2), top), pe)
    zeros = np.array([0x80, 0x81, (1 << f.mbits) - 1 | 0x80, 0x00, 0x01])
    acts = np.tile(zeros, (3, 8))
    weights = np.full((acts.shape[1], 4), top | 0x80)
    _lmul_same(acts, weights, pe)
    out = fg.fast_output(LMUL, GemmOperands(acts, weights, None, {"scale": [1.0]}, {"scale": [1.0] * 4}), pe)
    assert (_bits(out) == 0).all()                                  # +0.0, not -0.0
    min_normal = 1 << f.mbits
    _lmul_same(np.full((3, 50), min_normal | 0x80), np.full((50, 2), min_normal), pe)


@pytest.mark.parametrize("fmt", FORMATS)
def test_lmul_zero_products_between_true_ones(fmt, monkeypatch):
    """The kernel's zero encoding (a tiny float64 per product with a zero or subnormal
    operand): tiny values before, between and after true products that cancel (the sum 0 must be
    +0.0), that do not (the exact integer), and alone (+0.0); the kernel is the path taken."""
    pe = LMUL.prototype(format=fmt)
    calls = []
    monkeypatch.setattr(fg, "lmul_pattern_sums", lambda *a: calls.append(1) or fast_lmul.pattern_sums(*a))
    top = fp8_gemm.get_format(fmt).max_normal_code
    x, y = 0x38, 0x35
    acts = np.array([[0x00, x, 0x80, x | 0x80, 0x01],         # tiny, p, tiny, -p, tiny: 0
                     [0x81, x, 0x00, 0x00, 0x00],              # tiny, p, tiny...: p
                     [0x00, 0x80, 0x01, 0x81, 0x02],           # tiny only: 0
                     [top, 0x00, top | 0x80, 0x03, x]])        # the largest, cancelled, then p
    weights = np.array([[y, 0x80, top], [y, 0x00, top | 0x80], [y, 0x01, y], [y, 0x80, y], [y, 0x00, 0x81]])
    _lmul_same(acts, weights, pe)
    assert calls
    raw = fg.lmul_float(acts, fg.prepare_weights(LMUL, weights, pe), pe)
    # column 0 (every weight y): 0, p, 0; column 1 (zero and subnormal weights only): 0
    assert (_bits(raw[[0, 2], 0]) == 0).all() and raw[1, 0] != 0 and (_bits(raw[:, 1]) == 0).all()


@pytest.mark.parametrize("fmt", FORMATS)
def test_lmul_random_codes(fmt):
    pe = LMUL.prototype(format=fmt)
    rng = np.random.default_rng(5)
    # rows not a multiple of the kernel's 4, a second output tile of 44 columns, K of every
    # remainder modulo the kernel's 4 steps per pass (and below 4: the one-step loop only)
    for m, k, n in ((1, 1, 1), (3, 7, 5), (9, 130, 11), (4, 1031, 6), (6, 40, 300),
                    (2, 2, 3), (5, 4, 9), (7, 8, 2), (3, 9, 4), (4, 11, 7)):
        _lmul_same(*LMUL.random_operands(rng, m, k, n, pe), pe, rng)


@pytest.mark.parametrize("fmt", FORMATS)
def test_lmul_real_minilm(fmt):
    """Real MiniLM activations and weights through the kind's own quantisers (the accuracy
    run's operands), fast raw and dequantised output against the golden."""
    pe = LMUL.prototype(format=fmt)
    x, w = real_gemm("minilm:L3.q", m=12, n=40)
    ops = LMUL.operands(x, w, pe)
    _lmul_same(ops.acts, ops.weights, pe)
    got = fg.fast_output(LMUL, ops, pe)
    want = LMUL.dequantize_output(LMUL.golden(ops, pe), ops.acts, ops.acts_meta, ops.weights_meta, pe)
    assert np.array_equal(_bits(got), _bits(want))


@pytest.mark.parametrize("fmt", FORMATS)
def test_lmul_stacks_are_the_field_by_field_products(fmt):
    """The table-built K-stacks equal the definition built from the fields: column block c of
    the activations ``(-1)**s * 2**ef`` where ``fa == c`` (else 0), row block c of the weights
    ``(-1)**s * 2**ef * g[c][fw] * 2**(M - 2)`` (e5m2: both split at 16 bits, and their sum)."""
    pe = LMUL.prototype(format=fmt)
    f = fp8_gemm.get_format(fmt)
    count = 1 << f.mbits
    rng = np.random.default_rng(6)
    acts, weights = LMUL.random_operands(rng, 5, 300, 7, pe)
    s, x, ef = lmul_fields(acts, fmt)
    abase = np.where(s == 1, -1.0, 1.0) * (ef != 0) * np.ldexp(1.0, ef)
    fa = x & (count - 1)
    wbase, fw = fg.lmul_weight_fields(weights, pe)
    g = (fg._lmul_g(f.mbits) << (f.mbits - 2)).astype(np.float64)
    a_def = lambda ab: np.concatenate([np.where(fa == c, ab, 0.0) for c in range(count)], axis=1)
    w_def = lambda wb: np.concatenate([wb * g[c][fw] for c in range(count)], axis=0)
    how, a, w, *_ = fg._lmul_stacks(acts, fg.prepare_weights(LMUL, weights, pe), pe)
    if fmt == "e4m3":
        assert how == "one"
        assert np.array_equal(a, a_def(abase)) and np.array_equal(w, w_def(wbase))
    else:
        assert how == "halves"
        ah, al = fg.split_halves(abase, fg.WIDE_SHIFT)
        wh, wl = fg.split_halves(wbase, fg.WIDE_SHIFT)
        for mine, want in zip(a, (a_def(ah), a_def(al), a_def(ah + al))):
            assert np.array_equal(mine, want)
        for mine, want in zip(w, (w_def(wh), w_def(wl), w_def(wh + wl))):
            assert np.array_equal(mine, want)


@pytest.mark.parametrize("fmt", FORMATS)
def test_lmul_refusals(fmt):
    """NaN / infinity codes, codes past 8 bits and shapes that do not chain are refused by the
    fast path as by the golden (ValueError)."""
    pe = LMUL.prototype(format=fmt)
    bad = 0x7F if fmt == "e4m3" else 0x7C
    good = np.full((2, 3), 0x38)
    for acts, weights in ((np.array([[0x38, bad, 0x38]] * 2), good.T), (good, np.array([[0x38, 0x38], [0x38, bad | 0x80], [0, 0]])),
                          (np.full((2, 3), 256), good.T), (good, np.full((4, 2), 0x38))):
        with pytest.raises(ValueError):
            LMUL.golden(GemmOperands(acts, weights, None, None, None), pe)
        with pytest.raises(ValueError):
            fg.lmul_fast(acts, fg.lmul_weight_values(weights, pe), pe)


def _e5m2(sign, ef, frac):
    return (np.asarray(sign) << 7) | (np.asarray(ef) << 2) | np.asarray(frac)


@pytest.mark.parametrize("rw", [14, 15])
def test_lmul_e5m2_exact_rows_at_the_boundary(rw, monkeypatch):
    """K = 64, g's largest 14: a row is one float64 GEMM while its ef span plus the weights'
    is at most 43 (64 * 14 * 2**43 <= 2**53). Row 0 spans 29 (ef 1 and 30) with the products
    at the top (g = 14) and the smallest one (g = 5, odd) at the bottom: its exact sum has 52.8
    bits for a weight span of 14 (one GEMM, exact) and 53.8 for 15 (float64 would drop the
    bottom product: the row is split into its ef-1 and ef-30 operands, two exact kernel sums
    added once; with the split refused, Karatsuba limbs); row 1 spans 2 (one GEMM either way)."""
    pe = LMUL.prototype(format="e5m2")
    calls = []
    original = fg.karatsuba_f64
    monkeypatch.setattr(fg, "karatsuba_f64", lambda a, w: calls.append(len(a[0])) or original(a, w))
    split = fg.lmul_split_rows
    k = 64
    acts = np.stack([_e5m2(0, np.r_[1, [30] * (k - 1)], np.r_[0, [3] * (k - 1)]),
                     _e5m2(np.arange(k) % 2, 10 + np.arange(k) % 3, np.arange(k) % 4)])
    weights = np.stack([_e5m2(0, np.r_[1, [1 + rw] * (k - 1)], np.r_[0, [3] * (k - 1)]),
                        _e5m2(1, np.r_[1, [1 + rw] * (k - 1)], np.r_[0, [3] * (k - 1)])], axis=1)
    prepared = fg.prepare_weights(LMUL, weights, pe)
    exact = fg.lmul_exact_rows(acts, prepared, pe)
    assert exact.tolist() == [rw == 14, True]
    low, high, ok = split(acts[:1], prepared, pe)
    assert ok.tolist() == [True]
    # room 43 - rw: 29 keeps the whole row in the low part, 28 leaves its ef-30 operands high
    assert (set(low[0, 1:]) == {0} and high[0, 0] == 0) if rw == 15 else (set(high[0]) == {0})
    _lmul_same(acts, weights, pe)
    assert calls == []
    row_parts = fast_fp8.row_parts                            # lmul_float's lmul_split_rows

    def refused(*args):
        kinds, cuts = row_parts(*args)
        return np.where(kinds == 1, 2, kinds).astype(np.int8), cuts
    monkeypatch.setattr(fast_fp8, "row_parts", refused)
    _lmul_same(acts, weights, pe)
    assert calls == ([] if rw == 14 else [1, 1])            # lmul_float and fast_output


@pytest.mark.parametrize("w_span", [12, 29])
def test_lmul_e5m2_wide_rows_next_to_narrow(w_span, monkeypatch):
    """Random rows spanning every exponent next to rows of a few exponents (one kernel sum),
    the weights spanning ``w_span`` exponents (12: K = 500, t = 40, room 28, so each wide row
    splits into two exact kernel sums, :func:`~models.fast_golden.lmul_split_rows`; 29: room 11,
    the parts are not exact either: Karatsuba limbs): every path, the golden's values."""
    pe = LMUL.prototype(format="e5m2")
    calls, sums = [], []
    original, original_sums = fg.karatsuba_f64, fg.lmul_pattern_sums
    monkeypatch.setattr(fg, "karatsuba_f64", lambda a, w: calls.append(len(a[0])) or original(a, w))
    monkeypatch.setattr(fg, "lmul_pattern_sums", lambda a, *rest: sums.append(len(a)) or original_sums(a, *rest))
    rng = np.random.default_rng(13)
    k = 500
    acts = _e5m2(rng.integers(0, 2, (6, k)), rng.integers(1, 31, (6, k)), rng.integers(0, 4, (6, k)))
    acts[[1, 4]] = _e5m2(rng.integers(0, 2, (2, k)), rng.integers(12, 16, (2, k)), rng.integers(0, 4, (2, k)))
    acts[0, :5] = [0, 0x80, 1, 0x83, 0x7B]                             # zeros, subnormals, the largest
    weights = _e5m2(rng.integers(0, 2, (k, 7)), rng.integers(3, 16, (k, 7)), rng.integers(0, 4, (k, 7)))
    if w_span == 29:
        weights[:2, 0] = [_e5m2(0, 1, 1), _e5m2(1, 30, 2)]
    room = fg._lmul_room(k, fg.prepare_weights(LMUL, weights, pe), pe)
    assert room == {12: 28, 29: 11}[w_span]
    _lmul_same(acts, weights, pe)
    # one kernel call per lmul_float (it and fast_output): the 6 rows in place, the split rows'
    # high parts, padding to a multiple of 4 rows (the wide rows' sums past 2**53 are replaced)
    if w_span == 12:
        assert calls == [] and sums == [12] * 2
    else:
        assert calls == [4, 4] and sums == [8, 8]


# ---------------------------------------------------------------------------------------------
# MX: block rows exact in one float64 GEMM


def test_span_bits():
    """Bits of a row's integers without their common trailing zeros: 0 for zeros, 1 for one
    power of two, 3 for 4 and 16 (16 / 4 = 2**2: 1 .. 4 is 3 bits) and for 7 and 1 times 2**40,
    43 for 7 * 2**40 and 1; the signs ignored."""
    rows = np.array([[[0, 0, 0], [8, 0, -8], [4, 16, 0], [-3, 2, 0], [7 << 40, 1 << 40, 0], [7 << 40, 0, -1]]],
                    dtype=np.float64)
    assert fg.span_bits(rows).tolist() == [[0, 1, 3, 2, 3, 43]]


def test_blocks_of_whole_lanes_are_the_padded_blocks():
    """_blocks' reshape of whole blocks (every block steps_per_block lanes, as the quantisers
    lay them out; an open block after the last end dropped) equals the padded layout it
    defines, restated here: block b, lane p of row r is x[r, starts[b] + p], zeros after."""
    rng = np.random.default_rng(16)
    for fmt in ("mxfp8-e4m3", "mxfp4", "nvfp4"):
        pe = MX.prototype(format=fmt)
        spb = pe.steps_per_block
        for blocks, extra in ((1, 0), (5, 0), (3, spb - 1)):
            x = rng.integers(-(1 << 20), 1 << 20, (4, blocks * spb + extra, pe.sub_block))
            end_lanes = np.arange(spb - 1, blocks * spb, spb)
            want = np.zeros((blocks, 4, spb * pe.sub_block))
            for b in range(blocks):
                want[b] = x[:, b * spb:(b + 1) * spb].reshape(4, -1)
            got = fg._blocks(x, end_lanes, pe)
            assert got.dtype == np.float64 and np.array_equal(got, want)
            if blocks > 1:                      # a short first block: the padded path
                short = np.r_[spb - 2, end_lanes[1:] - 1]
                want[:] = 0
                for b, (s0, s1) in enumerate(zip(np.r_[0, short[:-1] + 1], short + 1)):
                    want[b, :, :(s1 - s0) * pe.sub_block] = x[:, s0:s1].reshape(4, -1)
                assert np.array_equal(fg._blocks(x, short, pe), want)


def test_lane_span_bits_are_span_bits():
    """The spans from the lanes' extremes (numpy and compiled) equal the definition on the
    padded blocks, for random block ends (blocks of 1 .. steps_per_block lanes, an open block
    after the last end) and element integers of every magnitude and sign (zeros, all-zero lanes
    and the largest E5M2 integer included)."""
    pe = MX.prototype(format="mxfp8-e5m2")
    rng = np.random.default_rng(14)
    for _ in range(20):
        steps = int(rng.integers(1, 12))
        x = np.where(rng.random((5, steps, pe.sub_block)) < 0.2, 0,
                     rng.integers(-7, 8, (5, steps, pe.sub_block)) << rng.integers(0, 30, (5, steps, pe.sub_block)))
        x[0, 0] = 0
        x[1, -1, 0] = -(7 << 29)
        ends = np.zeros(steps, dtype=bool)
        run = 0
        for i in range(steps):
            run += 1
            if run == pe.steps_per_block or rng.random() < 0.4:
                ends[i], run = True, 0
        end_lanes = np.flatnonzero(ends)
        if len(end_lanes) == 0:
            continue
        want = fg.span_bits(fg._blocks(x, end_lanes, pe))
        assert np.array_equal(fg.lane_span_bits(fg.lane_extremes(x), end_lanes), want)
        for mine, ref in zip(fast_mx.lane_extremes(x), fg.lane_extremes(x)):     # compiled == numpy
            assert mine.dtype == ref.dtype and np.array_equal(mine, ref)
        assert np.array_equal(fg.lane_span_bits(fast_mx.lane_extremes(x), end_lanes), want)


@pytest.mark.parametrize("width", [1, 3, 8, 16])
def test_compiled_lane_extremes_are_the_definition(width):
    """The compiled extremes (branch-free lane loop) equal the numpy definition on large random
    lanes of every width the kernel may vectorise differently: zeros, all-zero lanes, a lane of
    one nonzero element, both signs, integers up to ``2**53 - 1`` and single set bits."""
    rng = np.random.default_rng(width)
    x = rng.integers(-(1 << 20), 1 << 20, (37, 29, width)) << rng.integers(0, 32, (37, 29, width))
    x[rng.random(x.shape) < 0.3] = 0
    x[0] = 0
    x[1, :, :] = 0
    x[1, :, -1] = -(1 << 40)
    x[2, 0, 0], x[2, 1, 0], x[3, 2, -1] = (1 << 53) - 1, -((1 << 53) - 1), 1
    for mine, ref in zip(fast_mx.lane_extremes(x), fg.lane_extremes(x)):
        assert mine.dtype == ref.dtype and np.array_equal(mine, ref)


def _exact_sums(a_blk, w_blk):
    """(blocks, M, block) @ (blocks, block, N) with Python ints."""
    return np.array([[[sum(int(x) * int(y) for x, y in zip(row, col)) for col in w.T] for row in a]
                     for a, w in zip(a_blk, w_blk)], dtype=object)


def test_mx_exact_rows_are_exact_at_the_boundary():
    """Rows marked exact are exact in float64 (against Python ints), also when the criterion's
    bound is met with equality (one more bit of span is no longer marked): every element odd
    times the row's lowest bit, sums of 32 equal-sign products at the top of the span."""
    rng = np.random.default_rng(7)
    block = 32
    for ra, rw in ((24, 24), (20, 28), (25, 24), (30, 30), (1, 47), (2, 47)):
        a = np.ldexp(rng.integers(1, 1 << ra, size=(1, 3, block)) | 1, 9).astype(np.float64)
        a[0, :, 0] = np.ldexp(float((1 << ra) - 1), 9)                     # the span's top
        w = rng.integers(1, 1 << rw, size=(1, block, 4)).astype(np.float64)
        w[0, 0, :] = (1 << rw) - 1
        w[0, 1, :] = 1
        ok = fg.mx_exact_rows(fg.span_bits(a), fg.span_bits(w.transpose(0, 2, 1)), block)
        assert ok.all() == (ra + rw + 5 <= 53)
        if ok.all():
            assert (np.matmul(a, w).astype(object) == _exact_sums(a, w)).all()


def _mx_same(acts, weights, pe, monkeypatch=None):
    ops = MX.operands(acts, weights, pe)
    want = MX.golden(ops, pe)
    got = fg.fast_golden(MX, ops, pe)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_mx_e5m2_both_paths(monkeypatch):
    """MXFP8 E5M2 block rows mixing the largest element and the smallest subnormal (a span of
    34 bits per side: the limbs) next to rows of similar elements (one GEMM), and a row crossing
    the boundary between blocks; both paths are taken and the result is the golden's."""
    pe = MX.prototype(format="mxfp8-e5m2")
    fmt = pe.mx_format
    calls = []
    original = fg._mx_wide_sums
    monkeypatch.setattr(fg, "_mx_wide_sums", lambda a, w: calls.append(len(a[0])) or original(a, w))
    monkeypatch.setattr(fg, "mx_gemm", lambda *a: pytest.fail("the golden fallback taken"))
    rng = np.random.default_rng(8)
    k = 3 * fmt.block
    a_el = rng.choice([0x3C, 0x3D, 0x3E, 0xBC], size=(6, k))          # similar magnitudes
    a_el[1, :fmt.block] = np.where(rng.random(fmt.block) < 0.5, 0x7B, 0x01)     # wide in block 0
    a_el[4, -fmt.block:] = np.where(rng.random(fmt.block) < 0.5, 0xFB, 0x81)    # wide in block 2
    w_el = np.where(rng.random((5, k)) < 0.5, 0x7B, 0x83)              # weights span 31 bits
    acts = mx_gemm.interleave(a_el, rng.integers(100, 150, size=(6, 3)), pe)
    weights = mx_gemm.interleave(w_el, rng.integers(100, 150, size=(5, 3)), pe).T
    _mx_same(acts, weights, pe)
    assert calls == [1, 1]                                             # one row per wide block


@pytest.mark.parametrize("fmt", ["mxfp8-e5m2", "mxfp8-e4m3"])
def test_mx_random_and_real(fmt):
    """Random codes (uniform over the valid elements: wide spans, the limbs) and real MiniLM
    inputs through the kind's quantisers (narrow spans: one GEMM)."""
    pe = MX.prototype(format=fmt)
    rng = np.random.default_rng(9)
    for m, k, n in ((3, 64, 5), (7, 96, 4)):
        _mx_same(*MX.random_operands(rng, m, k, n, pe), pe)
    x, w = real_gemm("minilm:L0.ffn2", m=8, n=24)
    _mx_same(x, w, pe)


def test_mx_e5m2_extreme_scales():
    """The largest elements with the E8M0 scales' ends (0 / 254: underflow, saturation to the
    FP32 maximum, an accumulator overflowing to infinity) next to wide rows."""
    pe = MX.prototype(format="mxfp8-e5m2")
    fmt = pe.mx_format
    rng = np.random.default_rng(10)
    k = 4 * fmt.block
    a_el = np.where(rng.random((4, k)) < 0.5, 0x7B, 0x01)
    a_el[0] = 0x7B
    a_el[3] = 0xFB
    w_el = np.full((3, k), 0x7B)
    w_el[1] = 0xFB
    for sa, sw in ((0, 0), (254, 254), (254, 0), (127, 127)):
        acts = mx_gemm.interleave(a_el, np.full((4, 4), sa), pe)
        weights = mx_gemm.interleave(w_el, np.full((3, 4), sw), pe).T
        _mx_same(acts, weights, pe)


F32_FORMATS = ("mxfp6-e2m3", "mxfp6-e3m2", "mxfp4", "mxint8", "nvfp4")    # block sums below 2**24


def _shifts(monkeypatch):
    """The float32 shift :func:`~models.fast_golden.mx_f32_shift` returns on each call (None:
    the float64 GEMM)."""
    taken = []
    original = fg.mx_f32_shift
    monkeypatch.setattr(fg, "mx_f32_shift", lambda *a: taken.append(original(*a)) or taken[-1])
    return taken


@pytest.mark.parametrize("fmt", F32_FORMATS)
def test_mx_float32_path_random_and_real(fmt, monkeypatch):
    """Formats whose block sums stay below 2**24 take the float32 block GEMMs on real MiniLM and
    SmolLM2-shaped inputs (scales near 1) and on random elements over every code with scales
    moderately spread, and equal the golden bit for bit; random codes over the whole scale range
    (mostly beyond float32's exponents: the float64 GEMMs) too."""
    pe = MX.prototype(format=fmt)
    taken = _shifts(monkeypatch)
    x, w = real_gemm("minilm:L0.ffn2", m=8, n=24)
    _mx_same(x, w, pe)
    rng = np.random.default_rng(11)
    k = 4 * pe.block
    bits = pe.mx_format.bits
    centre = 127 if pe.mx_format.scale == "e8m0" else 0x38
    for spread in (0, 6, 20):
        a_el, w_el = rng.integers(0, 1 << bits, size=(5, k)), rng.integers(0, 1 << bits, size=(6, k))
        a_el[0], w_el[0] = (1 << (bits - 1)) - 1, (1 << bits) - 1                   # largest codes
        a_sc = rng.integers(centre - spread, centre + spread + 1, size=(5, k // pe.block))
        w_sc = rng.integers(centre - spread, centre + spread + 1, size=(6, k // pe.block))
        _mx_same(mx_gemm.interleave(a_el, a_sc, pe), mx_gemm.interleave(w_el, w_sc, pe).T, pe)
    assert all(s is not None for s in taken)
    for m, kk, n in ((3, 64, 5), (7, 96, 4)):
        _mx_same(*MX.random_operands(rng, m, kk, n, pe), pe)


@pytest.mark.parametrize("fmt", ("mxfp6-e2m3", "mxint8"))
def test_mx_float32_path_at_float32_s_exponent_ends(fmt, monkeypatch):
    """E8M0 scales whose products reach float32's smallest subnormal (exponent -149: the float32
    path) and one binade below (the float64 path), float32's top binades alike: both sides of
    each end give the golden's words (subnormal results, saturation, infinity included)."""
    pe = MX.prototype(format=fmt)
    _, x0 = scale_terms(pe.mx_format)
    taken = _shifts(monkeypatch)
    rng = np.random.default_rng(12)
    bits = pe.mx_format.bits
    k = 2 * pe.block
    a_el = rng.integers(0, 1 << bits, size=(4, k))
    w_el = rng.integers(0, 1 << bits, size=(3, k))
    a_el[0], w_el[0] = (1 << (bits - 1)) - 1, (1 << (bits - 1)) - 1
    # the operands' exponents: a_exp - x0 and w_exp, for equal scale codes s: sum 2 s - x0
    for total, path in ((-149, True), (-150, False), (103, True), (104, False)):
        sa = (total + x0) // 2
        sw = total + x0 - sa
        a_sc, w_sc = np.full((4, 2), sa), np.full((3, 2), sw)
        taken.clear()
        _mx_same(mx_gemm.interleave(a_el, a_sc, pe), mx_gemm.interleave(w_el, w_sc, pe).T, pe)
        assert (taken[-1] is not None) == path, (total, taken)


@pytest.mark.parametrize("fmt", ("mxfp8-e4m3", "mxfp8-e5m2", "mxfp4"))
def test_mx_weight_operand_memo_across_calls(fmt, monkeypatch):
    """One prepared weight matrix meets activations whose scales take the float32 path, then the
    float64 one (another shift: the memo's weight operand is rebuilt), then the first again: every
    call gives the golden's words."""
    pe = MX.prototype(format=fmt)
    taken = _shifts(monkeypatch)
    rng = np.random.default_rng(15)
    k = 3 * pe.block
    bits = pe.mx_format.bits
    # FP8 elements below the NaN / infinity patterns, either sign
    codes = lambda shape: (rng.integers(0, 0x70, size=shape) | rng.integers(0, 2, size=shape) << 7
                           if bits == 8 else rng.integers(0, 1 << bits, size=shape))
    w_el = codes((5, k))
    weights = mx_gemm.interleave(w_el, rng.integers(120, 130, size=(5, 3)), pe).T
    prepared = fg.prepare_weights(MX, weights, pe)
    a_el = codes((4, k))
    narrow = mx_gemm.interleave(a_el, rng.integers(120, 130, size=(4, 3)), pe)
    wide = mx_gemm.interleave(a_el, np.array([[1, 250, 127]] * 4), pe)
    for acts in (narrow, wide, narrow, narrow):
        ops = GemmOperands(acts, weights, None, None, None)
        np.testing.assert_array_equal(fg.fast_golden(MX, ops, pe, prepared), MX.golden(ops, pe))
    assert len(prepared[-1]) == 1 and len(set(taken)) == (2 if fmt == "mxfp4" else 1)


@pytest.mark.slow          # loads and dequantises the whole GGUF (~10 s CPU)
@pytest.mark.parametrize("fmt", FORMATS)
def test_lmul_real_smollm2(fmt):
    """A SmolLM2 FFN down projection's weights (K cut to 1,531: every remainder of the kernel's
    4 steps is not 0) on real-scale inputs through the kind's quantisers: the golden's output."""
    smollm2 = pytest.importorskip("models.smollm2")
    try:
        w = smollm2.load_smollm2().linears["blk.3.ffn_down"][:1531, :24]
    except smollm2.MissingModelError as e:
        pytest.skip(str(e))
    pe = LMUL.prototype(format=fmt)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((9, w.shape[0])) * np.exp(rng.standard_normal(w.shape[0]) * 2)
    ops = LMUL.operands(x, w, pe)
    _lmul_same(ops.acts, ops.weights, pe)
