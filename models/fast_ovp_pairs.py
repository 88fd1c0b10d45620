"""OliVe's certified alpha search: the outlier pairs' corrections of the cell model, compiled.

:func:`models.quant.ovp_search._candidate_keep` models every element's squared error by the
normal-grid cell of ``fl(x / s)``; a pair holding an element at or past ``t_out`` under a
candidate (an outlier, hence a victim, is possible there) gets the reference's terms instead,
and the difference (and the sum, for the bound) is added to the candidate's estimate. In numpy
(:func:`pair_corrections_numpy`, the reference kept for the tests) that is a (candidates x pairs)
set of temporaries, two ``nonzero``, the reference formula and the cell rule on gathered arrays
and two ``bincount``; on the per-tensor activation search of a SmolLM2 linear (one row of up to
786k elements, many outlier pairs) it was most of the search. :func:`pair_corrections` does the
same in one pass over the row's pairs.

Why it is exact: per pair and candidate the same IEEE operations on the same values (no
``fastmath``): the reference's float32 terms (``t = fl(x / s)``, the union grid's value from the
lattice table, the pair rule, ``fl(fl(fl(fl(q - t) + t) s) - x)**2``), widened and added in
float64; the cell term ``(fl64(fl32(q s)) - x)**2`` in float64 with ``q`` the normal level of
``t`` (uniform grids: ``D ceil(clip(floor(t 2 / D), lo, hi) / 2)``; others: the count of
midpoints ``<= t``, ties up); and each (row, candidate) sum of ``ref - cell`` and ``ref + cell``
accumulated from +0 over the pairs in row order, the order ``np.bincount`` adds them in, then
added to the estimate and the bound. ``tests/test_fast_ovp_pairs.py`` pins it to the numpy
reference bit for bit (random, heavy-tailed, tied, zero, +-max and real MiniLM / SmolLM2
operands, per row and per tensor).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

from . import fast_quant

#: the dense pass :func:`models.fast_quant.ovp_dense_sse` runs (``fast_quant._ovp_dense_uniform``
#: compiled), bound by :func:`_compiled` (numba is imported only there)
_dense_uniform = None


def _nearest(t, lut, inv_h, n_lat):
    """:meth:`models.quant.common.LatticeTable.__call__` of one float32 ``t``: the cell of
    ``t / h`` (a power of two: exact), its on-lattice flag, clamped, looked up."""
    u = t * inv_h
    f = np.floor(u)
    on_lattice = 1 if u == f else 0
    f = min(max(f, np.float32(-n_lat)), np.float32(n_lat - 1))
    return lut[(int(f) + n_lat) * 2 + on_lattice]


def _pair_terms(xl, xr, s, lut, inv_h, n_lat, nm):
    """The reference's two float32 squared errors of the pair ``(xl, xr)`` at scale ``s``
    (:func:`models.quant.ovp_search._pair_sq_errors`)."""
    zero = np.float32(0)
    tl = xl / s
    tr = xr / s
    ql = _nearest(tl, lut, inv_h, n_lat)
    qr = _nearest(tr, lut, inv_h, n_lat)
    if abs(ql) > nm:                      # left outlier -> right is the victim
        qr = zero
    elif abs(qr) > nm:                    # else right outlier -> left is the victim
        ql = zero
    dl = ((ql - tl) + tl) * s - xl
    dr = ((qr - tr) + tr) * s - xr
    return dl * dl, dr * dr


def _cell_term(x, s, uniform, two_over_step, step, f_lo, f_hi, levels, mids):
    """:func:`models.quant.ovp_search._cell_sq` of one element (float64)."""
    t = x / s
    if uniform:
        q = np.float32(np.floor(t * two_over_step))
        q = min(max(q, f_lo), f_hi)
        q = np.float32(np.ceil(q * np.float32(0.5))) * step
    else:
        at = 0
        for i in range(mids.size):
            at += mids[i] <= t
        q = levels[at]
    d = np.float64(q * s) - np.float64(x)
    return d * d


def _corrections(x, sc, th_out, t_out, lut, inv_h, n_lat, nm, uniform, two_over_step, step, f_lo, f_hi,
                 levels, mids, est, bnd):
    """Adds each row's pair corrections to ``est`` / ``bnd`` (R x C float64); returns whether
    the rows held any pair with an element at or past ``th_out[r]``."""
    rows, k = x.shape
    n_cand = sc.shape[0]
    d_est = np.zeros((rows, n_cand))
    d_bnd = np.zeros((rows, n_cand))
    found = False
    for r in range(rows):
        th = th_out[r]
        for p in range(k // 2):
            xl = x[r, 2 * p]
            xr = x[r, 2 * p + 1]
            if not (abs(xl) >= th or abs(xr) >= th):
                continue
            found = True
            axl = abs(xl)
            axr = abs(xr)
            for c in range(n_cand):
                s = sc[c, r]
                if not (axl / s >= t_out or axr / s >= t_out):
                    continue
                el, er = _pair_terms(xl, xr, s, lut, inv_h, n_lat, nm)
                ref = np.float64(el) + np.float64(er)
                cell = (_cell_term(xl, s, uniform, two_over_step, step, f_lo, f_hi, levels, mids)
                        + _cell_term(xr, s, uniform, two_over_step, step, f_lo, f_hi, levels, mids))
                d_est[r, c] += ref - cell
                d_bnd[r, c] += ref + cell
    if found:
        for r in range(rows):
            for c in range(n_cand):
                est[r, c] += d_est[r, c]
                bnd[r, c] += d_bnd[r, c]
    return found


@functools.cache
def _compiled():
    """The kernel compiled by numba (no ``fastmath``: IEEE semantics), or loaded from numba's
    on-disk cache; deferred as :func:`models.fast_quant._compiled` is (numba's import is slow)."""
    import numba
    global _nearest, _pair_terms, _cell_term, _overrides, _block_ok, _dense_uniform
    jit = numba.njit(cache=True, nogil=True, error_model="numpy")
    # the kernels call the compiled helpers (numba resolves a global when it compiles the caller);
    # numba's cache of _dense_rows is keyed on this file only: a change to fast_quant's dense pass
    # needs this file touched (or the cache cleared) to reach it
    _nearest, _pair_terms, _cell_term = jit(_nearest), jit(_pair_terms), jit(_cell_term)
    _overrides, _block_ok = jit(_overrides), jit(_block_ok)
    _dense_uniform = fast_quant._compiled().ovp_uniform
    return SimpleNamespace(corrections=jit(_corrections), codes=jit(_codes), overrides=_overrides,
                           dense_rows=jit(_dense_rows))


def pair_corrections(x, sc, th_out, est, bnd, dense, table, cells, normal_max):
    """Add the outlier pairs' corrections to the cell model's ``est`` and ``bnd`` (R x C float64,
    in place) for rows ``x`` (R x K float32, K even) at the candidate scales ``sc`` (C x R
    float32): for every pair with an element ``|x| >= th_out[r]``, under every candidate where
    an element has ``|fl(x / s)| >= t_out``, the reference terms minus (plus) the cell terms.
    ``dense``, ``table``, ``cells``: the grid's :class:`~models.quant.ovp_search._Dense` rule,
    union :class:`~models.quant.common.LatticeTable` and :class:`~models.quant.ovp_search._Cells`."""
    f32 = np.float32
    _compiled().corrections(
        np.ascontiguousarray(x, dtype=f32), np.ascontiguousarray(sc, dtype=f32),
        np.ascontiguousarray(th_out, dtype=f32), f32(dense.t_out), np.ascontiguousarray(table.lut, dtype=f32),
        f32(table.inv_h), int(table.L), f32(normal_max), bool(dense.uniform),
        f32(2.0 / dense.step) if dense.uniform else f32(1), f32(dense.step) if dense.uniform else f32(1),
        f32(dense.f_lo) if dense.uniform else f32(0), f32(dense.f_hi) if dense.uniform else f32(0),
        np.ascontiguousarray(cells.levels, dtype=f32), np.ascontiguousarray(cells.mids, dtype=f32), est, bnd)


# ---------------------------------------------------------------------------------------------
# The quantiser's element codes: the grid, the pair rule and the code tables in one pass


def _codes(x, scale, per_row, lut, inv_h, n_lat, nm, unit, v_lo, normal_tab, out_tab, victim_code, codes):
    """``codes[r, i]``: the OVP element code of ``x[r, i]`` at the scale of its row (or the
    tensor's): ``t = fl(x / s)``, the union grid's value ``q`` (lattice table), the pair rule,
    then ``victim_code``, or the outlier / normal code table's entry of ``v = q * unit`` (an exact
    integer in float32)."""
    rows, k = x.shape
    for r in range(rows):
        s = scale[r] if per_row else scale[0]
        for p in range(k // 2):
            tl = x[r, 2 * p] / s
            tr = x[r, 2 * p + 1] / s
            ql = _nearest(tl, lut, inv_h, n_lat)
            qr = _nearest(tr, lut, inv_h, n_lat)
            if abs(ql) > nm:                  # left outlier -> right is the victim
                codes[r, 2 * p] = out_tab[int(ql * unit) - v_lo]
                codes[r, 2 * p + 1] = victim_code
            elif abs(qr) > nm:                # else right outlier -> left is the victim
                codes[r, 2 * p] = victim_code
                codes[r, 2 * p + 1] = out_tab[int(qr * unit) - v_lo]
            else:
                codes[r, 2 * p] = normal_tab[int(ql * unit) - v_lo]
                codes[r, 2 * p + 1] = normal_tab[int(qr * unit) - v_lo]


def element_codes(x, scale, table, normal_max, unit, v_lo, normal_tab, out_tab, victim_code):
    """(R x K) int64 OVP element codes of ``x`` (R x K float32, C order, K even) at ``scale``
    (R float32 per row, or 1 per tensor): :func:`models.quant.ovp.quantize_ovp` then
    :func:`models.quant.ovp_format.element_codes` in one pass (``table`` the union grid's
    :class:`~models.quant.common.LatticeTable`; ``normal_tab`` / ``out_tab`` the normal and
    outlier code of every integer-unit value from ``v_lo`` up)."""
    f32 = np.float32
    scale = np.ascontiguousarray(scale, dtype=f32).reshape(-1)
    codes = np.empty(x.shape, dtype=np.int64)
    _compiled().codes(x, scale, scale.size > 1,
                      np.ascontiguousarray(table.lut, dtype=f32), f32(table.inv_h), int(table.L), f32(normal_max),
                      f32(unit), int(v_lo), normal_tab, out_tab, int(victim_code), codes)
    return codes


# ---------------------------------------------------------------------------------------------
# The dense search's overrides: the reference terms of the pairs leaving the dense range


def _overrides(xf, pl, pair_row, sc, t_lim, lut, inv_h, n_lat, nm, pos, vals, bounds):
    """For each candidate ``c`` (in order), each pair starting at ``xf[pl[i]]`` (in order) with
    ``|fl(x / s)| >= t_lim`` for an element at ``s = sc[c, pair_row[i]]``: its two positions and
    reference terms appended to ``pos`` / ``vals``; ``bounds[c]`` the candidate's first entry,
    ``bounds[C]`` the count."""
    # fl(|xl| / s) >= t_lim or fl(|xr| / s) >= t_lim  <=>  fl(max(|xl|, |xr|) / s) >= t_lim (the
    # rounded quotient is monotone in the dividend): one division per pair and candidate
    amax = np.empty(pl.size, dtype=xf.dtype)
    for i in range(pl.size):
        amax[i] = max(abs(xf[pl[i]]), abs(xf[pl[i] + 1]))
    n = 0
    for c in range(sc.shape[0]):
        bounds[c] = n
        for i in range(pl.size):
            s = sc[c, pair_row[i]]
            if amax[i] / s >= t_lim:
                xl = xf[pl[i]]
                xr = xf[pl[i] + 1]
                el, er = _pair_terms(xl, xr, s, lut, inv_h, n_lat, nm)
                pos[n] = pl[i]
                vals[n] = el
                pos[n + 1] = pl[i] + 1
                vals[n + 1] = er
                n += 2
    bounds[sc.shape[0]] = n


def dense_overrides(xf, pl, pair_row, sc, t_lim, table, normal_max):
    """``(pos, vals, bounds)`` the dense search pass takes for the pairs that leave the dense
    range (:func:`models.quant.ovp_search._search_rows_fast`): ``xf`` the block's elements (flat
    float32), ``pl`` the flat index of each candidate pair's left element (ascending), ``pair_row``
    its row, ``sc`` (C x R float32) the candidate scales; entries candidate by candidate, pairs in
    order, the reference's float32 terms (:func:`models.quant.ovp_search._pair_sq_errors`)."""
    f32 = np.float32
    size = 2 * sc.shape[0] * pl.size
    pos, vals = np.empty(size, dtype=np.int64), np.empty(size, dtype=f32)
    bounds = np.empty(sc.shape[0] + 1, dtype=np.int64)
    _compiled().overrides(xf, np.ascontiguousarray(pl, dtype=np.int64), np.ascontiguousarray(pair_row, dtype=np.int64),
                          np.ascontiguousarray(sc, dtype=f32), f32(t_lim), np.ascontiguousarray(table.lut, dtype=f32),
                          f32(table.inv_h), int(table.L), f32(normal_max), pos, vals, bounds)
    return pos[:bounds[-1]], vals[:bounds[-1]], bounds


# ---------------------------------------------------------------------------------------------
# The whole dense search of a matrix's rows: _search_rows_fast's blocks in one compiled call

_LANES = 32  # rowsum_f32_vec8x4's lanes (models.quant.ovp_search._LANES)


def _block_ok(x, sc, r0, r, main, tiny, huge, max_t, smin):
    """``_search_rows_fast``'s guards of rows ``r0 .. r0 + r``: every candidate scale in ``[tiny,
    huge]`` (NaN fails) and ``fl(|x| / smin) < max_t`` on the first ``main`` columns (NaN fails);
    ``smin`` (r,) receives each row's least scale."""
    n_cand = sc.shape[0]
    for i in range(r):
        lo = sc[0, r0 + i]
        for c in range(n_cand):
            s = sc[c, r0 + i]
            if not (s >= tiny and s <= huge):
                return False
            lo = min(lo, s)
        smin[i] = lo
        for j in range(main):
            if not (abs(x[r0 + i, j]) / lo < max_t):
                return False
    return True


def _dense_rows(x, sc, step, t_lim, lut, inv_h, n_lat, nm, half_step, step_v, lo, hi, clip, tiny, huge, max_t,
                sse, ok):
    """:func:`models.quant.ovp_search._search_rows_fast` (uniform grids) of the rows of ``x`` (R x K
    float32, C order, K >= 32) in blocks of ``step`` rows: ``sse[c, r]`` the float32 SSE of row
    ``r`` at ``sc[c, r]``, ``ok[b]`` whether block ``b`` passed the guards (its ``sse`` is left
    unset otherwise). Per block the same steps on the same float32 values: the block-major copy
    ``xb[b, i * 32 + lane] = x[i, 32 b + lane]``, the pairs with ``fl(|x| / smin) >= t_lim``
    (ascending flat index), their overrides (:func:`_overrides`), the dense pass
    (``fast_quant._ovp_dense_uniform``) on the per-lane operands ``fl(s * half_step)``,
    ``fl(s * step_v)``, then the lanes combined in ``rowsum_f32_vec8x4``'s order (``((a_l +
    a_{8+l}) + a_{16+l}) + a_{24+l}``, then those 8 in sequence) and a ragged tail's pair terms
    added in sequence."""
    rows, k = x.shape
    n_cand = sc.shape[0]
    nb = k // _LANES
    main = nb * _LANES
    for blk in range((rows + step - 1) // step):
        r0 = blk * step
        r = min(step, rows - r0)
        w = r * _LANES
        smin = np.empty(r, dtype=np.float32)
        ok[blk] = _block_ok(x, sc, r0, r, main, tiny, huge, max_t, smin)
        if not ok[blk]:
            continue
        xb = np.empty((nb, w), dtype=np.float32)
        pl = np.empty(nb * w // 2, dtype=np.int64)
        n_pl = 0
        for b in range(nb):
            for i in range(r):
                for lane in range(0, _LANES, 2):
                    xl = x[r0 + i, b * _LANES + lane]
                    xr = x[r0 + i, b * _LANES + lane + 1]
                    xb[b, i * _LANES + lane] = xl
                    xb[b, i * _LANES + lane + 1] = xr
                    if abs(xl) / smin[i] >= t_lim or abs(xr) / smin[i] >= t_lim:
                        pl[n_pl] = b * w + i * _LANES + lane
                        n_pl += 1
        pl = pl[:n_pl]
        pair_row = (pl % w) // _LANES
        scb = np.ascontiguousarray(sc[:, r0:r0 + r])
        pos = np.empty(2 * n_cand * n_pl, dtype=np.int64)
        vals = np.empty(2 * n_cand * n_pl, dtype=np.float32)
        bounds = np.empty(n_cand + 1, dtype=np.int64)
        _overrides(xb.reshape(-1), pl, pair_row, scb, t_lim, lut, inv_h, n_lat, nm, pos, vals, bounds)
        div = np.empty((n_cand, w), dtype=np.float32)
        mul = np.empty((n_cand, w), dtype=np.float32)
        for c in range(n_cand):
            for i in range(r):
                dv = scb[c, i] * half_step
                mv = scb[c, i] * step_v
                for lane in range(_LANES):
                    div[c, i * _LANES + lane] = dv
                    mul[c, i * _LANES + lane] = mv
        acc = np.empty((n_cand, w), dtype=np.float32)
        _dense_uniform(xb, div, mul, lo, hi, clip, pos, vals, bounds, acc)
        for c in range(n_cand):
            for i in range(r):
                a = acc[c, i * _LANES:(i + 1) * _LANES]
                o = ((a[0] + a[8]) + a[16]) + a[24]
                for lane in range(1, 8):
                    o = o + (((a[lane] + a[8 + lane]) + a[16 + lane]) + a[24 + lane])
                for j in range(main, k, 2):
                    el, er = _pair_terms(x[r0 + i, j], x[r0 + i, j + 1], scb[c, i], lut, inv_h, n_lat, nm)
                    o = o + el
                    o = o + er
                sse[c, r0 + i] = o


def dense_rows(x, sc, step, dense, table, normal_max, tiny, huge, max_t):
    """``(sse, ok)``: :func:`models.quant.ovp_search._search_rows_fast`'s (C x R) float32 SSEs of
    the rows ``x`` (R x K float32, C order, K >= 32, K even) at the candidate scales ``sc`` (C x R
    float32) on a uniform grid (``dense`` its :class:`~models.quant.ovp_search._Dense` rule,
    ``table`` the union :class:`~models.quant.common.LatticeTable`), computed in blocks of
    ``step`` rows by one compiled call (:func:`_dense_rows`) instead of a dozen numpy and compiled
    calls per block; ``ok`` (blocks,) is False where ``_search_rows_fast`` would return None (its
    ``sse`` entries are then unset)."""
    f32 = np.float32
    rows = x.shape[0]
    n_blk = (rows + step - 1) // step
    sse = np.empty(sc.shape, dtype=f32)
    ok = np.zeros(n_blk, dtype=np.bool_)
    _compiled().dense_rows(x, np.ascontiguousarray(sc, dtype=f32), int(step), f32(dense.t_lim),
                           np.ascontiguousarray(table.lut, dtype=f32), f32(table.inv_h), int(table.L),
                           f32(normal_max), f32(dense.step / 2.0), f32(dense.step), f32(dense.f_lo), f32(dense.f_hi),
                           bool(dense.clip), f32(tiny), f32(huge), f32(max_t), sse, ok)
    return sse, ok
