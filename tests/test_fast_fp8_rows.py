"""FP8 E5M2's accuracy path takes one float64 GEMM of the aligned operands in the rows
:func:`models.fast_golden.fp8_exact_rows` marks (every partial sum an exact float64), in the
others the two exact parts of :func:`models.fast_golden.fp8_split_rows` added once, else
Karatsuba limbs: every path gives the golden's dequantised output bit for bit, at the bound (one
exponent more and a plain float64 GEMM drops a product), with rows of every kind side by side,
on zeros of both signs, subnormals and +-max, and on real MiniLM and SmolLM2 operands.
"""

import numpy as np
import pytest

from models import fast_fp8, fast_golden as fg
from models.fp8_gemm import aligned_operand
from models.realdata import real_gemm
from models.registry import PE_KINDS, GemmOperands

FP8 = PE_KINDS["fp8"]
PE = FP8.prototype(format="e5m2")


def _e5m2(sign, ef, frac):
    return (np.asarray(sign) << 7) | (np.asarray(ef) << 2) | np.asarray(frac)


def _metas(m, k, n):
    rng = np.random.default_rng(0)
    ops = FP8.operands(rng.standard_normal((m, k)), rng.standard_normal((k, n)) * 0.1, PE)
    return ops.acts_meta, ops.weights_meta


def _same(acts, weights, metas=None):
    """fast_output equals the golden's dequantised output, bit for bit."""
    metas = metas or _metas(acts.shape[0], acts.shape[1], weights.shape[1])
    ops = GemmOperands(np.asarray(acts, dtype=np.int64), np.asarray(weights, dtype=np.int64), None, *metas)
    want = FP8.dequantize_output(FP8.golden(ops, PE), ops.acts, ops.acts_meta, ops.weights_meta, PE)
    got = fg.fast_output(FP8, ops, PE)
    assert np.array_equal(got.view(np.int64), np.asarray(want, dtype=np.float64).view(np.int64))


def _counted(monkeypatch):
    calls = []
    original = fg.karatsuba_f64
    monkeypatch.setattr(fg, "karatsuba_f64", lambda a, w: calls.append(len(a[0])) or original(a, w))
    return calls


def _refuse_split(monkeypatch):
    """fast_fp8.row_parts as it is, but with no row split: the rows it would split take Karatsuba."""
    row_parts = fast_fp8.row_parts

    def refused(*args):
        kinds, cuts = row_parts(*args)
        return np.where(kinds == 1, 2, kinds).astype(np.int8), cuts
    monkeypatch.setattr(fast_fp8, "row_parts", refused)


def _split_rows(monkeypatch):
    """Record the number of split rows of each fp8_float call."""
    rows, row_parts = [], fast_fp8.row_parts
    monkeypatch.setattr(fast_fp8, "row_parts",
                        lambda *a: (lambda r: rows.append(int((r[0] == 1).sum())) or r)(row_parts(*a)))
    return rows


@pytest.mark.parametrize("fmt", ["e5m2", "e4m3"])
def test_row_parts_are_the_numpy_splits(fmt):
    """fast_fp8.row_parts' kinds are fp8_exact_rows' test and fp8_split_rows' ``ok`` (the numpy
    definitions), fill_parts' rows the aligned operands of the codes and of both parts, for every
    room from none to the whole span, on rows of random codes of every exponent (zeros of both
    signs, subnormals, +-max among them), rows of few exponents and all-zero rows."""
    rng = np.random.default_rng(3)
    valid = np.flatnonzero(fg.get_format(fmt).valid(np.arange(256)))
    codes = rng.choice(valid, size=(40, 70))
    codes[:8, :6] = [0x00, 0x80, 0x01, 0x81, 0x7B if fmt == "e5m2" else 0x7E, 0xFB if fmt == "e5m2" else 0xFE]
    codes[8:16] = (codes[8:16] & 0x80) | (0x30 + (codes[8:16] & 0x07))                 # few exponents
    codes[16:20] = rng.choice([0x00, 0x80], size=(4, 70))                             # all zero
    codes[20:24, 1:] = 0
    aligned, ok = fg._fp8_aligned_table(fmt)
    e = fg._fp8_tables(fmt)[3]
    spans = fg.exponent_spans(codes, fmt, 1)
    seen = set()
    for room in range(-2, 32):
        kinds, cuts = fast_fp8.row_parts(codes, ok, e, room)
        low, high = fg._exponent_split(codes, e[codes], room)
        split = (fg.exponent_spans(low, fmt, 1) <= room) & (fg.exponent_spans(high, fmt, 1) <= room)
        assert kinds.tolist() == np.where(spans <= room, 0, np.where(split, 1, 2)).tolist()
        rows = fast_fp8.fill_parts(codes, e, aligned.astype(np.float64), kinds, cuts)
        one = kinds == 1
        assert np.array_equal(rows[:40][~one], aligned[codes[~one]])
        assert np.array_equal(rows[:40][one], aligned[low[one]]) and np.array_equal(rows[40:], aligned[high[one]])
        seen |= set(kinds.tolist())
    assert seen == {0, 1, 2}
    # the weights' largest column span, FP8's exponents and L-Mul's exponent fields
    ef = fg._lmul_ef(fmt)
    for w in (codes, codes.T, codes[16:20], codes[:, :1], np.zeros((3, 4), dtype=np.int64)):
        assert fast_fp8.column_span(w, e) == fg.exponent_spans(w, fmt, 0).max(initial=0)
        assert fast_fp8.column_span(w, ef) == fg._exponent_span(ef[w], 0).max(initial=0)
    bad = codes.copy()
    bad[5, 7] = 0x7F                                                  # NaN in both formats
    assert fast_fp8.row_parts(bad, ok, e, 3) is None
    with pytest.raises(ValueError, match="NaN"):
        fg.fp8_float(bad, fg.prepare_weights(FP8, codes[:70].T.copy(), PE), PE)


def test_exponent_spans():
    """Largest minus smallest e of the nonzero operands (subnormals count as e = 1; zeros of
    either sign are left out; an all-zero row spans 0)."""
    codes = np.array([[_e5m2(0, 3, 1), _e5m2(1, 9, 0), 0x00, 0x80],
                      [0x01, 0x81, _e5m2(0, 30, 3), 0x00],
                      [0x00, 0x80, 0x00, 0x80],
                      [_e5m2(1, 7, 2), 0x00, _e5m2(0, 7, 0), 0x80]])
    assert fg.exponent_spans(codes, "e5m2", 1).tolist() == [6, 29, 0, 0]
    assert fg.exponent_spans(codes, "e5m2", 0).tolist() == [6, 8, 23, 0]


@pytest.mark.parametrize("rw", [12, 13])
def test_exact_rows_at_the_bound(rw, monkeypatch):
    """K = 64: a row is one GEMM while its span plus the weights' is at most 41 (64 * 2**(41 + 6)
    = 2**53). Row 0 spans 29 (a subnormal 1 and 7 * 2**29) against a column spanning ``rw`` (1 and
    7 * 2**rw): its sum 1 + 63 * 49 * 2**(29 + rw) has 53.6 bits for rw = 13, where float64 drops
    the 1 (so the bound is needed there: the row splits into its subnormal and the rest, two
    exact sums added once, or with the split refused, Karatsuba limbs); row 1 spans 2."""
    calls = _counted(monkeypatch)
    k = 64
    acts = np.stack([np.r_[0x01, [_e5m2(0, 30, 3)] * (k - 1)],
                     _e5m2(np.arange(k) % 2, 10 + np.arange(k) % 3, np.arange(k) % 4)])
    weights = np.stack([np.r_[0x01, [_e5m2(0, 1 + rw, 3)] * (k - 1)],
                        np.r_[0x81, [_e5m2(1, 1 + rw, 3)] * (k - 1)]], axis=1)
    prepared = fg.prepare_weights(FP8, weights, PE)
    assert fg.fp8_exact_rows(acts, prepared, "e5m2").tolist() == [rw == 12, True]
    plain = aligned_operand(acts, "e5m2").astype(np.float64) @ aligned_operand(weights, "e5m2").astype(np.float64)
    exact = FP8.golden(GemmOperands(acts, weights, None, None, None), PE)
    assert (int(plain[0, 0]) == exact[0, 0]) == (rw == 12)   # past the bound float64 is really wrong
    _same(acts, weights)
    assert calls == []
    room = fg._fp8_room(k, prepared, "e5m2")
    low, high, ok = fg.fp8_split_rows(acts[:1], prepared, "e5m2", room)
    assert ok.tolist() == [True] and (high[0, 0] == 0 and set(low[0, 1:]) == {0} if rw == 13 else set(high[0]) == {0})
    _refuse_split(monkeypatch)
    _same(acts, weights)
    assert calls == ([] if rw == 12 else [1])


@pytest.mark.parametrize("w_span", [14, 29])
def test_wide_rows_next_to_narrow_with_extremes(w_span, monkeypatch):
    """Rows spanning every exponent next to rows of a few exponents (one GEMM), with zeros of
    both signs, subnormals and +-max in both operands. K = 500: t = 38; weights spanning 14
    exponents leave a room of 24, so the three wide rows split into two exact parts (Karatsuba
    only with the split refused); spanning 29 a room of 9, where the parts are not exact either
    (Karatsuba)."""
    calls = _counted(monkeypatch)
    rng = np.random.default_rng(13)
    k, n = 500, 7
    acts = _e5m2(rng.integers(0, 2, (6, k)), rng.integers(1, 31, (6, k)), rng.integers(0, 4, (6, k)))
    acts[[1, 4]] = _e5m2(rng.integers(0, 2, (2, k)), rng.integers(12, 16, (2, k)), rng.integers(0, 4, (2, k)))
    acts[0, :6] = [0x00, 0x80, 0x01, 0x83, 0x7B, 0xFB]
    acts[1, :4] = [0x00, 0x80, 0x00, 0x80]
    acts[5] = rng.choice([0x00, 0x80], size=k)                           # all zeros: +0.0 out
    weights = _e5m2(rng.integers(0, 2, (k, n)), rng.integers(3, 16, (k, n)), rng.integers(0, 4, (k, n)))
    weights[:3, 0] = [0x00, 0x80, 0x81]
    weights[:, 1] = rng.choice([0x00, 0x80], size=k)
    if w_span == 29:
        weights[3:5, 2] = [0x01, 0x7B]
    prepared = fg.prepare_weights(FP8, weights, PE)
    assert fg._fp8_room(k, prepared, "e5m2") == 38 - w_span
    _same(acts, weights)
    assert calls == ([] if w_span == 14 else [3])                       # rows 0, 2 and 3
    if w_span == 14:
        _refuse_split(monkeypatch)
        _same(acts, weights)
        assert calls == [3]
    # every element +-max: sums past 2**75, every row wide
    calls.clear()
    top = np.where(rng.random((3, k)) < 0.5, 0x7B, 0xFB)
    _same(top, np.where(rng.random((k, 4)) < 0.5, 0x7B, 0xFB))
    assert calls == []                                                   # span 0: one GEMM, exact


def test_real_minilm():
    for spec in ("minilm:L0.ffn2", "minilm:L3.q", "minilm:L5.ffn1"):
        x, w = real_gemm(spec, m=32, n=64)
        ops = FP8.operands(x, w, PE)
        want = FP8.dequantize_output(FP8.golden(ops, PE), ops.acts, ops.acts_meta, ops.weights_meta, PE)
        assert np.array_equal(fg.fast_output(FP8, ops, PE).view(np.int64), np.asarray(want).view(np.int64))


@pytest.mark.slow          # loads and dequantises the whole GGUF (~10 s CPU)
def test_real_smollm2(monkeypatch):
    """SmolLM2 FFN down projection (its inputs span the most exponents) on real-scale inputs:
    both paths taken, the golden's output."""
    smollm2 = pytest.importorskip("models.smollm2")
    try:
        w = smollm2.load_smollm2().linears["blk.3.ffn_down"][:, :24]
    except smollm2.MissingModelError as e:
        pytest.skip(str(e))
    rng = np.random.default_rng(5)
    x = rng.standard_normal((24, w.shape[0])) * np.exp(rng.standard_normal(w.shape[0]) * 2)
    rows = _split_rows(monkeypatch)
    ops = FP8.operands(x, w, PE)
    want = FP8.dequantize_output(FP8.golden(ops, PE), ops.acts, ops.acts_meta, ops.weights_meta, PE)
    assert np.array_equal(fg.fast_output(FP8, ops, PE).view(np.int64), np.asarray(want).view(np.int64))
    assert len(rows) == 1 and 0 < rows[0] < 24                          # exact and split rows
