""":func:`models.fast_sort.sort_float64` is ``np.sort`` bit for bit: on float32-exact values (the
radix kernel: random, tie-heavy, one signed zero, float32 subnormals, the float32 extremes and
infinities, lengths 0 .. 300, real SmolLM2 and MiniLM weights) and on what the kernel declines
(float64-only values, float64 subnormals, beyond float32's range, NaN, both signed zeros, not
1-D or not float64: ``np.sort`` itself); and :func:`models.gobo_format.quantize_gobo`'s codes and
meta on real weights are those of the quantiser with ``np.sort``.
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
        assert bool(fast_sort._compiled()(np.ascontiguousarray(values), kernel)) == radix


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
