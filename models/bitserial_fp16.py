"""Golden twin of the BitMoD FP16-activation bit-serial PE (``hw/pe_bitserial_fp16.py``).

BitMoD's RTL mode with FP16 activations (spec section 2): a 4-way dot product per cycle of FP16
activations with one weight term each, exponent match, aligned mantissas with 3 guard bits
(bits shifted out are dropped: truncation), an adder tree, and a float-like accumulator. This is
this project's definition of that arithmetic (the authors' RTL leaves corner cases such as the
accumulator alignment unspecified); the RTL and this model implement exactly the same steps:

Activation (FP16 bits ``x``, finite): ``s = x[15]``, ``ef = x[14:10]``, ``f = x[9:0]``;
``e = ef`` and ``m = f | 1024`` for normals, ``e = 1`` and ``m = f`` for subnormals (``ef = 0``).
The value is ``(-1)**s * m * 2**(e - 25)``.

Weight terms: the terms of :mod:`hw.bitserial_terms` (weight codes of any format, values in code
units), term t of element i = ``nz``, ``neg``, ``shift``.

One cycle (term t of the 4 elements of a K step):

    present_i = nz_i and m_i != 0
    v_i   = e_i + shift_i                       (present lanes; others count as 0)
    E     = max_i v_i                           (0 if no lane is present)
    a_i   = (m_i << 3) >> (E - v_i)             (3 guard bits, truncated; 0 for absent lanes)
    dot   = sum_i (-1)**(s_i ^ neg_i) * a_i     (17-bit signed; value dot * 2**(E - 28))

Accumulator ``(X, F)``: value ``F * 2**(X - 28)``, ``F`` signed 16 bits, ``X`` unsigned 7 bits,
``(0, 0)`` at the start of an output. Adding a cycle's ``(E, dot)``:

    M = max(X, E);  S = (F >> (M - X)) + (dot >> (M - E))      (arithmetic shifts: floor)
    k = the smallest of 0, 1, 2 with S >> k in [-2**15, 2**15);  F' = S >> k;  X' = M + k

The output word is ``F | X << 16`` (23 bits: :data:`ACC_WIDTH`), a float-like number the host
decodes with :func:`decode_acc`. One output accumulates its whole K in one PE (the PE is
output-stationary only: a weight-stationary array adds partial sums of different tiles as
integers). Per-column weight scales are applied on the host (one group spans K).
"""

import numpy as np

from .bitserial_gemm import decode_weight_codes, term_planes

VEC = 4                     # K elements per step (the 4-way dot product)
GUARD = 3
MAN_FRAC = 10               # FP16 fraction bits
SCALE_EXP = 28              # value = F * 2**(X - SCALE_EXP): 15 (bias) + 10 (fraction) + 3 (guard)
ACC_MAN_BITS = 16
ACC_EXP_BITS = 7
ACC_WIDTH = ACC_MAN_BITS + ACC_EXP_BITS


def check_fp16_codes(codes):
    """``codes`` as int64 when they are finite FP16 bit patterns; ValueError for a code outside
    0..65535 or an infinity / NaN code (exponent field 31), in that order."""
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size and (codes.min() < 0 or codes.max() > 0xFFFF):
        raise ValueError("FP16 activation codes must be 16-bit patterns (0..65535)")
    if np.any((codes & 0x7C00) == 0x7C00):
        raise ValueError("FP16 activations contain infinity or NaN codes")
    return codes


def decode_fp16(codes):
    """FP16 bit patterns -> (sign, exponent e, mantissa m incl. the hidden bit) int64 arrays.
    Raises ValueError for infinity / NaN codes (:func:`check_fp16_codes`)."""
    codes = check_fp16_codes(codes)
    ef = (codes >> 10) & 31
    f = codes & 1023
    sign = (codes >> 15) & 1
    e = np.where(ef == 0, 1, ef)
    m = np.where(ef == 0, f, f | 1024)
    return sign, e, m


def encode_fp16(x):
    """Finite floats -> FP16 bit patterns (round to nearest even); ValueError for NaN/inf or
    values beyond the FP16 range."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("activations contain NaN or infinity")
    if x.size and np.max(np.abs(x)) > 65504.0:
        raise ValueError("activations exceed the FP16 range (65504)")
    return x.astype(np.float16).view(np.uint16).astype(np.int64)


def _terms(codes, weight_format, terms):
    """Weight codes K x N -> (nz, neg, shift) arrays of shape (K, N, terms), from the golden
    decoder and term planes (not the RTL encoder), in the PE's term order."""
    planes = term_planes(decode_weight_codes(codes, weight_format), weight_format)
    if any(np.any(p != 0) for p in planes[terms:]):
        raise ValueError(f"{weight_format} weights need more than {terms} terms")
    stack = np.stack(planes[:terms], axis=-1)
    nz = stack != 0
    neg = stack < 0
    shift = np.where(nz, np.log2(np.maximum(np.abs(stack), 1)).astype(np.int64), 0)
    return nz, neg, shift


def _arith_shift(v, amount, bits):
    """``v >> amount`` (floor) for ``bits``-bit signed values, any non-negative amount."""
    return v >> np.minimum(amount, bits)


def fp16_bitserial_gemm(acts, weights, *, weight_format, terms):
    """acts M x K FP16 codes, weight codes K x N -> M x N accumulator words (``F | X << 16``)."""
    sign, e, m = decode_fp16(acts)
    M, K = sign.shape
    N = np.shape(weights)[1]
    nz, neg, shift = _terms(weights, weight_format, terms)
    steps = -(-K // VEC)
    pad = steps * VEC - K
    if pad:
        sign, e, m = (np.pad(a, ((0, 0), (0, pad))) for a in (sign, e, m))
        nz, neg, shift = (np.pad(a, ((0, pad), (0, 0), (0, 0))) for a in (nz, neg, shift))
    X = np.zeros((M, N), dtype=np.int64)
    F = np.zeros((M, N), dtype=np.int64)
    for s in range(steps):
        ks = slice(s * VEC, (s + 1) * VEC)
        a_s, a_e, a_m = (a[:, None, ks] for a in (sign, e, m))          # (M, 1, 4)
        for t in range(terms):
            w_nz, w_neg, w_sh = (a[None, ks, :, t].transpose(0, 2, 1) for a in (nz, neg, shift))  # (1, N, 4)
            present = w_nz & (a_m != 0)
            v = np.where(present, a_e + w_sh, 0)
            E = v.max(axis=-1)
            aligned = np.where(present, (a_m << GUARD) >> np.minimum(E[..., None] - v, 62), 0)
            dot = np.where((a_s ^ w_neg.astype(np.int64)) == 1, -aligned, aligned).sum(axis=-1)
            Mx = np.maximum(X, E)
            S = _arith_shift(F, Mx - X, ACC_MAN_BITS) + _arith_shift(dot, Mx - E, 17)
            k = np.zeros_like(S)
            for kk in (2, 1):
                k = np.where(((S >> (kk - 1)) < -(1 << (ACC_MAN_BITS - 1)))
                             | ((S >> (kk - 1)) >= (1 << (ACC_MAN_BITS - 1))), np.maximum(k, kk), k)
            F = S >> k
            X = Mx + k
    if np.any(X >= 1 << ACC_EXP_BITS):
        raise ValueError("accumulator exponent overflow")
    return (F & ((1 << ACC_MAN_BITS) - 1)) | (X << ACC_MAN_BITS)


def decode_acc(words):
    """Accumulator words -> float64 values (in activation units x weight code units)."""
    words = np.asarray(words, dtype=np.int64) & ((1 << ACC_WIDTH) - 1)
    F = words & ((1 << ACC_MAN_BITS) - 1)
    F = np.where(F >= 1 << (ACC_MAN_BITS - 1), F - (1 << ACC_MAN_BITS), F)
    X = words >> ACC_MAN_BITS
    return F * np.exp2(X.astype(np.float64) - SCALE_EXP)


# ---------------------------------------------------------------------------------------------
# registry functions


def fp16_golden(acts, weights, pe):
    return fp16_bitserial_gemm(acts, weights, weight_format=pe.weight_format, terms=pe.terms)


def quantize_fp16_acts(x, pe):
    """M x K floats -> FP16 bit patterns (round to nearest even); no scale."""
    return encode_fp16(x), {"format": "fp16", "granularity": "none", "scale": [1.0],
                            "dequantise": "value = fp16(code)"}


def fp16_dequantise(raw, acts, a_meta, w_meta, pe):
    """Accumulator words -> floats: ``decode_acc(raw) * scale_code[n] * s2[n]`` (one weight
    group spans K, so each column has one scale)."""
    s2 = np.asarray(w_meta["second_level_scale"], dtype=np.float64)
    code = np.asarray(w_meta["scale_codes"], dtype=np.float64)[0]
    return decode_acc(raw) * (code * s2)[None, :]


def random_fp16_operands(rng, m, k, n, pe):
    """FP16 activations over every finite exponent (subnormals and zeros included, both signs)
    and uniform weight codes over the format's whole code range."""
    sign = rng.integers(0, 2, size=(m, k))
    exponent = rng.integers(0, 31, size=(m, k))
    fraction = rng.integers(0, 1024, size=(m, k))
    zero = rng.random((m, k)) < 0.05
    acts = np.where(zero, sign << 15, (sign << 15) | (exponent << 10) | fraction)
    bits = pe.weight_element_bits
    lo = -(1 << (bits - 1)) if pe.weight_signed else 0
    return acts, rng.integers(lo, lo + (1 << bits), size=(k, n))
