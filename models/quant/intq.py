"""Uniform integer quantisation, 2..8 bits.

Rounding: **round half to even** (``np.rint``, the IEEE default and what ``torch.round`` does);
then **clamping** to the code range.  All arithmetic is float64.

* symmetric:  ``s = absmax / qmax``, ``qmax = 2**(b-1) - 1``; codes
  ``q = clip(rint(x / s), -qmax, qmax)`` (the restricted, sign-symmetric range: code -2**(b-1) is
  unused so that +-absmax are both representable); value ``q * s``.
* asymmetric: the range is widened to include 0 (``lo = min(min x, 0)``, ``hi = max(max x, 0)``, so
  0 is exact and the zero point never clamps); ``s = (hi - lo) / (2**b - 1)``, zero point
  ``z = clip(rint(-lo / s), 0, 2**b - 1)``, codes ``q = clip(rint(x / s) + z, 0, 2**b - 1)``
  (unsigned); value ``(q - z) * s``.

A group whose range is zero gets ``s = 1`` (codes 0 / z, dequantised exactly).

Granularity (``granularity``): ``"tensor"`` (one scale), ``"channel"`` (one per row: output channel of an
(out, in) weight, or any row of a 2-D array), ``"group"`` (groups of ``group_size`` consecutive
elements along the last axis K; ``group_size`` must divide K).
"""
from __future__ import annotations

import numpy as np

from .. import fast_intq
from .common import QuantizedTensor, as_float_2d, check_bits, check_group

__all__ = ["quantize_int", "quantize_int_reference", "fake_quant_int", "int_bits_per_element", "SUPPORTED_BITS"]

SUPPORTED_BITS = tuple(range(2, 9))
_GRANULARITIES = ("tensor", "channel", "group")


def _grouped(x: np.ndarray, granularity: str, group_size: int | None):
    r, k = x.shape
    if granularity == "tensor":
        return x.reshape(1, 1, r * k), None
    if granularity == "channel":
        return x.reshape(r, 1, k), None
    if granularity == "group":
        if group_size is None:
            raise ValueError("granularity='group' needs group_size")
        g = check_group(k, group_size)
        return x.reshape(r, k // g, g), g
    raise ValueError(f"unsupported granularity {granularity!r}: use one of {list(_GRANULARITIES)}")


def quantize_int(x, bits: int = 8, symmetric: bool = True, granularity: str = "channel",
                 group_size: int | None = None) -> QuantizedTensor:
    """Quantise a 2-D array to ``bits``-bit integers; see the module docstring for the exact rules.

    ``scale`` / ``zero_point`` have shape (1, 1) per tensor, (rows, 1) per channel and
    (rows, K / group_size) per group.
    """
    bits = check_bits(bits, SUPPORTED_BITS, "INT bits")
    meta = {"bits": bits, "symmetric": symmetric, "granularity": granularity}
    kind = f"int{bits}{'' if symmetric else '-asym'}"
    fast = fast_intq.quantize(x, bits, symmetric, granularity)
    if fast is not None:                 # the same codes, scales and zero points, compiled
        codes, s_out, z_out = fast
        return QuantizedTensor(codes=codes, scale=s_out, zero_point=z_out, group_size=None, kind=kind, meta=meta)
    return quantize_int_reference(x, bits, symmetric, granularity, group_size)


def quantize_int_reference(x, bits: int = 8, symmetric: bool = True, granularity: str = "channel",
                           group_size: int | None = None) -> QuantizedTensor:
    """:func:`quantize_int` in numpy, the definition (:mod:`models.fast_intq` is pinned to it)."""
    bits = check_bits(bits, SUPPORTED_BITS, "INT bits")
    x = as_float_2d(x)
    r, k = x.shape
    xg, g = _grouped(x, granularity, group_size)
    if symmetric:
        qmax = 2 ** (bits - 1) - 1
        s = np.max(np.abs(xg), axis=-1, keepdims=True) / qmax
        s = np.where(s > 0, s, 1.0)
        q = np.clip(np.rint(xg / s), -qmax, qmax)
        z = None
    else:
        qmax = 2 ** bits - 1
        lo = np.minimum(np.min(xg, axis=-1, keepdims=True), 0.0)
        hi = np.maximum(np.max(xg, axis=-1, keepdims=True), 0.0)
        s = (hi - lo) / qmax
        s = np.where(s > 0, s, 1.0)
        z = np.clip(np.rint(-lo / s), 0, qmax)
        q = np.clip(np.rint(xg / s) + z, 0, qmax)
    codes = q.reshape(r, k).astype(np.int16)
    if granularity == "tensor":
        s_out = s.reshape(1, 1)
        z_out = None if z is None else z.reshape(1, 1).astype(np.int16)
    else:
        s_out = s[..., 0]
        z_out = None if z is None else z[..., 0].astype(np.int16)
    return QuantizedTensor(codes=codes, scale=s_out, zero_point=z_out, group_size=g,
                           kind=f"int{bits}{'' if symmetric else '-asym'}",
                           meta={"bits": bits, "symmetric": symmetric, "granularity": granularity})


def fake_quant_int(x, bits: int = 8, symmetric: bool = True, granularity: str = "channel",
                   group_size: int | None = None) -> np.ndarray:
    return quantize_int(x, bits, symmetric, granularity, group_size).dequantize()


def int_bits_per_element(bits: int, shape: tuple[int, int], granularity: str = "channel",
                         group_size: int | None = None, symmetric: bool = True,
                         scale_bits: int = 16) -> float:
    """Element bits + metadata: one ``scale_bits`` scale (+ a ``bits``-bit zero point if asymmetric)
    per tensor / row / group, amortised over the elements it covers."""
    r, k = shape
    n_meta = {"tensor": 1, "channel": r, "group": r * (k // group_size) if group_size else r}[granularity]
    per = scale_bits + (0 if symmetric else bits)
    return bits + n_meta * per / (r * k)
