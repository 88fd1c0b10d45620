""":func:`models.fast_sort.sort_float64` is ``np.sort`` bit for bit: on float32-exact values (the
radix kernel: random, tie-heavy, one signed zero, float32 subnormals, the float32 extremes and
infinities, lengths 0 .. 300, real SmolLM2 and MiniLM weights) and on what the kernel declines
(float64-only values, float64 subnormals, beyond float32's range, NaN, both signed zeros, not
1-D or not float64: ``np.sort`` itself); and :func:`models.gobo_format.quantize_gobo`'s codes and
meta on real weights are those of the quantiser with ``np.sort``. :func:`models.fast_sort.sort_rows_float32`
is ``np.sort(x, axis=1)`` (``+ float32(0)`` with ``plus_zero``) bit for bit on float32 rows
(random bit patterns, ties, signed zeros, NaN, short and long rows, real MiniLM activations), and
the ANT / OVP per-tensor searches give the same scales with it as with ``np.sort``.
"""

import numpy as np
import pytest

from models import fast_sort, gobo_format
from tests.test_fast_gobo import _real_tensors


def _assert_is_np_sort(values, radix=True):
    """The helper's output is ``np.sort``'s bit for bit; ``radix``: by the kernel (not the fallback)."""
    got = fast_sort.sort_float64(values)
    want = np.sort(values)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8))
    if radix is not None:
        kernel = np.empty(len(values))
        assert bool(fast_sort._compiled().sort(np.ascontiguousarray(values), kernel)) == radix


def _f32(x):
    return np.asarray(x, dtype=np.float32).astype(np.float64)


@pytest.mark.parametrize("seed", range(4))
def test_random_float32_values(seed):
    rng = np.random.default_rng(seed)
    for n in list(range(300)) + [4097, 100003]:
        _assert_is_np_sort(_f32(rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)))
    # every float32 bit pattern's value range: a random 32-bit pattern per value (NaNs replaced)
    bits = rng.integers(0, 1 << 32, 200000, dtype=np.uint64).astype(np.uint32)
    narrow = bits.view(np.float32).copy()
    narrow[np.isnan(narrow)] = 1.5
    values = narrow.astype(np.float64)
    values[values == 0] = 0.0                              # one signed zero only
    _assert_is_np_sort(values)


def test_ties_zeros_subnormals_and_extremes():
    rng = np.random.default_rng(7)
    tiny = np.finfo(np.float32).smallest_subnormal
    big = np.finfo(np.float32).max
    special = _f32([0.0, tiny, -tiny, 2 * tiny, np.finfo(np.float32).tiny, -np.finfo(np.float32).tiny,
                    big, -big, np.inf, -np.inf, 1.0, -1.0])
    for zero in (0.0, -0.0):
        values = np.concatenate([rng.choice(special, 5000), np.full(300, zero),
                                 _f32(rng.integers(-3, 4, 5000)), rng.choice(_f32(rng.standard_normal(5)), 5000)])
        values[values == 0] = zero
        values = rng.permutation(values)
        _assert_is_np_sort(values)
        out = fast_sort.sort_float64(values)
        assert np.all(np.signbit(out[out == 0]) == np.signbit(zero))
    _assert_is_np_sort(np.full(1000, 0.25))                  # every digit shared: no pass runs
    _assert_is_np_sort(_f32(np.arange(1000.0)[::-1] * 2.0 ** -140))   # float32 subnormals only


def test_what_the_kernel_declines_is_np_sort():
    rng = np.random.default_rng(3)
    base = _f32(rng.standard_normal(1000))
    for odd in (0.1, 5e-324, 1e-40 * (1 + 2.0 ** -40), 1e39, -1e300, np.nan):
        values = base.copy()
        values[rng.integers(0, 1000)] = odd
        _assert_is_np_sort(values, radix=False)
    both = base.copy()
    both[:20] = 0.0
    both[10:20] = -0.0
    _assert_is_np_sort(rng.permutation(both), radix=False)
    for other in (base.astype(np.float32), base.reshape(10, 100), base[::2]):
        _assert_is_np_sort(other, radix=None)
    assert np.array_equal(fast_sort.sort_float64(base[::2]).view(np.int64), np.sort(base[::2]).view(np.int64))


def test_real_weights_and_the_gobo_quantiser(monkeypatch):
    weights = list(_real_tensors())   # two MiniLM and (when present) three SmolLM2 tensors
    for w in weights:
        _assert_is_np_sort(w.ravel())
        _assert_is_np_sort(w[np.abs(w - w.mean()) <= gobo_format.OUTLIER_SIGMAS * w.std()])
    got = [gobo_format.quantize_gobo(w) for w in weights]
    monkeypatch.setattr(gobo_format, "sort_float64", np.sort)
    for w, (codes, meta) in zip(weights, got):
        ref_codes, ref_meta = gobo_format.quantize_gobo(w)
        assert np.array_equal(codes, ref_codes) and meta == ref_meta


def _assert_rows_are_np_sort(x, plus_zero, radix=True):
    """:func:`fast_sort.sort_rows_float32` is np.sort's rows (``+ 0`` with ``plus_zero``) bit for
    bit; ``radix``: whether the kernel (not numpy) answered, for rows long enough to reach it."""
    got = fast_sort.sort_rows_float32(x, plus_zero)
    want = np.sort(x, axis=1) + np.float32(0) if plus_zero else np.sort(x, axis=1)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(np.ascontiguousarray(got).view(np.uint8), np.ascontiguousarray(want).view(np.uint8))
    if radix is not None:
        kernel = np.empty(x.shape, dtype=np.float32)
        assert bool(fast_sort._compiled().sort_rows(np.ascontiguousarray(x), kernel, plus_zero)) == radix


@pytest.mark.parametrize("plus_zero", [False, True])
def test_rows_random_ties_and_zeros(plus_zero):
    rng = np.random.default_rng(11)
    n = fast_sort.ROW_MIN
    for shape in ((1, n), (3, n + 7), (2, 5 * n), (1, 300000)):
        bits = rng.integers(0, 1 << 32, shape, dtype=np.uint64).astype(np.uint32)
        x = bits.view(np.float32).copy()
        x[np.isnan(x)] = -2.5
        x[x == 0] = 0.0                                    # one signed zero only
        _assert_rows_are_np_sort(x, plus_zero)
        ties = rng.choice(np.float32([0.0, 1.0, -1.0, 2.0 ** -140, 3.5]), shape)
        _assert_rows_are_np_sort(ties, plus_zero)
    # both signed zeros: np.sort's order of them is its own, so the kernel declines unless they
    # become one (plus_zero); the answer is np.sort's either way
    zeros = rng.permutation(np.concatenate([np.full(n, -0.0), np.zeros(n), rng.standard_normal(n)]))
    _assert_rows_are_np_sort(zeros.astype(np.float32)[None, :], plus_zero, radix=plus_zero)
    nan = rng.standard_normal((2, n)).astype(np.float32)
    nan[1, 17] = np.nan
    _assert_rows_are_np_sort(nan, plus_zero, radix=False)
    # short rows, other types and layouts: numpy itself
    for other in (rng.standard_normal((4, n - 1)).astype(np.float32), rng.standard_normal((2, n)),
                  rng.standard_normal((n, 2)).astype(np.float32).T):
        _assert_rows_are_np_sort(other, plus_zero, radix=None)


def test_rows_real_activations_and_the_per_tensor_searches(monkeypatch):
    """Real MiniLM activations flattened (the per-tensor screens' one row) and the ANT / OVP
    activation quantisers' scales and codes with np.sort in place of the row sort."""
    from models import fast_quant
    from models.quant import ovp_search
    from models.realdata import real_gemm
    from models.registry import PE_KINDS
    x = real_gemm("minilm:L0.ffn2", dtype=np.float32)[0]
    _assert_rows_are_np_sort(x.reshape(1, -1), False)
    _assert_rows_are_np_sort(x.reshape(1, -1), True)
    designs = [("ant", {"act_type": "int8", "weight_type": "int8"}), ("ant", {}), ("ovp", {}),
               ("ovp", {"mode": "int8"})]
    got = [PE_KINDS[k].quantize_acts(x, PE_KINDS[k].prototype(**o)) for k, o in designs]
    numpy_rows = lambda a, plus_zero=False: np.sort(a, axis=1) + np.float32(0) if plus_zero else np.sort(a, axis=1)
    monkeypatch.setattr(fast_quant, "sort_rows_float32", numpy_rows)
    monkeypatch.setattr(ovp_search, "sort_rows_float32", numpy_rows)
    for (k, o), (codes, meta) in zip(designs, got):
        ref_codes, ref_meta = PE_KINDS[k].quantize_acts(x, PE_KINDS[k].prototype(**o))
        assert np.array_equal(codes, ref_codes) and str(meta) == str(ref_meta), (k, o)
