"""OliVe's alpha search for OVP quantisation: the reference's MSE search, bit-exact and fast.

Alpha search (``search_alpha``): ``x_max = max(|mu + 3 sigma|, |mu - 3 sigma|)`` (sigma unbiased),
candidates ``alpha = x_max * float32(i * 0.01)`` for i = 75, 77, ..., 149 (float32), keep the
strictly smaller MSE (the first minimum in candidate order).  Per row for weights, per tensor for
activations.  Per row, mu and the MSE are float32 means summed in PyTorch's order
(:func:`rowsum_f32_vec8x4`), which reproduces the reference's alphas bit-exactly for its K = 256;
the per-tensor (activation) search scores in float64.

The engine: per channel, every candidate is scored with the reference float32 arithmetic
(:func:`_sq_error_rows`), computed by a blocked dense pass per candidate (:func:`_search_rows_fast`)
or, for few-level grids, found from exact cell statistics with a certified error bound
(:func:`_certify_block`). The format (grids, pair rule) is :mod:`models.quant.ovp_format`.
"""
from __future__ import annotations

import numpy as np

from ..fast_ovp_pairs import dense_overrides, dense_rows, pair_corrections
from ..fast_quant import cell_estimates, ovp_dense_sse, ovp_dense_sse_levels
from ..fast_sort import sort_rows_float32
from .common import as_float_2d, division_thresholds as _thresholds
from .ovp_format import Config, _check_even, _fake_quant_f32, _grid, get_config

__all__ = ["search_alpha", "x_max_3sigma", "rowsum_f32_vec8x4", "ALPHA_RATIOS"]

ALPHA_RATIOS = tuple(range(75, 150, 2))  # i in 75, 77, ..., 149 (percent of x_max)

def rowsum_f32_vec8x4(a: np.ndarray) -> np.ndarray:
    """Float32 row sums in the order of PyTorch's vectorised CPU reduction (AVX2 build).

    Four 8-lane float32 accumulators walk the row in steps of 32 elements; then the four vectors
    are added in sequence and the 8 lanes are added in sequence; a ragged tail (K % 32) is added
    last, in sequence.  This order makes the float32 row mean (hence x_max and the alpha
    candidates) identical to the reference's for K = 256; for other K it is only an approximation
    of PyTorch's order (which also cascades very long rows), i.e. alpha may differ in the last ulp.
    """
    a = np.ascontiguousarray(a, dtype=np.float32)
    rows, k = a.shape
    main = (k // 32) * 32
    acc = np.add.reduce(a[:, :main].reshape(rows, -1, 32), axis=1, dtype=np.float32) if main else \
        np.zeros((rows, 32), np.float32)
    # explicit adds (not np.add.reduce, whose order numpy may change with the memory layout)
    v = acc[:, 0:8]
    for j in (1, 2, 3):
        v = v + acc[:, 8 * j:8 * j + 8]
    s = v[:, 0]
    for lane in range(1, 8):
        s = s + v[:, lane]
    for j in range(main, k):
        s = s + a[:, j]
    return s


def _sq_error_rows(xc: np.ndarray, scale: np.ndarray, cfg: Config) -> np.ndarray:
    """Per-row float32 sum of squared errors of the reference fake quantisation of ``xc``.

    Same arithmetic as :func:`_fake_quant_f32` (bit-identical result), written in place on one
    buffer for the alpha search's inner loop.
    """
    t = xc / scale
    q = _grid(cfg).nearest(t)
    qp = q.reshape(q.shape[0], -1, 2)
    nm = np.float32(cfg.normal_max)
    left_out = np.abs(qp[..., 0]) > nm
    right_out = np.abs(qp[..., 1]) > nm
    np.copyto(qp[..., 1], np.float32(0.0), where=left_out)  # left outlier -> right victim
    right_out &= ~left_out
    np.copyto(qp[..., 0], np.float32(0.0), where=right_out)  # else right outlier -> left victim
    q -= t  # ((q - t) + t) * scale, as the reference's straight-through expression
    q += t
    q *= scale
    q -= xc
    q *= q
    return rowsum_f32_vec8x4(q)


_STD_CHUNK_ELEMS = 1 << 15


def x_max_3sigma(x: np.ndarray, per_channel: bool = True) -> np.ndarray:
    """``max(|mu + 3 sigma|, |mu - 3 sigma|)`` per row (or per tensor) in float32.

    mu: float32 mean with PyTorch's summation order (:func:`rowsum_f32_vec8x4`), sigma: unbiased,
    accumulated in float64 and rounded to float32 (PyTorch's CPU std accumulates in double).
    """
    x32 = np.asarray(x, dtype=np.float32)
    if per_channel:
        mu = (rowsum_f32_vec8x4(x32) / np.float32(x32.shape[1])).reshape(-1, 1)
        # row blocks: numpy's std reduces each row on its own (same pairwise sum per row), so the
        # float64 copy of one block at a time (kept in cache) gives the same values as a whole copy
        sd = np.empty((x32.shape[0], 1), dtype=np.float64)
        step = max(1, _STD_CHUNK_ELEMS // x32.shape[1])
        for r0 in range(0, x32.shape[0], step):
            sd[r0:r0 + step] = x32[r0:r0 + step].astype(np.float64).std(axis=1, ddof=1, keepdims=True)
    else:
        mu = (rowsum_f32_vec8x4(x32.reshape(1, -1)) / np.float32(x32.size)).reshape(1, 1)
        sd = np.asarray(x32.astype(np.float64).std(ddof=1)).reshape(1, 1)
    mu = mu.astype(np.float32)
    sd = sd.astype(np.float32)
    three = np.float32(3.0)
    return np.maximum(np.abs(mu + three * sd), np.abs(mu - three * sd))


# ---------------------------------------------------------------------------------------------
# Fast per-row alpha search (same float32 squared errors and summation order as _sq_error_rows)
# ---------------------------------------------------------------------------------------------
_LANES = 32  # rowsum_f32_vec8x4 walks a row in blocks of 32 lanes
# scales in [2**-100, 2**100]: every power-of-two rescale below is exact
_TINY_SCALE = np.float32(2.0 ** -100)
_HUGE_SCALE = np.float32(2.0 ** 100)
_MAX_T = np.float32(2.0 ** 30)  # |x| / scale bound of the fast path (float -> int index casts stay exact)


class _Dense:
    """Exact float32 squared error ``fl(fl(q s) - x)**2`` of every element with ``|t| < t_lim``.

    ``t = fl(x / s)``.  Elements with ``|t| < t_out`` are normal (no outlier, hence no victim in their
    pair when the partner is normal too) and their grid value ``q`` lies in ``[t/2, 2t]`` (or is 0),
    so ``(q - t) + t == q`` exactly (Sterbenz) and the reference's ``((q - t) + t) * s`` is ``fl(q s)``.
    Below ``t_out`` every tie is between two normal values and goes UP (to the later, larger value),
    so the grid value only depends on ``floor(t / h)``:

    * uniform ``int`` grids (step ``D``, ties up): ``q = D * ceil(floor(2 t / D) / 2)``, with
      ``floor(2 t / D)`` clipped to ``[-2 n - 1, 2 n]`` (normal max ``n D``) unless the clamp range
      ``[n D + D/2, t_out)`` is left to the sparse part (``t_lim = n D + D/2``, int8: a sliver);
      ``2 t / D = fl(x / (s D / 2))`` since scaling by a power of two commutes with rounding (normal
      range, checked by the caller);
    * other grids: a per-row table of ``fl(q s)`` indexed by ``floor(t / h) + offset(row)``.

    Pairs with an element at or above ``t_lim`` are evaluated with the reference formula
    (``_pair_sq_errors``) and overwrite the dense values.
    """

    def __init__(self, cfg: Config):
        g = _grid(cfg)
        nm = float(cfg.normal_max)
        out_min = min(v for v in cfg.outlier_grid if v > 0)
        self.t_out = np.float32((nm + out_min) / 2.0)
        # the border tie goes to the outlier on both sides: |t| >= t_out <=> outlier
        assert abs(g.nearest_search(np.array([self.t_out]))[0]) > nm
        assert abs(g.nearest_search(np.array([-self.t_out]))[0]) > nm
        self.t_lim = self.t_out
        normal = np.asarray(cfg.normal_grid, dtype=np.float64)
        steps = np.diff(normal)
        self.uniform = cfg.normal == "int" and np.all(steps == steps[0]) and normal[0] == -normal[-1]
        if self.uniform:
            self.step = float(steps[0])  # power of two (grid in normalised units)
            assert 2.0 ** np.round(np.log2(self.step)) == self.step
            self.n = int(round(nm / self.step))
            self.f_lo = np.float32(-2 * self.n - 1)
            self.f_hi = np.float32(2 * self.n)
            clamp = nm + self.step / 2.0  # |t| < clamp: |k| <= n without clipping
            self.clip = float(self.t_out) > 1.05 * clamp
            if not self.clip:
                self.t_lim = np.float32(clamp)
        else:
            h = g.table.h
            self.h = h
            self.F = int(np.ceil(float(self.t_out) / h)) + 1
            f = np.arange(-self.F, self.F, dtype=np.float64)
            # value on [f h, (f + 1) h): the interior's (no midpoint strictly inside a lattice cell;
            # a midpoint at f h itself ties up, i.e. to the interior's value as well)
            q = g.nearest_search((f + 0.5) * h)
            dense = np.abs(f * h) < float(self.t_out)  # lattice points inside (-t_out, t_out)
            assert np.array_equal(g.nearest_search(f[dense] * h), q[dense])  # ties go up there
            self.q_of_f = q.astype(np.float32)


_DENSE: dict[str, _Dense] = {}


def _uniform_level(t: np.ndarray, dn: _Dense) -> np.ndarray:
    """The normal level (float32, a new array) of float32 ``t`` on a uniform grid by the dense
    rule, clamped to the normal range: ``D ceil(clip(floor(t 2 / D), -2 n - 1, 2 n) / 2)`` (ties
    up; ``2 / D`` a power of two). A zero level may come out as -0.0."""
    q = t * np.float32(2.0 / dn.step)
    np.floor(q, out=q)
    np.clip(q, dn.f_lo, dn.f_hi, out=q)
    q *= np.float32(0.5)
    np.ceil(q, out=q)
    q *= np.float32(dn.step)
    return q


def _dense(cfg: Config) -> _Dense:
    if cfg.name not in _DENSE:
        _DENSE[cfg.name] = _Dense(cfg)
    return _DENSE[cfg.name]


def _pair_sq_errors(xl: np.ndarray, xr: np.ndarray, s: np.ndarray, cfg: Config):
    """Reference squared errors (``_sq_error_rows`` arithmetic) of pairs ``(xl, xr)`` at scales ``s``."""
    tl = xl / s
    tr = xr / s
    g = _grid(cfg)
    ql = g.nearest(tl)
    qr = g.nearest(tr)
    nm = np.float32(cfg.normal_max)
    left_out = np.abs(ql) > nm
    right_out = np.abs(qr) > nm
    np.copyto(qr, np.float32(0.0), where=left_out)
    right_out &= ~left_out
    np.copyto(ql, np.float32(0.0), where=right_out)
    res = []
    for q, t, x in ((ql, tl, xl), (qr, tr, xr)):
        q -= t
        q += t
        q *= s
        q -= x
        q *= q
        res.append(q)
    return res


def _dense_sse_numpy(xb, div, pos, vals, bounds, dn: "_Dense", *, mul=None, off=None, tabs=None):
    """The numpy candidate loop :func:`models.fast_quant.ovp_dense_sse` replaced (the reference
    tests/test_fast_quant_nb.py pins it to): per candidate a few in-place passes over one buffer,
    the pairs' reference terms put in place, ``np.add.reduce`` over the blocks (in order)."""
    c, w = div.shape
    acc = np.empty((c, w), dtype=np.float32)
    buf = np.empty_like(xb)
    if mul is not None:
        for ci in range(c):
            np.divide(xb, div[ci], out=buf)  # 2 t / step
            np.floor(buf, out=buf)
            if dn.clip:
                np.clip(buf, dn.f_lo, dn.f_hi, out=buf)
            buf *= np.float32(0.5)
            np.ceil(buf, out=buf)  # k = floor(t / step + 1/2), ties up, |k| <= n
            buf *= mul[ci]  # fl(q s) = fl(k * (step s))
            buf -= xb
            np.square(buf, out=buf)
            if bounds[ci + 1] > bounds[ci]:
                np.put(buf, pos[bounds[ci]:bounds[ci + 1]], vals[bounds[ci]:bounds[ci + 1]])
            np.add.reduce(buf, axis=0, out=acc[ci])
    else:
        idx = np.empty(xb.shape, dtype=np.intp)
        for ci in range(c):
            np.divide(xb, div[ci], out=buf)  # t / h
            np.floor(buf, out=buf)
            buf += off
            np.copyto(idx, buf, casting="unsafe")  # exact (|t| < 2**30)
            # in range for |t| < t_lim; others (pairs overwritten below) wrap harmlessly
            np.take(tabs[ci], idx, out=buf, mode="wrap")
            buf -= xb
            np.square(buf, out=buf)
            if bounds[ci + 1] > bounds[ci]:
                np.put(buf, pos[bounds[ci]:bounds[ci + 1]], vals[bounds[ci]:bounds[ci + 1]])
            np.add.reduce(buf, axis=0, out=acc[ci])
    return acc


def _dense_overrides_numpy(xf, pl, pair_row, sc, cfg: Config):
    """:func:`models.fast_ovp_pairs.dense_overrides` in numpy (the reference
    tests/test_fast_ovp_pairs.py pins it to): ``(pos, vals, bounds)``."""
    dn = _dense(cfg)
    xl, xr = xf[pl], xf[pl + 1]
    sp = sc[:, pair_row]  # (C, pairs)
    need = np.abs(xl) / sp >= dn.t_lim
    need |= np.abs(xr) / sp >= dn.t_lim
    ci, pi = np.nonzero(need)  # candidate-major order
    sql, sqr = _pair_sq_errors(xl[pi], xr[pi], sp[ci, pi], cfg)
    pos = np.stack([pl[pi], pl[pi] + 1], axis=1).reshape(-1)
    vals = np.stack([sql, sqr], axis=1).reshape(-1)
    return pos, vals, 2 * np.searchsorted(ci, np.arange(sc.shape[0] + 1))


def _search_rows_fast(xc: np.ndarray, sc: np.ndarray, cfg: Config):
    """Per-row float32 SSE of every candidate scale: ``sc`` (C, R) -> (C, R), equal to
    ``_sq_error_rows(xc, sc[c][:, None], cfg)`` for each c; ``None`` if the fast path does not apply
    (K < 32, scales out of range).

    The block is transposed once to block-major order ``xb[b, r * 32 + lane] = xc[r, 32 b + lane]``:
    per-row scales become lane vectors broadcast along the block axis (long inner loops) and
    ``rowsum_f32_vec8x4``'s sequential per-lane accumulation over blocks is a plain reduction over
    axis 0.  Per candidate the dense part is a few in-place passes over one buffer; the pairs that
    leave the dense range under a candidate (``|fl(x / s)| >= t_lim``; a superset is found once with
    the smallest scale) are evaluated with the reference formula and scattered into the buffer
    before the sum.
    """
    r, k = xc.shape
    nb = k // _LANES
    if nb == 0 or r == 0:
        return None
    smin = sc.min(axis=0)
    smax = sc.max(axis=0)
    if not (np.all(smin >= _TINY_SCALE) and np.all(smax <= _HUGE_SCALE)):
        return None
    dn = _dense(cfg)
    main = nb * _LANES  # a ragged tail (K % 32, even: whole pairs) is added last, in sequence
    w = r * _LANES
    xb = np.ascontiguousarray(xc[:, :main].reshape(r, nb, _LANES).transpose(1, 0, 2)).reshape(nb, w)
    lane_row = np.repeat(np.arange(r), _LANES)
    # pairs that may leave the dense range for some candidate: |t| is largest at the smallest scale
    t0 = np.abs(xb)
    t0 /= smin[lane_row]
    if not np.max(t0) < _MAX_T:
        return None
    big = t0 >= dn.t_lim
    big_pair = big[:, 0::2] | big[:, 1::2]
    pl = 2 * np.flatnonzero(big_pair)  # flat index of the left element of each such pair
    del t0, big, big_pair
    c = sc.shape[0]
    bounds = np.zeros(c + 1, dtype=np.intp)
    if pl.size:
        # per candidate only the pairs that actually leave the dense range: |fl(x / s)| >= t_lim,
        # their reference terms (compiled: models.fast_ovp_pairs.dense_overrides, the values and
        # order of _dense_overrides_numpy)
        pos, vals, bounds = dense_overrides(xb.reshape(-1), pl, lane_row[pl % w], sc, dn.t_lim,
                                            _grid(cfg).table, cfg.normal_max)
    else:
        pos, vals = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    # per candidate: the dense terms, the pairs' reference terms in their place, summed per lane
    # over the blocks in order (uniform grids: one compiled pass, models.fast_quant.ovp_dense_sse;
    # flint: ovp_dense_sse_levels)
    if dn.uniform:
        # per-lane operands: the per-row products repeated (the same values as repeating the
        # scales first, one (C, W) array fewer)
        div = np.repeat(sc * np.float32(dn.step / 2.0), _LANES, axis=1)  # exact: 2 t / step
        mul = np.repeat(sc * np.float32(dn.step), _LANES, axis=1)  # k = ceil(floor(2 t / step) / 2); fl(k * (step s))
        acc = ovp_dense_sse(xb, div, mul, dn.f_lo, dn.f_hi, dn.clip, pos, vals, bounds)
    elif _cells(cfg) is not None:
        # table grids with few levels (flint4): one compiled pass, the level from the midpoints
        cells = _cells(cfg)
        acc = ovp_dense_sse_levels(xb, np.repeat(sc, _LANES, axis=1), cells.levels, cells.mids, pos, vals, bounds)
    else:
        scl = np.ascontiguousarray(sc[:, lane_row])  # (C, W) per-lane scales, rows contiguous
        nf = 2 * dn.F
        off = (lane_row * nf + dn.F).astype(np.float32)  # row table offset (exact small integers)
        div = scl * np.float32(dn.h)  # t / h
        tabs = sc[:, :, None] * dn.q_of_f[None, None, :]  # (C, R, 2F): fl(q s) per row
        acc = _dense_sse_numpy(xb, div, pos, vals, bounds, dn, off=off, tabs=tabs.reshape(c, -1))
    # rowsum_f32_vec8x4's final combination: the four 8-lane vectors, then the 8 lanes, in
    # sequence; lanes first (contiguous (C, R) operands: numpy's adds over 8-wide strided
    # slices cost more than the dense pass's arithmetic on small blocks)
    a3 = np.ascontiguousarray(acc.reshape(c, r, _LANES).transpose(2, 0, 1))
    v = [a3[lane] + a3[8 + lane] + a3[16 + lane] + a3[24 + lane] for lane in range(8)]
    out = v[0]
    for lane in range(1, 8):
        out = out + v[lane]
    if main < k:
        xt = xc[:, main:]
        sql, sqr = _pair_sq_errors(xt[None, :, 0::2], xt[None, :, 1::2], sc[:, :, None], cfg)
        for j in range(k - main):
            out = out + (sql if j % 2 == 0 else sqr)[:, :, j // 2]
    return out


# ---------------------------------------------------------------------------------------------
# Certified per-row argmin (few-level grids): exact cell statistics instead of 38 dense passes
# ---------------------------------------------------------------------------------------------
_U32 = 2.0 ** -24  # unit roundoff of float32
_CERT_MAX_MIDS = 32  # int4 / flint4 (14 midpoints); int8 (254) keeps the dense search
_CERT_BLOCK_ELEMS = 1 << 20
# below this K the compiled dense search of all candidates is faster than the certificate (its sort
# and compiled cell sums, models.fast_quant.cell_estimates), per grid: bench/bench_ovp_search.py,
# 288 SmolLM2 ffn_down rows tiled to K, CPU ms cert / dense, int4 (uniform): 12.4 / 10.5 (K 1536),
# 19.2 / 19.3 (3072), 34.7 / 38.7 (6144); flint4 (a table grid, whose dense pass compares every
# midpoint): 13.5 / 28.7 (1536), 23.8 / 57.3 (3072), 40.7 / 109.1 (6144): certified at every K
_CERT_MIN_K = {"uniform": 4096, "table": 0}


def _cert_min_k(cfg: Config) -> int:
    """The least row length at which :func:`_search_per_row` certifies the argmin on ``cfg``'s grid."""
    return _CERT_MIN_K["uniform" if _dense(cfg).uniform else "table"]


class _Cells:
    """Normal grid of a config as sorted levels and midpoints (float32, exact), ties UP between them."""

    def __init__(self, cfg: Config):
        lv = np.asarray(cfg.normal_grid, dtype=np.float64)
        self.levels = lv.astype(np.float32)
        self.mids = ((lv[:-1] + lv[1:]) / 2.0).astype(np.float32)
        assert np.array_equal(self.mids.astype(np.float64), (lv[:-1] + lv[1:]) / 2.0)
        g = _grid(cfg)
        # a value exactly on a midpoint goes to the upper level (the later, larger value)
        assert np.array_equal(g.nearest_search(self.mids.astype(np.float64)), lv[1:])


_CELLS: dict[str, _Cells | None] = {}


def _cells(cfg: Config):
    if cfg.name not in _CELLS:
        _CELLS[cfg.name] = _Cells(cfg) if len(cfg.normal_grid) - 1 <= _CERT_MAX_MIDS else None
    return _CELLS[cfg.name]


def _exact_sse(xc: np.ndarray, sc: np.ndarray, cfg: Config, step: int) -> np.ndarray:
    """Reference float32 SSE ``(C, R)`` of the rows ``xc`` (R, K) at the candidate scales ``sc`` (C, R),
    in blocks of ``step`` rows (per-row values: any blocking gives the same).

    Uniform grids take every block's :func:`_search_rows_fast` in one compiled call
    (:func:`models.fast_ovp_pairs.dense_rows`: the same steps on the same float32 values, without
    a dozen numpy calls per block; ``tests/test_fast_ovp_pairs.py`` pins it); a block it cannot
    take (out-of-range scales or quotients) is scored by the reference formula, as
    :func:`_search_rows_fast` would leave it."""
    xc = np.ascontiguousarray(xc)
    r, k = xc.shape
    dn = _dense(cfg)
    if dn.uniform and k >= _LANES:
        sse, ok = dense_rows(xc, sc, step, dn, _grid(cfg).table, cfg.normal_max, _TINY_SCALE, _HUGE_SCALE, _MAX_T)
        blocks = np.flatnonzero(~ok)
    else:
        sse, blocks = np.empty(sc.shape, dtype=np.float32), range((r + step - 1) // step)
    for b in blocks:
        sl = slice(b * step, (b + 1) * step)
        fast = None if dn.uniform else _search_rows_fast(xc[sl], sc[:, sl], cfg)
        sse[:, sl] = fast if fast is not None else \
            np.stack([_sq_error_rows(xc[sl], sc[ci, sl][:, None], cfg) for ci in range(sc.shape[0])])
    return sse


def _cell_sq(x: np.ndarray, s: np.ndarray, cells: _Cells, dn: _Dense) -> np.ndarray:
    """``(fl(q s) - x)**2`` (float64) with ``q`` the normal level of the cell of ``t = fl(x / s)``
    (ties up, clamped to the normal range): the cell model's term of an element.

    ``q = levels[searchsorted(mids, t, "right")]``; on a uniform grid (step ``D``, ``n`` levels
    either side) without the search: ``q = D ceil(clip(floor(t 2 / D), -2 n - 1, 2 n) / 2)``, the
    dense rule of :class:`_Dense` (ties up) with its clamp. ``2 / D`` is a power of two, so
    ``t 2 / D`` is exact unless it is subnormal, where it stays in ``(-1, 1)`` and the level is a
    zero either way (its sign is squared away); an overflow to infinity clips to the top level."""
    t = x / s
    if dn.uniform:
        q = _uniform_level(t, dn)
    else:
        q = cells.levels[np.searchsorted(cells.mids, t, side="right")]
    o = (q * s).astype(np.float64)
    return (o - x.astype(np.float64)) ** 2


def _certify_block(xc: np.ndarray, sc: np.ndarray, cfg: Config, cells: _Cells, rel: float | None = None):
    """Candidate with the smallest reference MSE per row, when it can be certified without the
    reference's float32 sums; returns (certified mask (R,), candidate index (R,)): the rows whose
    :func:`_candidate_keep` set is the estimate's argmin alone."""
    guarded, keep, best = _candidate_keep(xc, sc, cfg, cells, rel)
    return guarded & (np.count_nonzero(keep, axis=1) == 1), best


def _candidate_keep(xc: np.ndarray, sc: np.ndarray, cfg: Config, cells: _Cells, rel: float | None = None):
    """The candidates that can hold a row's smallest reference MSE, found without the reference's
    float32 sums; returns (guarded (R,), keep (R, C), estimate's argmin (R,)).

    ``keep`` is every candidate on an unguarded row (bounds not valid there); on a guarded row the
    candidates whose lower bound is not above the estimate's argmin's upper bound (with a margin):
    every other candidate's reference MSE is strictly larger than that candidate's, so the first
    minimum over the kept candidates, in candidate order, is the first minimum over all of them.

    For a row and a candidate scale ``s`` every element whose pair cannot hold an outlier under any
    candidate is quantised to the normal grid by ``fl(x / s)`` against the midpoints (ties up), and
    its output is ``o = fl(q s)`` (see :class:`_Dense`).  ``fl(x / s) >= m`` holds exactly for
    ``x >= theta(m, s)`` (monotone rounding), so with the row sorted once, the cells of all
    candidates are ranges of the sorted row, and ``E = sum (o - x)**2 = sum x**2
    - 2 sum_j o_j X_j + sum_j n_j o_j**2`` follows from counts ``n_j`` and partial sums ``X_j``
    (float64).  The remaining pairs (an outlier possible under some candidate) are scored with the
    reference formula element by element.

    The reference SSE is the float32 sum, in ``rowsum_f32_vec8x4``'s order (depth at most
    ``K // 32 + 10 + K % 32``), of terms ``fl(fl(o - x)**2)``; so it lies within
    ``(1 +- (depth + 4) u) E`` (plus an underflow allowance), and ``E`` is known up to a float64
    rounding bound.  When the best estimate's upper bound is below every other candidate's lower
    bound by a factor ``1 + 2**-20`` (then the float32 MSEs ``fl(SSE / K)`` are strictly ordered as
    well), the estimate's argmin is the reference's argmin.  Rows that are not certified (near-ties,
    degenerate rows, out-of-range scales) are left to the exact search.  ``rel`` replaces that
    relative bound of the reference's sum for a reference summed otherwise (:func:`_search_tensor`).
    """
    r, k = xc.shape
    c = sc.shape[0]
    unguarded = np.zeros(r, dtype=bool), np.ones((r, c), dtype=bool), np.zeros(r, dtype=np.intp)
    smin = sc.min(axis=0)
    smax = sc.max(axis=0)
    if not (np.all(smin >= _TINY_SCALE) and np.all(smax <= _HUGE_SCALE)):
        return unguarded
    dn = _dense(cfg)
    xs = sort_rows_float32(xc)        # np.sort's rows bit for bit (long rows compiled, models.fast_sort)
    if not np.max(np.maximum(np.abs(xs[:, 0]), np.abs(xs[:, -1])) / smin) < _MAX_T:
        return unguarded
    m_ = cells.mids.size
    # the cells of every candidate from the sorted rows, compiled (models.fast_quant.cell_estimates:
    # each boundary found by the float32 division itself, so no threshold is derived or needs
    # certifying); est's float64 rounding is within eta_cells
    est, eta_cells, bnd = (a.T for a in cell_estimates(xs, sc, cells.levels, cells.mids))     # (R, C)
    row_ok = np.all(np.isfinite(bnd), axis=1)     # NaN rows: est stays NaN, so not guarded
    # pairs holding an element at or beyond t_out under a candidate (an outlier is possible there):
    # the reference terms of both elements replace their cell terms
    th_out, ok_out = _thresholds(dn.t_out, smin)  # |fl(x / smin)| >= t_out  <=>  |x| >= th_out
    if not np.all(ok_out):
        return unguarded
    # (one compiled pass over the pairs, models.fast_ovp_pairs: _pair_corrections_numpy's values)
    pair_corrections(xc, sc, th_out, est, bnd, dn, _grid(cfg).table, cells, cfg.normal_max)
    if rel is None:
        depth = k // 32 + 10 + k % 32
        rel = (depth + 4) * _U32 * 1.01
    # float64 rounding of the estimate: the cells' (eta_cells) and the corrections' (512x margin)
    eta = eta_cells + 2.0 ** -44 * (k + c * m_ + 64) * bnd
    lo_b = (est - eta) * (1.0 - rel) - k * 2.0 ** -149
    hi_b = (est + eta) * (1.0 + rel) + k * 2.0 ** -149
    best = np.argmin(est, axis=1)
    ar = np.arange(r)
    top = hi_b[ar, best] * ((1.0 + 2.0 ** -20) * (1.0 + 1e-12))
    others = lo_b.copy()
    others[ar, best] = np.inf
    guarded = row_ok & np.all(np.isfinite(est), axis=1) & (lo_b[ar, best] >= k * 2.0 ** -90) & \
        (hi_b[ar, best] < 2.0 ** 120)
    keep = ~(others > top[:, None])  # NaN bounds: kept
    keep[ar, best] = True
    keep[~guarded] = True
    return guarded, keep, best


def _pair_corrections_numpy(xc, sc, th_out, est, bnd, cfg: Config, cells: _Cells) -> None:
    """:func:`models.fast_ovp_pairs.pair_corrections` in numpy (the reference
    tests/test_fast_ovp_pairs.py pins it to): the outlier pairs' reference terms in place of
    their cell terms, added to ``est`` and ``bnd`` (R x C, in place)."""
    r, c = est.shape
    dn = _dense(cfg)
    big = np.abs(xc) >= th_out[:, None]
    big_pair = big[:, 0::2] | big[:, 1::2]
    pr, pc = np.nonzero(big_pair)
    if pr.size:
        xl = xc[pr, 2 * pc]
        xr = xc[pr, 2 * pc + 1]
        sp = sc[:, pr]  # (C, P)
        need = np.abs(xl) / sp >= dn.t_out
        need |= np.abs(xr) / sp >= dn.t_out
        ci, pi = np.nonzero(need)
        s_n = sp[ci, pi]
        xl, xr = xl[pi], xr[pi]
        ref_l, ref_r = _pair_sq_errors(xl, xr, s_n, cfg)
        ref = ref_l.astype(np.float64) + ref_r
        cell = _cell_sq(xl, s_n, cells, dn) + _cell_sq(xr, s_n, cells, dn)
        key = pr[pi] * c + ci
        est += np.bincount(key, ref - cell, minlength=r * c).reshape(r, c)
        bnd += np.bincount(key, ref + cell, minlength=r * c).reshape(r, c)


def _search_per_row(x32: np.ndarray, sc_all: np.ndarray, cfg: Config, chunk_elems: int, need_sse: bool = True):
    """Per-row first argmin of the reference MSE over the candidate scales ``sc_all`` (C, rows) and
    the reference float32 SSE of that candidate: (best (rows,), sse (rows,) float32). Without
    ``need_sse`` the certified rows' SSEs (only reported, never compared) are not computed: their
    entries are 0, the argmin is the same."""
    rows, k = x32.shape
    best = np.zeros(rows, dtype=np.intp)
    sse_best = np.zeros(rows, dtype=np.float32)
    todo = np.ones(rows, dtype=bool)  # rows for the exact all-candidate search
    cells = _cells(cfg)
    if cells is not None and k >= _cert_min_k(cfg):
        blk = max(1, _CERT_BLOCK_ELEMS // k)
        for r0 in range(0, rows, blk):
            cert, bi = _certify_block(x32[r0:r0 + blk], sc_all[:, r0:r0 + blk], cfg, cells)
            best[r0:r0 + blk] = bi
            todo[r0:r0 + blk] = ~cert
    step = max(1, chunk_elems // k)
    done = np.flatnonzero(~todo)
    if need_sse and done.size:
        # one candidate per row: bigger blocks, same cache footprint per candidate
        s1 = sc_all[best[done], done][None, :]  # each row's certified scale as one "candidate"
        sse_best[done] = _exact_sse(x32[done], s1, cfg, 4 * step)[0]
    rest = np.flatnonzero(todo)
    if rest.size:
        whole = rest.size == rows  # all rows (int8, int4 below the certificate's K): no copy
        sse = _exact_sse(x32 if whole else x32[rest], sc_all if whole else sc_all[:, rest], cfg, step)
        mse = sse / np.float32(k)
        b = np.argmin(mse, axis=0)  # first minimum = strict '<' update in candidate order
        best[rest] = b
        sse_best[rest] = sse[b, np.arange(rest.size)]
    return best, sse_best


#: elements per block of rows of the dense per-row search (per-row results: any block gives the
#: same alphas); int8's 254 midpoints keep more of the dense pass's overrides in flight, so its
#: operands fit the cache better in smaller blocks: SmolLM2 blocks 3 and 17's 14 weight matrices,
#: CPU s 1 << 16 / 1 << 14: int8 0.31, 0.33 / 0.23, 0.26; int4 0.19, 0.19 / 0.21, 0.24 (session 36).
#: With the blocks in one compiled call (session 38; blocks 3 and 17, CPU s, 1 << 13 / 14 / 15 / 16)
#: int8 0.19 / 0.15 / 0.16 / 0.17, int4 0.14 / 0.11 / 0.12 / 0.12 (and 0.13, 0.13 / 0.12, 0.11 alternated)
_ROW_CHUNK = {"int8": 1 << 14, "int4": 1 << 14}
_DEFAULT_CHUNK = 1 << 16


def search_alpha(x, mode: str = "int4", per_channel: bool = True, chunk_elems: int | None = None):
    """OliVe's MSE alpha search; returns (alpha (rows,1) or (1,1) float32, best MSE per row/tensor).

    Rows are processed in chunks (per-channel search is row-independent), which keeps the working
    set in cache; the per-tensor search sums the squared error over all chunks.

    Per channel the result is that of scoring every candidate with the reference float32 arithmetic
    (``_sq_error_rows``), bit for bit, but computed faster: grids with few normal levels (int4,
    flint4) find each row's best candidate from exact cell statistics of the sorted row with a
    rigorous error bound (:func:`_certify_block`) and score only that candidate exactly; other rows
    and grids (int8) score all candidates with :func:`_search_rows_fast` (same float32 values).
    """
    cfg = get_config(mode)
    x32 = np.ascontiguousarray(as_float_2d(x, dtype=np.float32))  # the block loops assume C order
    _check_even(x32)
    return _search_alpha(x32, cfg, per_channel, chunk_elems)


def _search_alpha(x32: np.ndarray, cfg: Config, per_channel: bool, chunk_elems: int | None = None,
                  need_mse: bool = True):
    """:func:`search_alpha` of a validated float32 array; without ``need_mse`` (a quantiser that
    keeps only alpha) the MSE is None and the scoring that only reports it is skipped: the
    certified candidate's exact pass (per tensor, per certified row). The same alpha."""
    rows, k = x32.shape
    xmax = x_max_3sigma(x32, per_channel)
    if np.any(xmax <= 0):
        xmax = np.where(xmax > 0, xmax, np.float32(1.0))
    ratios = [np.float32(i * 0.01) for i in ALPHA_RATIOS]
    if per_channel:
        ratios32 = np.asarray(ratios, dtype=np.float32)
        sc_all = (xmax[:, 0][None, :] * ratios32[:, None]) / np.float32(cfg.normal_max)  # (C, rows)
        best, sse_best = _search_per_row(x32, sc_all, cfg, chunk_elems or _ROW_CHUNK.get(cfg.name, _DEFAULT_CHUNK),
                                         need_mse)
        alpha = (xmax[:, 0] * ratios32[best]).astype(np.float32)
        if not need_mse:
            return alpha.reshape(rows, 1), None
        mse = (sse_best.astype(np.float32) / np.float32(k)).astype(np.float64)
        return alpha.reshape(rows, 1), mse
    alpha, mse = _search_tensor(x32, cfg, xmax, ratios, chunk_elems or _DEFAULT_CHUNK, need_mse)
    return alpha, mse if need_mse else None


_TENSOR_CELLS: dict[str, _Cells] = {}


def _search_tensor(x32: np.ndarray, cfg: Config, xmax: np.ndarray, ratios: list, chunk_elems: int,
                   need_mse: bool = True):
    """Per-tensor search: the first candidate with the least float64 MSE, ``sum (out - x)**2``
    over the tensor (``out - x`` in float32, squared exactly in float64, summed per row by einsum,
    then over the rows), and that MSE.

    Only the candidates that can be the minimum are scored that way: :func:`_certify_block` on the
    flattened tensor (one row, one scale per candidate; pairs stay pairs, K being even) certifies
    the argmin from exact cell statistics when it is clear by a margin (:func:`_candidate_keep`:
    else the candidates within the margin, scored in order), with the reference's sum
    bounded by ``rel``: each term is within ``3 u32`` of the cell model's (the float32 difference
    squared exactly, or an outlier pair's term squared in float32), and a float64 sum of ``n``
    non-negative terms in any order is within ``n u64`` of the exact sum. A tensor without valid
    bounds scores every candidate. A certified argmin without ``need_mse``: (alpha, None), unscored.
    """
    rows, k = x32.shape
    n = x32.size
    if cfg.name not in _TENSOR_CELLS:
        _TENSOR_CELLS[cfg.name] = _Cells(cfg)   # one row: the int8 grid's 254 midpoints are cheap
    ratios32 = np.asarray(ratios, dtype=np.float32)
    sc = ((xmax[0, 0] * ratios32) / np.float32(cfg.normal_max))[:, None]   # (C, 1), as _fake_quant_f32
    rel = (4 * _U32 + (n + 8) * 2.0 ** -53) * 1.01
    guarded, keep, best = _candidate_keep(x32.reshape(1, -1), sc, cfg, _TENSOR_CELLS[cfg.name], rel=rel)
    # near-ties: only the candidates the bounds cannot rule out are scored (in candidate order)
    cands = [int(ci) for ci in np.flatnonzero(keep[0])]
    if guarded[0] and len(cands) == 1 and not need_mse:
        return (xmax * ratios[cands[0]]).astype(np.float32).reshape(1, 1), None
    step = max(1, chunk_elems // k)
    sse = np.zeros((len(cands), rows), dtype=np.float64)
    for r0 in range(0, rows, step):
        xc = x32[r0:r0 + step]
        for j, ci in enumerate(cands):
            a = np.broadcast_to(xmax, (1, 1)) * ratios[ci]
            out, *_ = _fake_quant_f32(xc, a.astype(np.float32), cfg)
            d = (out - xc).astype(np.float64)
            sse[j, r0:r0 + step] = np.einsum("ij,ij->i", d, d)
    mse = sse.sum(axis=1) / n
    j = int(np.argmin(mse))
    return (xmax * ratios[cands[j]]).astype(np.float32).reshape(1, 1), np.asarray([mse[j]])
