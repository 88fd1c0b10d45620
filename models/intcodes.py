"""Float matrices -> the integer codes an array receives, with the metadata to dequantise.

Thin adapters over :func:`models.quant.intq.quantize_int` for the GEMM orientation: activations
are M x K (one scale per tensor), weights K x N (one scale, and for asymmetric formats one zero
point, per output channel n).
"""

import numpy as np

from .quant.intq import quantize_int


def _meta(qt, per):
    meta = {"format": qt.kind, "granularity": per, "scale": np.ravel(qt.scale).tolist()}
    if qt.zero_point is not None:
        meta["zero_point"] = np.ravel(qt.zero_point).tolist()
        meta["dequantise"] = f"value = (code - zero_point) * scale, per {per}"
    else:
        meta["dequantise"] = f"value = code * scale, per {per}"
    return meta


def quantize_acts(x, *, bits=8):
    """M x K floats -> signed codes, symmetric, one scale per tensor."""
    qt = quantize_int(x, bits, symmetric=True, granularity="tensor")
    return qt.codes.astype(np.int64), _meta(qt, "tensor")


def quantize_weights(w, *, bits=8, symmetric=True):
    """K x N floats -> codes per output channel (column): signed symmetric, or unsigned with a zero
    point (asymmetric)."""
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"weights must be a 2-D K x N matrix, got shape {w.shape}")
    qt = quantize_int(w.T, bits, symmetric=symmetric, granularity="channel")
    return qt.codes.T.astype(np.int64), _meta(qt, "output channel (column of K x N)")


def dequantize_scaled_output(raw, *, act_scale, weight_scale):
    """Float output of an integer GEMM with one activation scale (per tensor) and one weight scale
    per output channel n: ``raw[m, n] * s_a * s_w[n]``."""
    s_a = float(np.ravel(act_scale)[0])
    s_w = np.ravel(np.asarray(weight_scale, dtype=np.float64))
    return np.asarray(raw, dtype=np.float64) * s_a * s_w[None, :]


def dequantize_affine_output(raw, act_meta, weight_meta):
    """:func:`dequantize_scaled_output` from quantiser metadata; symmetric weights only."""
    if "zero_point" in weight_meta:
        raise ValueError("affine output dequantisation needs symmetric weights (no zero point)")
    return dequantize_scaled_output(raw, act_scale=act_meta["scale"], weight_scale=weight_meta["scale"])
