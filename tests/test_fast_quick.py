"""The fast paths that cut the accuracy run's fixed per-design costs (issue 17's ``--quick``),
each pinned bit for bit to the function it replaces.

* ANT's 8-bit clip scoring compiled (:func:`models.quant.ant_format._kept_errors`, the live
  scorer :func:`models.fast_quant.ant_pair_errors`) of every candidate against the numpy
  blocks (:func:`models.quant.ant_format._all_candidate_errors_numpy`): random rows of many
  lengths (numpy's pairwise summation splits at 128 and at multiples of 8), extremes (huge,
  tiny, zero rows, values on the rounding midpoints, scales out of the normal range, NaN and
  infinity: those rows take the numpy path), real MiniLM and SmolLM2 weights; and whole
  ``search_alpha`` results against the loop over every candidate (slow: it loads SmolLM2).
* ANT's exact scoring of the screened 4-bit candidates (:func:`models.fast_quant.ant_pair_errors`),
  through ``search_alpha`` against the loop scoring every candidate, per row and per tensor.
* OliVe's element codes in one compiled pass (:func:`models.fast_quant.ovp_element_codes`)
  against :func:`models.quant.ovp_format.element_codes_numpy`, every mode and granularity; and
  quantize_ovp's alpha search without the MSE it discards against the full search.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

from models import fast_quant, realdata
from models.quant import ant_format

INT8_TYPES = ("int8", "uint8")


def _alphas(x):
    """ANT's candidate clips of each row (as search_alpha forms them)."""
    absmax = np.max(np.abs(x), axis=1, keepdims=True)
    absmax = np.where(absmax > 0, absmax, np.float32(1)).astype(np.float32)
    return np.stack([(absmax * np.float32(i / 100)).astype(np.float32)[:, 0] for i in ant_format.ALPHA_PERCENT])


def _same(a, b):
    """Equal bit for bit (NaN payloads and signed zeros included)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


@functools.cache
def _ant_cases():
    rng = np.random.default_rng(17)
    base = rng.standard_normal((6, 96)).astype(np.float32)
    special = base.copy()
    special[0, 5], special[1, 7], special[2, 0] = np.nan, np.inf, -np.inf
    midpoints = (rng.integers(-300, 300, (8, 64)) * np.float32(0.5)).astype(np.float32)
    midpoints[:, 0] = 127.5                                   # absmax 127.5: scale 127.5 / 127
    _, w = realdata.real_gemm("minilm:L0.ffn2", dtype=np.float32)
    cases = {f"gauss K={k}": rng.standard_normal((4, k)).astype(np.float32)
             for k in (1, 7, 8, 9, 64, 127, 128, 129, 136, 255, 256, 257, 384, 576, 1000, 1536, 3072)}
    cases.update({
        "heavy tails": rng.standard_t(1.5, (24, 200)).astype(np.float32),
        "mixed magnitudes": (base * np.float32(10.0) ** rng.integers(-30, 30, base.shape)).astype(np.float32),
        "huge": (base * np.float32(1e37)).astype(np.float32),
        "tiny (scales out of range)": (base * np.float32(1e-39)).astype(np.float32),
        "zero rows and a mixed block": np.vstack([np.zeros((2, 96), np.float32), base,
                                                  (base[:1] * np.float32(1e-39)).astype(np.float32)]),
        "on the midpoints": midpoints,
        "signed zeros": np.where(base > 0.3, base, np.float32(-0.0)).astype(np.float32),
        "non-negative (uint8 shapes)": np.abs(base),
        "nan and infinity": special,
        "minilm weight channels": np.ascontiguousarray(w.T[:64]),
    })
    return cases


def _live_errors(x, alphas, t_):
    """search_alpha's compiled scoring (:func:`models.quant.ant_format._kept_errors`, through
    :func:`models.fast_quant.ant_pair_errors`) of every candidate of each row, row by row: (C, R),
    NaN for a row it leaves to the reference (a non-finite value or a scale out of range)."""
    out = np.full(alphas.shape, np.nan)
    for r in range(x.shape[0]):
        got = ant_format._kept_errors(x[r:r + 1], alphas[:, r:r + 1], np.ones((alphas.shape[0], 1), bool), t_)
        if got is not None:
            out[:, r] = got[:, 0]
    return out


@pytest.mark.parametrize("case", list(_ant_cases()))
def test_ant_int_errors_equal_numpy(case):
    """The live scorer of the 8-bit grids against the numpy blocks, every candidate of every row
    it scores; the rows it leaves to the reference are exactly those with a non-finite value or
    a scale outside the normal range."""
    x = _ant_cases()[case]
    alphas = _alphas(x)
    with np.errstate(all="ignore"):
        for name in INT8_TYPES:
            t_ = ant_format.get_type(name)
            got = _live_errors(x, alphas, t_)
            scored = ~np.isnan(got[0])
            scales = (alphas / np.float32(t_.max_value)).astype(np.float32)
            normal = np.all((scales >= np.float32(2.0 ** -100)) & (scales <= np.float32(2.0 ** 100)), axis=0)
            assert np.array_equal(scored, normal & np.all(np.isfinite(x), axis=1)), f"{case} {name}"
            want = ant_format._all_candidate_errors_numpy(x, alphas, t_)
            assert _same(got[:, scored], want[:, scored]), f"{case} {name}"


def test_ant_int_errors_kernel_alone_sums_as_numpy():
    """The kernel itself on rows whose pairwise sum order matters: squares spanning 30 orders
    of magnitude, where any other order rounds differently."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((16, 1000)) * np.float32(10.0) ** rng.integers(-15, 15, (16, 1000))).astype(np.float32)
    alphas = _alphas(x)
    t_ = ant_format.get_type("int8")
    scales = (alphas / np.float32(t_.max_value)).astype(np.float32)
    got = _live_errors(x, alphas, t_)
    assert _same(got, ant_format._all_candidate_errors_numpy(x, alphas, t_))
    # a sequential sum of the same squares differs somewhere: the order is really numpy's
    diff = ((np.clip(np.floor((x[None] / scales[:, :, None]).astype(np.float64) + 0.5), -128, 127)
             * scales[:, :, None].astype(np.float64) - x[None]) ** 2)
    sequential = np.array([[sum(diff[c, r].tolist(), 0.0) / x.shape[1] for r in range(len(x))] for c in range(3)])
    assert not _same(got[:3], sequential)


def _reference_search(x, name, per_row):
    """search_alpha's reference: every candidate clip scored by _candidate_errors, the strictly
    smaller MSE kept in candidate order."""
    t_ = ant_format.get_type(name)
    x = np.asarray(x, dtype=np.float32)
    absmax = np.max(np.abs(x), axis=1, keepdims=True) if per_row else np.full((1, 1), np.max(np.abs(x)))
    absmax = np.where(absmax > 0, absmax, np.float32(1)).astype(np.float32)
    best_err, best_alpha = np.full(absmax.shape, np.inf), absmax.copy()
    for i in ant_format.ALPHA_PERCENT:
        alpha = (absmax * np.float32(i / 100)).astype(np.float32)
        err = ant_format._candidate_errors(x, alpha, t_, per_row)
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best_alpha = np.where(better, alpha, best_alpha)
    return best_alpha, float(np.sum(best_err))


@functools.cache
def _search_cases():
    rng = np.random.default_rng(29)
    t = rng.standard_t(3, (6, 576)).astype(np.float32)
    _, w = realdata.real_gemm("minilm:L0.ffn2", dtype=np.float32)
    return {"t3 K=576": t,
            "t3 K=576 (Fortran order, as a weight's transpose)": np.asfortranarray(t),
            "gauss K=20000 (pairwise split deep)": rng.standard_normal((3, 20000)).astype(np.float32),
            "nan (the reference path)": np.where(t > 3, np.float32(np.nan), t).astype(np.float32),
            "tiny (scales out of range)": (t * np.float32(1e-39)).astype(np.float32),
            "minilm weight channels": np.ascontiguousarray(w.T[:48])}


@pytest.mark.parametrize("case", list(_search_cases()))
def test_ant_search_alpha_equals_the_reference_loop(case):
    """search_alpha with the compiled scoring of the screened candidates, per row and per tensor
    (the tensor as one row: up to 115k elements), for every type, against the loop scoring every
    candidate with the numpy reference: the same alpha and MSE, bit for bit."""
    x = _search_cases()[case]
    with np.errstate(all="ignore"):
        for name in ("int4", "flint4", "pot4", "uint4", "uflint4", "upot4", "int8"):
            xx = np.abs(x) if name.startswith("u") else x
            for per_row in (True, False):
                alpha, mse = ant_format.search_alpha(xx, name, per_row=per_row)
                ref_alpha, ref_mse = _reference_search(xx, name, per_row)
                assert _same(alpha, ref_alpha) and _same(mse, ref_mse), f"{case} {name} per_row={per_row}"


def test_ant_pair_errors_on_a_large_tensor():
    """Every candidate of a 512 x 576 activation tensor scored as one row (the per-tensor search:
    a pairwise sum over 294,912 squares) on each 4-bit grid, against _candidate_errors."""
    x = np.random.default_rng(31).standard_normal((512, 576)).astype(np.float32)
    absmax = np.float32(np.max(np.abs(x)))
    alphas = np.stack([np.float32([absmax * np.float32(i / 100)]) for i in ant_format.ALPHA_PERCENT])
    for name in ("int4", "flint4", "pot4"):
        t_ = ant_format.get_type(name)
        scales = (alphas / np.float32(t_.max_value)).astype(np.float32)
        got = fast_quant.ant_pair_errors(x.reshape(1, -1), scales, t_.grid, np.arange(len(alphas)),
                                         np.zeros(len(alphas), dtype=np.int64))
        want = [ant_format._candidate_errors(x, alphas[c][:, None], t_, False)[0, 0] for c in range(len(alphas))]
        assert _same(got, want), name


@pytest.mark.slow          # loads and dequantises the whole GGUF (~10 s CPU)
@pytest.mark.parametrize("name", ["blk.0.attn_q", "blk.11.ffn_down", "blk.29.attn_v"])
def test_ant_int8_search_on_smollm2_weights(name):
    """search_alpha's 8-bit path (the compiled scoring) against the loop scoring every candidate
    with the reference :func:`_candidate_errors`: the same alpha and MSE, on real weights."""
    smollm2 = pytest.importorskip("models.smollm2")
    try:
        w = smollm2.load_smollm2().linears[name]
    except smollm2.MissingModelError as e:
        pytest.skip(str(e))
    x = np.ascontiguousarray(w.T)
    alpha, mse = ant_format.search_alpha(x, "int8", per_row=True)
    alphas = _alphas(x)
    best_err = np.full((len(x), 1), np.inf)
    best_alpha = np.max(np.abs(x), axis=1, keepdims=True)
    t_ = ant_format.get_type("int8")
    for ci in range(len(alphas)):
        err = ant_format._candidate_errors(x, alphas[ci][:, None], t_, True)
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best_alpha = np.where(better, alphas[ci][:, None], best_alpha)
    assert _same(alpha, best_alpha.astype(np.float32)) and mse == float(np.sum(best_err))


# ---------------------------------------------------------------------------------------------
# OliVe's element codes: the compiled lookups against the numpy where / take / copyto


@functools.cache
def _ovp_tensors():
    rng = np.random.default_rng(23)
    a, w = realdata.real_gemm("minilm:L0.ffn2", dtype=np.float32)
    heavy = rng.standard_t(1.5, (64, 96)).astype(np.float32)
    return {"gauss": rng.standard_normal((40, 64)).astype(np.float32),
            "heavy tails (many outliers)": heavy,
            "all zero": np.zeros((4, 32), np.float32),
            "negative outliers only": -np.abs(heavy),
            "minilm weights": np.ascontiguousarray(w.T[:128]),
            "minilm activations": np.ascontiguousarray(a[:64])}


@pytest.mark.parametrize("mode", ["int4", "flint4", "int8"])
@pytest.mark.parametrize("per_channel", [True, False])
def test_ovp_element_codes_equal_numpy(mode, per_channel):
    from models.quant import ovp, ovp_format
    cfg = ovp_format.get_config(mode)
    for name, x in _ovp_tensors().items():
        qt = ovp.quantize_ovp(x, cfg, per_channel=per_channel)
        got = ovp_format.element_codes(qt)
        want = ovp_format.element_codes_numpy(qt)
        assert got.dtype == want.dtype and np.array_equal(got, want), f"{name} {mode}"
        if name.startswith("heavy"):
            assert qt.meta["outlier"].any() and qt.meta["victim"].any()   # every branch is taken


def test_ovp_element_codes_kernel_branches():
    """The kernel's three branches on hand-made tables (a victim flag wins over an outlier flag)."""
    values = np.array([[-3, 0, 2, 5], [1, -3, 4, 0]], dtype=np.int16)[:, ::-1]     # not contiguous
    is_out = np.array([[True, False, True, False], [False, True, False, True]])
    vict = np.array([[False, True, False, False], [False, False, True, True]])
    normal = np.arange(100, 109)
    outc = np.arange(200, 209)
    got = fast_quant.ovp_element_codes(values, is_out, vict, normal, outc, -3, 15)
    v = values.astype(np.int64) + 3
    want = np.where(vict, 15, np.where(is_out, outc[v], normal[v]))
    assert np.array_equal(got, want)


@pytest.mark.parametrize("mode", ["int4", "flint4", "int8"])
def test_ovp_alpha_without_the_mse_is_the_same(mode):
    """quantize_ovp's search skips the scoring that only reports the MSE (the certified
    candidate's pass): the same alpha as the full search, per row (short rows: the dense search;
    K >= 1280: certified rows) and per tensor (certified, and a tied tensor that is not), so the
    same codes as quantize_ovp given that alpha."""
    from models.quant import ovp, ovp_format, ovp_search
    cfg = ovp_format.get_config(mode)
    rng = np.random.default_rng(37)
    tensors = dict(_ovp_tensors())
    tensors["long rows (certified per row)"] = rng.standard_t(4, (12, 1536)).astype(np.float32)
    tensors["constant (ties: not certified)"] = np.ones((8, 64), np.float32)
    for name, x in tensors.items():
        x = np.ascontiguousarray(x)
        for per_channel in (True, False):
            alpha, mse = ovp_search._search_alpha(x, cfg, per_channel, need_mse=False)
            full_alpha, full_mse = ovp_search.search_alpha(x, mode, per_channel)
            assert mse is None and full_mse is not None
            assert _same(alpha, full_alpha), f"{name} {mode} per_channel={per_channel}"
            got = ovp.quantize_ovp(x, cfg, per_channel=per_channel)
            want = ovp.quantize_ovp(x, cfg, alpha=full_alpha, per_channel=per_channel)
            assert np.array_equal(got.codes, want.codes) and _same(got.scale, want.scale)


@pytest.mark.parametrize("name", sorted(ant_format.TYPES))
def test_ant_codes_are_quantize_then_encode(name):
    """ANT's one-pass codes (models.fast_quant.ant_codes behind ant_format.quantize_codes) equal
    ``encode(quantize(...))`` bit for bit: real MiniLM rows per row and per tensor, a transposed
    weight, ties on the grid's midpoints, extremes (a scale so small that t overflows); a kernel
    whose contiguous-grid rounding is perturbed (half down) is caught."""
    t_ = ant_format.get_type(name)
    rng = np.random.default_rng(4)
    x, w = realdata.real_gemm("minilm:L0.ffn1", m=16, n=24)
    x, w = x.astype(np.float32), w.astype(np.float32)
    # x = (k / 2) * s with alpha 1 (s = fl32(1 / max_value)): t = x / s lands on k / 2, midpoints included
    ties = (np.float32(0.5) * rng.integers(-8, 9, (6, 40))).astype(np.float32) * (np.float32(1) / np.float32(t_.max_value))
    extreme = np.float32([[3.4e38, -3.4e38, 1e-45, 0.0, -0.0, 1.0]])
    cases = [(x, np.float32(0.9) * np.abs(x).max(axis=1, keepdims=True)), (x, np.float32([[2.5]])),
             (w.T, np.abs(w.T).max(axis=1, keepdims=True)), (ties, np.full((6, 1), 1.0, np.float32)),
             (extreme, np.float32([[1e-44]])), (extreme, np.float32([[3.4e38]]))]
    for xi, alpha in cases:
        with np.errstate(all="ignore"):
            values, scale = ant_format.quantize(xi, alpha, t_)
            codes, scale2 = ant_format.quantize_codes(xi, alpha, t_)
        assert codes.dtype == np.int64 and np.array_equal(codes, t_.encode(values))
        assert np.array_equal(scale.view(np.int32), scale2.view(np.int32))
    if t_.grid == tuple(range(t_.grid[0], t_.grid[-1] + 1)):
        kernels = fast_quant._compiled()
        wrong = lambda x_, s_, byc, cont, g0, g1, grid, mids, table, lo, out: kernels.ant_codes(
            x_ * np.float32(1 - 2 ** -20), s_, byc, cont, g0, g1, grid, mids, table, lo, out)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(fast_quant, "_compiled", lambda: type(kernels)(**{**vars(kernels), "ant_codes": wrong}))
            values, _ = ant_format.quantize(ties, np.full((6, 1), 1.0, np.float32), t_)
            codes, _ = ant_format.quantize_codes(ties, np.full((6, 1), 1.0, np.float32), t_)
            assert not np.array_equal(codes, t_.encode(values))
