"""Quantisation-format golden models (numpy).

Modules: ``common`` (validation, :class:`QuantizedTensor`, error metrics), ``intq`` (INT 2..8),
``ovp`` (OliVe outlier-victim pairs), ``bitmod`` (BitMoD FP3/FP4 + special values, bit-serial
terms), ``lut`` (LUT Tensor Core bit-plane lookup), ``shiftadd`` (MixPE shift-add, per-group
dequantisation, HAWQ-V3 dyadic requantisation), ``mx`` (OCP MX, NVFP4, FP8), ``lmul`` (L-Mul).

``FORMATS`` maps a format name to ``f(x) -> dequantised x`` for a 2-D float array treated as an
(out, in) weight (groups/blocks along the last axis, per-channel = per row).  ``quant_table``
reports, per format, the storage cost and the error.

``bits_per_element`` counts element bits plus metadata amortised over the elements:
16-bit (fp16) scales per channel / group for the INT and BitMoD formats (+ a zero point of the
element width for asymmetric INT, + 2 selector bits per group for BitMoD mixed types; 8 bits per
group for the INT8 second-level scale option, its one float per row ignored), 8 bits per 32-element
block for MX (E8M0), 8 bits per 16-element block + 32 bits per tensor for NVFP4, 32 bits per tensor
for per-tensor FP8; OVP stores exactly 4 (8) bits per element (the victim costs nothing) and its
per-row scale is counted as 16 bits, like the INT per-channel scale.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import pandas as pd

from . import bitmod, common, intq, lmul, lut, mx, ovp, ovp_format, shiftadd
from .common import QuantizedTensor, as_float_2d, relative_error, sqnr_db

__all__ = [
    "FORMATS",
    "BITS_PER_ELEMENT",
    "quant_table",
    "quantize",
    "QuantizedTensor",
    "relative_error",
    "sqnr_db",
    "bitmod",
    "common",
    "intq",
    "lmul",
    "lut",
    "mx",
    "ovp",
    "shiftadd",
]


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


FORMATS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "int8": lambda x: intq.fake_quant_int(x, 8, True, "channel"),
    "int4": lambda x: intq.fake_quant_int(x, 4, True, "channel"),
    "int8-g128": lambda x: intq.fake_quant_int(x, 8, True, "group", 128),
    "int4-g128": lambda x: intq.fake_quant_int(x, 4, True, "group", 128),
    "int4-asym-g128": lambda x: intq.fake_quant_int(x, 4, False, "group", 128),
    "int3-g128": lambda x: intq.fake_quant_int(x, 3, True, "group", 128),
    "int2-asym-g128": lambda x: intq.fake_quant_int(x, 2, False, "group", 128),
    "ovp-int4": lambda x: _f64(ovp.fake_quant_ovp(x, "int4")),
    "ovp-flint4": lambda x: _f64(ovp.fake_quant_ovp(x, "flint4")),
    "ovp-int8": lambda x: _f64(ovp.fake_quant_ovp(x, "int8")),
    "bitmod-int4": lambda x: bitmod.fake_quant_bitmod(x, "int4"),
    "bitmod-fp4": lambda x: bitmod.fake_quant_bitmod(x, "fp4"),
    "bitmod-mixed4": lambda x: bitmod.fake_quant_bitmod(x, "mixed4"),
    "bitmod-mixed4-int8scale": lambda x: bitmod.fake_quant_bitmod(x, "mixed4", scale_format="int8"),
    "bitmod-mixed3": lambda x: bitmod.fake_quant_bitmod(x, "mixed3"),
    "bitmod-fp6": lambda x: bitmod.fake_quant_bitmod(x, "fp6_e2m3"),
    "mxfp4": lambda x: mx.fake_quant_mx(x, "fp4_e2m1"),
    "mxfp6-e2m3": lambda x: mx.fake_quant_mx(x, "fp6_e2m3"),
    "mxfp6-e3m2": lambda x: mx.fake_quant_mx(x, "fp6_e3m2"),
    "mxfp8-e4m3": lambda x: mx.fake_quant_mx(x, "fp8_e4m3"),
    "mxfp8-e5m2": lambda x: mx.fake_quant_mx(x, "fp8_e5m2"),
    "mxint8": lambda x: mx.fake_quant_mx(x, "int8"),
    "nvfp4": lambda x: mx.fake_quant_nvfp4(x),
    "fp8-e4m3": lambda x: mx.fake_quant_fp8(x, "e4m3"),
    "fp8-e5m2": lambda x: mx.fake_quant_fp8(x, "e5m2"),
}


def _int_bits(b, gran, g=None, sym=True):
    return lambda shape: intq.int_bits_per_element(b, shape, gran, g, sym)


BITS_PER_ELEMENT: dict[str, Callable[[tuple[int, int]], float]] = {
    "int8": _int_bits(8, "channel"),
    "int4": _int_bits(4, "channel"),
    "int8-g128": _int_bits(8, "group", 128),
    "int4-g128": _int_bits(4, "group", 128),
    "int4-asym-g128": _int_bits(4, "group", 128, False),
    "int3-g128": _int_bits(3, "group", 128),
    "int2-asym-g128": _int_bits(2, "group", 128, False),
    "ovp-int4": lambda s: ovp_format.ovp_bits_per_element("int4") + 16.0 / s[1],
    "ovp-flint4": lambda s: ovp_format.ovp_bits_per_element("flint4") + 16.0 / s[1],
    "ovp-int8": lambda s: ovp_format.ovp_bits_per_element("int8") + 16.0 / s[1],
    "bitmod-int4": lambda s: bitmod.bitmod_bits_per_element("int4"),
    "bitmod-fp4": lambda s: bitmod.bitmod_bits_per_element("fp4"),
    "bitmod-mixed4": lambda s: bitmod.bitmod_bits_per_element("mixed4"),
    "bitmod-mixed4-int8scale": lambda s: bitmod.bitmod_bits_per_element("mixed4", scale_bits=8),
    "bitmod-mixed3": lambda s: bitmod.bitmod_bits_per_element("mixed3"),
    "bitmod-fp6": lambda s: bitmod.bitmod_bits_per_element("fp6_e2m3"),
    "mxfp4": lambda s: mx.mx_bits_per_element("fp4_e2m1"),
    "mxfp6-e2m3": lambda s: mx.mx_bits_per_element("fp6_e2m3"),
    "mxfp6-e3m2": lambda s: mx.mx_bits_per_element("fp6_e3m2"),
    "mxfp8-e4m3": lambda s: mx.mx_bits_per_element("fp8_e4m3"),
    "mxfp8-e5m2": lambda s: mx.mx_bits_per_element("fp8_e5m2"),
    "mxint8": lambda s: mx.mx_bits_per_element("int8"),
    "nvfp4": lambda s: 4.0 + 8.0 / 16 + 32.0 / (s[0] * s[1]),
    "fp8-e4m3": lambda s: 8.0 + 32.0 / (s[0] * s[1]),
    "fp8-e5m2": lambda s: 8.0 + 32.0 / (s[0] * s[1]),
}
assert set(BITS_PER_ELEMENT) == set(FORMATS)


def _lookup(name: str):
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}; known formats: {', '.join(sorted(FORMATS))}")
    return FORMATS[name]


def quantize(x, name: str) -> np.ndarray:
    """Dequantised ``x`` in format ``name`` (a key of :data:`FORMATS`)."""
    return _lookup(name)(x)


def quant_table(x, formats: Iterable[str] | None = None, *, notes: bool = False):
    """One row per format: format, bits_per_element, relative_error, sqnr_db (a pandas DataFrame).

    Relative error and SQNR are scale-invariant and every format scales exactly by a power of two,
    so a tensor whose magnitude would overflow the formats' float32 steps or underflow the squared
    norms (max |x| outside 2^-60 .. 2^60) is first brought to magnitude 1 by a power of two.

    ``notes=True`` adds a ``note`` column and, instead of raising, gives a format that cannot
    quantise this tensor (e.g. a 128-group format when K is not a multiple of 128) or a metric that
    is undefined (an all-zero tensor; an infinite SQNR when a format is exact) a NaN with the reason.
    """
    x = as_float_2d(x)
    names = list(FORMATS) if formats is None else list(formats)
    for n in names:
        _lookup(n)
    peak = float(np.max(np.abs(x)))
    if peak and not 2.0 ** -60 <= peak <= 2.0 ** 60:
        x = np.ldexp(x, -int(np.floor(np.log2(peak))))
    rows = []
    for n in names:
        row = {"format": n, "bits_per_element": float(BITS_PER_ELEMENT[n](x.shape)),
               "relative_error": np.nan, "sqnr_db": np.nan, "note": ""}
        if peak == 0 and notes:
            row["note"] = "all-zero tensor: relative error and SQNR are undefined"
        else:
            try:
                xq = FORMATS[n](x)
            except ValueError as e:
                if not notes:
                    raise
                row["note"] = f"skipped: {e}"
            else:
                row["relative_error"] = relative_error(x, xq)
                row["sqnr_db"] = sqnr_db(x, xq)
                if np.isinf(row["sqnr_db"]) and notes:
                    row["sqnr_db"] = np.nan
                    row["note"] = "exact: no quantisation noise, SQNR infinite"
        rows.append(row)
    columns = ["format", "bits_per_element", "relative_error", "sqnr_db"] + (["note"] if notes else [])
    return pd.DataFrame(rows, columns=columns)
