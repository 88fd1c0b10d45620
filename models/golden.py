"""Integer GEMM golden model: exactly what the INT8 array computes.

Overflow contract: products and sums are formed exactly (int64) and the result is wrapped to a
signed ``acc_width``-bit two's complement integer (modulo ``2**acc_width``), which is what a
fixed-width hardware accumulator does whatever the order of additions (wrapping addition is
associative). With int8 operands and 32-bit accumulators no wrap happens for K < 131072
(``K * 128 * 128 < 2**31``); the buffers of any array built here are far smaller.
"""

import numpy as np


def wrap_signed(values, width):
    """Wrap integers to signed ``width``-bit two's complement (int64; Python ints in an object
    array when ``width`` exceeds 64 bits)."""
    if width > 64:
        half = 1 << (width - 1)
        return (np.asarray(values, dtype=object) + half) % (2 * half) - half
    try:
        values = np.asarray(values, dtype=np.int64)
    except OverflowError:
        # Python ints beyond int64 (e.g. a 64-bit acc_in plus a dot product): wrap them exactly first
        half = 1 << (width - 1)
        return np.asarray((np.asarray(values, dtype=object) + half) % (2 * half) - half, dtype=np.int64)
    if width >= 64:
        return values
    half = np.int64(1) << (width - 1)
    return ((values + half) & ((half << 1) - 1)) - half


def check_codes(name, codes, bits, signed=True, copy=True):
    """Integer codes of a ``bits``-bit format (``bits`` <= 63), as int64; ValueError naming
    ``name`` otherwise. ``copy`` False: an int64 input is returned itself (for a caller that
    owns it: a quantiser's fresh output), not copied.

    Accepted: 2-D arrays of any integer dtype, and of a float dtype whose values are all finite
    integers (what a quantiser may return). Refused: bool (a mask, not codes), object, complex,
    string and every other dtype. The range is checked on the input's own values, before any
    conversion: converting first would wrap (a uint64 ``2**64 - 1`` becomes int64 -1, a float
    ``1e30`` some arbitrary int64), so an out-of-range code could pass as a valid one.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {codes.shape}")
    kind = codes.dtype.kind
    if kind == "f":
        bad = ~np.isfinite(codes)
        bad[~bad] = codes[~bad] != np.round(codes[~bad])
        if bad.any():
            raise ValueError(f"{name} must hold integer codes; {codes.dtype} value "
                             f"{codes[bad][0].item()} is not an integer")
    elif kind not in "iu":     # numpy kinds: i signed, u unsigned integer ("b" bool is refused)
        raise ValueError(f"{name} must hold integer codes, got dtype {codes.dtype}")
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if codes.size:
        # min/max in the input's dtype, compared as Python numbers (exact for every integer dtype)
        low, high = codes.min().item(), codes.max().item()
        if low < lo or high > hi:
            raise ValueError(f"{name} codes out of range for {bits}-bit "
                             f"{'signed' if signed else 'unsigned'} ({lo}..{hi}): "
                             f"min {low}, max {high}")
    return codes.astype(np.int64, copy=copy)


def gemm_int(acts, weights, acc_width=32):
    """``acts`` (M x K) @ ``weights`` (K x N) on integer codes, wrapped to ``acc_width`` bits."""
    acts = np.asarray(acts, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.int64)
    if acts.ndim != 2 or weights.ndim != 2 or acts.shape[1] != weights.shape[0]:
        raise ValueError(f"shapes do not chain: acts {acts.shape} @ weights {weights.shape}")
    return wrap_signed(acts @ weights, acc_width)
