"""MixPE-style shift-and-add products, per-group dequantisation, HAWQ-V3 dyadic requantisation
(spec sections 4 and 5).

* ``shift_add_dot``: INT-b (b = 2, 3, 4) weight x INT8 activation products without a multiplier:
  for a two's complement weight ``q = -q_{b-1} 2**(b-1) + sum_{i<b-1} q_i 2**i``,
  ``q * a = -q_{b-1} (a << (b-1)) + sum_i q_i (a << i)`` (INT4: ``-q3(a<<3) + q2(a<<2) + q1(a<<1) + q0 a``);
  unsigned codes (asymmetric quantisation) use ``+q_{b-1} (a << (b-1))``.
* ``group_dequant_gemm``: ``y = sum_g s_g (sum_{k in g} q_k a_k - z_g sum_{k in g} a_k)``: the scale
  and zero point are applied once per group after the integer partial sums.
* ``dyadic_requant``: HAWQ-V3: ``scale = S_in S_w / S_out = m 2**e`` (frexp, m in [0.5, 1)),
  ``b = round_half_up(m 2**31)``, ``c = 31 - e``, ``out = clamp((acc b + 2**(c-1)) >> c)``, all in
  int64 (``|acc| < 2**31`` and ``b <= 2**31`` keep ``acc * b`` below 2**62; ``c`` must be in 1..62).
  If rounding gives ``b = 2**31`` it is renormalised to ``b = 2**30, c - 1`` (same value).
"""
from __future__ import annotations

import math

import numpy as np

from .common import check_bits, check_group, check_int8_acts

__all__ = ["shift_add_dot", "shift_add_gemm", "group_dequant_gemm", "dyadic_params", "dyadic_requant"]


def _weight_bits(q, bits: int, signed: bool) -> np.ndarray:
    q = np.asarray(q)
    if not np.issubdtype(q.dtype, np.integer):
        raise ValueError(f"weight codes must be integers, got dtype {q.dtype}")
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if q.size and (q.min() < lo or q.max() > hi):
        raise ValueError(f"weight codes out of the {'signed' if signed else 'unsigned'} {bits}-bit range [{lo}, {hi}]")
    return (q.astype(np.int64) & ((1 << bits) - 1))


def shift_add_gemm(q, a, bits: int = 4, signed: bool = True) -> np.ndarray:
    """``Y[n, m] = sum_k q[n, k] a[m, k]`` with every product formed by shifts and adds (int64).

    Bit i of every weight gates ``a << i`` (the MSB with a minus sign for two's complement);
    the gated shifted activations are summed over bits and K.
    """
    bits = check_bits(bits, (2, 3, 4), "shift-add weight bits")
    u = _weight_bits(q, bits, signed)
    a = check_int8_acts(a)
    if u.ndim != 2 or a.ndim != 2 or u.shape[1] != a.shape[1]:
        raise ValueError(f"shift_add_gemm needs (N, K) weights and (M, K) activations, got {u.shape}, {a.shape}")
    y = np.zeros((u.shape[0], a.shape[0]), dtype=np.int64)
    for i in range(bits):  # one term per weight bit
        qi = (u >> i) & 1  # (N, K) gate
        term = qi @ (a << i).T  # sum_k q_i (a << i)
        y += -term if (signed and i == bits - 1) else term
    return y


def shift_add_dot(q, a, bits: int = 4, signed: bool = True) -> np.ndarray:
    """Dot product(s) of weight codes ``q`` (..., K) with activations ``a`` (K,) via shift-add."""
    q = np.asarray(q)
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"shift_add_dot needs 1-D activations (K,), got ndim={a.ndim}")
    y = shift_add_gemm(np.atleast_2d(q), a[None, :], bits, signed)[:, 0]
    return y.reshape(q.shape[:-1])


def group_dequant_gemm(q, a, scale, zero_point=None, group_size: int = 128, bits: int = 4,
                       signed: bool = True) -> np.ndarray:
    """``y[n, m] = sum_g s[n,g] (sum_{k in g} q[n,k] a[m,k] - z[n,g] sum_{k in g} a[m,k])``.

    ``q``: (N, K) integer codes, ``a``: (M, K) INT8, ``scale``/``zero_point``: (N, K/G).
    The integer partial sums per group use the shift-add product.
    """
    q = np.asarray(q)
    a = check_int8_acts(a)
    n, k = q.shape
    g = check_group(k, group_size)
    ng = k // g
    s = np.asarray(scale, dtype=np.float64).reshape(n, ng)
    z = np.zeros((n, ng), dtype=np.int64) if zero_point is None else np.asarray(zero_point, dtype=np.int64).reshape(n, ng)
    y = np.zeros((n, a.shape[0]), dtype=np.float64)
    for j in range(ng):  # per group: integer mpGEMM, then one scale / zero point
        sl = slice(j * g, (j + 1) * g)
        psum = shift_add_gemm(q[:, sl], a[:, sl], bits, signed)  # (N, M) int64
        asum = np.sum(a[:, sl], axis=1)  # (M,)
        y += s[:, j:j + 1] * (psum - z[:, j:j + 1] * asum[None, :])
    return y


def dyadic_params(scale: float) -> tuple[int, int]:
    """HAWQ-V3 dyadic approximation ``scale ~= b / 2**c`` with ``b = round_half_up(m 2**31)``, ``c = 31 - e``."""
    scale = float(scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"dyadic scale must be finite and positive, got {scale!r}")
    m, e = math.frexp(scale)  # scale = m * 2**e, m in [0.5, 1)
    b = math.floor(m * 2 ** 31 + 0.5)  # m * 2**31 is exact in float64; +0.5 then floor = half up
    c = 31 - e
    if b == 2 ** 31:
        b, c = 2 ** 30, c - 1
    if not 1 <= c <= 62:
        raise ValueError(f"dyadic shift c={c} out of the int64-safe range 1..62 for scale {scale!r}")
    return b, c


def dyadic_requant(acc, scale: float, qmin: int = -128, qmax: int = 127) -> np.ndarray:
    """``clamp((acc * b + 2**(c-1)) >> c, qmin, qmax)`` in int64 for int32 accumulators ``acc``."""
    b, c = dyadic_params(scale)
    acc = np.asarray(acc)
    if not np.issubdtype(acc.dtype, np.integer):
        raise ValueError(f"accumulators must be integers, got dtype {acc.dtype}")
    acc = acc.astype(np.int64)
    if acc.size and (acc.min() < -(2 ** 31) or acc.max() > 2 ** 31 - 1):
        raise ValueError("accumulators out of the int32 range")
    out = (acc * np.int64(b) + np.int64(1 << (c - 1))) >> np.int64(c)
    return np.clip(out, qmin, qmax)
