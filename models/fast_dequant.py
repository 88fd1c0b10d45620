"""Compiled :func:`models.intcodes.dequantize_scaled_output` straight to float32: the float32
output an accuracy run's linear layer returns, in one pass over the raw sums.

Why compiled: numpy's ``raw * s_a * s_w[None, :]`` then ``astype(float32)`` is three passes
writing two float64 temporaries of the whole output (M x N) per linear; the integer kinds with
one activation scale and one weight scale per column (INT8, BitFusion, ANT, OVP) pay them on
every call, above the fp32 model's cost.

Why it is exact: per element the same IEEE operations in the same order, ``(raw * s_a) *
s_w[n]`` in float64, then the float64 -> float32 conversion (round to nearest even, as numpy's
cast: LLVM's ``fptrunc``; an overflow becomes an infinity in both), numba without ``fastmath``.
``tests/test_fast_dequant.py`` pins :func:`scaled_f32` to the numpy definition.
"""

from __future__ import annotations

import functools

import numpy as np


def _scaled(raw, s_a, s_w, out):
    rows, cols = raw.shape
    for i in range(rows):
        for j in range(cols):
            out[i, j] = np.float32((raw[i, j] * s_a) * s_w[j])


@functools.cache
def _compiled():
    """The kernel compiled by numba (no ``fastmath``), or loaded from numba's on-disk cache;
    deferred as :func:`models.fast_intq._compiled` is."""
    import numba
    return numba.njit(cache=True, nogil=True, error_model="numpy")(_scaled)


def scaled_f32(raw, act_scale, weight_scale):
    """``np.asarray(dequantize_scaled_output(raw, act_scale=act_scale, weight_scale=weight_scale),
    dtype=np.float32)`` for a float64 2-D ``raw`` (what the fast paths give); None for any other
    input (the caller runs the definition)."""
    if not isinstance(raw, np.ndarray) or raw.dtype != np.float64 or raw.ndim != 2:
        return None
    s_a = float(np.ravel(act_scale)[0])
    s_w = np.ravel(np.asarray(weight_scale, dtype=np.float64))
    if s_w.shape != (raw.shape[1],):
        return None                     # the definition broadcasts (or refuses) otherwise
    out = np.empty(raw.shape, dtype=np.float32)
    _compiled()(raw, s_a, s_w, out)
    return out
