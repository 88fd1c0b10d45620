"""LUT Tensor Core / T-MAC style table-lookup mpGEMM (spec section 3).

Weights: unsigned B-bit codes ``q`` (B = 1..8; 1..4 in the LUT Tensor Core tests) with scale ``s``
and zero point ``z``.  They are reinterpreted as odd integers

    q' = 2 q - (2**B - 1) = sum_b 2**b (2 q_b - 1),    s' = s / 2,    z' = 2 z + 1 - 2**B,

so ``s (q - z) = s' (q' - z')`` and ``y = s' (sum_k q'_k a_k - z' sum_k a_k)``.

Activations (INT8) are processed in groups of 4 along K (K is zero padded to a multiple of 4; a
zero activation contributes nothing whatever the padded weight bit).  Per group the 16-entry table
``LUT[c] = sum_i (c_i ? +a_i : -a_i)`` (bit i of ``c`` belongs to activation i) is odd:
``LUT[15 - c] = -LUT[c]``; only the 8 entries with ``c_0 = 0`` are stored:
``half[j] = LUT[j << 1]`` (j = c[3:1]).  Bit plane b of the 4 weights of a group forms the index
``c``; the offline bit flip ``stored[3:1] = c[3:1] XOR {3{c_0}}`` turns it into the half-table
address, and ``c_0`` gives the sign: entry = ``(-1)**c_0 * half[stored[3:1]]``.
The accumulation ``sum_b (sum_groups entry_{g,b}) << b`` over b = 0..B-1 (one bit plane per cycle)
equals the plain integer dot product ``sum_k q'_k a_k`` exactly (int64 here).
"""
from __future__ import annotations

import numpy as np

from .common import check_bits, check_int8_acts

__all__ = [
    "reinterpret",
    "build_tables",
    "half_tables",
    "flip_index",
    "bitplane_indices",
    "lut_dot",
    "lut_gemm",
    "lut_dequant_gemm",
]

G = 4  # activations per table


def reinterpret(q, bits: int, scale=None, zero_point=None):
    """``q' = 2q - (2**B - 1)``; optionally also ``s' = s/2`` and ``z' = 2z + 1 - 2**B``.

    Returns ``q'`` alone, or ``(q', s', z')`` when ``scale`` is given.
    """
    bits = check_bits(bits, range(1, 9), "LUT weight bits")
    q = _check_codes(q, bits)
    qp = 2 * q - (2 ** bits - 1)
    if scale is None:
        return qp
    s = np.asarray(scale, dtype=np.float64) / 2.0
    z = None if zero_point is None else 2 * np.asarray(zero_point, dtype=np.int64) + 1 - 2 ** bits
    return qp, s, z


def _check_codes(q, bits: int) -> np.ndarray:
    q = np.asarray(q)
    if not np.issubdtype(q.dtype, np.integer):
        raise ValueError(f"weight codes must be integers, got dtype {q.dtype}")
    if q.size and (q.min() < 0 or q.max() > 2 ** bits - 1):
        raise ValueError(f"weight codes out of the unsigned {bits}-bit range [0, {2 ** bits - 1}]")
    return q.astype(np.int64)


def _pad_k(x: np.ndarray) -> np.ndarray:
    k = x.shape[-1]
    pad = (-k) % G
    if pad == 0:
        return x
    return np.concatenate([x, np.zeros(x.shape[:-1] + (pad,), dtype=x.dtype)], axis=-1)


_C_BITS = ((np.arange(16)[:, None] >> np.arange(G)[None, :]) & 1)  # (16, 4): bit i of c
_C_SIGNS = 2 * _C_BITS - 1  # +1 where c_i = 1


def build_tables(a) -> np.ndarray:
    """Full 16-entry tables per group of 4 activations: (..., K/4, 16) int64 (K zero padded)."""
    a = _pad_k(check_int8_acts(a))
    ag = a.reshape(a.shape[:-1] + (-1, G))
    return ag @ _C_SIGNS.T  # LUT[c] = sum_i sign_i(c) a_i


def half_tables(a) -> np.ndarray:
    """The stored 8-entry halves ``half[j] = LUT[j << 1]`` (entries with c_0 = 0): (..., K/4, 8)."""
    return build_tables(a)[..., 0::2]


def flip_index(c) -> tuple[np.ndarray, np.ndarray]:
    """Offline bit flip of a 4-bit index ``c``: returns (stored[3:1], sign) with
    ``stored[3:1] = c[3:1] XOR {3{c_0}}`` and sign = -1 if c_0 else +1, so that
    ``LUT[c] = sign * half[stored]``."""
    c = np.asarray(c, dtype=np.int64)
    c0 = c & 1
    stored = (c >> 1) ^ (c0 * 0b111)
    return stored, 1 - 2 * c0


def bitplane_indices(q, bits: int) -> np.ndarray:
    """Table indices per bit plane: (bits, ..., K/4) with ``c = sum_i q_{4g+i}[b] << i``."""
    bits = check_bits(bits, range(1, 9), "LUT weight bits")
    q = _pad_k(_check_codes(q, bits))
    qg = q.reshape(q.shape[:-1] + (-1, G))
    planes = (qg[None, ...] >> np.arange(bits).reshape((bits,) + (1,) * qg.ndim)) & 1
    return np.sum(planes << np.arange(G), axis=-1)


def lut_dot(q, a, bits: int) -> np.ndarray:
    """``sum_k q'_k a_k`` for weight codes ``q`` (..., K) and INT8 activations ``a`` (K,) through the
    bit-plane table lookup with the 8-entry half table, offline flip and sign (int64)."""
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"lut_dot needs 1-D activations (K,), got ndim={a.ndim}")
    return lut_gemm(np.atleast_2d(q), a[None, :], bits)[..., 0].reshape(np.shape(q)[:-1])


def lut_gemm(q, a, bits: int) -> np.ndarray:
    """``Y[n, m] = sum_k q'[n, k] a[m, k]`` for weights (N, K) codes and activations (M, K) INT8.

    For each bit plane b: index c per (n, group) -> (stored, sign) -> entry ``sign * half[m, g, stored]``,
    summed over groups and shifted by b.
    """
    q = np.asarray(q)
    a = np.asarray(a)
    if q.ndim != 2 or a.ndim != 2:
        raise ValueError(f"lut_gemm needs 2-D weights (N, K) and activations (M, K), got ndim {q.ndim}, {a.ndim}")
    if q.shape[1] != a.shape[1]:
        raise ValueError(f"K mismatch: weights {q.shape} vs activations {a.shape}")
    half = half_tables(a)  # (M, Kg, 8)
    idx = bitplane_indices(q, bits)  # (B, N, Kg)
    n_grp = half.shape[1]
    y = np.zeros((q.shape[0], a.shape[0]), dtype=np.int64)
    gi = np.arange(n_grp)
    for b in range(idx.shape[0]):  # one bit plane per cycle
        stored, sign = flip_index(idx[b])  # (N, Kg)
        ent = half[:, gi[None, :], stored]  # (M, N, Kg) lookups
        y += (np.sum(sign[None, :, :] * ent, axis=-1).T) << b
    return y


def lut_dequant_gemm(q, a, bits: int, scale, zero_point) -> np.ndarray:
    """Dequantised output ``s' (sum_k q'_k a_k - z' sum_k a_k)`` per weight row (scale, zero point per row).

    ``scale`` / ``zero_point``: shape (N,) or scalar; returns (N, M) float64.
    """
    qp_dot = lut_gemm(q, a, bits)
    _, s2, z2 = reinterpret(np.zeros(1, dtype=np.int64), bits, scale, zero_point)
    s2 = np.asarray(s2).reshape(-1, 1)
    z2 = np.asarray(z2).reshape(-1, 1)
    asum = np.sum(np.asarray(a, dtype=np.int64), axis=-1)[None, :]
    return s2 * (qp_dot - z2 * asum)
