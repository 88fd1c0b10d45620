"""The exact fast paths equal the registered golden GEMMs bit for bit: random codes over the whole
ranges, extreme codes (every element at a range end, accumulators wrapping at the smallest
widths), real MiniLM tensors through the kinds' quantisers, and the float-exactness bounds of
:func:`models.fast_golden.exact_matmul` itself."""

import dataclasses

import numpy as np
import pytest

from models import fast_golden as fg
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
            ("ant", {"act_type": "uflint4", "weight_type": "int4"})]
# kinds whose accumulator width is fixed by the format (no acc_width option)
FIXED_ACC = {"fp8", "lmul", "fp16"}
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


@pytest.mark.parametrize("name,options", DESIGNS, ids=IDS)
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


@pytest.mark.parametrize("name,options", [(n, o) for n, o in DESIGNS if n in FIXED_ACC],
                         ids=[i for i, (n, _) in zip(IDS, DESIGNS) if n in FIXED_ACC])
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
    assert not fg.has_fast_path(PE_KINDS["bitserial_fp16"])


def test_bitserial_both_paths_are_pinned(monkeypatch):
    """The grouped bit-serial fast path has two branches, both compared to the golden here: the
    single scaled-weight GEMM when no partial sum can wrap (real operands, 32-bit accumulator)
    and the per-group wrapping sums otherwise (extreme codes, 17-bit accumulator)."""
    grouped = []
    original = fg._grouped
    monkeypatch.setattr(fg, "_grouped", lambda *a: grouped.append(1) or original(*a))
    kind = PE_KINDS["bitserial"]
    options = {"weight_format": "mixed4", "group_size": 128}
    test_real_minilm_operands("bitserial", options)
    assert not grouped
    pe = kind.prototype(**options, acc_width=17)
    acts, weights = kind.random_operands(np.random.default_rng(0), 4, 2304, 3, pe)
    _same(kind, kind.operands(np.full_like(acts, acts.max()), np.full_like(weights, weights.max()), pe), pe)
    assert grouped
