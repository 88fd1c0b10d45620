"""Golden twin of the MixPE shift-add design: raw GEMM, per-group dyadic dequantisation, requantisation.

Everything is computed from :mod:`models.quant.shiftadd` (the shift-add products, HAWQ-V3's
``dyadic_params``/``dyadic_requant``), independently of the RTL:

* raw (``group_size`` None): ``Out = A @ Q`` via the shift-add identity, wrapped to ``acc_width``.
* grouped: K is zero-padded to ``groups * G`` (a partial last group; padded activations are 0, so
  they add nothing to either sum). Per group g and output column n (all wrapped to ``acc_width``
  bits, as the hardware's adders wrap):

      raw_g  = sum_{k in g} q[k, n] a[m, k]       (shift-add)
      asum_g = sum_{k in g} a[m, k]
      x_g    = raw_g - z[g, n] * asum_g
      y      = sum_g dyadic_requant(x_g, b[g, n] / 2**c[g, n])      (no clamp: an integer total)

  and, with requantisation, ``out = dyadic_requant(y, b_out[n] / 2**c_out[n])`` clamped to INT8.
  ``b / 2**c`` with ``b`` in [2**30, 2**31) is exactly representable in float64 and
  ``dyadic_params`` maps it back to the same ``(b, c)`` (asserted), so the golden function applies
  exactly the hardware's (b, c) with HAWQ-V3's rounding ``(x*b + 2**(c-1)) >> c``.

Quantisers (registry): activations INT8 symmetric per tensor (scale ``s_a``); weights K x N ->
unsigned INT-B codes, asymmetric per group of G along K per output column (scale ``s_w[g, n]``,
zero point ``z[g, n]``; K zero-padded to a multiple of G first, which changes no range because the
asymmetric range always includes 0). The group scales become dyadic numbers
``(b, c) = dyadic_params(s_a * s_w[g, n] / s_out)`` with the output scale

    s_out = s_a * max_{g,n} s_w[g, n] / 2**h,   h = the largest integer >= 0 with
            2**h * K_padded * 128 * (2**B - 1) < 2**30

so every group scale is at most ``2**h`` and the total cannot overflow int32 (|x_g| <=
G * 128 * (2**B - 1); guaranteed while ``K_padded * 128 * (2**B - 1) < 2**30``, i.e. K < 559k at
B = 4), while ``h`` spends the remaining int32 headroom on resolution (h = 10 for K = 384, B = 4).
Scales are clipped to the dyadic range [2**-32, 2**30). The float output is ``y * s_out``.
The optional INT8 requantisation uses ``s_y = max|y| * s_out / 127`` (a
per-tensor output scale taken from this GEMM's own result, i.e. dynamic quantisation; a deployed
model would use a calibrated constant): ``(b_out, c_out) = dyadic_params(127 / max|y|)``.

Without quantiser metadata (random codes) the parameters are reproducible pseudo-random numbers
(:func:`default_params`, seeded by the shape and the PE options, not by the operands): zero points uniform over the codes, scales log-uniform in
[2**-12, 2**-2] with a quarter of them exact powers of two (whose rounding hits exact ties);
with requantisation, per-column scales log-uniform in [2**-4, 2].
"""

import dataclasses
import math

import numpy as np

from hw.group_dequant import DequantParams
from .golden import wrap_signed
from .intcodes import quantize_acts as _quantize_int8_acts
from .quant import intq
from .quant.shiftadd import dyadic_params, dyadic_requant, shift_add_gemm

UNCLAMPED = 2 ** 62
DYADIC_MIN_SCALE, DYADIC_MAX_SCALE = 2.0 ** -32, 2.0 ** 30   # c = 31 - e in 1..62
INT8_MIN, INT8_MAX = -128, 127


def groups_of(k, group_size):
    return -(-k // group_size)


def _padded_k(acts, weights, group_size):
    acts, weights = np.asarray(acts, dtype=np.int64), np.asarray(weights, dtype=np.int64)
    k = acts.shape[1]
    kp = groups_of(k, group_size) * group_size
    a = np.zeros((acts.shape[0], kp), dtype=np.int64)
    w = np.zeros((kp, weights.shape[1]), dtype=np.int64)
    a[:, :k], w[:k] = acts, weights
    return a, w


def shiftadd_gemm_int(acts, weights, *, weight_bits, weight_signed=False, acc_width=32):
    """acts M x K INT8, weights K x N B-bit codes -> M x N raw integers (shift-add, wrapped)."""
    acts, weights = np.asarray(acts), np.asarray(weights)
    return wrap_signed(shift_add_gemm(weights.T, acts, weight_bits, weight_signed).T, acc_width)


def _dyadic(x, b, c, qmin=-UNCLAMPED, qmax=UNCLAMPED):
    """HAWQ-V3 ``clamp((x*b + 2**(c-1)) >> c)`` through the golden ``dyadic_requant``."""
    scale = int(b) / 2 ** int(c)
    assert dyadic_params(scale) == (int(b), int(c)), (b, c)
    return dyadic_requant(np.asarray(x, dtype=np.int64), scale, qmin, qmax)


def group_dequant_int(acts, weights, params, *, weight_bits, weight_signed=False, acc_width=32):
    """The grouped design's integer output (M x N): see the module docstring."""
    if not isinstance(params, DequantParams):
        raise ValueError(f"params must be DequantParams, not {type(params).__name__}")
    acts, weights = np.asarray(acts, dtype=np.int64), np.asarray(weights, dtype=np.int64)
    (m, k), n = acts.shape, weights.shape[1]
    G = params.group_size
    ng = groups_of(k, G)
    if (params.groups, params.n) != (ng, n):
        raise ValueError(f"parameters are for {params.groups} groups x {params.n} columns, the GEMM "
                         f"has {ng} groups of {G} (K = {k}) x {n} columns")
    a, w = _padded_k(acts, weights, G)
    total = np.zeros((m, n), dtype=np.int64)
    for g in range(ng):
        sl = slice(g * G, (g + 1) * G)
        raw = shiftadd_gemm_int(a[:, sl], w[sl], weight_bits=weight_bits,
                                weight_signed=weight_signed, acc_width=acc_width)
        asum = wrap_signed(a[:, sl].sum(axis=1), acc_width)
        x = wrap_signed(raw - params.zero_point[g][None, :] * asum[:, None], acc_width)
        for col in range(n):
            total[:, col] += _dyadic(x[:, col], params.mult[g, col], params.shift[g, col])
        total = wrap_signed(total, acc_width)
    if not params.requant:
        return total
    out = np.empty_like(total)
    for col in range(n):
        out[:, col] = _dyadic(total[:, col], params.out_mult[col], params.out_shift[col],
                              INT8_MIN, INT8_MAX)
    return out


# ---------------------------------------------------------------------------------------------
# parameters


def _dyadic_grid(scales):
    """:func:`~models.quant.shiftadd.dyadic_params` of every (clipped) scale: (b, c) int64
    arrays. Element-wise in numpy with the same IEEE float64 steps (``frexp``; ``m * 2**31 + 0.5``
    is exact, as the scalar function's docstring says, so ``floor`` gives the same ``b``); a
    scale the scalar function refuses (NaN, or ``c`` out of range) goes through it, raising its
    error. tests/test_fast_paths2.py pins the two."""
    scales = np.clip(np.asarray(scales, dtype=np.float64), DYADIC_MIN_SCALE,
                     np.nextafter(DYADIC_MAX_SCALE, 0))
    m, e = np.frexp(scales)
    b = np.floor(m * 2.0 ** 31 + 0.5)
    c = 31 - e.astype(np.int64)
    carry = b == 2.0 ** 31
    b[carry], c[carry] = 2.0 ** 30, c[carry] - 1
    if not (np.all(np.isfinite(scales)) and np.all(scales > 0) and np.all((c >= 1) & (c <= 62))):
        pairs = np.array([dyadic_params(s) for s in scales.ravel()], dtype=np.int64).reshape(*scales.shape, 2)
        return pairs[..., 0], pairs[..., 1]
    return b.astype(np.int64), c


def output_headroom(k, group_size, weight_bits):
    """``h`` of the module docstring: the largest shift keeping the int32 total overflow-free."""
    kp = groups_of(k, group_size) * group_size
    bound = kp * 128 * ((1 << weight_bits) - 1)
    return max(0, math.floor(math.log2((2 ** 30 - 1) / bound))) if bound < 2 ** 30 else 0


def output_scale(act_scale, weight_scale, k, group_size, weight_bits):
    """``s_out`` of the module docstring."""
    h = output_headroom(k, group_size, weight_bits)
    return float(act_scale) * float(np.max(weight_scale)) / 2 ** h


def params_from_scales(act_scale, weight_scale, zero_point, group_size, out_scale, requant_scale=None):
    """DequantParams with ``(b, c) = dyadic(act_scale * weight_scale[g, n] / out_scale)`` (scales
    clipped to the dyadic range [2**-32, 2**30)) and, if ``requant_scale`` (per tensor, or (N,)) is
    given, ``(b_out, c_out) = dyadic(requant_scale)``."""
    weight_scale = np.asarray(weight_scale, dtype=np.float64)
    b, c = _dyadic_grid(float(act_scale) * weight_scale / float(out_scale))
    out_b = out_c = None
    if requant_scale is not None:
        out_b, out_c = _dyadic_grid(np.broadcast_to(requant_scale, weight_scale.shape[1:]))
    return DequantParams(group_size, np.asarray(zero_point, dtype=np.int64), b, c, out_b, out_c)


def default_params(k, n, pe, *, requant=False):
    """Reproducible pseudo-random parameters for a GEMM with K = ``k``, N = ``n`` on ``pe``
    (seeded by the shape and the PE options): see the module docstring."""
    G, B = pe.group_size, pe.weight_bits
    ng = groups_of(k, G)
    rng = np.random.default_rng([k, n, B, G, int(pe.weight_signed), int(requant)])
    zmax = 0 if pe.weight_signed else (1 << B) - 1
    z = rng.integers(0, zmax + 1, size=(ng, n))
    log2s = rng.uniform(-12, -2, size=(ng, n))
    log2s = np.where(rng.random((ng, n)) < 0.25, np.round(log2s), log2s)
    b, c = _dyadic_grid(2.0 ** log2s)
    out_b = out_c = None
    if requant:
        out_b, out_c = _dyadic_grid(2.0 ** rng.uniform(-4, 1, size=n))
    return DequantParams(G, z, b, c, out_b, out_c)


def requant_scale_for(acts, weights, params, pe):
    """The dynamic INT8 requantisation scale ``127 / max|y|`` of this GEMM (1 if y is all zero)."""
    y = group_dequant_int(acts, weights, dataclasses.replace(params, out_mult=None, out_shift=None),
                          weight_bits=pe.weight_bits, weight_signed=pe.weight_signed,
                          acc_width=pe.acc_width)
    peak = int(np.max(np.abs(y))) if y.size else 0
    return 127.0 / peak if peak else 1.0


def shiftadd_extra_operand(acts, weights, pe, a_meta=None, w_meta=None, *, requant=False):
    """The extra operand a shift-add design takes: None for the raw design (``group_size`` None),
    else DequantParams -- from the quantisers' metadata when given (module docstring), otherwise
    :func:`default_params`. ``requant`` adds the INT8 requantisation."""
    if pe.group_size is None:
        return None
    acts, weights = np.asarray(acts), np.asarray(weights)
    k, n = weights.shape
    if a_meta is None or w_meta is None:
        return default_params(k, n, pe, requant=requant)
    s_a, s_w, z = _scales(a_meta, w_meta, pe, k, n)
    s_out = output_scale(s_a, s_w, k, pe.group_size, pe.weight_bits)
    params = params_from_scales(s_a, s_w, z, pe.group_size, s_out)
    if requant:
        params = params_from_scales(s_a, s_w, z, pe.group_size, s_out,
                                    requant_scale_for(acts, weights, params, pe))
    return params


def _scales(a_meta, w_meta, pe, k, n):
    ng = groups_of(k, pe.group_size)
    if w_meta.get("group_size") != pe.group_size:
        raise ValueError(f"weights were quantised with group size {w_meta.get('group_size')}, "
                         f"the design uses {pe.group_size}")
    s_w = np.asarray(w_meta["scale"], dtype=np.float64).reshape(ng, n)
    z = np.asarray(w_meta["zero_point"], dtype=np.int64).reshape(ng, n)
    return float(a_meta["scale"][0]), s_w, z


# ---------------------------------------------------------------------------------------------
# registry functions


def shiftadd_golden(acts, weights, pe, extra=None):
    """``golden_gemm`` of the kind: the raw GEMM, or the grouped output for ``extra``
    (DequantParams; None = :func:`default_params`, what a run without parameters loads)."""
    kw = dict(weight_bits=pe.weight_bits, weight_signed=pe.weight_signed, acc_width=pe.acc_width)
    if pe.group_size is None:
        if extra is not None:
            raise ValueError("the raw shift-add design (group_size None) takes no parameters")
        return shiftadd_gemm_int(acts, weights, **kw)
    if extra is None:
        extra = default_params(np.shape(weights)[0], np.shape(weights)[1], pe)
    return group_dequant_int(acts, weights, extra, **kw)


def quantize_shiftadd_acts(x, pe):
    return _quantize_int8_acts(x, bits=8)


def quantize_shiftadd_weights(w, pe):
    """K x N floats -> unsigned INT-B codes, asymmetric per group of G along K per output column
    (per output column when ``group_size`` is None), with the scales and zero points."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"weights must be a 2-D K x N matrix, got shape {w.shape}")
    if pe.weight_signed:
        raise ValueError("the quantiser gives unsigned asymmetric codes; use weight_signed=False")
    k, n = w.shape
    G, B = pe.group_size, pe.weight_bits
    if G is None:
        qt = intq.quantize_int(w.T, B, symmetric=False, granularity="channel")
        codes, scale, zp = qt.codes.T, qt.scale[:, 0], qt.zero_point[:, 0]
        gran = "output channel (column of K x N)"
    else:
        kp = groups_of(k, G) * G
        padded = np.zeros((kp, n))
        padded[:k] = w
        qt = intq.quantize_int(padded.T, B, symmetric=False, granularity="group", group_size=G)
        codes, scale, zp = qt.codes.T[:k], qt.scale.T, qt.zero_point.T    # scale (groups, N)
        gran = f"group of {G} along K per output column (K zero-padded to {kp})"
    return codes.astype(np.int64), {
        "format": f"int{B}-asym", "granularity": gran, "group_size": G,
        "scale": np.asarray(scale).tolist(), "zero_point": np.asarray(zp).astype(int).tolist(),
        "dequantise": "value = (code - zero_point) * scale, per group (rows: groups, columns: N)"}


def shiftadd_dequantise(raw, acts, a_meta, w_meta, pe):
    """Float output: grouped design ``raw * s_out`` (``raw`` = the integer output for the parameters
    :func:`shiftadd_extra_operand` derives from the same metadata, without requantisation); raw
    design ``s_a * s_w[n] * (raw - z[n] * sum_k a)``."""
    acts = np.asarray(acts, dtype=np.int64)
    raw = np.asarray(raw, dtype=np.int64)
    if pe.group_size is None:
        s_w = np.asarray(w_meta["scale"], dtype=np.float64)
        z = np.asarray(w_meta["zero_point"], dtype=np.int64)
        asum = acts.sum(axis=1, keepdims=True)
        return a_meta["scale"][0] * s_w[None, :] * (raw - z[None, :] * asum)
    k, n = acts.shape[1], raw.shape[1]
    s_a, s_w, _ = _scales(a_meta, w_meta, pe, k, n)
    return raw * output_scale(s_a, s_w, k, pe.group_size, pe.weight_bits)
