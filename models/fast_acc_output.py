"""Compiled :func:`models.bitserial_fp16.fp16_dequantise` straight to float32: the BitMoD
FP16-activation design's accumulator words -> the float32 output an accuracy run's linear layer
returns, in one pass over the words.

Why compiled: :func:`models.bitserial_fp16.decode_acc` is a numpy chain over the M x N words (the
mask, the mantissa field, its sign extension, the exponent field, its float conversion, ``exp2``,
the product) writing an int64 or float64 temporary per step, then the column scales' product and
the float32 cast: about 5 % of the design's SmolLM2 ``--quick`` run.

Why it is exact: per word the same fields (``F`` the low 16 bits as a signed integer, ``X`` the
next 7), the value ``F * 2**(X - SCALE_EXP)`` is exact in float64 in both (a 16-bit integer
times a power of two between ``2**-28`` and ``2**99``: ``ldexp`` here, ``F * exp2(X - 28)``
there), then the same float64 product with the column's ``scale_code[n] * s2[n]`` (computed by
numpy, as the definition does) and the float64 -> float32 conversion (round to nearest even, as
numpy's cast: LLVM's ``fptrunc``); numba without ``fastmath``. ``tests/test_fast_acc_output.py``
pins :func:`acc_words_f32` to the definition.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .bitserial_fp16 import ACC_MAN_BITS, ACC_WIDTH, SCALE_EXP


def _words_f32(raw, col_scale, out):
    rows, cols = raw.shape
    word_mask = (1 << ACC_WIDTH) - 1
    man_mask = (1 << ACC_MAN_BITS) - 1
    sign = 1 << (ACC_MAN_BITS - 1)
    for i in range(rows):
        for j in range(cols):
            word = raw[i, j] & word_mask
            f = word & man_mask
            if f >= sign:
                f -= 1 << ACC_MAN_BITS
            value = math.ldexp(np.float64(f), (word >> ACC_MAN_BITS) - SCALE_EXP)
            out[i, j] = np.float32(value * col_scale[j])


@functools.cache
def _compiled():
    """The kernel compiled by numba (no ``fastmath``), or loaded from numba's on-disk cache;
    deferred as :func:`models.fast_dequant._compiled` is."""
    import numba
    return numba.njit(cache=True, nogil=True, error_model="numpy")(_words_f32)


def acc_words_f32(raw, w_meta):
    """``np.asarray(fp16_dequantise(raw, acts, a_meta, w_meta, pe), dtype=np.float32)`` for a 2-D
    int64 ``raw`` (the fast path's words); None for any other input (the caller runs the
    definition)."""
    if not isinstance(raw, np.ndarray) or raw.dtype != np.int64 or raw.ndim != 2:
        return None
    s2 = np.asarray(w_meta["second_level_scale"], dtype=np.float64)
    code = np.asarray(w_meta["scale_codes"], dtype=np.float64)[0]
    col_scale = code * s2                              # the definition's own product
    if col_scale.shape != (raw.shape[1],):
        return None                                    # the definition broadcasts (or refuses)
    out = np.empty(raw.shape, dtype=np.float32)
    _compiled()(raw, col_scale, out)
    return out
