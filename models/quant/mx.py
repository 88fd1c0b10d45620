"""OCP Microscaling (MX) formats, NVFP4 and per-tensor FP8 (spec section 5).

MX (OCP MX v1.0): blocks of ``block`` (32) consecutive elements along the last axis (K) share one
E8M0 scale ``2**shared_exp`` with

    shared_exp = floor(log2(amax_block)) - emax_elem,   clamped to [-127, 127]

(``emax``: e2m1 2, e2m3 2, e3m2 4, e4m3 8, e5m2 15, int8 0; an all-zero block uses
``floor(log2(FP32_MIN_NORMAL)) = -126`` as the reference library does).  ``floor(log2(.))`` is taken
exactly from the binary exponent (``np.frexp``), i.e. it is the exponent field of ``amax``, which is
what hardware computes.  Each element ``v = x / 2**shared_exp`` is rounded to the element grid
(normals and subnormals, minimum exponent ``2 - 2**(ebits-1)``) and saturated to +-max_norm:

* ``rounding="even"``   round half to even (the OCP default), and
* ``rounding="nearest"`` round half away from zero (the reference library's ``nearest``).

MXINT8 is sign-magnitude with 6 fraction bits: values ``k / 64``, ``|k| <= 127`` (max 127/64).

Two element-rounding back-ends give identical results (tested): ``"numpy"`` (own exact arithmetic in
float64, both tie modes) and ``"ml_dtypes"`` (a cast to the ml_dtypes type after clipping to
+-max_norm, RNE only; clipping is needed because e.g. ``float8_e4m3fn`` overflows to NaN).

NVFP4: E2M1 elements, blocks of 16 share an FP8 E4M3 scale, plus one FP32 per-tensor scale:
``g = amax_tensor / (6 * 448)``, ``s_b = e4m3(amax_block / 6 / g)`` (RNE), elements
``e2m1(x / (s_b * g))`` (RNE, saturating), value ``= code * s_b * g`` (the NVIDIA recipe).

FP8 per tensor: ``s = amax / max_finite``; elements ``fp8(x / s)`` (RNE, clipped).
"""
from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np

from ..fast_fp8 import FP8_FORMATS, float_codes, fp8_codes
from .common import QuantizedTensor, as_float_2d, check_group

__all__ = [
    "ElemFormat",
    "ELEM_FORMATS",
    "round_to_elem",
    "quantize_mx",
    "fake_quant_mx",
    "quantize_nvfp4",
    "fake_quant_nvfp4",
    "quantize_fp8",
    "fake_quant_fp8",
    "mx_bits_per_element",
]

FP32_MIN_NORMAL_EXP = -126
SCALE_EMAX = 127  # E8M0: 2**(8-1) - 1


@dataclass(frozen=True)
class ElemFormat:
    name: str
    ebits: int  # exponent bits (0 for the integer element)
    mbits: int  # explicit mantissa / fraction bits
    emax: int  # largest normal exponent (used to offset the shared exponent)
    max_norm: float
    bits: int  # storage bits per element
    ml_dtype: type | None  # ml_dtypes scalar type with the same grid (None for int8)

    @property
    def emin(self) -> int:
        """Smallest normal exponent (subnormals share it)."""
        return 2 - 2 ** (self.ebits - 1) if self.ebits > 0 else 0


ELEM_FORMATS: dict[str, ElemFormat] = {
    "fp4_e2m1": ElemFormat("fp4_e2m1", 2, 1, 2, 6.0, 4, ml_dtypes.float4_e2m1fn),
    "fp6_e2m3": ElemFormat("fp6_e2m3", 2, 3, 2, 7.5, 6, ml_dtypes.float6_e2m3fn),
    "fp6_e3m2": ElemFormat("fp6_e3m2", 3, 2, 4, 28.0, 6, ml_dtypes.float6_e3m2fn),
    "fp8_e4m3": ElemFormat("fp8_e4m3", 4, 3, 8, 448.0, 8, ml_dtypes.float8_e4m3fn),
    "fp8_e5m2": ElemFormat("fp8_e5m2", 5, 2, 15, 57344.0, 8, ml_dtypes.float8_e5m2),
    "int8": ElemFormat("int8", 0, 6, 0, 127.0 / 64.0, 8, None),
}

_ROUNDINGS = ("even", "nearest")


def _fmt(fmt: str | ElemFormat) -> ElemFormat:
    if isinstance(fmt, ElemFormat):
        return fmt
    if fmt not in ELEM_FORMATS:
        raise ValueError(f"unsupported MX element format {fmt!r}: known {sorted(ELEM_FORMATS)}")
    return ELEM_FORMATS[fmt]


def _round_int(t: np.ndarray, rounding: str) -> np.ndarray:
    """Round float64 ``t`` to integers: half to even, or half away from zero (exact, no x+0.5 trick)."""
    if rounding == "even":
        return np.rint(t)
    if rounding == "nearest":
        a = np.abs(t)
        fl = np.floor(a)
        r = fl + (a - fl >= 0.5)  # a - floor(a) is exact in float64
        return np.copysign(r, t)
    raise ValueError(f"unsupported rounding {rounding!r}: use one of {list(_ROUNDINGS)}")


def round_to_elem(v: np.ndarray, fmt: str | ElemFormat, rounding: str = "even",
                  backend: str = "numpy") -> np.ndarray:
    """Round already-scaled values ``v`` to the element grid of ``fmt`` with saturation to +-max_norm.

    Returns float64 values on the grid.  ``backend="ml_dtypes"`` clips then casts (RNE only).
    """
    f = _fmt(fmt)
    v = np.asarray(v, dtype=np.float64)
    if backend == "ml_dtypes":
        if rounding != "even":
            raise ValueError(f"backend 'ml_dtypes' only rounds half to even, not {rounding!r}")
        if f.ml_dtype is None:
            return np.clip(np.rint(v * 64.0), -127, 127) / 64.0
        return np.clip(v, -f.max_norm, f.max_norm).astype(f.ml_dtype).astype(np.float64)
    if backend != "numpy":
        raise ValueError(f"unsupported backend {backend!r}: use 'numpy' or 'ml_dtypes'")
    if f.ebits == 0:
        step = np.float64(2.0 ** -f.mbits)
        out = _round_int(v / step, rounding) * step
    else:
        _, e = np.frexp(v)  # v = m * 2**e, m in [0.5, 1): floor(log2|v|) = e - 1 (0 -> -1)
        p = np.maximum(e - 1, f.emin)
        step = np.ldexp(1.0, p - f.mbits)
        out = _round_int(v / step, rounding) * step
    return np.clip(out, -f.max_norm, f.max_norm)


def _elem_codes(vq: np.ndarray, f: ElemFormat) -> np.ndarray:
    """Integer codes of on-grid element values: bit patterns (uint8) for floats, k for int8 (k/64)."""
    if f.ml_dtype is None:
        return np.rint(vq * 64.0).astype(np.int16)
    # vq.astype(f.ml_dtype).view(np.uint8), compiled (models.fast_fp8; on-grid: the clip is a no-op)
    return float_codes(vq.reshape(-1, vq.shape[-1]), 1.0, f.ebits, f.mbits, f.max_norm,
                       f.ml_dtype).reshape(vq.shape)


def _decode_elem(codes: np.ndarray, f: ElemFormat) -> np.ndarray:
    if f.ml_dtype is None:
        return codes.astype(np.float64) / 64.0
    return codes.view(f.ml_dtype).astype(np.float64)


def _blocks(x: np.ndarray, block: int) -> np.ndarray:
    r, k = x.shape
    return x.reshape(r, k // block, block)


_CHUNK_ELEMS = 1 << 16


def _mx_core(x, fmt, rounding: str, block: int, backend: str):
    """Shared exponents (rows, K/block) and on-grid element values (rows, K/block, block), float64.

    Processed in row chunks so the temporaries stay small and cache-resident.
    """
    f = _fmt(fmt)
    if rounding not in _ROUNDINGS:
        raise ValueError(f"unsupported rounding {rounding!r}: use one of {list(_ROUNDINGS)}")
    x = as_float_2d(x)
    block = check_group(x.shape[1], block)
    xb = _blocks(x, block)
    r = x.shape[0]
    se = np.empty(xb.shape[:2], dtype=np.int32)
    vq = np.empty(xb.shape, dtype=np.float64)
    step = max(1, _CHUNK_ELEMS // x.shape[1])
    for r0 in range(0, r, step):
        c = xb[r0:r0 + step]
        amax = np.max(np.abs(c), axis=-1)
        _, e = np.frexp(amax)
        fl = np.where(amax == 0, FP32_MIN_NORMAL_EXP, e - 1)  # floor(log2(amax)), exactly
        sec = fl - f.emax
        if np.any(sec > SCALE_EMAX):
            raise ValueError(f"MX shared exponent overflow: block amax {float(amax.max())!r} exceeds the E8M0 range")
        sec = np.maximum(sec, -SCALE_EMAX)
        se[r0:r0 + step] = sec
        vq[r0:r0 + step] = round_to_elem(np.ldexp(c, -sec[..., None]), f, rounding, backend)
    return f, x, block, se, vq


def quantize_mx(x, fmt: str = "fp8_e4m3", rounding: str = "even", block: int = 32,
                backend: str = "numpy") -> QuantizedTensor:
    """Quantise a 2-D array to OCP MX ``fmt`` with blocks of ``block`` along the last axis.

    The result's ``scale`` is ``2.0**shared_exp`` per block (shape (rows, K/block));
    ``meta["shared_exp"]`` holds the E8M0 exponents as int, codes are element bit patterns
    (uint8, the ml_dtypes encoding) or, for MXINT8, the integers k of k/64 (int16).
    """
    f, x, block, se, vq = _mx_core(x, fmt, rounding, block, backend)
    codes = _elem_codes(vq, f).reshape(x.shape)

    def _dec(qt: QuantizedTensor) -> np.ndarray:
        vals = _decode_elem(qt.codes, f).reshape(vq.shape)
        return np.ldexp(vals, qt.meta["shared_exp"][..., None]).reshape(qt.codes.shape)

    return QuantizedTensor(codes=codes, scale=np.ldexp(1.0, se), group_size=block, kind=f"mx-{f.name}",
                           meta={"shared_exp": se, "fmt": f.name, "rounding": rounding}, decoder=_dec)


def fake_quant_mx(x, fmt: str = "fp8_e4m3", rounding: str = "even", block: int = 32,
                  backend: str = "numpy") -> np.ndarray:
    """Dequantised MX tensor (float64); same values as ``quantize_mx(...).dequantize()``."""
    _, x, _, se, vq = _mx_core(x, fmt, rounding, block, backend)
    vq *= np.ldexp(1.0, se)[..., None]  # power of two: exact
    return vq.reshape(x.shape)


def mx_bits_per_element(fmt: str, block: int = 32) -> float:
    """Storage bits per element: element bits + one 8-bit E8M0 scale per block."""
    return _fmt(fmt).bits + 8.0 / block


# ---------------------------------------------------------------------------------------------
# NVFP4 and per-tensor FP8
# ---------------------------------------------------------------------------------------------
E4M3_MAX = 448.0
E2M1_MAX = 6.0


def quantize_nvfp4(x, block: int = 16) -> QuantizedTensor:
    """NVFP4: E2M1 elements, E4M3 block scales (block 16 along K), one FP32 tensor scale."""
    x = as_float_2d(x)
    block = check_group(x.shape[1], block)
    xb = _blocks(x, block)
    amax_t = float(np.max(np.abs(x)))
    g = np.float32(amax_t / (E2M1_MAX * E4M3_MAX)) if amax_t > 0 else np.float32(1.0)
    g = float(g)
    amax_b = np.max(np.abs(xb), axis=-1)
    sb = np.clip(amax_b / E2M1_MAX / g, 0.0, E4M3_MAX).astype(ml_dtypes.float8_e4m3fn)
    sbf = sb.astype(np.float64)
    denom = np.where(sbf == 0.0, 1.0, sbf) * g
    v = xb / denom[..., None]
    # np.clip(v, -E2M1_MAX, E2M1_MAX).astype(ml_dtypes.float4_e2m1fn).view(np.uint8), compiled
    f = ELEM_FORMATS["fp4_e2m1"]
    codes = float_codes(v.reshape(-1, block), 1.0, f.ebits, f.mbits, E2M1_MAX, f.ml_dtype).reshape(x.shape)

    def _dec(qt: QuantizedTensor) -> np.ndarray:
        vals = qt.codes.view(ml_dtypes.float4_e2m1fn).astype(np.float64).reshape(xb.shape)
        s = qt.meta["block_scale"].astype(np.float64) * qt.meta["tensor_scale"]
        return (vals * s[..., None]).reshape(qt.codes.shape)

    return QuantizedTensor(codes=codes, scale=sbf * g, group_size=block, kind="nvfp4",
                           meta={"block_scale": sb, "tensor_scale": g}, decoder=_dec)


def fake_quant_nvfp4(x, block: int = 16) -> np.ndarray:
    return quantize_nvfp4(x, block).dequantize()


_FP8 = {fmt: (dt, fmax) for fmt, (_, _, fmax, dt) in FP8_FORMATS.items()}
FP8_DTYPES = _FP8   # format -> (ml_dtypes element type, largest finite value)


def quantize_fp8(x, fmt: str = "e4m3") -> QuantizedTensor:
    """FP8 with one per-tensor scale ``amax / max_finite`` (float64), RNE element cast after clipping."""
    if fmt not in _FP8:
        raise ValueError(f"unsupported FP8 format {fmt!r}: use one of {sorted(_FP8)}")
    dt, fmax = _FP8[fmt]
    x = as_float_2d(x)
    amax = float(np.max(np.abs(x)))
    s = amax / fmax if amax > 0 else 1.0
    # np.clip(x / s, -fmax, fmax).astype(dt).view(np.uint8), compiled (models.fast_fp8)
    codes = fp8_codes(x, s, fmt)

    def _dec(qt: QuantizedTensor) -> np.ndarray:
        return qt.codes.view(dt).astype(np.float64) * float(qt.scale)

    return QuantizedTensor(codes=codes, scale=np.float64(s), kind=f"fp8-{fmt}", meta={"fmt": fmt}, decoder=_dec)


def fake_quant_fp8(x, fmt: str = "e4m3") -> np.ndarray:
    return quantize_fp8(x, fmt).dequantize()
