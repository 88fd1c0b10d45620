"""Compiled kernels for the integer designs' quantiser searches: ANT's per-row clip screen
(:func:`models.quant.ant_format._screen`) and the grid index of its exact scoring, and OliVe's
dense search pass on uniform grids (:func:`models.quant.ovp_search._search_rows_fast`).

Why compiled: ANT's weight quantiser scores 75 clips per output channel; the screen that drops
the clips which provably cannot be a channel's min-MSE clip was about 60 % of an ANT design's
accuracy run in numpy (sorting every threshold query of a block, one big ``searchsorted``, a
gather and several (rows, clips, midpoints) temporaries). :func:`ant_screen` does the same
screen one row at a time in a compiled loop (numba, ``cache=True``: compiled once per machine,
loaded from the cache after) on the rows sorted by numpy (its vectorised sort is several times
numba's). The exact scoring of the surviving clips rounds the non-uniform grids (flint, PoT) by
``np.searchsorted`` over the midpoints; :func:`grid_index` is that count compiled (an integer
count of float32 comparisons, so numpy's exactly, NaN included).

Why it gives the same clips, bit for bit: the screen only decides which candidates are scored;
the scoring (:func:`models.quant.ant_format._candidate_errors`, numpy, unchanged) and the
strict-``<`` choice in candidate order stay the reference. A kept set that holds every row's
reference argmin yields the same alpha and MSE, so the kernel needs only what the numpy screen
needs, a certified bound, and it keeps the same one:

* **Exact cells.** A candidate's cell counts ``n_j`` are the elements with ``fl32(x / s) >= m_j``
  (``m_j`` the grid's midpoints). Rounding is monotone, so that holds exactly when ``x >= b_j s``
  (or ``>``, by the tie rule), ``b_j`` the real halfway between ``m_j`` and the float32 below it:
  ``b_j s`` is exact in float64 (:func:`midpoint_thresholds`), so each boundary is a float64
  comparison, no division and no derived float32 threshold to certify (the numpy screen's
  :func:`~models.quant.common.division_thresholds`). Each boundary moves a few elements from one
  candidate to the next, one way: up when its threshold is not below the last one (a positive
  midpoint's, the clips growing), else down. It is counted branch-free in a window of
  :data:`WINDOW` elements on that side of its last place (exact while the count stays below the
  window; the row is sorted), else found by a binary search beyond the window. Session 37: about
  a fifth less CPU per SmolLM2 row than the galloping search with one division per step it
  replaced (12 vs 21 us, ``ffn_gate`` int4, loaded machine); session 39: one side instead of both
  (half the comparisons), about 12 % less again.
* **The same error bound.** ``E = sum x**2 - 2 sum_j o_j X_j + sum_j n_j o_j**2`` with ``o_j =
  grid_j s`` (exact in float64), ``X_j`` differences of sequential float64 prefix sums (each within
  ``n u sum|x|``), and the estimate's rounding below ``8 u (M + 2)(n + 4) B``, ``B = sum x**2 + 2
  max|o| sum|x| + sum n_j o_j**2``: these bounds hold for any summation order, so the sequential
  sums here are covered as numpy's pairwise ones were. A candidate is dropped only when its lower
  bound exceeds the best estimate's upper bound by the factor ``1 + 2**-40`` (reference MSE
  strictly larger); rows with a scale outside ``[2**-100, 2**100]`` or a non-finite estimate or
  bound keep every candidate, as before.

OliVe's certified argmin reads the same kernel's cell sums (:func:`cell_estimates`: ``E`` and its
bound for every candidate and row, with OliVe's float32 level products ``fl32(q s)``, each exact
in float64, so the same bound holds); its outlier pairs and the reference's float32 sums are
bounded in :func:`models.quant.ovp_search._candidate_keep`.

OliVe's dense pass (:func:`ovp_dense_sse`) scores every candidate scale of a block of rows with
the reference's float32 arithmetic and its summation order (per lane, over the blocks in
order). numpy did it as eight passes over a block-sized buffer per candidate; the kernel does
the same operations element by element in one pass per block row, exact because they are the
same IEEE float32 operations on the same values in the same order: the quotient ``x / div``
(float32 / float32 stays float32 in numba), ``floor``, the clamp (``min`` / ``max``, exact),
``* 0.5`` and ``ceil`` (exact), ``fl(k * mul)``, ``fl(. - x)``, its float32 square, the
outlier pairs' reference terms put in place of theirs, then ``acc[j] = fl(acc[j] + term)``
for the blocks in order from +0 (no reassociation without ``fastmath``: LLVM vectorises
across the independent lanes j, never along a sum).

ANT's exact scoring (:func:`ant_pair_errors`: the candidates the screens keep, this module's
cell screen for the 4-bit grids, :mod:`models.fast_ant_clip`'s for the 8-bit ones) computes ``_candidate_errors``' float64 MSE of each (candidate, row)
in one pass with the same IEEE operations per element, and sums the squares in the order numpy's
``add.reduce`` does for a contiguous float64 row (``pairwise_sum``: unbuffered, so the whole row
from the identity 0), so the MSEs are equal bit for bit and the strict ``<`` choice is unchanged;
numpy's scoring made a dozen passes over (candidates, rows, K) temporaries. OliVe's element codes
(:func:`ovp_element_codes`) are three table lookups fused into one pass (integers: exact).

Single-threaded on purpose (see :mod:`models.fast_seq`: one design per forked worker already
uses every core). ``tests/test_fast_quant_nb.py`` pins :func:`ant_screen` to the numpy screen
(the reference argmin always kept, dropped clips strictly worse, the same masks on ordinary
data), :func:`grid_index` to ``np.searchsorted`` and :func:`ovp_dense_sse` to the numpy loop bit
for bit (random, extreme, tied and real MiniLM inputs); tests/test_quant_ant.py and
tests/test_quant_ovp.py pin both searches to their unscreened reference loops;
tests/test_fast_quick.py pins :func:`ant_pair_errors` (through ``search_alpha``) and
:func:`ovp_element_codes` to the numpy they replaced.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

from .fast_sort import sort_rows_float32

_U64 = 2.0 ** -53                      # unit roundoff of float64
_TINY_SCALE = np.float32(2.0 ** -100)  # scales in [2**-100, 2**100]: no float64 underflow in E
_HUGE_SCALE = np.float32(2.0 ** 100)
WINDOW = 4                             # elements beyond a boundary's last place, counted (SmolLM2 ffn_gate
                                       # int4, CPU us per row, both sides: 2: 15.5, 4: 12.3, 8: 15.5, 16: 24;
                                       # one side, session 39, 21 weights: 4 best, 2 and 8 +25 %, +3 %)
# numba.literal_unroll, which _ovp_dense_levels unrolls its tuple with: set by _compiled(), which
# imports numba only when a kernel is first needed (and also compiles _override_and_add)
literal_unroll = None


def _screen_rows(xs, scales, ok, grid, mids, below, tie_up, f32_levels, keep, est_out, bound_out):
    """Per row of ``x`` (R x n float32): ``keep[c, r]`` False for the candidates whose reference
    MSE is provably above the best one's (``keep`` arrives all True; ``ok[r]`` False leaves the
    row alone). ``scales`` (C x R float32), ``grid`` (M + 1 float64), ``mids`` (M float32).
    ``est_out[c, r]`` / ``bound_out[c, r]`` (arriving NaN; written on the rows with finite
    estimates) receive ``E`` and ``B`` (``E``'s rounding is below ``eta_factor * B``); ``f32_levels``: the cell outputs
    are ``o_j = fl32(grid_j * s)`` (OliVe's reference rounds ``q s`` in float32) instead of the
    exact ``grid_j * s``; either way ``o_j`` is exact in float64, which is all the bound needs."""
    n_rows, n = xs.shape
    n_cand = scales.shape[0]
    m_ = len(mids)
    pos = np.empty(m_ + 2, dtype=np.int64)
    hint = np.zeros(m_, dtype=np.int64)
    last = np.empty(m_)                # each midpoint's last threshold
    est = np.empty(n_cand)
    bound = np.empty(n_cand)
    prefix = np.zeros(n + 1)
    # the sorted row in float64 between WINDOW -inf and WINDOW +inf: the windows never leave it
    xp = np.empty(n + 2 * WINDOW)
    xp[:WINDOW] = -np.inf
    xp[n + WINDOW:] = np.inf
    eta_factor = 8 * _U64 * (m_ + 2) * (n + 4)
    rel = (n + 3) * _U64 * 1.01
    for r in range(n_rows):
        if not ok[r]:
            continue
        xs32 = xs[r]
        q_row = 0.0
        a_row = 0.0
        for i in range(n):
            v = np.float64(xs32[i])
            xp[WINDOW + i] = v
            prefix[i + 1] = prefix[i] + v
            q_row += v * v
            a_row += abs(v)
        a_row *= 1.01
        finite = True
        hint[:] = 0
        last[:] = -np.inf
        for c in range(n_cand):
            s = scales[c, r]
            s64 = np.float64(s)
            pos[0] = 0
            pos[m_ + 1] = n
            for j in range(m_):
                # first element with fl32(x / s) >= m_j, i.e. x >= m (a float64 threshold, exact:
                # midpoint_thresholds)
                m = below[j] * s64
                # the boundary moves a few elements from candidate to candidate, and only one
                # way from the last threshold: up when m >= last (the count of elements below m
                # cannot shrink), else down. Counted branch-free in a window of WINDOW elements
                # on that side of its last place, exact while the count stays below WINDOW (the
                # row is sorted); else a binary search beyond the window
                h = hint[j]
                count = 0
                if m >= last[j]:
                    if tie_up[j]:                    # x >= m
                        for k in range(WINDOW):
                            count += xp[WINDOW + h + k] < m
                    else:                            # x > m
                        for k in range(WINDOW):
                            count += xp[WINDOW + h + k] <= m
                    lo, hi = h + count, (n if count == WINDOW else h + count)
                else:
                    if tie_up[j]:
                        for k in range(WINDOW):
                            count += xp[h + k] >= m
                    else:
                        for k in range(WINDOW):
                            count += xp[h + k] > m
                    lo, hi = (0 if count == WINDOW else h - count), h - count
                while lo < hi:
                    mid = (lo + hi) // 2
                    if xs32[mid] > m or (tie_up[j] and xs32[mid] == m):
                        hi = mid
                    else:
                        lo = mid + 1
                last[j] = m
                pos[j + 1] = lo
                hint[j] = lo
            ox = 0.0
            no2 = 0.0
            omax = 0.0
            for j in range(m_ + 1):
                o = np.float64(np.float32(grid[j]) * s) if f32_levels else grid[j] * s64   # exact
                ox += o * (prefix[pos[j + 1]] - prefix[pos[j]])
                no2 += np.float64(pos[j + 1] - pos[j]) * o * o
                omax = max(omax, abs(o))
            est[c] = q_row - 2.0 * ox + no2
            bound[c] = q_row + 2.0 * omax * a_row + no2
            if not (np.isfinite(est[c]) and np.isfinite(bound[c])):
                finite = False
        if not finite:
            continue
        for c in range(n_cand):
            est_out[c, r] = est[c]
            bound_out[c, r] = bound[c]
        best = 0
        for c in range(1, n_cand):
            if est[c] < est[best]:
                best = c
        cut = (est[best] + eta_factor * bound[best]) * (1.0 + rel) * (1.0 + 2.0 ** -40)
        for c in range(n_cand):
            keep[c, r] = (est[c] - eta_factor * bound[c]) * (1.0 - rel) <= cut


def ant_screen(x, scales, grid):
    """:func:`models.quant.ant_format._screen` compiled: which candidate scales (``scales`` C x R
    float32, one per clip and row of ``x``, R x n float32) can be a row's min-MSE clip on ``grid``
    (the type's sorted values); a bool (C, R) mask holding every row's reference argmin."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    scales = np.ascontiguousarray(scales, dtype=np.float32)
    grid = np.ascontiguousarray(grid, dtype=np.float64)
    mids = ((grid[:-1] + grid[1:]) / 2).astype(np.float32)     # half-integers: exact in float32
    ok = np.all((scales >= _TINY_SCALE) & (scales <= _HUGE_SCALE), axis=0)
    if x.shape[0] == 1 and x.shape[1] >= INNER_MIN and ok[0]:
        arranged = _inner_arranged(x[0], scales[:, 0], mids)
        if arranged is not None:
            return _screen_estimates(arranged[None], scales, grid, mids, ok, False, presorted=True)[0]
    return _screen_estimates(x, scales, grid, mids, ok, False)[0]


#: :func:`ant_screen` arranges a per-tensor row of at least this many elements
#: (:func:`_inner_arranged`) instead of sorting it (a short one is sorted by numpy in microseconds)
INNER_MIN = 4096
#: :func:`_inner_arranged` arranges only where at least half of every this-many-th element is inner
INNER_SAMPLE = 64


def _split_inner(x, lo, hi, outer, inner):
    """The elements of ``x`` (float32) with ``lo < x < hi`` (float64 comparisons, exact) to
    ``inner`` as ``x + 0`` (``-0`` made ``+0``), the others to ``outer``, each in order
    (branch-free: every element is written to both, and one count advances); returns (how many
    others, how many of them are ``<= lo``), or (-1, 0) at a NaN."""
    n_out = 0
    n_in = 0
    low = 0
    nan = 0
    for i in range(len(x)):
        v = x[i]
        w = np.float64(v)
        is_in = lo < w < hi
        outer[n_out] = v
        inner[n_in] = v + np.float32(0)
        n_in += is_in
        n_out += not is_in
        low += w <= lo
        nan += w != w
    return (-1, 0) if nan else (n_out, low)


def _inner_arranged(x, scales, mids):
    """A per-tensor row (``x`` float32, one row's candidate ``scales``) arranged so that
    :func:`_screen_rows` finds the same cells in it as in the sorted row, without sorting the
    elements every candidate puts in the cell of grid value 0; None (sort it) at a NaN or
    where a sample of the row is mostly outer (speed only: both ways give the same cells).

    Why the same cells: every cell boundary is ``x >= b_j s`` or ``x > b_j s``
    (:func:`midpoint_thresholds`), ``b_j s`` exact in float64, with ``s >= s_min`` (the least
    scale). A positive ``b_j`` puts every threshold at or above ``hi = min_j b_j s_min``, a
    negative one at or below ``lo = max_j b_j s_min``. So each element strictly between ``lo``
    and ``hi`` (the inner ones: most of an activation tensor's, whose clips follow its largest
    outlier) compares alike with every threshold: any order of them is as good as the sorted
    one. The row ``[sorted x <= lo, inner (in any order), sorted x >= hi]`` is then ordered with
    respect to every threshold (each comparison false, then true, along it), which is all the
    kernel's window counts and binary searches read: the same positions. Only its float64 prefix
    sums, ``sum x**2`` and ``sum |x|`` add the inner elements in another order; the kernel's
    error bounds hold for any order of those sums (module docstring), so the screen stays
    certified and the kept set holds the reference argmin: the same clip and MSE. Zeros are
    inner (``-0`` made ``+0``, as the sort's ``plus_zero``)."""
    below, _ = midpoint_thresholds(mids)
    s_min = np.float64(np.min(scales))
    lo = np.max(below[below < 0], initial=-np.inf) * s_min
    hi = np.min(below[below > 0], initial=np.inf) * s_min
    sample = x[::INNER_SAMPLE].astype(np.float64)
    if np.count_nonzero((sample > lo) & (sample < hi)) * 2 < sample.size:
        return None                 # mostly outer (a fine grid's zero cell): sorting it all is cheaper
    outer = np.empty(x.size + 1, dtype=np.float32)      # + 1: the last element is written to both
    inner = np.empty(x.size + 1, dtype=np.float32)
    n_out, n_low = _compiled().split_inner(x, lo, hi, outer, inner)
    if n_out < 0:
        return None
    outer = sort_rows_float32(outer[None, :n_out])[0]
    return np.concatenate((outer[:n_low], inner[:x.size - n_out], outer[n_low:]))


def _screen_estimates(x, scales, grid, mids, ok, f32_levels, presorted=False):
    """(keep, est, B) of :func:`_screen_rows` on the rows of ``x`` sorted (``presorted``: they
    are, float32, C order), all (C, R)."""
    keep = np.ones(scales.shape, dtype=bool)
    est = np.full(scales.shape, np.nan)
    bound = np.full(scales.shape, np.nan)
    # each row sorted, -0 -> +0: the cells are ranges of it (a -0 left in place changes nothing:
    # -0 / s and +0 / s compare alike with every midpoint); a long row (a per-tensor screen's
    # whole tensor) by the compiled radix sort, the same array bit for bit (models.fast_sort)
    xs = x if presorted else sort_rows_float32(x, plus_zero=True)
    below, tie_up = midpoint_thresholds(mids)
    _compiled().screen_rows(xs, scales, ok, grid, mids, below, tie_up, f32_levels, keep, est, bound)
    return keep, est, bound


def midpoint_thresholds(mids):
    """``(b, tie_up)`` per float32 midpoint ``m`` (non-zero, finite): ``b`` (float64) the real
    halfway between ``m`` and the float32 just below it, ``tie_up`` whether float32 rounds ``b``
    itself to ``m`` (round half to even). For a float32 ``x`` and a scale ``s`` (float32, in
    ``[2**-100, 2**100]``): ``fl32(x / s) >= m`` exactly when ``x / s > b``, or ``x / s == b`` and
    ``tie_up`` (rounding is monotone; ``b`` is where it switches to ``m``), i.e. when ``x >= b s``
    (``tie_up``) or ``x > b s``, where ``b s`` is exact in float64: ``b`` has at most 25
    significant bits, ``s`` 24, and their product stays far inside float64's normal range (an
    overflow of the float32 quotient to infinity or its underflow change nothing: still on the
    same side of ``m``). So the screen's cell boundaries are float64 comparisons with ``b s``
    (``x > t`` as ``x >= nextafter(t, inf)``, ``x`` being a float64 value) instead of a float32
    division per comparison: the same boundaries."""
    mids = np.asarray(mids, dtype=np.float32)
    pred = np.nextafter(mids, np.float32(-np.inf))
    below = (mids.astype(np.float64) + pred.astype(np.float64)) / 2          # exact: one more bit
    return below, below.astype(np.float32) == mids


def cell_estimates(xs, scales, levels, mids):
    """The cell model of every candidate scale on every row, as :func:`ant_screen` computes it,
    for a grid whose outputs the reference rounds to float32 (OliVe's ``fl32(q s)``): ``xs`` (R x n
    float32, finite) with each row sorted, ``scales`` (C x R float32, all in ``[2**-100, 2**100]``), ``levels`` the
    sorted normal levels and ``mids`` the float32 midpoints between them (ties go up). Returns
    ``(est, eta, big)`` (C, R) float64: ``est = sum_i (o(x_i) - x_i)**2`` of the exact cells (``o``
    the level of ``fl32(x / s)`` times ``s`` in float32), computed in float64 within ``eta`` of
    its exact value, and ``big = sum x**2 + 2 max|o| sum|x| + sum_j n_j o_j**2`` (at least
    ``est``'s magnitude and its terms'); NaN on a row whose estimate or bound is not finite."""
    xs = np.ascontiguousarray(xs, dtype=np.float32)
    scales = np.ascontiguousarray(scales, dtype=np.float32)
    ok = np.ones(xs.shape[0], dtype=bool)
    mids = np.ascontiguousarray(mids, dtype=np.float32)
    _, est, big = _screen_estimates(xs, scales, np.asarray(levels, dtype=np.float64), mids, ok, True, True)
    # _screen_rows' eta_factor: the estimate's float64 rounding (module docstring)
    return est, 8 * _U64 * (mids.size + 2) * (xs.shape[1] + 4) * big, big


def _grid_index(t, mids, out):
    """``out[i]`` = the count of ``mids`` that ``t[i]`` is not below: one pass per midpoint
    adding its comparison to the counts (a loop LLVM vectorises)."""
    out[:] = 0
    for j in range(len(mids)):
        m = mids[j]
        for i in range(len(t)):
            # not (t < m): NaN counts every midpoint, as numpy's sort order puts NaN last
            out[i] += not (t[i] < m)


def grid_index(mids, t):
    """``np.searchsorted(mids, t, side="right")`` (float32 ``t`` of any shape, the sorted float32
    midpoints): the count of midpoints ``<= t``, each one float32 comparison, NaN counting all
    (numpy sorts NaN last); an integer count, so exactly numpy's. int64 (intp), ``t``'s shape."""
    t = np.asarray(t, dtype=np.float32)
    out = np.empty(t.size, dtype=np.intp)
    _compiled().grid_index(np.ascontiguousarray(t).ravel(), np.ascontiguousarray(mids, dtype=np.float32), out)
    return out.reshape(t.shape)


def _ant_codes(x, scales, by_column, contiguous, g0, g1, grid, mids, table, lo, out):
    """``out[i, j]`` = the code of ``x[i, j]``'s grid value under the scale of its group (row
    ``i``, or column ``j`` when ``by_column``): ``t = fl32(x / s)``; a finite ``t`` on a
    contiguous integer grid rounds ``clip(floor(fl64(t) + 1/2))``, any other counts the float32
    midpoints ``<= t`` (:func:`_grid_index`); then ``table[value - lo]``.

    A row at a time, each step a loop of its own over the row (the quotients, then the rounding
    or one pass per midpoint adding its comparison to the counts), so that LLVM vectorises them:
    per element the same float32 quotient, comparisons and rounding as one loop per element
    (which, with its per-element branch, did not vectorise), so the same codes. A contiguous
    grid's row with a non-finite quotient counts midpoints for every element: on a finite ``t``
    the count is the rounding's value (the midpoints are ``n + 1/2``)."""
    rows, cols = x.shape
    t = np.empty(cols, dtype=np.float32)
    at = np.empty(cols, dtype=np.int64)
    index_code = np.empty(grid.size, dtype=np.int64)      # grid index -> code
    for a in range(grid.size):
        index_code[a] = table[grid[a] - lo]
    for i in range(rows):
        xr = x[i]
        o = out[i]
        if by_column:
            for j in range(cols):
                t[j] = xr[j] / scales[j]
        else:
            s = scales[i]
            for j in range(cols):
                t[j] = xr[j] / s
        nonfinite = 0
        if contiguous:
            for j in range(cols):
                nonfinite += not np.isfinite(t[j])
        if contiguous and nonfinite == 0:
            for j in range(cols):
                o[j] = table[int(min(max(np.floor(np.float64(t[j]) + 0.5), g0), g1)) - lo]
        else:
            _grid_index(t, mids, at)
            for j in range(cols):
                o[j] = index_code[at[j]]


def ant_codes(x, scale, grid, table, lo):
    """``encode(quantize(x, alpha, t)[0])`` of :mod:`models.quant.ant_format` in one compiled
    pass, bit for bit: ``x`` (rows, K) float32, ``scale`` its float32 scale ((rows, 1) or
    (1, 1)), ``grid`` the type's sorted values, ``table`` / ``lo`` its :attr:`code_table` and
    least value. The reference rounds a tensor's every ``t`` by ``floor(t + 1/2)`` on a
    contiguous grid only when all are finite, else counts midpoints; on a finite ``t`` the two
    are the same value (the midpoints are ``n + 1/2``), so deciding per element changes nothing.
    Codes (rows, K) int64 (a transposed view when ``x`` is one)."""
    grid = np.asarray(grid, dtype=np.int64)
    mids = ((grid[:-1] + grid[1:]) / 2).astype(np.float32)
    contiguous = bool(np.array_equal(grid, np.arange(grid[0], grid[-1] + 1)))
    scales = np.ascontiguousarray(np.broadcast_to(np.asarray(scale, dtype=np.float32), (x.shape[0], 1))[:, 0])
    by_column = not x.flags.c_contiguous and x.T.flags.c_contiguous
    data = x.T if by_column else np.ascontiguousarray(x)
    out = np.empty(data.shape, dtype=np.int64)
    _compiled().ant_codes(data, scales, by_column, contiguous, float(grid[0]), float(grid[-1]), grid, mids,
                          np.asarray(table, dtype=np.int64), int(lo), out)
    return out.T if by_column else out


# ---------------------------------------------------------------------------------------------
# ANT's exact clip scoring: the reference MSE of (candidate, row) pairs


PAIRWISE_BLOCK = 128       # numpy's PW_BLOCKSIZE: the longest run one 8-accumulator loop sums


def _ant_pair_errors(x, scales, grid, mids, contiguous, cand, row, out):
    """``out[p]`` = the reference MSE (:func:`models.quant.ant_format._candidate_errors`) of
    candidate ``cand[p]`` on row ``row[p]`` of ``x`` (float32, C order), scale ``s =
    scales[cand[p], row[p]]`` (float32, normal), ``grid`` the sorted values (float64), ``mids``
    its float32 midpoints.

    Per element, single IEEE operations: ``t = fl32(x / s)``; the grid value ``q`` is
    ``clip(floor(fl64(t) + 1/2))`` on a contiguous integer grid, else ``grid[#(mids <= t)]``
    (``np.searchsorted``'s count); ``d = fl64(q s - x)``, squared. The squares are summed as
    numpy's float64 ``add.reduce`` sums a contiguous row (no cast, so unbuffered: the whole
    row in one inner loop, from the identity 0) by ``pairwise_sum`` (numpy's ``loops_utils.h``):
    fewer than 8 in order; up to :data:`PAIRWISE_BLOCK` eight strided
    accumulators combined as ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, then the
    remainder in order; a longer run split at ``n2 = n // 2`` rounded down to a multiple of 8 and
    the halves' sums added (here an explicit post-order stack: a compiled kernel cannot call a
    lazily compiled helper). Then divided by K, as ``np.mean``."""
    k = x.shape[1]
    sq = np.empty(k)
    t = np.empty(k, dtype=np.float32)
    at = np.empty(k, dtype=np.int64)
    g0, g1 = grid[0], grid[-1]
    stack_lo = np.empty(64, dtype=np.int64)
    stack_n = np.empty(64, dtype=np.int64)
    stack_join = np.empty(64, dtype=np.bool_)
    vals = np.empty(64)
    for p in range(cand.size):
        xr = x[row[p]]
        s = scales[cand[p], row[p]]
        s64 = np.float64(s)
        if contiguous:
            for i in range(k):
                v = xr[i]
                q = min(max(np.floor(np.float64(v / s) + 0.5), g0), g1)
                d = q * s64 - np.float64(v)
                sq[i] = d * d
        else:
            # the quotients, then one pass per midpoint adding its comparison to the counts,
            # then the squares: loops LLVM vectorises, the same operations per element
            for i in range(k):
                t[i] = xr[i] / s
            _grid_index(t, mids, at)
            for i in range(k):
                d = grid[at[i]] * s64 - np.float64(xr[i])
                sq[i] = d * d
        sp = 1
        nv = 0
        stack_lo[0], stack_n[0], stack_join[0] = 0, k, False
        while sp:
            sp -= 1
            a, n, join = stack_lo[sp], stack_n[sp], stack_join[sp]
            if join:                                   # both halves done: left + right
                vals[nv - 2] = vals[nv - 2] + vals[nv - 1]
                nv -= 1
            elif n < 8:
                res = -0.0
                for i in range(a, a + n):
                    res += sq[i]
                vals[nv] = res
                nv += 1
            elif n <= PAIRWISE_BLOCK:
                r0, r1, r2, r3 = sq[a], sq[a + 1], sq[a + 2], sq[a + 3]
                r4, r5, r6, r7 = sq[a + 4], sq[a + 5], sq[a + 6], sq[a + 7]
                i = 8
                while i < n - (n % 8):
                    r0 += sq[a + i]
                    r1 += sq[a + i + 1]
                    r2 += sq[a + i + 2]
                    r3 += sq[a + i + 3]
                    r4 += sq[a + i + 4]
                    r5 += sq[a + i + 5]
                    r6 += sq[a + i + 6]
                    r7 += sq[a + i + 7]
                    i += 8
                res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
                while i < n:
                    res += sq[a + i]
                    i += 1
                vals[nv] = res
                nv += 1
            else:                                      # the join, then right, then left
                n2 = n // 2
                n2 -= n2 % 8
                stack_lo[sp], stack_n[sp], stack_join[sp] = a, n, True
                stack_lo[sp + 1], stack_n[sp + 1], stack_join[sp + 1] = a + n2, n - n2, False
                stack_lo[sp + 2], stack_n[sp + 2], stack_join[sp + 2] = a, n2, False
                sp += 3
        out[p] = vals[0] / k


def ant_pair_errors(x, scales, grid, cand, row):
    """:func:`models.quant.ant_format._candidate_errors` of the (candidate, row) pairs ``cand``,
    ``row`` compiled: ``x`` (R x K float32, finite), ``scales`` (C x R float32, the listed ones in
    the normal range), ``grid`` the type's sorted values; the float64 MSEs, one per pair, the
    same values bit for bit (the same IEEE operations per element, numpy's summation order), in
    one pass per pair instead of a dozen numpy passes over each candidate's rows."""
    grid = np.asarray(grid, dtype=np.float64)
    mids = ((grid[:-1] + grid[1:]) / 2).astype(np.float32)      # half-integers: exact in float32
    contiguous = bool(np.array_equal(grid, np.arange(grid[0], grid[-1] + 1)))
    out = np.empty(len(cand))
    _compiled().ant_pair_errors(np.ascontiguousarray(x, dtype=np.float32),
                                np.ascontiguousarray(scales, dtype=np.float32), grid, mids, contiguous,
                                np.ascontiguousarray(cand, dtype=np.int64),
                                np.ascontiguousarray(row, dtype=np.int64), out)
    return out


# ---------------------------------------------------------------------------------------------
# OliVe's per-row alpha search: the dense pass of models.quant.ovp_search._search_rows_fast


def _override_and_add(e, a, base, p, end, pos, vals):
    """A block's last steps in the dense passes: the override terms ``vals[p]`` put in place of the
    block's terms ``e`` (their flat positions ``pos[p]`` in ``[base, base + W)``, ascending, from
    ``p`` up to ``end``), then ``a += e`` per lane in float32; returns the next override's index."""
    top = base + e.size
    while p < end and pos[p] < top:
        e[pos[p] - base] = vals[p]
        p += 1
    for j in range(e.size):
        a[j] += e[j]
    return p


def _ovp_dense_uniform(xb, div, mul, lo, hi, clip, pos, vals, bounds, acc):
    """``acc[c, j] = sum_b term(c, b, j)`` in float32, b ascending from +0; the term is the
    override ``vals[p]`` where ``pos[p] == b * W + j`` (``pos`` ascending within a candidate's
    ``bounds`` range), else ``fl(fl(k * mul) - x)**2`` with ``k = ceil(floor(clip?(floor(x / div)))
    * 1/2)``, every operation float32 (``lo``, ``hi`` float32)."""
    nb, w = xb.shape
    half = np.float32(0.5)
    e = np.empty(w, dtype=np.float32)
    for c in range(acc.shape[0]):
        p, end = bounds[c], bounds[c + 1]
        a = acc[c]
        d, m = div[c], mul[c]
        a[:] = np.float32(0)
        for b in range(nb):
            xr = xb[b]
            # the block's dense terms (a branch-free loop LLVM vectorises), the overrides put in
            # place, then the lane sums: the numpy loop's order, one block at a time
            for j in range(w):
                x = xr[j]
                v = np.float32(np.floor(x / d[j]))
                if clip:
                    v = min(max(v, lo), hi)
                v = np.float32(np.ceil(v * half))
                t = v * m[j] - x
                e[j] = t * t
            p = _override_and_add(e, a, b * w, p, end, pos, vals)


def ovp_dense_sse(xb, div, mul, lo, hi, clip, pos, vals, bounds):
    """The per-lane float32 sums of :func:`models.quant.ovp_search._search_rows_fast`'s candidate
    loop on a uniform (int) grid, one fused pass per candidate: (C, W) float32. The table grids
    (flint): :func:`ovp_dense_sse_levels`."""
    acc = np.empty((div.shape[0], xb.shape[1]), dtype=np.float32)
    _compiled().ovp_uniform(xb, div, mul, np.float32(lo), np.float32(hi), bool(clip),
                            np.ascontiguousarray(pos, dtype=np.int64),
                            np.ascontiguousarray(vals, dtype=np.float32),
                            np.ascontiguousarray(bounds, dtype=np.int64), acc)
    return acc


def _ovp_dense_levels(xb, scl, lo, mid_steps, pos, vals, bounds, acc):
    """``acc[c, j] = sum_b term(c, b, j)`` in float32, b ascending from +0; the term is the
    override ``vals[p]`` where ``pos[p] == b * W + j`` (as :func:`_ovp_dense_uniform`), else
    ``fl(fl(q * s) - x)**2`` with ``s = scl[c, j]``, ``t = fl(x / s)`` and ``q = lo + sum_i
    step_i [t >= mid_i]`` over the ``(mid_i, step_i)`` of ``mid_steps`` (the normal level of
    ``t``, ties up; partial sums of small integers: exact), every operation float32.
    ``mid_steps`` is a tuple, so its length is part of the compiled type: the comparisons are
    unrolled and the loop over the lanes vectorises."""
    nb, w = xb.shape
    zero = np.float32(0)
    e = np.empty(w, dtype=np.float32)
    for c in range(acc.shape[0]):
        p, end = bounds[c], bounds[c + 1]
        a = acc[c]
        s = scl[c]
        a[:] = zero
        for b in range(nb):
            xr = xb[b]
            for j in range(w):
                x = xr[j]
                sj = s[j]
                t = x / sj
                q = lo
                for ms in literal_unroll(mid_steps):
                    q += ms[1] if t >= ms[0] else zero
                d = q * sj - x
                e[j] = d * d
            p = _override_and_add(e, a, b * w, p, end, pos, vals)


def ovp_dense_sse_levels(xb, scl, levels, mids, pos, vals, bounds):
    """The per-lane float32 sums of :func:`models.quant.ovp_search._search_rows_fast`'s candidate
    loop on a table grid (flint): (C, W) float32 for the per-lane scales ``scl`` (C, W), equal bit
    for bit to the numpy loop's (``fl(q s)`` gathered from a per-row table over ``floor(t / h)``,
    :func:`models.quant.ovp_search._dense_sse_numpy`). Instead of the gather, which does not
    vectorise, the level comes from comparing ``t = fl(x / s)`` with the normal grid's midpoints
    (``levels`` sorted, ``mids`` between them, both exact float32; ties go up, as the table's):
    the same grid value, so ``fl(q s)`` is the table's entry (up to the sign of a zero level,
    which the square removes)."""
    levels = np.asarray(levels, dtype=np.float32)
    steps = levels[1:] - levels[:-1]       # exact: small integers times a power of two
    mid_steps = tuple((np.float32(m), np.float32(st)) for m, st in zip(np.asarray(mids, np.float32), steps))
    acc = np.empty((scl.shape[0], xb.shape[1]), dtype=np.float32)
    _compiled().ovp_levels(xb, np.ascontiguousarray(scl, dtype=np.float32), np.float32(levels[0]), mid_steps,
                           np.ascontiguousarray(pos, dtype=np.int64),
                           np.ascontiguousarray(vals, dtype=np.float32),
                           np.ascontiguousarray(bounds, dtype=np.int64), acc)
    return acc


# ---------------------------------------------------------------------------------------------
# OliVe's element codes: one pass of table lookups


def _ovp_codes(v, is_out, vict, normal, outc, lo, victim_code, out):
    for i in range(v.size):
        if vict[i]:
            out[i] = victim_code
        elif is_out[i]:
            out[i] = outc[v[i] - lo]
        else:
            out[i] = normal[v[i] - lo]


def ovp_element_codes(values, is_out, vict, normal, outc, lo, victim_code):
    """The element code of each OVP value (any shape, integers): ``victim_code`` where ``vict``,
    else ``outc[v - lo]`` where ``is_out``, else ``normal[v - lo]`` (the per-value tables of
    :func:`models.quant.ovp_format.element_codes`, covering ``lo .. max``); int64, ``values``'
    shape. Integer lookups, so exactly the numpy ``where`` / ``take`` / ``copyto`` it replaces,
    in one pass instead of eight."""
    shape = np.shape(values)
    out = np.empty(shape, dtype=np.int64)
    _compiled().ovp_codes(np.ascontiguousarray(values).reshape(-1),
                          np.ascontiguousarray(is_out, dtype=np.bool_).reshape(-1),
                          np.ascontiguousarray(vict, dtype=np.bool_).reshape(-1),
                          np.ascontiguousarray(normal, dtype=np.int64), np.ascontiguousarray(outc, dtype=np.int64),
                          int(lo), int(victim_code), out.reshape(-1))
    return out


@functools.cache
def _compiled():
    """The kernels compiled by numba (no ``fastmath``: IEEE semantics), or loaded from numba's
    on-disk cache (``cache=True``). Deferred on purpose: numba takes about 0.5 s to import and
    every CLI command imports the quantisers through the registry; only a call needs it."""
    import numba
    global literal_unroll, _override_and_add, _grid_index
    literal_unroll = numba.literal_unroll
    # error_model="numpy": a float division by zero is IEEE (inf or NaN), as in numpy, instead of
    # a raised ZeroDivisionError, whose per-division test keeps LLVM from vectorising the loops
    jit = numba.njit(cache=True, nogil=True, error_model="numpy")
    # the kernels call the compiled helpers (numba resolves a global when it compiles them)
    _override_and_add = jit(_override_and_add)
    _grid_index = jit(_grid_index)
    return SimpleNamespace(screen_rows=jit(_screen_rows), grid_index=_grid_index,
                           ovp_uniform=jit(_ovp_dense_uniform), ovp_levels=jit(_ovp_dense_levels),
                           ovp_codes=jit(_ovp_codes),
                           ant_pair_errors=jit(_ant_pair_errors), ant_codes=jit(_ant_codes),
                           split_inner=jit(_split_inner))
