"""OliVe's per-tensor (activation) alpha search: the certified search returns exactly what the
loop scoring all 38 candidates returns (alpha and MSE, bit for bit), on random, real (MiniLM,
SmolLM2-like outlier channels) and extreme tensors, for every OVP mode."""
from __future__ import annotations

import numpy as np
import pytest

from models import realdata
from models.ovp_gemm import quantize_ovp_acts
from models.quant import ovp_format, ovp_search

MODES = ("int4", "flint4", "int8")


def _reference_search_tensor(x, mode, chunk_elems=1 << 16):
    """The per-tensor search as first written: every candidate scored, the first minimum kept."""
    cfg = ovp_format.get_config(mode)
    x32 = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    rows, k = x32.shape
    xmax = ovp_search.x_max_3sigma(x32, False)
    if np.any(xmax <= 0):
        xmax = np.where(xmax > 0, xmax, np.float32(1.0))
    ratios = [np.float32(i * 0.01) for i in ovp_search.ALPHA_RATIOS]
    step = max(1, chunk_elems // k)
    sse = np.zeros((len(ratios), rows), dtype=np.float64)
    for r0 in range(0, rows, step):
        xc = x32[r0:r0 + step]
        for ci, ratio in enumerate(ratios):
            a = np.broadcast_to(xmax, (1, 1)) * ratio
            out, *_ = ovp_format._fake_quant_f32(xc, a.astype(np.float32), cfg)
            d = (out - xc).astype(np.float64)
            sse[ci, r0:r0 + step] = np.einsum("ij,ij->i", d, d)
    mse = sse.sum(axis=1) / x32.size
    best = int(np.argmin(mse))
    return (xmax * ratios[best]).astype(np.float32).reshape(1, 1), np.asarray([mse[best]])


def _same(x, mode):
    want = _reference_search_tensor(x, mode)
    got = ovp_search.search_alpha(x, mode, per_channel=False)
    assert np.array_equal(got[0], want[0]), f"{mode}: alpha differs"
    assert np.array_equal(got[1], want[1], equal_nan=True), f"{mode}: MSE differs"


def _tensors():
    rng = np.random.default_rng(4)
    gauss = rng.standard_normal((48, 128)).astype(np.float32)
    channels = gauss * np.float32(0.1)
    channels[:, [3, 77]] *= np.float32(400.0)               # outlier channels (LLM.int8's pattern)
    heavy = rng.standard_t(1.5, (33, 64)).astype(np.float32)
    single = rng.standard_normal((1, 2)).astype(np.float32)
    const = np.full((5, 10), np.float32(-0.75))
    spike = np.zeros((8, 16), np.float32)
    spike[2, 3] = 5e4
    return {"gauss": gauss, "outlier channels": channels, "heavy": heavy, "zeros": np.zeros((4, 8), np.float32),
            "constant": const, "one spike": spike, "negative only": -np.abs(gauss), "single pair": single,
            "tiny": (gauss * np.float32(1e-38)).astype(np.float32)}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(_tensors()))
def test_tensor_search_equals_reference(mode, case):
    with np.errstate(all="ignore"):
        _same(_tensors()[case], mode)


@pytest.mark.parametrize("mode", MODES)
def test_tensor_search_equals_reference_minilm(mode):
    a, _ = realdata.real_gemm("minilm:L0.ffn2", dtype=np.float32)
    _same(a[:96], mode)
    a, _ = realdata.real_gemm("minilm:L5.q", dtype=np.float32)
    _same(a[:64], mode)


def test_acts_quantiser_uses_the_reference_alpha():
    rng = np.random.default_rng(9)
    x = rng.standard_t(2.0, (24, 64)).astype(np.float32)
    codes, meta = quantize_ovp_acts(x)
    alpha, _ = _reference_search_tensor(x, "int4")
    assert meta["alpha"] == np.ravel(alpha).tolist()


def test_certification_usually_succeeds():
    """The speed comes from certifying the argmin (one candidate scored, not 38): it must succeed
    on ordinary activations, or the equality tests above would pass on the slow path alone."""
    rng = np.random.default_rng(6)
    for mode in MODES:
        cfg = ovp_format.get_config(mode)
        x = rng.standard_normal((64, 128)).astype(np.float32)
        xmax = ovp_search.x_max_3sigma(x, False)
        ratios = np.asarray([np.float32(i * 0.01) for i in ovp_search.ALPHA_RATIOS], np.float32)
        sc = ((xmax[0, 0] * ratios) / np.float32(cfg.normal_max))[:, None]
        rel = (4 * ovp_search._U32 + (x.size + 8) * 2.0 ** -53) * 1.01
        cert, _ = ovp_search._certify_block(x.reshape(1, -1), sc, cfg, ovp_search._Cells(cfg), rel=rel)
        assert cert[0], mode


def _reference_tensor_mses(x, mode):
    """Every candidate's per-tensor float64 MSE, scored as :func:`_reference_search_tensor` does."""
    cfg = ovp_format.get_config(mode)
    x32 = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    xmax = ovp_search.x_max_3sigma(x32, False)
    xmax = np.where(xmax > 0, xmax, np.float32(1.0))
    mses = []
    for i in ovp_search.ALPHA_RATIOS:
        out, *_ = ovp_format._fake_quant_f32(x32, (xmax * np.float32(i * 0.01)).astype(np.float32), cfg)
        d = (out - x32).astype(np.float64)
        mses.append(np.einsum("ij,ij->i", d, d).sum() / x32.size)
    return np.asarray(mses)


def _keep(x, mode):
    cfg = ovp_format.get_config(mode)
    xmax = ovp_search.x_max_3sigma(x, False)
    xmax = np.where(xmax > 0, xmax, np.float32(1.0))
    ratios = np.asarray([np.float32(i * 0.01) for i in ovp_search.ALPHA_RATIOS], np.float32)
    sc = ((xmax[0, 0] * ratios) / np.float32(cfg.normal_max))[:, None]
    rel = (4 * ovp_search._U32 + (x.size + 8) * 2.0 ** -53) * 1.01
    return ovp_search._candidate_keep(x.reshape(1, -1), sc, cfg, ovp_search._Cells(cfg), rel=rel)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(_tensors()))
def test_dropped_candidates_are_strictly_worse(mode, case):
    """The near-tie pruning is sound: every candidate the bounds drop has a reference MSE strictly
    above the kept ones' minimum (so the first minimum in candidate order is among the kept)."""
    x = _tensors()[case]
    with np.errstate(all="ignore"):
        guarded, keep, _ = _keep(x, mode)
        mses = _reference_tensor_mses(x, mode)
    assert keep[0, int(np.argmin(mses))]
    if (~keep[0]).any():
        assert guarded[0]
        assert np.min(mses[~keep[0]]) > np.min(mses[keep[0]])


@pytest.mark.parametrize("mode, case", [("flint4", "constant"), ("int8", "one spike")])
def test_near_ties_keep_a_few_candidates(mode, case):
    """Tensors whose argmin is not certified (tied candidates) score only the few candidates the
    bounds keep, not all 38, and still return the reference's alpha and MSE."""
    x = _tensors()[case]
    guarded, keep, _ = _keep(x, mode)
    assert guarded[0] and 1 < np.count_nonzero(keep) < len(ovp_search.ALPHA_RATIOS)
    _same(x, mode)
