"""GOBO's quantiser kernels (:mod:`models.fast_gobo`) give numpy's bits: each against a plain
definition written with numpy (the ``argmin`` over the distance array, ``np.sum``, boolean-mask
means), and the whole refinement against the recomputing loop of tests/test_exact_speedups.py.

* :func:`models.fast_gobo.pairwise_sum` is ``np.sum`` on every length to 1100 and on long arrays
  (values of mixed magnitudes, so a sum in another order differs: checked), and +0 for an empty
  sum and one of only -0;
* :func:`models.fast_gobo.cluster_ends`: where it answers, its groups are the ``argmin``'s
  indices (exact midpoints and their neighbours, the centroids themselves, +-0, values of
  extreme size); where the module docstring's conditions fail (duplicate, unsorted or too close
  centroids, NaN, overflow) it answers ``None``, including a case whose ``argmin`` indices are
  not monotone;
* :func:`models.fast_gobo.sorted_round` is ``np.abs(v - c[i]).sum()`` and the masks' means,
  :func:`models.fast_gobo.outlier_mask` numpy's mask (values exactly at the limit);
* the per-value path's steps (:func:`models.fast_gobo.abs_errors`, :func:`models.fast_gobo.index_counts`,
  the group means, ordered or not) against the numpy expressions they replaced;
* :func:`models.gobo_format.fit_centroids` and :func:`models.gobo_format.quantize_gobo` on real
  MiniLM and SmolLM2 tensors equal the recomputing loop with the ``argmin`` and the quantiser
  in plain numpy.
"""

import numpy as np
import pytest

from hw.pe_gobo import OUTLIER_FLAG_BIT
from models import fast_gobo, gobo_format, smollm2
from models.fp16_gemm import decode_fp16, encode_fp16
from models.gobo_format import quantize_gobo
from models.realdata import get_tensor
from tests.test_exact_speedups import _argmin_nearest, _recomputing_fit


def _mixed(rng, n):
    """Values over ten decades, both signs: their float64 sum depends on the order of additions."""
    return rng.standard_normal(n) * 10.0 ** rng.integers(-5, 5, n)


def _bits(x):
    return np.asarray(x, dtype=np.float64).view(np.int64)


def test_pairwise_sum_is_numpys_sum():
    rng = np.random.default_rng(0)
    lengths = list(range(1100)) + [4096, 4097, 65535, 100003, 1 << 20]
    for n in lengths:
        x = _mixed(rng, n)
        assert _bits(fast_gobo.pairwise_sum(x)) == _bits(np.sum(x)), n
    # the data tells summation orders apart: a left-to-right sum differs from numpy's
    x = _mixed(rng, 100003)
    assert _bits(float(np.cumsum(x)[-1])) != _bits(np.sum(x))
    for zeros in (np.array([]), np.array([-0.0]), np.full(9, -0.0), np.full(300, -0.0)):
        assert _bits(fast_gobo.pairwise_sum(zeros)) == _bits(np.sum(zeros)) == 0


def _groups(ends):
    return np.repeat(np.arange(len(ends)), np.diff(ends, prepend=0))


def _tie_values(rng, centroids, n=4000):
    """Sorted values with every exact midpoint, its two neighbours, the centroids and +-0."""
    mids = (centroids[:-1] + centroids[1:]) / 2
    span = np.abs(centroids).max()
    return np.sort(np.concatenate([rng.standard_normal(n) * span, centroids, mids, np.nextafter(mids, np.inf),
                                   np.nextafter(mids, -np.inf), [0.0, -0.0, -0.0]]))


def _assert_ends_are_the_argmin(values, centroids):
    ends = fast_gobo.cluster_ends(values, centroids)
    assert ends is not None
    assert np.array_equal(_groups(ends), _argmin_nearest(values, centroids))


@pytest.mark.parametrize("seed", range(6))
def test_cluster_ends_are_the_argmin(seed):
    rng = np.random.default_rng(seed)
    centroids = np.sort(rng.standard_normal(8)) * 10.0 ** rng.integers(-250, 250)   # inside the gap limits
    _assert_ends_are_the_argmin(_tie_values(rng, centroids), centroids)


def test_cluster_ends_with_centroids_at_the_ends_and_beyond_the_values():
    rng = np.random.default_rng(7)
    values = np.sort(rng.standard_normal(3000))
    for centroids in (np.array([-9.0, -8.0, -1.0, 0.0, 0.5, 1.0, 8.0, 9.0]),      # groups empty at both ends
                      np.linspace(values[0], values[-1], 8),                     # on the extremes
                      np.array([-0.0, 1e-3, 2e-3, 3e-3, 0.1, 0.2, 0.3, 0.4])):      # -0 a centroid
        _assert_ends_are_the_argmin(values, centroids)


def test_cluster_ends_declines_what_it_cannot_prove():
    rng = np.random.default_rng(8)
    values = np.sort(rng.standard_normal(1000))
    c = np.linspace(-1, 1, 8)
    duplicate, unsorted = c.copy(), c[[1, 0, 2, 3, 4, 5, 6, 7]]
    duplicate[4] = duplicate[3]
    for centroids in (duplicate, unsorted, np.append(c[:-1], c[-2] + 1e-17)):
        assert fast_gobo.cluster_ends(values, centroids) is None
    assert fast_gobo.cluster_ends(np.append(values, np.nan), c) is None
    assert fast_gobo.cluster_ends(np.array([-1e308, 1e308]), c * 1e308) is None    # F overflows
    # two centroids closer than an ulp of the values: the argmin is not monotone (the tie at
    # v = 1 goes back to the lower index), so the boundaries cannot describe it
    centroids = np.array([-1e-300, 1e-300, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    values = np.array([-1.0, 1e-301, 2e-300, 1.0])
    index = _argmin_nearest(values, centroids)
    assert list(index) == [0, 1, 1, 0]
    assert fast_gobo.cluster_ends(values, centroids) is None


def _reference_round(values, centroids):
    index = _argmin_nearest(values, centroids)
    l1 = np.abs(values - centroids[index]).sum()
    means = np.array([values[index == j].mean() if (index == j).any() else centroids[j]
                      for j in range(len(centroids))])
    return l1, means


@pytest.mark.parametrize("seed", range(4))
def test_sorted_round_is_the_mask_means_and_the_error_sum(seed):
    rng = np.random.default_rng(seed)
    values = np.sort(np.concatenate([_mixed(rng, 50000), np.full(40, -0.0)]))
    centroids = np.sort(rng.choice(values, 8, replace=False))
    if seed == 3:
        centroids = np.array([-1e9, -1e8, -0.5, 0.0, 0.5, 1e8, 1e9, 1e10])    # empty groups keep their centroid
    ends = fast_gobo.cluster_ends(values, centroids)
    assert ends is not None
    l1, means = fast_gobo.sorted_round(values, centroids, ends, centroids)
    want_l1, want_means = _reference_round(values, centroids)
    assert _bits(l1) == _bits(want_l1)
    assert np.array_equal(_bits(means), _bits(want_means))


def test_sorted_round_mean_of_only_negative_zeros():
    values = np.array([-0.0] * 20 + [1.0] * 20)
    centroids = np.array([-0.0, 1.0])
    ends = fast_gobo.cluster_ends(values, centroids)
    _, means = fast_gobo.sorted_round(values, centroids, ends, centroids)
    assert np.array_equal(_bits(means), _bits(_reference_round(values, centroids)[1]))


def _real_tensors():
    yield from (np.asarray(get_tensor(s), dtype=np.float64).T for s in ("minilm:L0.q", "minilm:L2.ffn2"))
    try:
        model = smollm2.load_smollm2()
    except smollm2.MissingModelError:
        return
    for name in ("blk.0.attn_k", "blk.7.ffn_down", "blk.29.attn_v"):
        yield np.asarray(model.linears[name], dtype=np.float64)


def _reference_quantize(w):
    """quantize_gobo's codes and meta in plain numpy (the module docstring's steps as first
    written: mask, argmin, the recomputing refinement, np.where, np.nonzero)."""
    mean, std = float(w.mean()), float(w.std())
    outlier = np.abs(w - mean) > gobo_format.OUTLIER_SIGMAS * std
    table = encode_fp16(_recomputing_fit(w[~outlier]), "GOBO centroids")
    index = _argmin_nearest(w.ravel(), decode_fp16(table)).reshape(w.shape)
    codes = np.where(outlier, 1 << OUTLIER_FLAG_BIT, index).astype(np.int64)
    ks, ns = np.nonzero(outlier)
    return codes, [int(c) for c in table], ks.tolist(), ns.tolist(), encode_fp16(w[ks, ns], "outliers").tolist()


def test_fit_and_quantiser_on_real_tensors_are_the_recomputing_loop():
    for w in _real_tensors():
        gaussian = w[np.abs(w - w.mean()) <= gobo_format.OUTLIER_SIGMAS * w.std()]
        got, want = gobo_format.fit_centroids(gaussian), _recomputing_fit(gaussian)
        assert np.array_equal(_bits(got), _bits(want))
        codes, meta = quantize_gobo(w)
        ref_codes, table, ks, ns, values = _reference_quantize(w)
        assert codes.dtype == ref_codes.dtype and np.array_equal(codes, ref_codes)
        assert meta["centroids"] == table and meta["outliers"] == {"k": ks, "n": ns, "value": values}
        assert len(ks) > 0


def test_outlier_mask_is_numpys_with_values_at_the_limit():
    rng = np.random.default_rng(10)
    w = rng.standard_normal((300, 7))
    mean, limit = float(w.mean()), 3.0 * float(w.std())
    w[0, :4] = [mean + limit, mean - limit, np.nextafter(mean + limit, np.inf), -0.0]
    for x in (w, w.T, w.astype(np.float32)):
        assert np.array_equal(fast_gobo.outlier_mask(x, mean, limit),
                              np.abs(np.asarray(x, dtype=np.float64) - mean) > limit)


def test_fit_on_data_the_binary_search_declines():
    """Duplicate-heavy values (equal initial centroids: the per-value path) and a mix."""
    rng = np.random.default_rng(9)
    for values in (np.repeat([0.0, 1.0], [900, 100]), rng.integers(-2, 3, 3000).astype(float),
                   np.concatenate([np.full(500, -0.0), rng.standard_normal(100)])):
        got, want = gobo_format.fit_centroids(values), _recomputing_fit(values)
        assert np.array_equal(_bits(got), _bits(want))


@pytest.mark.parametrize("ordered", [True, False])
def test_gobo_quantiser_steps(ordered):
    """GOBO's per-value refinement steps (the path when the boundaries decline): abs_errors is ``np.abs(v - c[i])`` bit for
    bit, index_counts is ``np.bincount`` plus the order test, and the group means (sorted
    indices: slices of the values; any other order: the stable-sort path) equal the boolean
    masks' means, empty groups keeping their fallback."""
    rng = np.random.default_rng(int(ordered))
    values = np.sort(rng.standard_t(3, 20000))
    centroids = np.array([-3.0, -1.0, -0.2, 0.0, 0.1, 0.5, 2.0, 9.0])
    assign = gobo_format._nearest(values, centroids)
    if not ordered:
        assign = rng.permutation(assign)
    assign[assign == 6] = 5                                    # an empty group
    errors = fast_gobo.abs_errors(values, centroids, assign)
    assert np.array_equal(errors.view(np.int64), np.abs(values - centroids[assign]).view(np.int64))
    counts, is_ordered = fast_gobo.index_counts(assign, 8)
    assert np.array_equal(counts, np.bincount(assign, minlength=8)) and is_ordered == ordered
    fallback = np.arange(8.0) + 0.5
    want = np.array([values[assign == j].mean() if (assign == j).any() else fallback[j] for j in range(8)])
    got = gobo_format._group_means(values, assign, fallback)
    assert np.array_equal(got.view(np.int64), want.view(np.int64)) and got[6] == 6.5
