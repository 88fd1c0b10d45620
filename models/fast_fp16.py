"""Compiled FP16 conversions of the FP16-operand designs' accuracy runs: floats to FP16 codes
(:func:`encode`, :func:`models.fp16_gemm.encode_fp16`'s cast) and codes to float32 values
(:func:`values_f32`, :func:`models.fp16_gemm.decode_fp16` then a float32 cast), each one pass
that also does the function's check.

Why compiled: numpy's encode is six passes over the tensor (a float64 copy, ``isfinite``, ``abs``,
``max``, the float16 cast, the int64 copy) and its decode five (two range reductions, the
exponent test, two casts); the FP16 and W*A16 designs encode every activation tensor and weight
matrix, and the FP16 design decodes both again.

Why they are bit for bit the numpy functions' results (``tests/test_fast_fp16.py`` pins both on
every FP16 code, every midpoint between codes and their float64 neighbours, signed zeros,
subnormals, the range's edge and random / real data):

* **encode** rounds the float64 value to the FP16 grid, half to even, as numpy's float16 cast
  does (it rounds the double directly, not through float32), with
  :func:`models.fast_fp8.float_code` (E5M10, bias 15: subnormals on their uniform step, normals
  by rounding the float64 pattern), the sign bit at bit 15 (``-0.0`` is ``0x8000``). A float32
  input is widened to float64 first, exactly as ``np.asarray(x, dtype=np.float64)`` does. It
  answers None (the numpy function runs, raising its own error) at the first value that is not
  finite or beyond 65504 in magnitude, which the numpy function refuses.
* **values_f32** looks each code up in the float32 values of the 65,536 codes (every FP16 value
  is a float32) after the decode's checks (a code outside 0..65535 or with exponent field 31):
  None at the first failing code, and the numpy decode raises its own error.

Single-threaded on purpose, as :mod:`models.fast_seq`.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

from .fast_fp8 import code_terms, float_code, jitable

#: the largest finite FP16 magnitude (:data:`hw.pe_fp16.FP16_MAX_NORMAL`)
FP16_MAX = 65504.0
#: FP16 mantissa bits and exponent bias
MBITS, BIAS = 10, 15


def _encode(x, terms, out):
    """``out[i]`` = the FP16 code of ``x[i]`` (flat float32 / float64), rounded half to even;
    False (``out`` incomplete) at the first value that is not finite or beyond :data:`FP16_MAX`.
    Compiled by :func:`_compiled`."""
    tmp = np.empty(1, dtype=np.float64)
    pattern = tmp.view(np.int64)
    for i in range(x.size):
        v = np.float64(x[i])
        if not abs(v) <= FP16_MAX:               # NaN fails every comparison
            return False
        tmp[0] = v
        out[i] = float_code(v, pattern[0], terms, 15)
    return True


def _values(codes, table, out):
    """``out[i] = table[codes[i]]`` for flat int64 codes; False at the first code outside
    0..65535 or with exponent field 31 (infinity / NaN). Compiled by :func:`_compiled`."""
    for i in range(codes.size):
        c = codes[i]
        if c < 0 or c > 0xFFFF or (c >> 10) & 31 == 31:
            return False
        out[i] = table[c]
    return True


#: below this many elements the numpy functions run (as quick, and a small call need not
#: import numba)
MIN_SIZE = 1 << 14


def encode(x):
    """:func:`models.fp16_gemm.encode_fp16`'s codes (int64, ``x``'s shape) of a float32 or
    float64 array, or None when ``x`` is small, of another dtype or holds a value the numpy
    function refuses (the caller runs it: its result or its error)."""
    if not (isinstance(x, np.ndarray) and x.dtype in (np.float32, np.float64) and x.size >= MIN_SIZE):
        return None
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty(flat.size, dtype=np.int64)
    if not _compiled().encode(flat, code_terms(MBITS, BIAS), out):
        return None
    return out.reshape(x.shape)


@functools.lru_cache(maxsize=None)
def _table():
    """The float32 value of every 16-bit code (infinity / NaN codes included: never read)."""
    return np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)


def values_f32(codes):
    """``decode_fp16(codes).astype(np.float32)`` (float32, ``codes``' shape) for an integer
    array, or None when small, not an integer array, or holding a code the decode refuses."""
    if not (isinstance(codes, np.ndarray) and codes.dtype.kind in "iu" and codes.size >= MIN_SIZE):
        return None
    flat = np.ascontiguousarray(codes, dtype=np.int64).reshape(-1)
    out = np.empty(flat.size, dtype=np.float32)
    if not _compiled().values(flat, _table(), out):
        return None
    return out.reshape(codes.shape)


@functools.cache
def _compiled():
    """The kernels compiled by numba (no ``fastmath``), or loaded from numba's on-disk cache
    (``cache=True``); deferred as :func:`models.fast_fp8._compiled` is."""
    import numba
    jitable()
    jit = numba.njit(cache=True, nogil=True, error_model="numpy")
    return SimpleNamespace(encode=jit(_encode), values=jit(_values))
