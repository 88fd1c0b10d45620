"""ANT's clip search (models.quant.ant_format.search_alpha): the screened search returns exactly
what the straightforward loop over every candidate clip returns (alpha and summed MSE, bit for
bit), on random, real (MiniLM) and extreme tensors, per row and per tensor, contiguous or not."""
from __future__ import annotations

import numpy as np
import pytest

from models import realdata
from models.ant_gemm import quantize_ant_acts, quantize_ant_weights
from models.quant import ant_format

TYPES_ROW = ("int4", "flint4", "pot4", "int8")                       # weights: signed types
TYPES_TENSOR = TYPES_ROW + ("uint4", "uflint4", "upot4", "uint8")    # activations: both


def _reference_search_alpha(x, ant_type, *, per_row):
    """The search as first written (ANT's loop): every candidate clip scored, strict '<' kept."""
    x = np.asarray(x, dtype=np.float32)
    absmax = np.max(np.abs(x), axis=1, keepdims=True) if per_row else np.full((1, 1), np.max(np.abs(x)))
    absmax = np.where(absmax > 0, absmax, np.float32(1)).astype(np.float32)
    best_err = np.full(absmax.shape, np.inf)
    best_alpha = absmax.copy()
    for i in ant_format.ALPHA_PERCENT:
        alpha = (absmax * np.float32(i / 100)).astype(np.float32)
        q, scale = ant_format.quantize(x, alpha, ant_type)
        diff = (q * scale.astype(np.float64)) - x
        err = np.mean(diff * diff, axis=1, keepdims=True) if per_row else np.full((1, 1), np.mean(diff * diff))
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best_alpha = np.where(better, alpha, best_alpha)
    return best_alpha.astype(np.float32), float(np.sum(best_err))


def _same(x, ant_type, per_row):
    want = _reference_search_alpha(x, ant_type, per_row=per_row)
    got = ant_format.search_alpha(x, ant_type, per_row=per_row)
    assert got[0].dtype == np.float32 and got[0].shape == want[0].shape
    assert np.array_equal(got[0], want[0]), f"{ant_type} per_row={per_row}: alphas differ"
    assert got[1] == want[1] or (np.isnan(got[1]) and np.isnan(want[1])), f"{ant_type}: MSE differs"


def _random(seed):
    rng = np.random.default_rng(seed)
    gauss = rng.standard_normal((40, 96)).astype(np.float32)
    heavy = rng.standard_t(2.0, (24, 160)).astype(np.float32)      # long tails: clipping matters
    grid = (rng.integers(-8, 8, (16, 64)) * np.float32(0.25)).astype(np.float32)   # ties on midpoints
    return {"gauss": gauss, "heavy": heavy, "on-grid": grid,
            "transposed": np.asarray(rng.standard_normal((128, 48)), dtype=np.float32).T}   # F order


def _extremes():
    rng = np.random.default_rng(7)
    base = rng.standard_normal((6, 34)).astype(np.float32)
    outlier = base.copy()
    outlier[2, 5] = 3e4
    outlier[4, 0] = -1e6
    const = np.tile(np.float32([[0.5], [-2.0], [0.0], [7.0]]), (1, 20))
    const[2] = 0.0
    return {
        "zeros": np.zeros((3, 16), np.float32),
        "constant rows": const,
        "huge outliers": outlier,
        "negative only": -np.abs(base) - np.float32(0.1),
        "single element": np.float32([[0.3]]),
        "single negative": np.float32([[-1e-3]]),
        "tiny": (base * np.float32(1e-39)).astype(np.float32),      # subnormal: scales leave the normal range
        "near float32 max": (base * np.float32(1e38)).astype(np.float32),   # alpha overflows to inf
        "mixed magnitudes": (base * np.float32(10.0) ** rng.integers(-20, 20, base.shape)).astype(np.float32),
    }


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("ant_type", TYPES_TENSOR)
def test_search_equals_reference_random(seed, ant_type):
    for name, x in _random(seed).items():
        if ant_type in TYPES_ROW:
            _same(x, ant_type, True)
        _same(x, ant_type, False)


@pytest.mark.parametrize("case", list(_extremes()))
def test_search_equals_reference_extremes(case):
    x = _extremes()[case]
    with np.errstate(all="ignore"):                 # the overflow cases: NaN errors in both
        for ant_type in TYPES_TENSOR:
            if ant_type in TYPES_ROW:
                _same(x, ant_type, True)
            _same(x, ant_type, False)


@pytest.mark.parametrize("spec", ["minilm:L0.ffn2", "minilm:L3.q"])
def test_search_equals_reference_minilm(spec):
    a, w = realdata.real_gemm(spec, dtype=np.float32)
    a, w = a[:64], w[:, :96]
    for ant_type in ("int4", "flint4", "pot4", "int8"):
        _same(w.T, ant_type, True)                  # a weight's output channels: a transposed view
    for ant_type in ("int4", "uint4", "upot4", "uflint4", "int8", "uint8"):
        _same(a, ant_type, False)


def test_quantisers_and_type_selection_unchanged():
    rng = np.random.default_rng(3)
    x = rng.standard_t(3.0, (32, 64)).astype(np.float32)
    w = rng.standard_normal((64, 40)).astype(np.float32)
    for ant_type in ("int4", "flint4"):
        codes, meta = quantize_ant_weights(w, ant_type=ant_type)
        alpha, _ = _reference_search_alpha(w.T, ant_type, per_row=True)
        values, scale = ant_format.quantize(np.asarray(w.T, np.float32), alpha, ant_type)
        assert np.array_equal(codes, ant_format.get_type(ant_type).encode(values).T)
        assert meta["scale"] == np.ravel(scale).tolist()
        codes, meta = quantize_ant_acts(x, ant_type=ant_type)
        alpha, _ = _reference_search_alpha(x, ant_type, per_row=False)
        values, scale = ant_format.quantize(x, alpha, ant_type)
        assert np.array_equal(codes, ant_format.get_type(ant_type).encode(values))
        assert meta["alpha"] == np.ravel(alpha).tolist()
    for weights, t in ((True, w.T), (False, x), (False, np.abs(x))):
        _, errors = ant_format.select_type(t, weights=weights)
        assert errors == {n: _reference_search_alpha(t, n, per_row=weights)[1]
                          for n in ant_format.candidates(t, weights=weights)}


def test_screen_drops_candidates():
    """The speed comes from the screen: on ordinary data it leaves few candidates per row (and a
    screen that kept everything would still pass the equality tests above)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 256)).astype(np.float32)
    for ant_type in ("int4", "flint4", "pot4"):
        absmax = np.max(np.abs(x), axis=1, keepdims=True)
        alphas = np.stack([(absmax * np.float32(i / 100)).astype(np.float32)[:, 0]
                           for i in ant_format.ALPHA_PERCENT])
        keep = ant_format._screen(x, alphas, ant_format.get_type(ant_type))
        assert keep.sum(axis=0).mean() < 4, ant_type


def test_weight_codes_own_their_data():
    """quantize_ant_weights hands back the code kernel's own array for C-order weights (no view:
    the accuracy run freezes it without a copy), the same codes as for a Fortran-order copy."""
    w = np.random.default_rng(5).standard_normal((64, 40)).astype(np.float32)
    for ant_type in ("int4", "int8"):
        codes, _ = quantize_ant_weights(w, ant_type=ant_type)
        other, _ = quantize_ant_weights(np.asfortranarray(w), ant_type=ant_type)
        assert codes.base is None and codes.flags.c_contiguous and np.array_equal(codes, other)
