"""ANT (MICRO'22) adaptive numeric types: the 4-bit int / flint / PoT grids, their codes, the
nearest-point rounding and the per-tensor type selection by MSE (spec ``baselines.md`` section 1).

Values are in LSB (integer) units: what the hardware multiplies. Code -> value, per type
(:data:`TYPES`; 4-bit codes are unsigned nibbles, 8-bit codes unsigned bytes):

=========  ======  ===============================================================================
type       signed  code -> value
=========  ======  ===============================================================================
int4       yes     two's complement nibble, -8..7
uint4      no      the nibble, 0..15
flint4     yes     sign + 3-bit magnitude index into {0,1,2,3,4,6,8,16} (OliVe's flint4 normals,
                   :data:`models.quant.ovp_format.CONFIGS` ``flint_mags``); ``1000`` = -0 = 0
uflint4    no      rank in 0..7, 8,10,12,14, 16,24, 32, 64 (monotone "first-one" code)
pot4       yes     sign + 3-bit index j: 0 (j = 0) or 2**(j-1) (1..64); ``1000`` = -0 = 0
upot4      no      0 (code 0) or 2**(code-1) (1..2**14)
int8       yes     two's complement byte, -128..127 (ANT forces int above 6 bits)
uint8      no      the byte, 0..255
=========  ======  ===============================================================================

Choices where the spec is silent: the signed flint4 and PoT4 codes are sign + magnitude index
(the spec fixes this for flint4 only; PoT4 follows it), and the -0 codes decode to 0 (the
quantiser never emits them). Code 0 is the value 0 in every type, so the array's zero pad is 0.

Rounding (the artifact's ``quant_kernel.cu``): ``scale = alpha / max(grid)`` (float32),
``t = x / scale`` (float32), q = the nearest grid value, a tie going to the LARGER value, out of
range saturating to the grid ends. Type selection (``search_adaptive_numeric_type``): per
candidate type, clip ``alpha = max|x| * i / 100`` for i in 75..149 (per output channel for
weights, per tensor for activations), keep the min-MSE alpha; pick the type with the least MSE
(weights: summed over channels; first candidate on a tie). Weights are signed; activations
unsigned unless the tensor has a negative value.
"""

import functools
from dataclasses import dataclass

import numpy as np

from ..fast_ant_clip import clip_screen
from ..fast_quant import ant_codes, ant_pair_errors, ant_screen, grid_index
from .common import division_thresholds
from .ovp_format import CONFIGS as OVP_CONFIGS

__all__ = ["AntType", "TYPES", "get_type", "candidates", "quantize", "search_alpha", "select_type"]


@dataclass(frozen=True)
class AntType:
    name: str
    bits: int
    signed: bool
    values: tuple       # value of code c, c = 0 .. 2**bits - 1

    @property
    def grid(self):
        """Sorted distinct values (the quantisation grid)."""
        return tuple(sorted(set(self.values)))

    @property
    def max_value(self):
        return max(self.values)

    def decode(self, codes):
        """Element codes -> int64 values."""
        return np.asarray(self.values, dtype=np.int64)[np.asarray(codes, dtype=np.int64)]

    @property
    def code_table(self):
        """Dense value -> code table: entry ``v - min(values)`` holds the lowest code of value
        ``v`` (so -0 is never emitted), -1 for a value off the grid (at most 2**14 + 1 entries)."""
        lo = min(self.values)
        table = np.full(max(self.values) - lo + 1, -1, dtype=np.int64)
        for code, v in reversed(list(enumerate(self.values))):   # the lowest code written last
            table[v - lo] = code
        return table

    def encode(self, values):
        """Grid values -> codes (the lowest code of each value, so -0 is never emitted); one
        lookup in :attr:`code_table` (tests/test_exact_speedups.py pins it to the search over
        the sorted values it replaced)."""
        table, lo = _code_table(self), min(self.values)
        values = np.asarray(values, dtype=np.int64)
        index = values - lo
        inside = (index >= 0) & (index < len(table))
        codes = table[np.where(inside, index, 0)]
        if not np.all(inside & (codes >= 0)):
            raise ValueError(f"values off the {self.name} grid")
        return codes


@functools.lru_cache(maxsize=None)
def _code_table(ant_type):
    """:attr:`AntType.code_table`, built once per type (a frozen, hashable dataclass)."""
    return ant_type.code_table


_FLINT4_MAGS = OVP_CONFIGS["flint4"].flint_mags      # (0, 1, 2, 3, 4, 6, 8, 16): shared with OliVe


def _sign_magnitude(mags):
    return tuple(mags) + tuple(-v for v in mags)


TYPES = {t.name: t for t in (
    AntType("int4", 4, True, tuple(range(8)) + tuple(range(-8, 0))),
    AntType("uint4", 4, False, tuple(range(16))),
    AntType("flint4", 4, True, _sign_magnitude(_FLINT4_MAGS)),
    AntType("uflint4", 4, False, tuple(range(8)) + (8, 10, 12, 14, 16, 24, 32, 64)),
    AntType("pot4", 4, True, _sign_magnitude((0,) + tuple(1 << j for j in range(7)))),
    AntType("upot4", 4, False, (0,) + tuple(1 << j for j in range(15))),
    AntType("int8", 8, True, tuple(range(128)) + tuple(range(-128, 0))),
    AntType("uint8", 8, False, tuple(range(256))),
)}

# ANT's default candidate types (mode string ``ant-int-pot-flint``), per signedness
CANDIDATES = {True: ("int4", "pot4", "flint4"), False: ("uint4", "upot4", "uflint4")}
ALPHA_PERCENT = range(75, 150)      # w_low/a_low .. w_up/a_up (exclusive), bits <= 6
_PERCENT_F32 = np.array([np.float32(i / 100) for i in ALPHA_PERCENT], dtype=np.float32)   # fl32(i / 100)


def get_type(name):
    try:
        return TYPES[name]
    except (KeyError, TypeError):
        raise ValueError(f"ANT type must be one of {', '.join(TYPES)}, not {name!r}") from None


def candidates(x, *, weights, bits=4):
    """ANT's candidate types for tensor ``x``: weights signed, activations unsigned unless
    ``x.min() < 0``; above 6 bits int only."""
    signed = weights or float(np.min(x)) < 0
    if bits > 6:
        return ("int8",) if signed else ("uint8",)
    return CANDIDATES[signed]


def quantize(x, alpha, ant_type):
    """Rows of ``x`` (float) with clip ``alpha`` (per row, shape (rows, 1), or scalar) ->
    (grid values int64, float32 scale). Ties go to the larger value; out of range saturates."""
    t_ = get_type(ant_type) if isinstance(ant_type, str) else ant_type
    grid = np.asarray(t_.grid, dtype=np.float64)
    mids = (grid[:-1] + grid[1:]) / 2
    scale = (np.asarray(alpha, dtype=np.float32) / np.float32(t_.max_value)).astype(np.float32)
    t = (np.asarray(x, dtype=np.float32) / scale).astype(np.float32)
    if t_.grid == tuple(range(t_.grid[0], t_.grid[-1] + 1)) and np.all(np.isfinite(t)):
        # contiguous integer grid (int4, uint4, int8, uint8): the midpoints are n + 1/2, so the
        # search's "midpoints <= t" count is floor(t + 1/2) (exact in float64 for a float32 t;
        # a tie goes up, as side="right") clipped to the grid's ends: the same values
        # C order, as the search's output is (a later row mean's summation order follows it)
        q = np.floor(t.astype(np.float64, order="C") + 0.5)
        return np.clip(q, grid[0], grid[-1]).astype(np.int64, order="C"), scale
    # the grid index: the count of midpoints <= t, compiled (models.fast_quant.grid_index)
    return grid[grid_index(mids.astype(np.float32), t)].astype(np.int64), scale


def quantize_codes(x, alpha, ant_type):
    """``(ant_type.encode(values), scale)`` of :func:`quantize`'s ``(values, scale)``, bit for
    bit, in one compiled pass (:func:`models.fast_quant.ant_codes`) for a float32 2-D ``x``."""
    t_ = get_type(ant_type) if isinstance(ant_type, str) else ant_type
    scale = (np.asarray(alpha, dtype=np.float32) / np.float32(t_.max_value)).astype(np.float32)
    if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim == 2 and scale.ndim == 2
            and scale.shape[1] == 1 and scale.shape[0] in (1, x.shape[0])):
        values, scale = quantize(x, alpha, t_)
        return t_.encode(values), scale
    return ant_codes(x, scale, t_.grid, _code_table(t_), min(t_.values)), scale


def _candidate_errors(x, alpha, t_, per_row):
    """The reference MSE of clip ``alpha`` ((rows, 1) or (1, 1)) per row of ``x`` ((rows, 1)) or
    of the tensor ((1, 1)): ``mean((q * scale - x)**2)`` in float64, ``q`` the grid value
    :func:`quantize` gives. Contiguous integer grids (int4, uint4, int8, uint8) round
    ``floor(t + 1/2)`` (exact in float64; ties up, like :func:`quantize`) clipped to the grid's
    ends instead of the binary search: the same values (and the same float64 arithmetic after),
    several times faster; scales out of the normal range (NaN or inf ``t``) take the search."""
    grid = t_.grid
    scale = (np.asarray(alpha, dtype=np.float32) / np.float32(t_.max_value)).astype(np.float32)
    if grid == tuple(range(grid[0], grid[-1] + 1)) and _normal_scales(scale):
        # C order, as the search's output is: the row means' summation order follows the layout
        t = np.ascontiguousarray(x / scale, dtype=np.float64)
        t += 0.5
        q = np.floor(t, out=t)
        np.clip(q, grid[0], grid[-1], out=q)
        diff = np.multiply(q, scale.astype(np.float64), out=q)     # in place: the same values
        diff -= x
    else:
        q, scale = quantize(x, alpha, t_)
        diff = (q * scale.astype(np.float64)) - x
    return np.mean(diff * diff, axis=1, keepdims=True) if per_row else np.full((1, 1), np.mean(diff * diff))


_TINY_SCALE = np.float32(2.0 ** -100)
_HUGE_SCALE = np.float32(2.0 ** 100)   # scales in [2**-100, 2**100]: division_thresholds applies
_U64 = 2.0 ** -53                      # unit roundoff of float64
_SCREEN_MAX_MIDS = 32                  # per-row screening of the 8-bit grids costs more than it saves
_SCREEN_BLOCK = 1 << 16                # rows x candidates x midpoints per screened block


def _normal_scales(scale):
    return bool(np.all((scale >= _TINY_SCALE) & (scale <= _HUGE_SCALE)))


def _screen(x, alphas, t_):
    """:func:`_screen_numpy` compiled (:func:`models.fast_quant.ant_screen`: per row, the same
    certified bound on exact cell statistics, the cells found by searching the sorted row with
    the float32 division itself); a mask holding every row's reference argmin, as that one.
    The numpy screen stays as the reference tests/test_fast_quant_nb.py checks it against."""
    scales = (alphas / np.float32(t_.max_value)).astype(np.float32)
    return ant_screen(x, scales, np.asarray(t_.grid, dtype=np.float64))


def _screen_numpy(x, alphas, t_):
    """Which candidate clips (``alphas`` (C, rows) float32) can be a row's min-MSE clip: a bool
    (C, rows) mask holding every row's reference argmin, found from exact cell statistics.

    ``t = fl(x / s)`` is monotone in ``x``, so ``t >= m`` holds exactly for ``x >= theta(m, s)``
    (:func:`~models.quant.common.division_thresholds`): with the row sorted once, a candidate's
    grid cells are ranges of it, and its squared error ``E = sum x**2 - 2 sum_j o_j X_j + sum_j
    n_j o_j**2`` (``o_j = grid_j s`` exact in float64, ``n_j`` counts, ``X_j`` partial sums)
    follows without quantising. Bounds (unit roundoff u = 2**-53, n elements, M midpoints): the
    estimate's float64 rounding is below ``8 u (M + 2)(n + 4) B`` with ``B = sum x**2 + 2 max|o|
    sum|x| + sum n_j o_j**2`` (partial sums by prefix sums: each within ``n u sum|x|``), and the
    reference's float64 sum of rounded squares of rounded differences is within ``(n + 3) u E``
    of ``E`` in any summation order (non-negative terms). A candidate whose lower bound exceeds
    the best estimate's upper bound by a factor ``1 + 2**-40`` has a strictly larger reference
    MSE (after the division by n too), so it is dropped; the rest are scored exactly. Rows whose
    scales leave the normal range or whose thresholds are not certified keep every candidate.
    """
    c, r = alphas.shape
    keep = np.ones((c, r), dtype=bool)
    grid = np.asarray(t_.grid, dtype=np.float64)
    mids = ((grid[:-1] + grid[1:]) / 2).astype(np.float32)     # half-integers: exact in float32
    m_, n = mids.size, x.shape[1]
    scales = (alphas / np.float32(t_.max_value)).astype(np.float32)
    ok = np.all((scales >= _TINY_SCALE) & (scales <= _HUGE_SCALE), axis=0)
    block = max(1, _SCREEN_BLOCK // (c * m_))
    for r0 in range(0, r, block):
        rows = np.arange(r0, min(r, r0 + block))
        rows = rows[ok[rows]]
        if rows.size:
            keep[:, rows] = _screen_rows(x[rows], scales[:, rows], grid, mids, n, m_)
    return keep


def _float_order(a):
    """float32 (no NaN, no -0) -> int64 in 0 .. 2**32 - 1 with the floats' order."""
    b = np.ascontiguousarray(a, dtype=np.float32).view(np.int32).astype(np.int64)
    return np.where(b < 0, -(b & 0x7FFFFFFF) - 1, b) + (1 << 31)


def _screen_rows(x, scales, grid, mids, n, m_):
    """:func:`_screen` of rows whose scales are all in the normal range."""
    c, r = scales.shape
    s3 = scales.T[:, :, None]                                    # (R, C, 1)
    theta, valid = division_thresholds(mids[None, None, :], s3)  # (R, C, M)
    xs32 = np.sort(x, axis=1) + np.float32(0)   # -0 -> +0 (thresholds are never zero)
    xs = xs32.astype(np.float64)
    prefix = np.zeros((r, n + 1))
    np.cumsum(xs, axis=1, out=prefix[:, 1:])
    # elements below each threshold, all rows in one search: int64 keys (row, float order)
    row = np.arange(r, dtype=np.int64)[:, None]
    keys = (_float_order(xs32) + (row << 32)).reshape(-1)
    queries = (_float_order(theta.reshape(r, -1)) + (row << 32)).reshape(-1)
    order = np.argsort(queries, kind="stable")                # sorted queries: a much faster search
    pos = np.empty(queries.shape, dtype=np.int64)
    pos[order] = np.searchsorted(keys, queries[order], side="left")
    pos = pos.reshape(r, -1) - row * n
    part = np.take_along_axis(prefix, pos, axis=1).reshape(r, c, m_)
    pos = pos.reshape(r, c, m_)
    n_j = np.diff(pos, axis=2, prepend=0, append=n).astype(np.float64)        # (R, C, M + 1)
    x_j = np.diff(part, axis=2, prepend=0.0, append=np.broadcast_to(prefix[:, -1:, None], (r, c, 1)))
    o_j = grid[None, None, :] * s3.astype(np.float64)                         # exact
    q_row = np.einsum("ij,ij->i", xs, xs)[:, None]
    a_row = np.sum(np.abs(xs), axis=1)[:, None] * 1.01
    no2 = np.sum(n_j * o_j * o_j, axis=2)
    est = q_row - 2.0 * np.sum(o_j * x_j, axis=2) + no2                     # (R, C)
    bound = q_row + 2.0 * np.max(np.abs(o_j), axis=2) * a_row + no2
    eta = 8 * _U64 * (m_ + 2) * (n + 4) * bound
    rel = (n + 3) * _U64 * 1.01
    lo = (est - eta) * (1.0 - rel)
    hi = (est + eta) * (1.0 + rel)
    best = np.argmin(est, axis=1)
    cut = hi[np.arange(r), best] * (1.0 + 2.0 ** -40)
    keep = lo <= cut[:, None]
    trusted = np.all(valid, axis=(1, 2)) & np.all(np.isfinite(est), axis=1) & np.all(np.isfinite(bound), axis=1)
    keep[~trusted] = True
    return keep.T


_ALL_BLOCK = 1 << 17                   # candidates x rows x K elements per block of all-candidate scoring


def _all_candidate_errors_numpy(x, alphas, t_):
    """:func:`_candidate_errors` (per row) of every candidate clip ``alphas`` (C, rows) of a
    contiguous integer grid, (C, rows) float64, in numpy: the reference tests/test_fast_quick.py
    pins the compiled scoring (:func:`_kept_errors`) to on the 8-bit grids. Row blocks with all
    candidates at once, so each
    block is read from cache for all of them instead of the whole tensor once per candidate: the
    same element-wise operations (float32 ``x / scale``, ``floor(t + 1/2)`` clipped, ``q * scale
    - x`` in float64) and each (candidate, row)'s mean over the same contiguous K values, so the
    same values bit for bit; blocks whose scales leave the normal range take
    :func:`_candidate_errors` per candidate."""
    c, rows = alphas.shape
    x = np.ascontiguousarray(x)      # C order: each (candidate, row)'s mean runs over contiguous K
    k = x.shape[1]
    out = np.empty((c, rows))
    scales = (alphas / np.float32(t_.max_value)).astype(np.float32)      # as _candidate_errors
    lo, hi = t_.grid[0], t_.grid[-1]
    step = max(1, _ALL_BLOCK // (c * k))
    for r0 in range(0, rows, step):
        r = slice(r0, min(rows, r0 + step))
        xb = x[r]
        sc = scales[:, r, None]                                          # (C, B, 1)
        if not _normal_scales(sc):
            for ci in range(c):
                out[ci, r] = _candidate_errors(xb, alphas[ci, r][:, None], t_, True)[:, 0]
            continue
        t = np.divide(xb[None], sc, dtype=np.float32).astype(np.float64, order="C")
        t += 0.5
        q = np.floor(t, out=t)
        np.clip(q, lo, hi, out=q)
        diff = np.multiply(q, sc.astype(np.float64), out=q)
        diff -= xb[None]
        out[:, r] = np.mean(diff * diff, axis=2)
    return out


def _kept_errors(flat, alphas, keep, t_):
    """:func:`_candidate_errors` of every kept (candidate, row) of ``flat`` (the rows, or the
    tensor as one row), all at once by the compiled scorer
    (:func:`models.fast_quant.ant_pair_errors`: the same IEEE steps per element and numpy's
    summation order of a contiguous row, so the same values bit for bit;
    tests/test_fast_quick.py): (C, rows) float64, NaN where not kept. None (the reference
    scores them) when a row holds a non-finite value or a kept scale leaves the normal range."""
    cand, row = np.nonzero(keep)
    scales = (alphas / np.float32(t_.max_value)).astype(np.float32)      # as _candidate_errors
    if not (_normal_scales(scales[cand, row]) and np.all(np.isfinite(flat))):
        return None
    out = np.full(alphas.shape, np.nan)
    out[cand, row] = ant_pair_errors(flat, scales, t_.grid, cand, row)
    return out


def search_alpha(x, ant_type, *, per_row):
    """Min-MSE clip per row (``per_row``) or per tensor: (alpha (rows, 1) or (1, 1) float32,
    its MSE summed over the rows).

    The reference: every clip ``alpha = absmax * i / 100`` (i in :data:`ALPHA_PERCENT`) scored by
    its float64 MSE (:func:`_candidate_errors`), the strictly smaller one kept in candidate order
    (the first minimum). Here a screen drops, per row, the candidates that provably cannot be the
    minimum (:func:`_screen`'s cell bounds; on the 8-bit grids per row, partial sums of the
    reference's squares, :func:`models.fast_ant_clip.clip_screen`), and only the rest are scored,
    in the same order with the same arithmetic: the same alpha and MSE, bit for bit
    (tests/test_quant_ant.py, tests/test_fast_quick.py and tests/test_fast_ant_clip.py pin it to
    the reference loop).
    """
    t_ = get_type(ant_type) if isinstance(ant_type, str) else ant_type
    # C order once (the weights arrive transposed): the screens and the scorer read contiguous
    # rows and would each copy a strided x (the same values; every score is of C-order rows)
    x = np.ascontiguousarray(x, dtype=np.float32)
    absmax = np.max(np.abs(x), axis=1, keepdims=True) if per_row else np.full((1, 1), np.max(np.abs(x)))
    absmax = np.where(absmax > 0, absmax, np.float32(1)).astype(np.float32)
    # every clip at once: the same float32 products absmax * fl32(i / 100) as one per clip
    alphas = _PERCENT_F32[:, None] * absmax[:, 0]
    flat = x if per_row else x.reshape(1, -1)
    best_err = np.full(absmax.shape, np.inf)
    best_alpha = absmax.copy()
    if per_row and len(t_.grid) - 1 > _SCREEN_MAX_MIDS:
        if t_.grid == tuple(range(t_.grid[0], t_.grid[-1] + 1)):
            # the 8-bit grids: partial sums of the reference's squares drop the candidates that
            # provably cannot be a row's minimum (models.fast_ant_clip), the rest are scored below
            scales = (alphas / np.float32(t_.max_value)).astype(np.float32)   # as _candidate_errors
            keep = clip_screen(x, scales, t_.grid[0], t_.grid[-1], ALPHA_PERCENT.index(100))
        else:
            keep = np.ones(alphas.shape, dtype=bool)
    else:
        keep = _screen(flat, alphas, t_)
    kept = _kept_errors(flat, alphas, keep, t_)
    if kept is not None:
        # the loop below over the scored candidates at once: its strict "<" keeps a row's first
        # least error in candidate order, which argmin returns (dropped ones as +inf never win;
        # nor do NaNs, which "<" never takes; a row whose least is +inf keeps absmax and +inf, as
        # the loop leaves them)
        errs = np.where(keep & (kept == kept), kept, np.inf)
        first = np.argmin(errs, axis=0)
        least = errs[first, np.arange(errs.shape[1])]
        won = least < np.inf
        best_err[won, 0] = least[won]
        best_alpha[won, 0] = alphas[first[won], np.flatnonzero(won)]
        return best_alpha, float(np.sum(best_err))
    for ci in range(len(ALPHA_PERCENT)):
        rows = np.flatnonzero(keep[ci])
        if not rows.size:
            continue
        alpha = alphas[ci, rows][:, None]
        if kept is not None:
            err = kept[ci, rows][:, None]
        else:
            err = _candidate_errors(x[rows] if per_row and rows.size < len(x) else x, alpha, t_, per_row)
        better = err < best_err[rows]
        best_err[rows] = np.where(better, err, best_err[rows])
        best_alpha[rows] = np.where(better, alpha, best_alpha[rows])
    return best_alpha.astype(np.float32), float(np.sum(best_err))


def select_type(x, *, weights, bits=4):
    """ANT's per-tensor type: the candidate (:func:`candidates`) whose min-MSE clip has the least
    MSE. ``x`` is (rows, K) with rows the output channels for weights. Returns (type name,
    {type: MSE})."""
    errors = {name: search_alpha(x, name, per_row=weights)[1] for name in candidates(x, weights=weights, bits=bits)}
    return min(errors, key=errors.get), errors
