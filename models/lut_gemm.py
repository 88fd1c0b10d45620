"""Golden twin of the LUT PE array: the exact integer output and its dequantisation.

The integer result is computed through :func:`models.quant.lut.lut_gemm` (tables, offline flip,
bit-plane accumulation), which equals ``A @ Q'`` with ``Q' = 2Q - (2**B - 1)``; wrapped to the
accumulator width like the hardware.
"""

import numpy as np

from .golden import wrap_signed
from .intcodes import quantize_weights
from .quant import lut


def lut_gemm_int(acts, weights, *, weight_bits, acc_width=32):
    """acts M x K INT8 codes, weights K x N unsigned ``weight_bits`` codes -> M x N integers."""
    return wrap_signed(lut.lut_gemm(np.asarray(weights).T, np.asarray(acts), weight_bits).T, acc_width)


def lut_dequantise(raw, acts, *, weight_bits, act_scale, weight_scale, weight_zero_point):
    """Float output from the raw integers: ``s_a * s'_n * (raw - z'_n * sum_k a_k)`` with
    ``s' = s/2``, ``z' = 2z + 1 - 2**B`` per output channel n."""
    s2 = np.asarray(weight_scale, dtype=np.float64) / 2
    # float: the 1-bit binarisation has z = 1/2 (so z' = 0)
    z2 = 2 * np.asarray(weight_zero_point, dtype=np.float64) + 1 - 2 ** weight_bits
    asum = np.asarray(acts, dtype=np.int64).sum(axis=1, keepdims=True)
    return act_scale * s2[None, :] * (np.asarray(raw, dtype=np.int64) - z2[None, :] * asum)


def quantize_lut_weights(w, *, weight_bits):
    """K x N floats -> unsigned ``weight_bits`` codes per output channel, with scale and zero point.

    B >= 2: asymmetric INT (:func:`models.intcodes.quantize_weights`). B = 1: binarisation,
    ``q = (w >= 0)``, scale ``s = 2 * mean|w|`` and zero point ``z = 1/2`` per channel, so that
    ``s (q - z) = +-mean|w|`` and ``z' = 2z + 1 - 2 = 0`` (the bit-plane form needs no correction).
    """
    if weight_bits >= 2:
        return quantize_weights(w, bits=weight_bits, symmetric=False)
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"weights must be a 2-D K x N matrix, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("tensor holds NaN or inf values")
    scale = 2 * np.mean(np.abs(w), axis=0)
    return (w >= 0).astype(np.int64), {
        "format": "binary (1-bit)", "granularity": "output channel (column of K x N)",
        "scale": scale.tolist(), "zero_point": [0.5] * w.shape[1],
        "dequantise": "value = (code - zero_point) * scale, per output channel"}
