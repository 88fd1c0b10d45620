"""Symmetric integer quantisation of float tensors into the codes the INT PEs receive."""

import numpy as np


def quantize_symmetric(x, *, bits, axis):
    """Float matrix -> (int64 codes, meta). Scale = max|x| / (2**(bits-1) - 1) per tensor
    (``axis=None``) or reduced along ``axis`` (``axis=0`` on a K x N weight = per output channel);
    codes round half to even and clip to +-(2**(bits-1) - 1). ``meta`` says how to dequantise:
    ``x ~= codes * scale``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D matrix, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("tensor holds NaN or inf values")
    qmax = (1 << (bits - 1)) - 1
    amax = np.max(np.abs(x), axis=axis, keepdims=axis is not None)
    scale = np.where(amax > 0, amax / qmax, 1.0)
    codes = np.clip(np.round(x / scale), -qmax, qmax).astype(np.int64)
    meta = {"format": f"int{bits} symmetric", "axis": axis,
            "scale": np.ravel(scale).tolist() if axis is not None else float(scale),
            "dequantise": "value = code * scale" + ("" if axis is None else
                                                   f" (scale per index along the other axis than {axis})")}
    return codes, meta
