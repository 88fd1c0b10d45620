"""The accuracy run's second round of exact speed-ups (issue 17, Speed) equal what they replace
bit for bit: the reuse of one input's activation codes across linears (models.accuracy), the
row-chunked window NLL, the MX element-code table and the MX fast path's skipped clip and
fused float32 cast-and-add. Random, extreme and real MiniLM inputs."""

import dataclasses

import numpy as np
import pytest

from hw.pe_mx import FORMATS as MX_FORMATS
from models import accuracy as acc, fast_golden as fg, mx_gemm
from models.realdata import real_gemm
from models.registry import PE_KINDS

# every registry variant the accuracy table scores through a fast path
VARIANTS = [(name, dict(opts)) for name, kind in PE_KINDS.items() if name in fg.FAST_PATHS
            for _, opts in kind.variants]
VARIANT_IDS = [f"{n}-" + "-".join(f"{k}={v}" for k, v in o.items()) for n, o in VARIANTS]


def _bits(y):
    return np.asarray(y, dtype=np.float32).view(np.int32)


def _fresh_calls(kind, pe, x, w, name, segments=None):
    """The linear layer without any reuse of activation codes: a new design_linear per call."""
    return acc.design_linear(kind, pe)(x, w, name, segments=segments)


# ---------------------------------------------------------------------------------------------
# activation codes reused across linears that read the same input


@pytest.mark.parametrize("name,options", VARIANTS, ids=VARIANT_IDS)
def test_reused_activation_codes_change_nothing(name, options):
    """SmolLM2's q/k/v pattern (three weights, one input) and MiniLM's segmented calls on real
    MiniLM tensors: every output of one design_linear equals a fresh layer's bit for bit, also
    when the next input differs only in the sign of a zero (not the same bytes: no reuse)."""
    kind = PE_KINDS[name]
    pe = kind.prototype(**options)
    # L-Mul's quantisers cost most: its variants take a layer with a shorter K
    x, w = real_gemm("minilm:L3.q" if name == "lmul" else "minilm:L0.ffn2", m=10, n=24)
    lin = acc.design_linear(kind, pe)
    rng = np.random.default_rng(1)
    weights = [w, w[:, ::-1].copy(), w * np.float32(0.5) + rng.standard_normal(w.shape).astype(np.float32) * 0.01]
    for i, wi in enumerate(weights):
        assert np.array_equal(_bits(lin(x, wi, f"w{i}")), _bits(_fresh_calls(kind, pe, x, wi, f"w{i}")))
    y = x.copy()
    y[0, :4] = 0.0
    z = y.copy()
    z[0, :4] = -0.0
    for inp in (y, z, y):
        assert np.array_equal(_bits(lin(inp, w, "w0")), _bits(_fresh_calls(kind, pe, inp, w, "w0")))
    segments = ((0, 3), (3, 7), (7, 10))
    for seg in (segments, segments, None, segments):
        got = lin(x, w, "w0", segments=seg)
        assert np.array_equal(_bits(got), _bits(_fresh_calls(kind, pe, x, w, "w0", seg)))


def test_reused_codes_are_read_only():
    """A reused input's codes cannot be changed by a later step (they are shared)."""
    kind = PE_KINDS["int8"]
    pe = kind.prototype()
    x, _ = real_gemm("minilm:L3.q", m=4, n=8)
    last = acc._LastActs()
    (codes, _), = last.get(kind, pe, x, None)
    assert last.get(kind, pe, x.copy(), None)[0][0] is codes
    with pytest.raises(ValueError):
        codes[0, 0] = 1


def test_a_changed_golden_still_sees_every_call():
    """The reuse is of activation codes only: a kind whose golden is a spy still gets one GEMM
    per linear call, with the same codes as a fresh quantisation."""
    kind = PE_KINDS["ovp"]
    pe = kind.prototype()
    seen = []
    spy = dataclasses.replace(kind, golden_gemm=lambda a, w, p: seen.append(np.array(a)) or kind.golden_gemm(a, w, p))
    x, w = real_gemm("minilm:L0.ffn2", m=6, n=8)
    lin = acc.design_linear(spy, pe)
    for i in range(3):
        lin(x, w[:, i:i + 5], f"w{i}")
    want = acc.quantise_acts(kind, pe, x)[0]
    assert len(seen) == 3 and all(np.array_equal(s, want) for s in seen)


# ---------------------------------------------------------------------------------------------
# the window NLL, NLL_ROWS rows at a time


def _whole_nll(logits, ids):
    """:func:`models.accuracy.window_nll` as it was: the whole (L - 1, vocab) array at once."""
    z = np.array(logits[:-1], dtype=np.float64)
    z -= z.max(axis=1, keepdims=True)
    target = z[np.arange(len(ids) - 1), ids[1:]]
    return np.log(np.exp(z, out=z).sum(axis=1)) - target


@pytest.mark.parametrize("rows,vocab,spread", [(2, 7, 1.0), (acc.NLL_ROWS + 1, 1000, 30.0),
                                               (3 * acc.NLL_ROWS + 5, 5003, 4.0), (64, 49152, 8.0)])
def test_chunked_nll_is_the_whole_array_nll(rows, vocab, spread):
    rng = np.random.default_rng(rows)
    logits = (rng.standard_normal((rows, vocab)) * spread).astype(np.float32)
    logits[0, :3] = np.float32(3.0e38)                       # extremes: ties at the largest float32
    logits[-1, -2:] = np.float32(-3.0e38)
    ids = rng.integers(0, vocab, rows)
    got, want = acc.window_nll(logits, ids), _whole_nll(logits, ids)
    assert got.dtype == np.float64 and np.array_equal(got.view(np.int64), want.view(np.int64))


# ---------------------------------------------------------------------------------------------
# MX element codes: one table lookup


@pytest.mark.parametrize("fmt", list(MX_FORMATS.values()), ids=list(MX_FORMATS))
def test_mx_element_table_is_the_field_decoder(fmt):
    codes = np.arange(1 << fmt.bits)
    refused = []
    for c in codes:
        try:
            want = mx_gemm.decode_element_codes(np.array([[c]]), fmt, "x")
        except ValueError as e:
            refused.append(c)
            with pytest.raises(ValueError, match=str(e).split("(")[0]):
                mx_gemm.element_integers(np.array([[0, c]]), fmt, "x")
            continue
        got = mx_gemm.element_integers(np.array([[c]]), fmt, "x")
        assert got.dtype == np.int64 and np.array_equal(got, want)
    ok = np.setdiff1d(codes, refused)
    shaped = np.random.default_rng(0).choice(ok, (3, 5, 8))
    assert np.array_equal(mx_gemm.element_integers(shaped, fmt, "x"), mx_gemm.decode_element_codes(shaped, fmt, "x"))
    # codes wider than the format's bits take the field decoder, as before
    wide = shaped + (1 << fmt.bits)
    assert np.array_equal(mx_gemm.element_integers(wide, fmt, "x"), mx_gemm.decode_element_codes(wide, fmt, "x"))


# ---------------------------------------------------------------------------------------------
# MX fast path: the clip skipped where it is the identity, the cast fused into the addition


MX_VARIANTS = [o for n, o in VARIANTS if n == "mx"]


@pytest.mark.parametrize("options", MX_VARIANTS, ids=[o["format"] for o in MX_VARIANTS])
def test_mx_fast_on_real_and_scaled_inputs(options):
    """Real MiniLM tensors as they are (no clip needed) and scaled towards the FP32 limit (the
    E8M0 scales make block values beyond it: the clip is taken) equal the golden."""
    kind = PE_KINDS["mx"]
    pe = kind.prototype(**options)
    x, w = real_gemm("minilm:L0.ffn2", m=6, n=10)
    for scale in (1.0, 2.0 ** 60, 2.0 ** 120):
        ops = kind.operands(x.astype(np.float64) * scale, w.astype(np.float64) * scale, pe)
        want = kind.golden(ops, pe)
        assert np.array_equal(fg.fast_golden(kind, ops, pe), want)


def test_mx_decoded_lanes_kept_only_for_frozen_arrays():
    """decoded_lanes returns what split_lanes and element_integers give; it keeps the result
    only for a read-only array owning its data, so a changed writeable array is decoded anew."""
    kind = PE_KINDS["mx"]
    pe = kind.prototype(format="mxfp4")
    x, w = real_gemm("minilm:L3.q", m=4, n=8)
    ops = kind.operands(x, w, pe)
    acts = np.array(ops.acts)
    el, sl = mx_gemm.split_lanes(acts, pe, "activation")
    want = mx_gemm.element_integers(el, pe.mx_format, "activation")
    got, slots = mx_gemm.decoded_lanes(acts, pe, "activation")
    assert np.array_equal(got, want) and np.array_equal(slots, sl)
    acts[0, 0] ^= 1                                         # writeable: decoded anew
    el2, _ = mx_gemm.split_lanes(acts, pe, "activation")
    assert np.array_equal(mx_gemm.decoded_lanes(acts, pe, "activation")[0],
                          mx_gemm.element_integers(el2, pe.mx_format, "activation"))
    frozen = acc.freeze(np.array(ops.acts))
    first = mx_gemm.decoded_lanes(frozen, pe, "activation")
    assert mx_gemm.decoded_lanes(frozen, pe, "activation") is first
    assert not mx_gemm.frozen(acc.freeze(np.array(ops.acts))[:, 1:]) and mx_gemm.frozen(frozen)
    wt, wsl = mx_gemm.decoded_lanes(acc.freeze(np.array(ops.weights)), pe, "weight", transpose=True)
    wel, wsl2 = mx_gemm.split_lanes(np.asarray(ops.weights).T, pe, "weight")
    assert np.array_equal(wt, mx_gemm.element_integers(wel, pe.mx_format, "weight")) and np.array_equal(wsl, wsl2)


# ---------------------------------------------------------------------------------------------
# L-Mul: the weights' K-stack as one gather and in-place products


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_lmul_stacks_are_the_blockwise_concatenation(fmt):
    """The stacked weights equal the block-by-block concatenation ``wb * g[c][fw]`` they replace
    (real MiniLM weights and random codes, every field value), and the fast path the golden."""
    kind = PE_KINDS["lmul"]
    pe = kind.prototype(format=fmt)
    x, w = real_gemm("minilm:L0.ffn2", m=5, n=12)
    ops = kind.operands(x, w, pe)
    prepared = fg.prepare_weights(kind, ops.weights, pe)
    wbase, fw = fg.lmul_weight_fields(ops.weights, pe)
    f = fg.get_format(fmt)
    g = (fg._lmul_g(f.mbits) << (f.mbits - 2)).astype(np.float64)
    old = lambda wb: np.concatenate([wb * g[c][fw] for c in range(1 << f.mbits)], axis=0)
    how, a, wst, *_ = fg._lmul_stacks(ops.acts, prepared, pe)
    if how == "one":
        assert np.array_equal(wst, old(wbase))
    else:
        for mine, half in zip(wst, fg.split_halves(wbase, fg.WIDE_SHIFT)):
            assert np.array_equal(mine, old(half))
    assert np.array_equal(fg.fast_golden(kind, ops, pe), kind.golden(ops, pe))
    a, w = kind.random_operands(np.random.default_rng(3), 4, 40, 6, pe)
    ops = kind.operands(np.asarray(a, dtype=np.int64), np.asarray(w, dtype=np.int64), pe)
    assert np.array_equal(fg.fast_golden(kind, ops, pe), kind.golden(ops, pe))


# ---------------------------------------------------------------------------------------------
# shift-add (MixPE) dequantisation parameters: the dyadic grid element-wise in numpy


def test_dyadic_grid_is_the_scalar_dyadic_params():
    from models import shiftadd_gemm as sg
    from models.quant.shiftadd import dyadic_params
    rng = np.random.default_rng(7)
    lo, hi = sg.DYADIC_MIN_SCALE, sg.DYADIC_MAX_SCALE
    # scales up to hi / 2 (c >= 1 after the rounding carry; larger ones are refused, below)
    scales = np.concatenate([np.exp(rng.uniform(np.log(lo) - 2, np.log(hi / 2), 4000)),
                             [lo, np.nextafter(lo, 0), hi / 2, np.nextafter(hi / 2, 0), 1.0, 0.5, 0.75,
                              1 - 2.0 ** -40, 1 - 2.0 ** -33, 1 - 2.0 ** -32, 1 - 2.0 ** -31, 2.0 ** -20 * (1 - 2.0 ** -33)]])
    got_b, got_c = sg._dyadic_grid(scales.reshape(2, -1))
    clipped = np.clip(scales, lo, np.nextafter(hi, 0))
    want = np.array([dyadic_params(s) for s in clipped]).reshape(2, -1, 2)
    assert got_b.dtype == np.int64 and np.array_equal(got_b, want[..., 0]) and np.array_equal(got_c, want[..., 1])
    for refused in ([hi], [1.0, np.nextafter(hi, 0)], [np.nan]):
        with pytest.raises(ValueError, match="dyadic"):
            sg._dyadic_grid(np.array(refused))
    x, w = real_gemm("minilm:L0.ffn2", m=6, n=16)
    kind = PE_KINDS["shiftadd"]
    pe = kind.prototype()
    ops = kind.operands(x, w, pe)
    assert np.array_equal(fg.fast_golden(kind, ops, pe), kind.golden(ops, pe))


# ---------------------------------------------------------------------------------------------
# FP8 aligned operands: one lookup of the 256 codes


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_fp8_aligned_codes_are_aligned_operand(fmt):
    from models.fp8_gemm import aligned_operand, get_format
    codes = np.arange(256)
    ok = codes[get_format(fmt).valid(codes)]
    shaped = np.random.default_rng(5).choice(ok, (7, 33))
    for c in (ok[None, :], shaped, np.zeros((0, 3), dtype=np.int64)):
        got, want = fg.aligned_codes(c, fmt), aligned_operand(c, fmt)
        assert got.dtype == want.dtype == np.int64 and np.array_equal(got, want)
    for bad in (np.setdiff1d(codes, ok)[:1], np.array([-1]), np.array([256])):
        with pytest.raises(ValueError) as want:
            aligned_operand(np.r_[ok[:3], bad], fmt)
        with pytest.raises(ValueError, match=str(want.value).split("(")[0][:40]):
            fg.aligned_codes(np.r_[ok[:3], bad], fmt)
    kind = PE_KINDS["fp8"]
    pe = kind.prototype(format=fmt)
    x, w = real_gemm("minilm:L0.ffn2", m=6, n=16)
    ops = kind.operands(x, w, pe)
    assert np.array_equal(fg.fast_golden(kind, ops, pe), kind.golden(ops, pe))


# ---------------------------------------------------------------------------------------------
# BitMoD weight encoding: one lookup of every (value, selector) pair


@pytest.mark.parametrize("fmt", ["fp4", "fp3", "mixed4", "mixed3", "int8", "int6"])
def test_bitserial_encode_table_is_the_field_encoder(fmt):
    from models import bitserial_gemm as bg
    rng = np.random.default_rng(11)
    values = np.arange(-20, 21)
    sels = (0, 1, 2, 3, 4, -1) if fmt in bg.SPECIAL_VALUES else (None, 2)
    for sel in sels:
        for v in values:
            s_ = None if sel is None else np.array([sel])
            try:
                want = bg.encode_field_by_field(np.array([v]), fmt, s_)
            except ValueError as e:
                with pytest.raises(ValueError, match=str(e).split("[")[0]):
                    bg.encode_weight_values(np.array([0, v]) if v else np.array([v]), fmt,
                                            None if sel is None else np.array([0, sel]) if v else s_)
                continue
            got = bg.encode_weight_values(np.array([v]), fmt, s_)
            assert got.dtype == want.dtype and np.array_equal(got, want)
    # real BitMoD weights (MiniLM) through the quantiser: codes and the fast GEMM equal the golden
    if fmt in bg.SPECIAL_VALUES or fmt in ("fp4", "fp3"):
        kind = PE_KINDS["bitserial"]
        pe = kind.prototype(weight_format=fmt, group_size=32)
        x, w = real_gemm("minilm:L0.ffn2", m=4, n=8)
        ops = kind.operands(x, w, pe)
        assert np.array_equal(fg.fast_golden(kind, ops, pe), kind.golden(ops, pe))
        dec = bg.decode_weight_codes(ops.weights, fmt)
        sel = (np.asarray(ops.weights) >> (4 if fmt in ("fp4", "mixed4") else 3)) & 3
        assert np.array_equal(bg.encode_weight_values(dec, fmt, sel if fmt in bg.SPECIAL_VALUES else None),
                              bg.encode_field_by_field(dec, fmt, sel if fmt in bg.SPECIAL_VALUES else None))
    big = rng.integers(-3, 4, (5, 6))
    sel = rng.integers(0, 4, (5, 6)) if fmt in bg.SPECIAL_VALUES else None
    try:
        want = bg.encode_field_by_field(big, fmt, sel)
    except ValueError:
        return
    assert np.array_equal(bg.encode_weight_values(big, fmt, sel), want)


@pytest.mark.parametrize("fmt", ["fp4", "fp3", "mixed4", "mixed3", "int8", "int6"])
def test_bitserial_encode_in_the_quantisers_layout(fmt):
    """``encode_quantised`` (levels (N, K') and per-group selectors, compiled) is
    ``encode_weight_values`` of the transposed levels and the repeated selectors: the same codes
    and memory order on the quantiser's output (K cut from a zero-padded K'), the same error for
    a value or selector the format refuses (the field encoder's, through the fallback)."""
    from models import bitserial_gemm as bg
    from models.quant.bitmod import LEVELS, MIXED, quantize_bitmod
    rng = np.random.default_rng(12)

    def old(q, selector, g, k):
        values = np.rint(q.T[:k]).astype(np.int64)
        per = np.repeat(selector.T, g, axis=0)[:k]
        return bg.encode_weight_values(values, fmt, per if fmt in bg.SPECIAL_VALUES else None)

    w = rng.standard_normal((40, 96)) * 10.0 ** rng.integers(-3, 2, (40, 96))
    w[:, 90:] = 0                                                       # the padding
    qt = quantize_bitmod(w, bg.QUANT_DTYPE[fmt], group_size=32, scale_format="int8")
    if fmt in bg.SPECIAL_VALUES:
        assert (qt.meta["selector"] > 0).any()
    got = bg.encode_quantised(qt.codes, qt.meta["selector"], 32, 90, fmt)
    want = old(qt.codes, qt.meta["selector"], 32, 90)
    assert got.dtype == want.dtype and got.shape == want.shape == (90, 40) and np.array_equal(got, want)
    assert got.flags.f_contiguous == want.flags.f_contiguous
    types = MIXED.get(bg.QUANT_DTYPE[fmt], (bg.QUANT_DTYPE[fmt],))
    levels = np.array(sorted({int(v) for t in types for v in LEVELS[t]}))
    q = rng.choice(levels, (6, 64)).astype(np.int16)
    selector = rng.integers(0, 4, (6, 2)).astype(np.int8)
    for bad_q, bad_sel in [(None, None), (0, None), (None, 0)]:
        qq, ss = q.copy(), selector.copy()
        if bad_q is not None:
            qq[2, 5] = 200 if fmt in bg.BOOTH_BITS else 9           # beyond INT8 / not an FP level
        if bad_sel is not None:
            ss[1, 1] = 7
        try:
            want = old(qq, ss, 32, 60)
        except ValueError as e:
            with pytest.raises(ValueError, match=str(e).split("[")[0][:40]):
                bg.encode_quantised(qq, ss, 32, 60, fmt)
            continue
        assert np.array_equal(bg.encode_quantised(qq, ss, 32, 60, fmt), want)
