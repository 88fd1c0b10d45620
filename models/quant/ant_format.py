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

from dataclasses import dataclass

import numpy as np

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

    def encode(self, values):
        """Grid values -> codes (the lowest code of each value, so -0 is never emitted)."""
        table = {}
        for code, v in enumerate(self.values):
            table.setdefault(v, code)
        lut_v = np.asarray(sorted(table), dtype=np.int64)
        lut_c = np.asarray([table[v] for v in lut_v], dtype=np.int64)
        values = np.asarray(values, dtype=np.int64)
        idx = np.searchsorted(lut_v, values)
        if not np.array_equal(lut_v[np.clip(idx, 0, len(lut_v) - 1)], values):
            raise ValueError(f"values off the {self.name} grid")
        return lut_c[idx]


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
    return grid[np.searchsorted(mids, t, side="right")].astype(np.int64), scale


def search_alpha(x, ant_type, *, per_row):
    """Min-MSE clip per row (``per_row``) or per tensor: (alpha (rows, 1) or (1, 1) float32,
    its MSE summed over the rows)."""
    x = np.asarray(x, dtype=np.float32)
    absmax = np.max(np.abs(x), axis=1, keepdims=True) if per_row else np.full((1, 1), np.max(np.abs(x)))
    absmax = np.where(absmax > 0, absmax, np.float32(1)).astype(np.float32)
    best_err = np.full(absmax.shape, np.inf)
    best_alpha = absmax.copy()
    for i in ALPHA_PERCENT:
        alpha = (absmax * np.float32(i / 100)).astype(np.float32)
        q, scale = quantize(x, alpha, ant_type)
        diff = (q * scale.astype(np.float64)) - x
        err = np.mean(diff * diff, axis=1, keepdims=True) if per_row else np.full((1, 1), np.mean(diff * diff))
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best_alpha = np.where(better, alpha, best_alpha)
    return best_alpha.astype(np.float32), float(np.sum(best_err))


def select_type(x, *, weights, bits=4):
    """ANT's per-tensor type: the candidate (:func:`candidates`) whose min-MSE clip has the least
    MSE. ``x`` is (rows, K) with rows the output channels for weights. Returns (type name,
    {type: MSE})."""
    errors = {name: search_alpha(x, name, per_row=weights)[1] for name in candidates(x, weights=weights, bits=bits)}
    return min(errors, key=errors.get), errors
