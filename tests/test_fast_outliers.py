"""models.fast_golden.outlier_sums (kernels in models.fast_outliers): an integer GEMM with rare
wide values as float32 GEMMs of the normal parts plus the outliers' products equals the exact
int64 GEMM bit for bit (random, extreme and real OVP W8A8 operands), is taken where it applies
and refuses dense outliers."""

import numpy as np
import pytest

from models import fast_golden as fg
from models.realdata import real_gemm
from models.registry import PE_KINDS
from tools import require

OVP = PE_KINDS["ovp"]
PE8 = OVP.prototype(mode="int8")


def _sparse_ints(rng, shape, fraction, wide):
    """Normal values (|v| <= 127, extremes included) with a ``fraction`` of outliers up to ``wide``."""
    x = rng.integers(-127, 128, size=shape)
    x.flat[rng.choice(x.size, 4, replace=False)] = [127, -127, 0, 127]
    mask = rng.random(shape) < fraction
    x[mask] = rng.choice([-1, 1], mask.sum()) * rng.integers(128, wide + 1, mask.sum())
    return x


def _want(a, w):
    return (np.asarray(a, np.int64) @ np.asarray(w, np.int64)).astype(np.float64)


@pytest.mark.parametrize("k", [7, 576, 1040, 1041, 2100])
@pytest.mark.parametrize("column_major", [False, True])
def test_random_sparse_outliers(k, column_major):
    """Both sides' outliers (up to 2**20: far beyond float32 blocks), K around the float32 block
    (1,040) and beyond it, C- and column-major weights; the same integers as int64."""
    rng = np.random.default_rng(k)
    a = _sparse_ints(rng, (33, k), 0.01, 1 << 20)
    w = _sparse_ints(rng, (k, 29), 0.01, 1 << 20)
    a[3, :] = 0                                                   # an empty row
    a[5, 0], a[5, -1], w[0, 2], w[-1, 2] = -(1 << 20), 1 << 20, 1 << 20, -(1 << 20)   # first and last
    prepared = fg.int_matrix(np.asfortranarray(w) if column_major else w)
    got = fg.outlier_sums(a, prepared)
    assert got is not None and got.dtype == np.float64
    assert np.array_equal(got, _want(a, w))
    assert np.array_equal(fg.exact_sums(a, prepared, 64), _want(a, w))


def test_sums_at_the_float64_bound():
    """Outliers whose sums come close to 2**53 (the bound exact_sums allows): still exact; no
    normal part at all on one side, none on the other."""
    big = 1 << 25
    a = np.zeros((4, 256), np.int64)
    a[:, 0], a[:, 1] = big, -big
    a[0, 2:] = 127
    w = np.full((256, 4), -127, np.int64)
    w[0], w[1] = big - 1, big                     # products of 2**50 cancelling to -2**25
    assert int((np.abs(a) @ np.abs(w)).max()) < 1 << 53 <= 8 * int((np.abs(a) @ np.abs(w)).max())
    got = fg.outlier_sums(a, fg.int_matrix(w))
    assert np.array_equal(got, _want(a, w))
    no_outliers = np.full((5, 256), -127)
    assert np.array_equal(fg.outlier_sums(no_outliers, fg.int_matrix(w)), _want(no_outliers, w))


def test_dense_outliers_are_refused():
    """More than one value in SPLIT_SPARSE an outlier, on either side: None (the dense GEMM)."""
    rng = np.random.default_rng(1)
    a, w = _sparse_ints(rng, (16, 128), 0.2, 1000), _sparse_ints(rng, (128, 8), 0.001, 1000)
    assert fg.outlier_sums(a, fg.int_matrix(w)) is None
    assert fg.outlier_sums(w.T, fg.int_matrix(a.T)) is None
    assert np.array_equal(fg.exact_sums(a, fg.int_matrix(w), 64), _want(a, w))     # float64 blocks


def _counted(monkeypatch):
    calls = []
    original = fg.outlier_sums

    def counted(a, w):
        got = original(a, w)
        calls.append(got is not None)
        return got
    monkeypatch.setattr(fg, "outlier_sums", counted)
    return calls


def _check_ovp8(x, w, monkeypatch):
    ops = OVP.operands(x, w, PE8)
    calls = _counted(monkeypatch)
    want = OVP.golden(ops, PE8)
    got = fg.fast_raw(OVP, ops, PE8)
    assert got.dtype == np.float64 and np.array_equal(got, want.astype(np.float64))
    assert calls == [True]                                    # the split path gave the sums
    out = OVP.dequantize_output(got, ops.acts, ops.acts_meta, ops.weights_meta, PE8)
    ref = OVP.dequantize_output(want, ops.acts, ops.acts_meta, ops.weights_meta, PE8)
    assert np.array_equal(np.asarray(out).view(np.int64), np.asarray(ref).view(np.int64))


@pytest.mark.parametrize("spec", ["minilm:L0.ffn1", "minilm:L0.ffn2", "minilm:L3.q"])
def test_real_minilm_ovp8(spec, monkeypatch):
    """OVP W8A8 on MiniLM operands: its quantisers' outliers, the golden's integers."""
    x, w = real_gemm(spec, m=48, n=40)
    _check_ovp8(x, w, monkeypatch)


@pytest.mark.slow          # loads and dequantises the whole GGUF (~10 s CPU)
def test_real_smollm2_ovp8(monkeypatch):
    """OVP W8A8 on a SmolLM2 FFN down projection with heavy-tailed inputs (outlier channels)."""
    smollm2 = pytest.importorskip("models.smollm2")
    require(smollm2.load_smollm2, smollm2.MissingModelError, "SmolLM2 model")
    w = smollm2.load_smollm2().linears["blk.3.ffn_down"][:, :32]
    rng = np.random.default_rng(5)
    x = rng.standard_normal((24, w.shape[0])) * np.exp(rng.standard_normal(w.shape[0]))
    _check_ovp8(x.astype(np.float32), w, monkeypatch)
