"""The compiled sequential-FP32 kernels (:mod:`models.fast_seq`) equal the golden models bit for bit.

* :func:`models.fast_seq.fp32_steps` through :func:`models.fast_golden.fp16_fast` against
  :func:`models.fp16_gemm.fp16_gemm`, and through :func:`models.fast_golden.gobo_fast` (with
  :func:`models.fast_seq.add_outliers`) against :func:`models.gobo_gemm.gobo_golden`: random codes
  over every finite exponent (shapes that leave partial row groups and column tiles), signed
  zeros, subnormals, cancellation, and real MiniLM linears through the kinds' quantisers;
* the kernel on float32 inputs the golden refuses (FP32 overflow to inf, inf - inf = NaN,
  subnormal products) against the golden's own step written in numpy (a float64 product cast to
  float32, one float32 addition per k);
* K order: sums whose FP32 result depends on the order of additions (reversed, pairwise or
  lane-split sums give other numbers), so a kernel that reorders K fails.
(GOBO's quantiser kernels: tests/test_fast_gobo.py.)
"""

import numpy as np
import pytest

from models import fast_golden as fg, fast_seq, fp16_gemm, gobo_gemm
from models.gobo_format import GoboDictionary, quantize_gobo
from models.realdata import real_gemm
from models.registry import PE_KINDS

FP16, GOBO = PE_KINDS["fp16"], PE_KINDS["gobo"]
# rows around the kernel's row group, columns around its column tile, K from 0 to long sums and
# around its K steps per pass (every remainder)
SHAPES = [(1, 1, 1), (3, 0, 2), (4, 7, 5), (7, 33, fast_seq.TILE_N + 3), (9, 600, 11),
          (8, fast_seq.KSTEPS, 3), (6, 2 * fast_seq.KSTEPS + 2, 13), (5, 3 * fast_seq.KSTEPS + 3, 2 * fast_seq.TILE_N + 1)]


def _step_reference(a, w):
    """The golden's step 3 in numpy (models.fp16_gemm.fp16_gemm's loop) on float values."""
    a, w = np.asarray(a, np.float64), np.asarray(w, np.float64)
    acc = np.zeros((a.shape[0], w.shape[1]), dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(a.shape[1]):
            acc = acc + (a[:, k, None] * w[None, k, :]).astype(np.float32)
    return acc.view(np.int32).astype(np.int64)


def _f32(x):
    return np.asarray(x, dtype=np.float32)


@pytest.mark.parametrize("m,k,n", SHAPES)
def test_fp16_random_codes(m, k, n):
    rng = np.random.default_rng(m * 1000 + k + n)
    acts, weights = fp16_gemm.random_fp16_operands(rng, m, k, n, None)
    want = fp16_gemm.fp16_gemm(acts, weights)
    got = fg.fp16_fast(acts, fg.fp16_weight_values(weights, None), None)
    assert got.dtype == np.int64 and np.array_equal(got, want)


def test_fp16_signed_zeros_subnormals_and_cancellation():
    """-0 products onto +0 (the sum stays +0), subnormal x subnormal products (2**-48), products
    of the largest normals that cancel exactly, and small terms lost next to large ones."""
    top, sub, one = 0x7BFF, 0x0001, 0x3C00
    neg = 0x8000
    acts = np.array([[neg | 0, 0, neg | 0, 0],                  # every product a signed zero
                     [sub, sub | neg, sub, 0x03FF],             # subnormal products
                     [top, top, one, one],                      # cancellation: +max^2 - max^2 + ...
                     [top, sub, sub, top | neg]])               # tiny terms between big ones
    weights = np.array([[0, top, sub, neg | one],
                        [neg | 0, neg | top, sub, one],
                        [0, one, neg | sub, 0x03FF],
                        [neg | 0, neg | one, sub, top]])
    want = fp16_gemm.fp16_gemm(acts, weights)
    got = fg.fp16_fast(acts, fg.fp16_weight_values(weights, None), None)
    assert np.array_equal(got, want)
    assert got[0, 0] == 0                                      # +0, not -0 (0x80000000)


def test_kernel_ieee_extremes_beyond_the_golden():
    """Float32 operands whose sums overflow to inf, then meet a -inf product (NaN), subnormal
    products summed, -0 products and exact cancellation: the kernel's words equal the golden's
    step written in numpy (the golden refuses such FP16 codes; the kernel's arithmetic is IEEE
    binary32 all the same, no fastmath)."""
    big, tiny = 2.0 ** 100, 2.0 ** -70
    # row 0: +2**127 twice overflows to inf; k = 3: -2**100 * 2**28 is -inf (a float32 product
    # beyond the range, as the golden's float64 product cast to float32 is); inf - inf = NaN
    a = _f32([[big, big, -big, -big, -big, 1.0],
              [0.0, tiny, 0.0, 0.0, tiny, 0.0],                 # column 1: 2**-140 twice
              [-0.0, -0.0, -0.0, -0.0, -0.0, -0.0],
              [big, -big, big, -big, 3.0, -3.0]])               # exact cancellation back to +0
    w = _f32([[2.0 ** 27, 1.0, -1.0],
              [2.0 ** 27, tiny, 1.0],
              [2.0 ** 27, 1.0, 0.0],
              [2.0 ** 28, 2.0, 1.0],
              [2.0 ** 27, tiny, -0.0],
              [1.0, 1.0, 1.0]])
    got, want = fast_seq.fp32_steps(a, w), _step_reference(a, w)
    assert np.array_equal(got, want)
    values = got.astype(np.int32).view(np.float32)
    assert np.isposinf(_f32(_step_reference(a[:1, :2], w[:2, :1]).astype(np.int32).view(np.float32)))[0, 0]
    assert np.isnan(values[0, 0])                               # +inf then -inf
    assert values[1, 1] == np.float32(2.0 ** -139)              # a subnormal sum, kept
    assert got[2, 2] == 0                                       # +0 + (-0) ... stays +0


def test_k_order_is_the_golden_order():
    """1 + 2**24 + 1 + 1 + ...: in K order every +1 ties to even and vanishes (2**24); reversed,
    pairwise or split into SIMD lanes the ones add up first and survive. The kernel must give
    the golden's number, which the other orders provably do not."""
    k = 40
    a = np.ones((5, k), dtype=np.float32)
    w = np.ones((k, 3), dtype=np.float32)
    w[0, :] = 2.0 ** 24
    w[:, 1] = w[::-1, 1]                                        # column 1: the big term last
    w[:, 2] = np.roll(w[:, 0], 8)                               # column 2: the big term at k = 8
    got = fast_seq.fp32_steps(a, w).astype(np.int32).view(np.float32)
    seq = [np.float32(0)] * 3
    for j in range(3):
        for x in w[:, j]:
            seq[j] = np.float32(seq[j] + x)
    assert list(got[0]) == seq and seq[0] == 2.0 ** 24 and seq[1] == 2.0 ** 24 + 40 - 1
    assert np.array_equal(got, np.tile(got[:1], (5, 1)))
    # the test can fail: other orders give other float32 sums
    assert np.float32(np.sum(w[::-1, 0])) != seq[0]            # reversed
    assert np.sum(w[:, 0]) != seq[0]                            # numpy's pairwise / SIMD sum
    assert np.float32(w[:, 0].reshape(-1, 8).sum(axis=0).sum()) != seq[0]   # 8 lanes
    np.testing.assert_array_equal(fast_seq.fp32_steps(a, w), _step_reference(a, w))


def test_long_random_sums_match_the_step_loop():
    """Long K (where any regrouping of the sum shows) on random float32 values of FP16 range."""
    rng = np.random.default_rng(7)
    a = _f32(rng.standard_normal((6, 3000)).astype(np.float16))
    w = _f32((rng.standard_normal((3000, 70)) * 2.0 ** rng.integers(-14, 14, (3000, 70))).astype(np.float16))
    assert np.array_equal(fast_seq.fp32_steps(a, w), _step_reference(a, w))


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 7, 8, 9, 43])
def test_every_k_remainder_of_the_four_step_passes(k):
    """K of every remainder modulo the kernel's four steps per pass (:data:`models.fast_seq.KSTEPS`)
    and below four (the one-step loop only), rows a multiple of four and not, values whose sums
    round at every step: the step loop's words."""
    rng = np.random.default_rng(k)
    a = _f32((rng.standard_normal((9, k)) * 2.0 ** rng.integers(-10, 10, (9, k))).astype(np.float16))
    w = _f32((rng.standard_normal((k, 19)) * 2.0 ** rng.integers(-10, 10, (k, 19))).astype(np.float16))
    assert np.array_equal(fast_seq.fp32_steps(a, w), _step_reference(a, w))


def test_kernel_refuses_other_types_and_shapes():
    with pytest.raises(TypeError, match="float32"):
        fast_seq.fp32_steps(np.ones((2, 2)), np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="do not chain"):
        fast_seq.fp32_steps(np.ones((2, 3), np.float32), np.ones((2, 2), np.float32))


def _gobo_operands(rng, m, k, n):
    """FP16 activations and heavy-tailed weights through GOBO's quantiser (outliers beyond 3
    sigma, many per column), the dictionary from its metadata."""
    acts, _ = fp16_gemm.random_fp16_operands(rng, m, k, 1, None)
    codes, meta = quantize_gobo(rng.standard_t(2, (k, n)))
    return acts, codes, GoboDictionary.of_meta(meta)


@pytest.mark.parametrize("m,k,n", [(5, 60, 9), (8, 200, 300)])
def test_gobo_random_with_outliers(m, k, n):
    rng = np.random.default_rng(k)
    acts, codes, table = _gobo_operands(rng, m, k, n)
    assert len(table.outliers) > n                              # several outliers per column
    want = gobo_gemm.gobo_golden(acts, codes, None, table)
    got = fg.gobo_fast(acts, fg.gobo_weight_codes(codes, None), None, table)
    assert np.array_equal(got, want)


def test_gobo_outliers_added_per_column_in_k_order():
    """Outlier products 1, 1, 2**24 at k = 0, 1, 2 of one column (an empty array sum): in
    increasing k the ones add up first (2 + 2**24, exact); the list's order (2**24 first) loses
    each +1 to a tie to even (2**24). The kernel sorts the list by (n, k) itself."""
    one, big = 0x3C00, 0x6C00                                   # 1.0 and 4096 (4096**2 = 2**24)
    acts = np.array([[one, one, big], [big, one, one]])
    codes = np.full((3, 2), 1 << 3)                             # every weight an outlier
    listed = [(2, 0, big), (0, 0, one), (1, 0, one), (2, 1, one), (0, 1, big)]
    table = GoboDictionary((0,) * 8, tuple(listed))
    want = gobo_gemm.gobo_golden(acts, codes, None, table)
    got = fg.gobo_fast(acts, fg.gobo_weight_codes(codes, None), None, table)
    assert np.array_equal(got, want)
    words = fast_seq.add_outliers(np.zeros((2, 2), np.int64), _f32(fp16_gemm.decode_fp16(acts)),
                                  *zip(*[(k, n, np.float32(fp16_gemm.decode_fp16([v])[0])) for k, n, v in listed]))
    assert np.array_equal(words, want)
    sums = words.astype(np.int32).view(np.float32)
    assert sums[0, 0] == 2.0 ** 24 + 2                          # not 2**24: the list order


@pytest.mark.parametrize("spec", ["minilm:L0.ffn2", "minilm:L3.q"])
def test_real_minilm_linears(spec):
    """Real MiniLM activations and weights through the kinds' quantisers (GOBO: the real
    tensor's outliers and dictionary), the whole K of the linear."""
    acts, weights = real_gemm(spec, m=16, n=96)
    for kind in (FP16, GOBO):
        pe = kind.prototype()
        ops = kind.operands(acts, weights, pe)
        want = kind.golden(ops, pe)
        got = fg.fast_golden(kind, ops, pe)
        assert fg.has_fast_path(kind) and np.array_equal(got, want)


def test_gobo_memo_follows_the_table():
    """:func:`models.fast_golden.gobo_fast` memoises its table's operands in the prepared weights:
    calls alternating two tables (other centroids, other outliers) on one prepared set each
    equal the golden, repeated calls too, and a table whose outliers sit at unflagged weights
    still raises after an accepted one (the check is memoised per table, not per weights)."""
    rng = np.random.default_rng(5)
    acts, codes, table = _gobo_operands(rng, 6, 80, 40)
    other = GoboDictionary(tuple(reversed(table.centroids)), table.outliers[::2])
    prepared = fg.gobo_weight_codes(codes, None)
    for t in (table, other, other, table, None, table):
        want = gobo_gemm.gobo_golden(acts, codes, None, t)
        assert np.array_equal(fg.gobo_fast(acts, prepared, None, t), want)
    k, n = np.argwhere(codes < 1 << 3)[0]
    bad = GoboDictionary(table.centroids, table.outliers + ((int(k), int(n), 0x3C00),))
    for _ in range(2):
        with pytest.raises(ValueError, match="not outlier-flagged"):
            fg.gobo_fast(acts, prepared, None, bad)
    assert np.array_equal(fg.gobo_fast(acts, prepared, None, table), gobo_gemm.gobo_golden(acts, codes, None, table))


@pytest.mark.parametrize("where", ["k", "n", "flag"])
def test_gobo_outlier_check_errors(where):
    """:func:`models.fast_golden.gobo_fast`'s array check of the listed outliers lets through
    only what the golden accepts: one extra outlier past the weights' K or N, or at an unflagged
    weight, raises the golden's error (its type, and its message up to the weight code, which the
    fast path reads from the flags: 0), on a fresh prepared set and on one that already accepted
    the table's other outliers."""
    rng = np.random.default_rng(11)
    acts, codes, table = _gobo_operands(rng, 5, 60, 30)
    k, n = {"k": (60, 3), "n": (4, 30), "flag": tuple(int(x) for x in np.argwhere(codes < 1 << 3)[-1])}[where]
    bad = GoboDictionary(table.centroids, table.outliers + ((k, n, 0x3C00),))
    with pytest.raises(ValueError) as want:
        gobo_gemm.gobo_golden(acts, codes, None, bad)
    accepted = fg.gobo_weight_codes(codes, None)
    fg.gobo_fast(acts, accepted, None, table)
    for prepared in (fg.gobo_weight_codes(codes, None), accepted):
        with pytest.raises(ValueError) as got:
            fg.gobo_fast(acts, prepared, None, bad)
        assert str(got.value).split(": its")[0] == str(want.value).split(": its")[0]


@pytest.mark.parametrize("spec", ["minilm:L0.ffn2", "minilm:L3.q"])
def test_gobo_float_output_is_the_dequantised_golden(spec):
    """The accuracy path's float output (:func:`models.fast_golden.gobo_float`, read by the
    registered dequantiser) equals the golden's words dequantised, bit for bit: random codes with
    outliers (several per column) and a real MiniLM linear through the quantiser."""
    bits = lambda x: np.asarray(x, dtype=np.float64).view(np.int64)      # noqa: E731
    rng = np.random.default_rng(8)
    acts, codes, table = _gobo_operands(rng, 7, 90, 33)
    got = fg.gobo_float(acts, fg.gobo_weight_codes(codes, None), None, table)
    assert got.dtype == np.float64
    assert np.array_equal(bits(got), bits(fp16_gemm.decode_fp32(gobo_gemm.gobo_golden(acts, codes, None, table))))
    pe = GOBO.prototype()
    ops = GOBO.operands(*real_gemm(spec, m=9, n=40), pe)
    want = GOBO.dequantize_output(GOBO.golden(ops, pe), ops.acts, ops.acts_meta, ops.weights_meta, pe)
    assert np.array_equal(bits(fg.fast_output(GOBO, ops, pe)), bits(want))
