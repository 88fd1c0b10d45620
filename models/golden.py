"""Integer GEMM golden model: exactly what the INT8 array computes.

Overflow contract: products and sums are formed exactly (int64) and the result is wrapped to a
signed ``acc_width``-bit two's complement integer (modulo ``2**acc_width``), which is what a
fixed-width hardware accumulator does whatever the order of additions (wrapping addition is
associative). With int8 operands and 32-bit accumulators no wrap happens for K < 131072
(``K * 128 * 128 < 2**31``); the buffers of any array built here are far smaller.
"""

import numpy as np


def wrap_signed(values, width):
    """Wrap integers to signed ``width``-bit two's complement."""
    values = np.asarray(values, dtype=np.int64)
    if width >= 64:
        return values
    half = np.int64(1) << (width - 1)
    return ((values + half) & ((half << 1) - 1)) - half


def check_codes(name, codes, bits, signed=True):
    """Integer codes of a ``bits``-bit format, as int64; ValueError naming ``name`` otherwise."""
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {codes.shape}")
    if not np.issubdtype(codes.dtype, np.integer):
        if not np.issubdtype(codes.dtype, np.floating) or not np.all(np.isfinite(codes)) or \
                np.any(codes != np.round(codes)):
            raise ValueError(f"{name} must hold integer codes, got dtype {codes.dtype}")
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    codes = codes.astype(np.int64)
    if codes.size and (codes.min() < lo or codes.max() > hi):
        raise ValueError(f"{name} codes out of range for {bits}-bit "
                         f"{'signed' if signed else 'unsigned'} ({lo}..{hi}): "
                         f"min {codes.min()}, max {codes.max()}")
    return codes


def gemm_int(acts, weights, acc_width=32):
    """``acts`` (M x K) @ ``weights`` (K x N) on integer codes, wrapped to ``acc_width`` bits."""
    acts = np.asarray(acts, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.int64)
    if acts.ndim != 2 or weights.ndim != 2 or acts.shape[1] != weights.shape[0]:
        raise ValueError(f"shapes do not chain: acts {acts.shape} @ weights {weights.shape}")
    return wrap_signed(acts @ weights, acc_width)
