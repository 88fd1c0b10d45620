"""The exact fast paths equal the registered golden GEMMs bit for bit: random codes over the whole
ranges, extreme codes (every element at a range end, accumulators wrapping at the smallest
widths), real MiniLM tensors through the kinds' quantisers, and the float-exactness bounds of
:func:`models.fast_golden.exact_matmul` itself."""

import dataclasses
import itertools

import numpy as np
import pytest

from hw.scale_dequant import ScaleCodes
from models import bitserial_fp16, fast_bsfp16, fast_golden as fg, gobo_gemm, mx_gemm, smollm2, wfp16_gemm
from models.gobo_format import GoboDictionary
from models.realdata import real_gemm
from models.registry import PE_KINDS

# every fast-path kind with its registry variants plus the option values the variants leave out
DESIGNS = [(name, dict(opts)) for name, kind in PE_KINDS.items() if name in fg.FAST_PATHS
           for _, opts in kind.variants]
DESIGNS += [("lut", {"weight_bits": 3}), ("ovp", {"mode": "int8"}),
            ("shiftadd", {"weight_bits": 2, "group_size": 64}), ("shiftadd", {"group_size": None}),
            ("shiftadd", {"weight_bits": 3, "group_size": 32}),
            ("bitserial", {"weight_format": "fp4", "group_size": 32}),
            ("bitserial", {"weight_format": "int6", "group_size": None}),
            ("bitserial", {"weight_format": "fp3", "group_size": 128}),
            ("ant", {"act_type": "upot4", "weight_type": "upot4"}), ("ant", {"act_type": "uint8", "weight_type": "uint8"}),
            ("ant", {"act_type": "uflint4", "weight_type": "int4"}),
            ("bitserial_fp16", {"weight_format": "mixed3"}), ("bitserial_fp16", {"weight_format": "int8"})]
# kinds whose accumulator width is fixed by the format (no acc_width option)
FIXED_ACC = {"fp8", "lmul", "fp16", "gobo", "wfp16", "mx", "bitserial_fp16"}
# FP8-like and FP16 operands, whose largest values test_float_kinds_largest_values builds
FLOAT_CODES = {"fp8", "lmul", "fp16"}
# lane layouts whose codes are not elements: their extremes are built by their own test
OWN_EXTREMES = {"mx"}
# kinds without a fast path, each for a stated reason
NO_FAST_PATH = set(fg.NO_FAST_PATH)
IDS = [f"{n}-" + "-".join(f"{k}={v}" for k, v in o.items()) for n, o in DESIGNS]
SHAPES = [(1, 1, 1), (3, 7, 5), (6, 129, 4), (4, 300, 9), (2, 1025, 3)]


def _same(kind, operands, pe):
    want = kind.golden(operands, pe)
    got = fg.fast_golden(kind, operands, pe)
    # int64, or Python ints for accumulators wider than 64 bits (FP8 / L-Mul e5m2: 81 bits)
    assert got.dtype == want.dtype and got.dtype in (np.int64, object) and got.shape == want.shape
    assert all(type(v) is int for v in got.flat) if got.dtype == object else True
    np.testing.assert_array_equal(got, want)


def test_every_registered_kind_is_covered():
    """A kind added to the registry gets a fast path (and so these tests) or a stated reason."""
    assert set(PE_KINDS) == set(fg.FAST_PATHS) | NO_FAST_PATH
    assert not set(fg.FAST_PATHS) & NO_FAST_PATH


@pytest.mark.parametrize("name,options", DESIGNS, ids=IDS)
def test_random_codes(name, options):
    kind = PE_KINDS[name]
    pe = kind.prototype(**options)
    assert fg.has_fast_path(kind)
    rng = np.random.default_rng(len(IDS[DESIGNS.index((name, options))]))
    for m, k, n in SHAPES:
        acts, weights = kind.random_operands(rng, m, k, n, pe)
        _same(kind, kind.operands(acts, weights, pe), pe)


@pytest.mark.parametrize("name,options", [(n, o) for n, o in DESIGNS if n not in OWN_EXTREMES],
                         ids=[i for i, (n, _) in zip(IDS, DESIGNS) if n not in OWN_EXTREMES])
def test_extreme_codes_and_wrapping(name, options):
    """Every element at an end of its range (the largest products), and the narrowest accumulator
    each PE allows so that sums wrap; K long enough to need several float32 blocks."""
    kind = PE_KINDS[name]
    narrowest = {"ovp": 24, "ant": 24}.get(name, 17)
    for acc_width in ((None,) if name in FIXED_ACC else (32, narrowest)):
        pe = kind.prototype(**options, **({} if acc_width is None else {"acc_width": acc_width}))
        rng = np.random.default_rng(acc_width)
        a_rand, w_rand = kind.random_operands(rng, 4, 2304, 3, pe)
        for pick in ("min", "max", "mixed"):
            ends = lambda x: {"min": np.full_like(x, x.min()), "max": np.full_like(x, x.max()),
                              "mixed": np.where(rng.random(x.shape) < 0.5, x.min(), x.max())}[pick]
            # ends of the drawn ranges (2304 uniform draws per row hit both ends of every format)
            acts, weights = ends(a_rand), ends(w_rand)
            _same(kind, kind.operands(acts, weights, pe), pe)


@pytest.mark.parametrize("name,options", DESIGNS, ids=IDS)
def test_real_minilm_operands(name, options):
    """Real activations and weights through the kind's quantisers (MiniLM L0 FFN2: K 1536 with
    the recurring outlier channel) and its extra operand from their metadata."""
    kind = PE_KINDS[name]
    pe = kind.prototype(**options)
    acts, weights = real_gemm("minilm:L0.ffn2", m=12, n=40)
    _same(kind, kind.operands(acts, weights, pe), pe)
    acts, weights = real_gemm("minilm:L3.q", m=12, n=40)
    _same(kind, kind.operands(acts, weights, pe), pe)


MAX_NORMAL = {"fp16": 0x7BFF, "e4m3": 0x7E, "e5m2": 0x7B}


@pytest.mark.parametrize("name,options", [(n, o) for n, o in DESIGNS if n in FLOAT_CODES],
                         ids=[i for i, (n, _) in zip(IDS, DESIGNS) if n in FLOAT_CODES])
def test_float_kinds_largest_values(name, options):
    """The float kinds' extremes are values, not codes: every element +-max normal (the largest
    products; e5m2 products of 2**64, sums past int64), the same sign (sums climb) and mixed,
    plus the smallest subnormals next to them (their products vanish in an FP32 sum)."""
    kind = PE_KINDS[name]
    pe = kind.prototype(**options)
    top = MAX_NORMAL[options.get("format", "fp16")]
    sign = 0x8000 if name == "fp16" else 0x80
    rng = np.random.default_rng(5)
    for k in (1, 300, 2304):
        for mix in (0.0, 0.5, 1.0):
            acts = np.where(rng.random((3, k)) < mix, top | sign, top)
            weights = np.where(rng.random((k, 4)) < mix, top | sign, top)
            weights[:, 3] = np.where(rng.random(k) < 0.5, 1, 1 | sign)        # smallest subnormals
            _same(kind, kind.operands(acts, weights, pe), pe)


def test_wide_matmul_limbs():
    """wide_matmul's limbs give the exact Python-int sums of products beyond int64."""
    rng = np.random.default_rng(3)
    for bits in (20, 33, 40):
        a = rng.integers(-(1 << bits), 1 << bits, size=(3, 700))
        w = rng.integers(-(1 << bits), 1 << bits, size=(700, 5))
        a[0], w[:, 0] = (1 << bits) - 1, (1 << bits) - 1
        want = a.astype(object) @ w.astype(object)
        got = fg.limbs_to_int(*fg.wide_matmul(a, w))
        assert all(type(v) is int for v in got.flat)
        np.testing.assert_array_equal(got, want)
    with pytest.raises(OverflowError):
        fg.exact_matmul(np.full((1, 4), 1 << 40), np.full((4, 1), 1 << 40))


@pytest.mark.parametrize("magnitude", [100, 1 << 20, 1 << 30, 1 << 40])
def test_exact_matmul_bounds(magnitude):
    """float32 blocks, float64 blocks and the int64 fallback all give the exact integers (Python
    int references), at the edges of their ranges (sums of thousands of maximal products); sums
    that could leave int64 raise OverflowError instead of wrapping silently."""
    rng = np.random.default_rng(magnitude % 1000)

    def check(a, w):
        want = np.matmul(a.astype(object), w.astype(object))
        if int(np.abs(a).max()) * int(np.abs(w).max()) * a.shape[-1] >= 1 << 63:
            with pytest.raises(OverflowError):
                fg.exact_matmul(a, w)
        else:
            np.testing.assert_array_equal(fg.exact_matmul(a, w), want)
    for k in (1, 511, 1023, 4097):
        check(rng.choice([-magnitude, magnitude - 1, magnitude], size=(3, k)),
              rng.choice([-magnitude, magnitude], size=(k, 2)))
        # wide activations, narrow weights (wfp16's FP16 operands): the split halves' float blocks
        check(rng.choice([-magnitude, magnitude - 1, magnitude, 1 - magnitude], size=(3, k)) << 20,
              rng.choice([-(1 << 12), (1 << 12) - 1, 1], size=(k, 2)))
    # no float holds a single product and the activations cannot split further: int64
    check(rng.choice([-1, 0, 1], size=(3, 16)), rng.choice([-(1 << 58), 1 << 58], size=(16, 2)))
    # one sign, odd products: partial sums climb straight to k * (m - 1)**2, past 2**24 / 2**53
    # for the longest K, where only the blocking keeps them exact
    for k in (1677, 1678, 8193, 16385):
        a, w = np.full((2, k), magnitude - 1), np.full((k, 3), 1 - magnitude)
        w[0, 0] = -magnitude
        check(a, w)
    check(rng.integers(-magnitude, magnitude, size=(2, 3, 700)),
          rng.integers(-magnitude, magnitude, size=(2, 700, 4)))


def test_block_keeps_partial_sums_exact():
    """The block bound: 2**24 - 1 is representable, so a block of 1023 products of 128 * 128
    (1023 * 16384 < 2**24) is exact in float32, and the next product would not fit."""
    assert fg._block(4096, 128 * 128, fg.F32_EXACT) == 1023
    assert 1023 * 128 * 128 < fg.F32_EXACT <= 1024 * 128 * 128
    assert fg._block(10, fg.F32_EXACT, fg.F32_EXACT) == 0


def test_other_golden_is_called_as_it_is():
    """A kind whose golden is not the registered function (here: off by one) gets no fast path:
    fast_golden returns what that golden returns."""
    kind = PE_KINDS["int8"]
    broken = dataclasses.replace(kind, golden_gemm=lambda a, w, pe: kind.golden_gemm(a, w, pe) + 1)
    pe = kind.prototype()
    operands = kind.operands(*kind.random_operands(np.random.default_rng(1), 3, 5, 2, pe), pe)
    assert fg.has_fast_path(kind) and not fg.has_fast_path(broken)
    np.testing.assert_array_equal(fg.fast_golden(broken, operands, pe), kind.golden(operands, pe) + 1)


def test_bitserial_wrapping_groups_in_one_gemm(monkeypatch):
    """The grouped bit-serial fast path is one GEMM of the code-scaled weights reduced once to the
    accumulator width, also where the golden's per-group sums, scaled values and running totals
    wrap (extreme codes, 17-bit accumulator; wrapping is a reduction modulo 2**acc_width), and
    where nothing wraps (real operands, 32 bits); never the per-group batch."""
    monkeypatch.setattr(fg, "_grouped", lambda *a: pytest.fail("per-group path taken"))
    kind = PE_KINDS["bitserial"]
    for options in ({"weight_format": "mixed4", "group_size": 128}, {"weight_format": "int8", "group_size": 128}):
        test_real_minilm_operands("bitserial", options)
        pe = kind.prototype(**options, acc_width=17)
        acts, weights = kind.random_operands(np.random.default_rng(0), 4, 2304, 3, pe)
        widest = 0
        for a in (acts.min(), acts.max()):
            for w in (weights.min(), weights.max()):
                operands = kind.operands(np.full_like(acts, a), np.full_like(weights, w), pe)
                _same(kind, operands, pe)
                values = fg.bitserial_values(operands.weights, pe)[0]
                widest = max(widest, int(np.abs(fg.exact_matmul(operands.acts, values)).max()))
        assert widest >= 1 << 17        # the golden's sums really wrap


# ---------------------------------------------------------------------------------------------
# the block-scaled (mx), dictionary (gobo) and FP16 x INT (wfp16) kinds' own extremes


MX_VARIANTS = [o for n, o in DESIGNS if n == "mx"]


def _mx_extreme_elements(fmt):
    """(largest positive, most negative) element codes of ``fmt`` (NaN / infinity codes skipped)."""
    values = {}
    for code in range(1 << fmt.bits):
        try:
            values[code] = int(mx_gemm.element_integers(np.array([code]), fmt, "element")[0])
        except ValueError:
            continue
    return max(values, key=values.get), min(values, key=values.get)


def _mx_lanes(elements, scales, pe):
    return mx_gemm.interleave(elements, scales, pe)


@pytest.mark.parametrize("options", MX_VARIANTS, ids=[o["format"] for o in MX_VARIANTS])
def test_mx_extremes(options):
    """Every element at its largest magnitude (one sign: sums climb, block values saturate at the
    FP32 maximum and the accumulator overflows to infinity; mixed signs), block scales at their
    ends (E8M0 0 / 254: underflow to zero and subnormals, saturation; E4M3 the smallest subnormal,
    448 and 0), zero elements, and K' cut inside a lane (a zero-padded last block)."""
    kind = PE_KINDS["mx"]
    pe = kind.prototype(**options)
    fmt = pe.mx_format
    top, bottom = _mx_extreme_elements(fmt)
    scale_ends = (0, 254, 127) if fmt.scale == "e8m0" else (0, 1, 0x7E)
    rng = np.random.default_rng(11)
    m, blocks, n = 3, 9, 4
    k = blocks * fmt.block
    for mix in (0.0, 0.5, 1.0):
        a_el = np.where(rng.random((m, k)) < mix, bottom, top)
        w_el = np.where(rng.random((n, k)) < mix, bottom, top)
        w_el[-1] = 0                                                    # a zero column
        for scales in [(s, t) for s in scale_ends for t in scale_ends] + ["random"]:
            if scales == "random":
                a_sc = rng.choice(scale_ends, size=(m, blocks))
                w_sc = rng.choice(scale_ends, size=(n, blocks))
            else:
                a_sc, w_sc = np.full((m, blocks), scales[0]), np.full((n, blocks), scales[1])
            acts, weights = _mx_lanes(a_el, a_sc, pe), _mx_lanes(w_el, w_sc, pe).T
            _same(kind, kind.operands(acts, weights, pe), pe)
            # K' cut inside the last lane: its scale slots hold what the padding leaves
            cut = acts.shape[1] - pe.k_per_step // 2
            if (acts[:, cut:] == 0).all() or pe.k_per_step < 2:
                continue
            _same(kind, kind.operands(acts[:, :cut], weights[:cut], pe), pe)
    words = fg.fast_golden(kind, kind.operands(_mx_lanes(np.full((1, k), top), np.full((1, blocks), scale_ends[1]), pe),
                                               _mx_lanes(np.full((1, k), top), np.full((1, blocks), scale_ends[1]), pe).T,
                                               pe), pe)
    value = mx_gemm.decode_fp32(words)[0, 0]
    assert value > 0 and (np.isinf(value) or fmt.scale == "e4m3")     # E8M0 254 + 254 overflows


@pytest.mark.parametrize("options", MX_VARIANTS, ids=[o["format"] for o in MX_VARIANTS])
def test_mx_open_block_and_refusals(options):
    """The golden leaves a block not ended by the last lane out of its output (the operand check
    refuses such a GEMM run; the GEMM functions themselves define it), and both refuse NaN /
    infinity element codes and NaN scale codes alike."""
    kind = PE_KINDS["mx"]
    pe = kind.prototype(**options)
    rng = np.random.default_rng(2)
    steps = 3 * pe.steps_per_block + 1
    ends = np.zeros(steps, dtype=bool)
    ends[pe.steps_per_block - 1::pe.steps_per_block] = True             # 3 blocks, 1 open lane
    ends[pe.steps_per_block] = pe.steps_per_block > 2                  # and a short block
    assert not ends[-1] and pe.steps_per_block > 1
    acts = mx_gemm.random_lanes(rng, 4, steps * pe.k_per_step, pe, ends)
    weights = mx_gemm.random_lanes(rng, 5, steps * pe.k_per_step, pe, ends).T
    got = fg.mx_fast(acts, fg.mx_weight_lanes(weights, pe), pe)
    np.testing.assert_array_equal(got, mx_gemm.mx_gemm(acts, weights, pe))
    fmt = pe.mx_format
    bad = [a for a in range(1 << fmt.bits) if not _valid_element(a, fmt)]
    el = np.zeros((2, 3 * fmt.block), dtype=np.int64)
    weights = _mx_lanes(np.zeros((3, 3 * fmt.block), dtype=np.int64), np.full((3, 3), 0x38), pe).T
    # a NaN scale code at a block end: E4M3's 0x7F; E8M0's 255 is the continue code, so the block
    # runs on past its length
    nan_scale = _mx_lanes(el, np.array([[0x38, 0x38, 0x38], [0x38, 0x7F if fmt.scale == "e4m3" else 0xFF, 0x38]]), pe)
    cases = [nan_scale, _mx_lanes(el, np.full((2, 3), 0x38), pe)[:, pe.k_per_step:]]   # shifted ends
    for code in bad[:2]:
        element = _mx_lanes(el, np.full((2, 3), 0x38), pe)
        element[1, 0] = code
        cases.append(element)
    assert len(cases) == 2 + min(2, len(bad)) and (fmt.ebits not in (4, 5) or bad)
    for case in cases:
        with pytest.raises(ValueError):
            mx_gemm.mx_gemm(case, weights[:case.shape[1]], pe)
        with pytest.raises(ValueError):
            fg.mx_fast(case, fg.mx_weight_lanes(weights[:case.shape[1]], pe), pe)


def _valid_element(code, fmt):
    try:
        mx_gemm.element_integers(np.array([code]), fmt, "element")
        return True
    except ValueError:
        return False


def test_mx_wide_sums_take_the_limb_path(monkeypatch):
    """MXFP8 E5M2's block sums (up to 71 bits) go through _mx_wide_sums' limbs, rounded to odd,
    in the block rows whose integers span too many bits for one float64 GEMM (the largest
    element next to the smallest subnormal), the other rows (the extremes: equal elements) and
    the other formats through one float64 GEMM: both branches are compared to the golden (and
    the golden's own path is not the one taken)."""
    calls = []
    original = fg._mx_wide_sums
    monkeypatch.setattr(fg, "_mx_wide_sums", lambda *a: calls.append(1) or original(*a))
    monkeypatch.setattr(fg, "mx_gemm", lambda *a: pytest.fail("the golden fallback taken"))
    test_mx_extremes({"format": "mxfp8-e4m3"})
    test_mx_extremes({"format": "mxfp8-e5m2"})
    assert not calls
    kind = PE_KINDS["mx"]
    pe = kind.prototype(format="mxfp8-e5m2")
    top, _ = _mx_extreme_elements(pe.mx_format)
    rng = np.random.default_rng(12)
    a_el = np.where(rng.random((4, 2 * pe.mx_format.block)) < 0.5, top, 0x01)     # 0x01: smallest subnormal
    a_el[0] = top
    acts = _mx_lanes(a_el, np.full((4, 2), 127), pe)
    weights = _mx_lanes(np.where(rng.random((3, a_el.shape[1])) < 0.5, top, 0x81), np.full((3, 2), 127), pe).T
    _same(kind, kind.operands(acts, weights, pe), pe)
    assert calls


def test_round_to_odd_sum():
    """h + l rounded to odd, against exact rationals: the rounding is to the odd neighbour, and a
    later float32 rounding of it is the correctly rounded sum."""
    from fractions import Fraction
    rng = np.random.default_rng(4)
    h = np.ldexp(rng.integers(-(1 << 40), 1 << 40, size=4000).astype(np.float64), 30)
    l = rng.integers(-(1 << 40), 1 << 40, size=4000).astype(np.float64)
    h[:4], l[:4] = 2.0 ** 70, [-1.0, 1.0, 0.0, -(2.0 ** 16)]           # a power of two, ties
    got = fg.round_to_odd_sum(h.copy(), l)
    for x, y, r in zip(h, l, got):
        exact = Fraction(x) + Fraction(y)
        lo, hi = sorted((r, np.nextafter(r, np.inf if Fraction(r) < exact else -np.inf)))
        assert Fraction(r) == exact or (Fraction(lo) < exact < Fraction(hi) and int(np.float64(r).view(np.int64)) & 1)
        assert np.float32(r) == np.float32(_round_fraction_to_f32(exact))


def _round_fraction_to_f32(q):
    """Correctly rounded (RNE) float32 value of the Fraction ``q`` (normal range), as a float."""
    from fractions import Fraction
    if q == 0:
        return 0.0
    sign = -1 if q < 0 else 1
    q = abs(q)
    e = q.numerator.bit_length() - q.denominator.bit_length()
    if Fraction(2) ** e > q:
        e -= 1
    scaled = q / Fraction(2) ** (e - 23)                  # in [2**23, 2**24)
    i = int(scaled)
    frac = scaled - i
    if frac > Fraction(1, 2) or (frac == Fraction(1, 2) and i & 1):
        i += 1
    return sign * float(Fraction(i) * Fraction(2) ** (e - 23))


def _gobo_operands(kind, pe, acts, weights, table, with_outliers=False):
    """With ``with_outliers``: every flagged weight listed as an outlier, FP16 extremes and random
    values (the golden then adds them after the array, step 5)."""
    outliers = ()
    if with_outliers:
        ks, ns = np.nonzero(weights >> 3)
        extremes = [0x7BFF, 0xFBFF, 0x0001, 0x8001, 0x0000, 0x8000, 0x3C00, 0x03FF, 0xB555]
        outliers = tuple((k, n, extremes[(3 * k + n) % len(extremes)]) for k, n in zip(ks, ns))
    return kind.operands(acts, weights, pe, extra=GoboDictionary(tuple(table), outliers))


def test_gobo_extremes():
    """Tables with the largest normal (both signs), -0, +0 and the smallest subnormals; activations
    at +-65504 (products of 2**32: FP32 sums climb with many roundings), the smallest subnormals
    next to them; every weight an outlier (the array sums nothing), none, and a random half (also
    with those outliers listed, extreme values: the golden's step 5 added to the fast array
    sums); random tables; FP16 infinity / NaN activations refused by both."""
    kind = PE_KINDS["gobo"]
    pe = kind.prototype()
    rng = np.random.default_rng(6)
    tables = [(0x7BFF, 0xFBFF, 0x8000, 0x0000, 0x0001, 0x8001, 0x3C00, 0x03FF),
              (0x7BFF,) * 8, gobo_gemm.DEFAULT_DICTIONARY.centroids] + \
             [gobo_gemm.random_dictionary(rng).centroids for _ in range(3)]
    for table in tables:
        for k in (1, 300, 2304):
            for mix in (0.0, 0.5):
                acts = np.where(rng.random((3, k)) < mix, 0xFBFF, 0x7BFF)
                acts[:, ::7] = rng.choice([0x0001, 0x8001, 0x0000, 0x8000], size=acts[:, ::7].shape)
                index = rng.integers(0, 8, size=(k, 4))
                for flags in (0.0, 0.5, 1.0):
                    weights = index | ((rng.random((k, 4)) < flags).astype(np.int64) << 3)
                    _same(kind, _gobo_operands(kind, pe, acts, weights, table), pe)
                    if 0 < flags < 1 and k > 1:
                        _same(kind, _gobo_operands(kind, pe, acts, weights, table, True), pe)
    acts = np.full((2, 5), 0x7C00)
    for f in (lambda: gobo_gemm.gobo_golden(acts, np.zeros((5, 2), np.int64), pe),
              lambda: fg.gobo_fast(acts, fg.gobo_weight_codes(np.zeros((5, 2), np.int64), pe), pe)):
        with pytest.raises(ValueError):
            f()


WFP16_VARIANTS = [o for n, o in DESIGNS if n == "wfp16"]


@pytest.mark.parametrize("options", WFP16_VARIANTS, ids=["-".join(map(str, o.values())) for o in WFP16_VARIANTS])
def test_wfp16_long_sums(options):
    """Activations at +-65504 (2**40 units) times the largest weights over K = 70,000 (past 2**16
    products): the int4 / int8 accumulators (60 / 64 bits) wrap, ovp4's 65-bit sums leave int64
    (Python ints, wrapped to 65 bits); the grouped design's codes at 1 and 255; the smallest
    subnormals; FP16 infinity / NaN refused by both."""
    kind = PE_KINDS["wfp16"]
    pe = kind.prototype(**options)
    specials = wfp16_gemm.special_weight_codes(pe)
    values = wfp16_gemm.weight_operand(specials[:, None], pe.weight_format)[:, 0]
    big = specials[np.argmax(np.abs(values))]
    rng = np.random.default_rng(8)
    k = 70000 if pe.weight_format != "ovp4" else 70002
    for mix in (0.0, 0.5):
        acts = np.where(rng.random((2, k)) < mix, 0xFBFF, 0x7BFF)
        acts[1, ::5] = 0x0001
        weights = np.full((k, 3), big)
        weights[:, 1] = np.where(rng.random(k) < mix, big, specials[1])
        weights[:, 2] = rng.choice(specials, size=k)
        extra = None
        if pe.group_size is not None:
            codes = np.where(rng.random((-(-k // pe.group_size), 3)) < 0.5, 1, 255)
            extra = ScaleCodes(pe.group_size, codes)
        _same(kind, kind.operands(acts, weights, pe, extra=extra), pe)
    # the largest weight pair (ovp4: an outlier and its victim, 96 a pair) down a column past int64
    pairs = [(a, b) for a in specials for b in specials]
    pair = max(pairs, key=lambda p: np.abs(wfp16_gemm.weight_operand(np.array([p]).T, pe.weight_format)).sum())
    k = k if pe.acc_width <= 64 else 400000
    column = np.resize(np.array(pair), (k, 1))
    raw = fg.fast_golden(kind, kind.operands(np.full((1, k), 0x7BFF), column, pe), pe)
    _same(kind, kind.operands(np.full((1, k), 0x7BFF), column, pe), pe)
    exact = int(wfp16_gemm.activation_operand(np.array([[0x7BFF]]))[0, 0]) * int(
        wfp16_gemm.weight_operand(column, pe.weight_format).astype(object).sum())
    assert abs(exact) >= 1 << (min(pe.acc_width, 64) - 1)               # wraps, or past int64
    if pe.group_size is None:
        wrapped = (exact + (1 << (pe.acc_width - 1))) % (1 << pe.acc_width) - (1 << (pe.acc_width - 1))
        assert int(raw[0, 0]) == wrapped and (wrapped != exact or pe.acc_width > 64)
    with pytest.raises(ValueError):
        fg.wfp16_fast(np.full((1, 2), 0x7E00), fg.wfp16_weight_values(np.ones((2, 1), np.int64), pe), pe)
    with pytest.raises(ValueError):
        wfp16_gemm.wfp16_golden(np.full((1, 2), 0x7E00), np.ones((2, 1), np.int64), pe)


def test_split_matmul_limbs():
    """split_halves + split_matmul (three float64 GEMMs) give the exact Python-int sums of
    products beyond int64, from int64 or float64 operands, extremes included; None (not a wrong
    answer) when a bound fails."""
    rng = np.random.default_rng(11)
    shift = fg.WIDE_SHIFT
    for bits in (5, 20, 31):
        a = rng.integers(-(1 << bits), 1 << bits, size=(3, 700))
        w = rng.integers(-(1 << (bits + 2)), 1 << (bits + 2), size=(700, 5))
        a[0], w[:, 0], a[1], w[:, 1] = (1 << bits) - 1, (1 << (bits + 2)) - 1, -(1 << bits), -(1 << (bits + 2))
        want = a.astype(object) @ w.astype(object)
        for conv in (lambda x: x, lambda x: x.astype(np.float64)):
            limbs = fg.split_matmul(fg.split_halves(conv(a), shift), fg.split_halves(conv(w), shift), shift, 700)
            got = fg.limbs_to_int(*limbs)
            assert all(type(v) is int for v in got.flat)
            np.testing.assert_array_equal(got, want)
    big = np.full((1, 4), float(1 << 52))
    assert fg.split_matmul(fg.split_halves(big, shift), fg.split_halves(big.T, shift), shift, 4) is None


@pytest.mark.parametrize("name", ["fp8", "lmul"])
def test_e5m2_sums_take_the_split_path(monkeypatch, name):
    """FP8 / L-Mul E5M2's sums past int64 go through split_matmul (not wide_matmul's fallback),
    E4M3's through one GEMM: both compared to the golden on their largest values."""
    calls = []
    original = fg.split_matmul
    monkeypatch.setattr(fg, "split_matmul", lambda *a, **kw: calls.append(1) or original(*a, **kw))
    monkeypatch.setattr(fg, "wide_matmul", lambda *a: pytest.fail("wide_matmul fallback taken"))
    test_float_kinds_largest_values(name, {"format": "e4m3"})
    assert not calls
    test_float_kinds_largest_values(name, {"format": "e5m2"})
    assert calls


def test_bitserial_weight_operand_memo_follows_the_scale_codes():
    """The bit-serial fast paths memoise their weight operand in the prepared weights: calls
    alternating scale codes (the quantiser's, others, the default's) on one prepared set each
    equal the golden, through the integer and the float path."""
    kind = PE_KINDS["bitserial"]
    pe = kind.prototype(weight_format="mixed4", group_size=32)
    x, w = real_gemm("minilm:L0.ffn2", m=5, n=12)
    ops = kind.operands(x, w, pe)
    rng = np.random.default_rng(4)
    other = ScaleCodes(32, rng.integers(1, 256, ops.extra.codes.shape))
    prepared = fg.prepare_weights(kind, ops.weights, pe)
    for extra in (ops.extra, other, other, None, ops.extra):
        o = dataclasses.replace(ops, extra=extra)
        want = kind.golden(o, pe)
        assert np.array_equal(fg.bitserial_fast(o.acts, prepared, pe, extra), want)
        assert np.array_equal(fg.bitserial_float(o.acts, prepared, pe, extra), want.astype(np.float64))


# ---------------------------------------------------------------------------------------------
# bitserial_fp16: the compiled kernel of the float-like accumulator (models/fast_bsfp16.py)


BSFP16 = PE_KINDS["bitserial_fp16"]
FP16_SPECIALS = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x83FF, 0x0400, 0x8400, 0x7BFF, 0xFBFF, 0x3C00]


def _bsfp16_same(acts, weights, pe):
    """The kernel's words equal :func:`fp16_bitserial_gemm`'s, called directly (not through the
    registry), and through :func:`fast_golden`."""
    want = bitserial_fp16.fp16_bitserial_gemm(acts, weights, weight_format=pe.weight_format, terms=pe.terms)
    prepared = fast_bsfp16.prepare(weights, pe)
    got = fast_bsfp16.bsfp16_words(acts, prepared, pe)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    # one pair per (step, term, column) with a nonzero term; none from the padding past K (its
    # zero activations would make a live padding term a no-op that the words cannot show)
    nz = bitserial_fp16._terms(weights, pe.weight_format, pe.terms)[0]
    nz = np.pad(nz, ((0, -len(nz) % bitserial_fp16.VEC), (0, 0), (0, 0)))
    assert len(prepared.step) == np.count_nonzero(nz.reshape(-1, bitserial_fp16.VEC, *nz.shape[1:]).any(axis=1))
    _same(BSFP16, BSFP16.operands(acts, weights, pe), pe)
    return want


@pytest.mark.parametrize("fmt", ["mixed4", "mixed3", "int8"])
def test_bsfp16_extremes(fmt):
    """FP16 extremes (zeros of both signs, the smallest and largest subnormals, the smallest
    normal, +-65504), every weight code of the format down K, all-zero rows and zero steps
    between live ones (the kernel skips those), one sign (sums climb: many renormalisations)
    and mixed signs, K cut inside a step."""
    pe = BSFP16.prototype(weight_format=fmt)
    lo = -(1 << (pe.weight_element_bits - 1)) if pe.weight_signed else 0
    codes = np.arange(lo, lo + (1 << pe.weight_element_bits))
    rng = np.random.default_rng(21)
    for k in (1, 5, 2303, 2304):
        acts = rng.choice(FP16_SPECIALS, size=(8, k))
        acts[0] = 0x7BFF                                                     # one sign, largest
        acts[1] = np.where(rng.random(k) < 0.5, 0x7BFF, 0xFBFF)
        acts[2] = 0x8000                                                     # a row of -0: all skipped
        acts[3, (np.arange(k) // 4) % 2 == 1] = 0                           # every other step zero
        acts[4] = np.where(rng.random(k) < 0.5, 0x0001, 0x8001)             # subnormals only
        weights = np.resize(codes, (k, 1)) * np.ones((1, 4), dtype=np.int64)  # every code down K
        weights[:, 1] = rng.choice(codes, size=k)
        weights[:, 2] = codes[np.argmax(np.abs(bitserial_fp16.decode_weight_codes(codes, fmt)))]
        weights[:, 3] = rng.permutation(np.resize(codes, k))
        words = _bsfp16_same(acts, weights, pe)
        if k == 2304:
            exponent = words >> bitserial_fp16.ACC_MAN_BITS
            assert exponent[0, 2] >= 30 + 4 + 8            # past the largest E: renormalised 8+ times
            assert np.all(words[2] == 0)


def test_bsfp16_random_and_refusals():
    """Random FP16 codes (the kind's own generator) and mixed4 codes over several shapes, and
    infinity / NaN activations and codes outside 16 bits refused by the kernel as by the golden."""
    pe = BSFP16.prototype()
    rng = np.random.default_rng(22)
    for m, k, n in [(1, 1, 1), (7, 13, 300), (3, 1024, 131), (2, 4001, 5)]:
        _bsfp16_same(*BSFP16.random_operands(rng, m, k, n, pe), pe)
    prepared = fast_bsfp16.prepare(np.zeros((4, 2), np.int64), pe)
    for code in (0x7C00, 0xFE00):
        for f in (lambda a: fast_bsfp16.bsfp16_words(a, prepared, pe),
                  lambda a: bitserial_fp16.fp16_bitserial_gemm(a, np.zeros((4, 2), np.int64), weight_format="mixed4", terms=2)):
            with pytest.raises(ValueError):
                f(np.full((1, 4), code))
    # codes outside 0..65535 refused with the golden check's message, before an infinity / NaN
    # code elsewhere (the kernel's compiled layout pass stops at the first bad code it meets)
    for bad in ([[0x7C00, 0, 0, -1]], [[0, 0x10000, 0, 0]], [[0, 0, 0, 0], [0x7E00, 0, 0, 0x10000]]):
        for f in (lambda a: fast_bsfp16.bsfp16_words(a, prepared, pe),
                  lambda a: bitserial_fp16.fp16_bitserial_gemm(a, np.zeros((4, 2), np.int64), weight_format="mixed4", terms=2)):
            with pytest.raises(ValueError, match="16-bit patterns"):
                f(np.array(bad))


def test_bsfp16_live_pairs():
    """The kernel's pairs (models/fast_bsfp16.py): a (step, term) whose 4 lanes all have a zero
    term is left out, and so is a zero-term lane of a live pair. Every pattern of zero, one-term
    and two-term mixed4 codes over a step's 4 lanes (81: 0 to 4 live lanes in each term, one lane
    short of a dead pair included) meets every pattern of zero activations over the lanes: live
    lanes with ``m == 0`` (all of them: a pair with no present lane) next to left-out lanes with
    the largest activations, which would change ``E`` or the dot if they were let in."""
    pe = BSFP16.prototype()                                                 # mixed4: 2 terms
    rng = np.random.default_rng(23)
    every = np.arange(1 << pe.weight_element_bits)
    live_terms = bitserial_fp16._terms(every[:, None], pe.weight_format, pe.terms)[0][:, 0].sum(axis=-1)
    patterns = np.array(list(itertools.product(range(3), repeat=bitserial_fp16.VEC)))
    steps, n = len(patterns), 8
    kinds = patterns[(np.arange(steps)[:, None] + 10 * np.arange(n)[None, :]) % steps]   # (steps, N, 4)
    codes = np.choose(kinds, [rng.choice(every[live_terms == t], kinds.shape) for t in range(3)])
    weights = codes.transpose(0, 2, 1).reshape(steps * bitserial_fp16.VEC, n)
    zero_lanes = np.array(list(itertools.product((False, True), repeat=bitserial_fp16.VEC)))   # 16 rows
    values = rng.choice([0x7BFF, 0xFBFF, 0x3C00, 0xBC01, 0x0401, 0x03FF], size=(len(zero_lanes), weights.shape[0]))
    acts = np.where(np.tile(zero_lanes, steps), rng.choice([0x0000, 0x8000], size=values.shape), values)
    _bsfp16_same(acts, weights, pe)
    prepared = fast_bsfp16.prepare(weights, pe)
    nz = bitserial_fp16._terms(weights, pe.weight_format, pe.terms)[0].reshape(steps, bitserial_fp16.VEC, n, pe.terms)
    assert len(prepared.step) == np.count_nonzero(nz.any(axis=1))             # dead pairs left out
    assert set(prepared.count.tolist()) == {1, 2, 3, 4}


def test_bsfp16_row_tiles():
    """More rows than one tile: the rows split into equal tiles of whole vectors, the last padded."""
    pe = BSFP16.prototype()
    rng = np.random.default_rng(24)
    for m in (fast_bsfp16.TILE_M + 1, 2 * fast_bsfp16.TILE_M + 37):
        _bsfp16_same(*BSFP16.random_operands(rng, m, 9, 3, pe), pe)


def _smollm2_inputs(names, tokens):
    """Real SmolLM2 inputs of the linears ``names`` (a forward pass of ``tokens`` tokens), with
    their float32 weights; skipped without the model."""
    try:
        model = smollm2.load_smollm2()
    except smollm2.MissingModelError as e:
        pytest.skip(str(e))
    seen = {}

    def record(x, w, name):
        if name in names:
            seen[name] = (np.array(x), np.asarray(w))
        return smollm2.fp32_linear(x, w, name)
    smollm2.hidden_states(np.arange(1, tokens + 1) * 37, record, model)
    return [seen[n] for n in names]


def test_bsfp16_real_operands():
    """Real MiniLM and SmolLM2 linears (small crops, whole K) through the kind's quantisers,
    word for word with the golden."""
    pe = BSFP16.prototype()
    for spec in ("minilm:L0.ffn2", "minilm:L5.v"):
        x, w = real_gemm(spec, m=6, n=24)
        ops = BSFP16.operands(x, w, pe)
        _bsfp16_same(ops.acts, ops.weights, pe)
    for x, w in _smollm2_inputs(("blk.0.attn_q", "blk.3.ffn_down", "blk.29.ffn_gate"), 6):
        ops = BSFP16.operands(x, w[:, :24], pe)
        _bsfp16_same(ops.acts, ops.weights, pe)
