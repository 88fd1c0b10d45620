"""Compiled screen of ANT's 8-bit clip search: which of a row's candidate clips can be its
min-MSE clip (:func:`models.quant.ant_format.search_alpha`, int8 / uint8 weights per output
channel), found from partial sums of the reference's own squared errors.

Why: the 8-bit grids have 255 midpoints, so the 4-bit grids' cell screen
(:func:`models.fast_quant.ant_screen`) costs more than scoring; every one of the 75 candidates of
every row was scored exactly (:func:`models.fast_quant.ant_pair_errors`), over half of ANT W8A8's
accuracy run. A row's reference MSE is a sum of non-negative squares, so a partial sum that
already exceeds another candidate's total rules a candidate out without the rest of its
elements. The elements of magnitude at least ``0.75 max|x|`` (the least clip) are taken first
(every candidate's clipped ones, whose squares dominate a too-small clip, are among them), then
the rest, each group in row order: the order decides only how soon a candidate is dropped, never
which (session 38: on SmolLM2's weights this sums 0.02 % more squares than the
decreasing-magnitude order of a sorted row, and saves the row sort), and the candidates from the
clip ``alpha = max|x|`` outwards (on SmolLM2's weights the min-MSE clip is within 1 % of it for
most rows): the
candidates below it stop after their first block, those above it after about ``(100 / i)**2``
of the row. Only the candidates that survive are scored exactly, in the reference's order.

Why the clips are the same, bit for bit: each term is the reference's own ``fl(d)**2`` (the
same IEEE operations as :func:`models.fast_quant.ant_pair_errors`: ``t = fl32(x / s)``,
``q = clip(floor(fl64(t) + 1/2))``, ``d = fl64(q s - x)``); only the order of the additions
differs (``fastmath`` reassociation, nothing else, in :func:`_block_sum`). A float sum of ``m``
non-negative terms in any order is within ``gamma_m = m u / (1 - m u)`` (u = 2**-53) of the
exact sum, so for rows of ``K < 2**20`` elements (``gamma_K < 2**-33``) a candidate ``c`` whose
partial sum ``p`` satisfies ``p (1 - 2**-30) > S_a (1 + 2**-30)``, ``S_a`` a completed
candidate's sum, has an exact sum above ``S_a``'s by a factor over ``1 + 2**-30 - 4 gamma_K``,
and so a reference MSE (its float64 pairwise sum divided by K) strictly larger than ``a``'s:
``c`` is not a minimum, and dropping it cannot change the first minimum in candidate order
(every candidate attaining the minimum is kept). A zero ``S_a`` drops only the ``c`` with a
positive term. Rows with a non-finite value or a scale outside ``[2**-100, 2**100]`` (where the
reference rounds differently, :func:`models.quant.ant_format._kept_errors`) keep every
candidate, as do rows of ``2**20`` or more elements.

Single-threaded, ``cache=True`` (compiled once per machine). ``tests/test_fast_ant_clip.py`` pins
the search through it to the loop scoring every candidate (random, tied, extreme and real MiniLM
rows; SmolLM2's in tests/test_fast_quick.py), checks that every dropped candidate is strictly
worse than the row's least and that it prunes.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

MARGIN = 2.0 ** -30                  # relative margin of a drop (module docstring)
MAX_K = 1 << 20                      # rows this long or longer keep every candidate
FIRST_BLOCK = 32                     # elements before the first test: a too-small clip stops here
BLOCK = 128                          # elements between later tests
_TINY_SCALE = np.float32(2.0 ** -100)
_HUGE_SCALE = np.float32(2.0 ** 100)


def _block_sum(xd, start, stop, s, s64, g0, g1):
    """The reference's squared errors of ``xd[start:stop]`` under scale ``s``, summed in any
    order (compiled with reassociation only: LLVM vectorises the sum)."""
    total = 0.0
    for i in range(start, stop):
        v = xd[i]
        d = min(max(np.floor(np.float64(v / s) + 0.5), g0), g1) * s64 - np.float64(v)
        total += d * d
    return total


def _screen(xs, scales, g0, g1, order, ok, keep):
    """``keep[c, r]`` (arriving all True) False for the candidates of row ``r`` whose reference
    MSE is provably above another's (module docstring); rows with ``ok[r]`` False untouched.
    ``xs`` (R x K float32) the rows, ``scales`` (C x R float32), ``order`` the candidates in the
    order they are summed."""
    rows, k = xs.shape
    n_cand = scales.shape[0]
    xd = np.empty(k, dtype=np.float32)
    total = np.empty(n_cand)
    complete = np.empty(n_cand, dtype=np.bool_)
    for r in range(rows):
        if not ok[r]:
            continue
        row = xs[r]
        big = np.float32(0)
        for i in range(k):
            big = max(big, abs(row[i]))
        big *= np.float32(0.75)                 # the least clip: the clipped elements are above it
        n_big = 0
        for i in range(k):                      # the large elements first (module docstring)
            if abs(row[i]) >= big:
                xd[n_big] = row[i]
                n_big += 1
        for i in range(k):
            if not abs(row[i]) >= big:
                xd[n_big] = row[i]
                n_big += 1
        best = np.inf                           # least completed sum, times 1 + MARGIN
        for oc in range(n_cand):
            c = order[oc]
            s = scales[c, r]
            s64 = np.float64(s)
            p = 0.0
            start = 0
            done = True
            while start < k:
                stop = min(start + (FIRST_BLOCK if start == 0 else BLOCK), k)
                p += _block_sum(xd, start, stop, s, s64, g0, g1)
                start = stop
                if p * (1.0 - MARGIN) > best:
                    done = False
                    break
            complete[c] = done
            total[c] = p
            if done:
                best = min(best, p * (1.0 + MARGIN))
        for c in range(n_cand):
            keep[c, r] = complete[c] and total[c] * (1.0 - MARGIN) <= best


def candidate_order(n_cand, first):
    """The candidates in the order the screen sums them: ``first`` (the clip ``alpha = max|x|``),
    then the smaller clips downwards, then the larger ones upwards."""
    return np.array(list(range(first, -1, -1)) + list(range(first + 1, n_cand)), dtype=np.int64)


def clip_screen(x, scales, lo, hi, first):
    """Which candidate scales can be a row's min-MSE clip on the contiguous integer grid
    ``lo .. hi``: ``x`` (R x K float32), ``scales`` (C x R float32, as the reference forms them),
    ``first`` the candidate summed first. A bool (C, R) mask holding every candidate whose
    reference MSE may be its row's least (module docstring)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    scales = np.ascontiguousarray(scales, dtype=np.float32)
    keep = np.ones(scales.shape, dtype=bool)
    if not 0 < x.shape[1] < MAX_K:
        return keep
    ok = np.all((scales >= _TINY_SCALE) & (scales <= _HUGE_SCALE), axis=0) & np.all(np.isfinite(x), axis=1)
    _compiled().screen(x, scales, float(lo), float(hi),
                       candidate_order(scales.shape[0], first), ok, keep)
    return keep


@functools.cache
def _compiled():
    """The kernels compiled by numba (IEEE semantics; the block sum may reassociate its
    additions, nothing else), or loaded from numba's on-disk cache. Deferred as
    :func:`models.fast_quant._compiled` is: only a call needs numba."""
    import numba
    global _block_sum
    # the screen calls the compiled helper (numba resolves the global when it compiles it)
    _block_sum = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})(_block_sum)
    return SimpleNamespace(screen=numba.njit(cache=True, nogil=True, error_model="numpy")(_screen))
