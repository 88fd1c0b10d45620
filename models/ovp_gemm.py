"""Golden twin of the OVP PE array: the exact integer output from the codes, its dequantisation,
and the quantisers that turn float GEMM operands into the codes the array receives.

Codes (host side). The buffers of the OVP array hold stored pairs (:mod:`hw.ovp_decoder`): per
pair of K elements (2k, 2k+1) one byte (4-bit modes) or one 16-bit word (int8 mode). Host-side
element codes are the pair's halves: an M x K activation matrix and a K x N weight matrix hold one
unsigned nibble (0..15; int8 mode: byte 0..255) per element, and the pair of K elements
(2k, 2k+1) of a row of A / of a column of W is the stored pair ``code[2k] | code[2k+1] << N``
(:func:`pair_words`). An odd K is zero-padded by the array's layout, and code 0 is the normal
value 0, so the pad is a normal zero -- the golden model pads the same way.

Integer result (:func:`ovp_gemm_int`): the stored pairs go through
:func:`models.quant.ovp_format.decode_pairs` (normal -> <0, v>, victim -> <0, 0>, outlier ->
<e + bias, +-(2**M + m)>) and :func:`models.quant.ovp_format.ovp_gemm` (sum of ``(b*d) << (a+c)``),
then wrap to the accumulator width. Nothing here reads the RTL or :mod:`hw`.

Quantisers: activations per tensor, weights per output channel (column n of K x N), both with
OliVe's alpha search (:func:`models.quant.ovp.quantize_ovp`; pairs along K). Dequantisation:
``Out_float[m, n] = raw[m, n] * s_a * s_w[n]`` with the integer-unit scales in the meta.

Odd K: OliVe pairs need an even K. The quantiser pads one zero column, quantises, and drops it.
The lone last element has no partner slot in the codes (the layout's zero pad is a normal 0, not
a victim), so if it lands on the outlier grid it is re-quantised to the nearest NORMAL value
(nearest point, ties to the larger value, as within one OliVe grid).
"""

import functools

import numpy as np

from .golden import wrap_signed
from .intcodes import dequantize_scaled_output
from .quant import ovp, ovp_format

MODES = tuple(ovp_format.CONFIGS)     # "int4", "flint4", "int8"


def _cfg(mode):
    return ovp_format.get_config(mode)


def pair_words(codes, mode="int4"):
    """(rows, K) element codes -> (rows, ceil(K/2)) stored pairs (the bytes / 16-bit words the
    RTL's border decoders receive), an odd K zero-padded."""
    nb = _cfg(mode).bits
    codes = np.asarray(codes, dtype=np.int64)
    if codes.shape[-1] % 2:
        codes = np.concatenate([codes, np.zeros(codes.shape[:-1] + (1,), np.int64)], axis=-1)
    return codes[..., 0::2] | (codes[..., 1::2] << nb)


def split_pairs(words, mode="int4"):
    """Inverse of :func:`pair_words` (without the pad): (rows, P) pairs -> (rows, 2P) codes."""
    nb = _cfg(mode).bits
    words = np.asarray(words, dtype=np.int64)
    codes = np.empty(words.shape[:-1] + (2 * words.shape[-1],), dtype=np.int64)
    codes[..., 0::2] = words & ((1 << nb) - 1)
    codes[..., 1::2] = words >> nb
    return codes


def decode_codes(codes, mode="int4"):
    """(rows, K) element codes -> (e, i) exponent-integer arrays (rows, K even-padded)."""
    return ovp_format.decode_pairs(pair_words(codes, mode), mode)


@functools.lru_cache(maxsize=None)
def pair_value_table(mode="int4"):
    """(2**(2 * bits), 2) int64: the values ``i << e`` of both elements of every stored pair word,
    :func:`models.quant.ovp_format.decode_pairs` of each word (read-only)."""
    nb = _cfg(mode).bits
    e, i = ovp_format.decode_pairs(np.arange(1 << (2 * nb))[:, None], mode)
    table = i << e
    table.setflags(write=False)
    return table


@functools.lru_cache(maxsize=None)
def _pair_value_items(mode):
    """:func:`pair_value_table` with each word's two int64 values as one 16-byte item: a gather of
    whole items (``np.take``) copies the same bytes several times faster than indexing the rows."""
    return np.ascontiguousarray(pair_value_table(mode)).view(np.dtype((np.void, 16))).reshape(-1)


def pair_values(codes, mode="int4"):
    """(rows, K) element codes -> ``i << e`` of the decoded pairs (rows, K even-padded): what
    :func:`decode_codes` gives, one table lookup per pair instead of the element-wise decode
    (a pair's two values depend only on its word; tests/test_exact_speedups.py)."""
    words = pair_words(codes, mode)
    return np.take(_pair_value_items(mode), words).view(np.int64)


def ovp_gemm_exact(acts, weights, mode="int4"):
    """acts M x K codes, weights K x N codes -> exact M x N integers (int64, no wrap)."""
    acts, weights = np.asarray(acts), np.asarray(weights)
    if acts.ndim != 2 or weights.ndim != 2 or acts.shape[1] != weights.shape[0]:
        raise ValueError(f"shapes do not chain: acts {acts.shape} @ weights {weights.shape}")
    ea, ia = decode_codes(acts, mode)
    ew, iw = decode_codes(weights.T, mode)
    return ovp_format.ovp_gemm(ea, ia, ew, iw)


def ovp_gemm_int(acts, weights, *, mode="int4", acc_width=32):
    """The integers the OVP array produces: :func:`ovp_gemm_exact` wrapped to ``acc_width``."""
    return wrap_signed(ovp_gemm_exact(acts, weights, mode), acc_width)


# Float output from the raw integers: raw[m, n] * s_a * s_w[n] (integer-unit scales).
ovp_dequantise = dequantize_scaled_output


def _normal_codes(t, cfg):
    """Normalised float values -> (element code, integer value) on the normal grid only."""
    grid = np.asarray(cfg.normal_grid, dtype=np.float64)
    mids = (grid[:-1] + grid[1:]) / 2
    q = grid[np.searchsorted(mids, np.asarray(t, dtype=np.float64), side="right")]
    v = np.rint(q * cfg.unit).astype(np.int64)
    if cfg.normal == "int":
        code = v & ((1 << cfg.bits) - 1)
    else:
        code = np.where(v < 0, 1 << (cfg.bits - 1), 0) | np.searchsorted(np.asarray(cfg.flint_mags), np.abs(v))
    return code, v


def quantize_ovp_codes(x, mode="int4", per_channel=True, alpha=None, need_values=True):
    """(rows, K) floats, pairs along K -> (element codes (rows, K), integer values (rows, K),
    :class:`~models.quant.common.QuantizedTensor` of the even-padded tensor); without
    ``need_values`` the values are None (the quantisers keep only the codes: an int64 copy of
    every element spared)."""
    cfg = _cfg(mode)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"OVP operand must be 2-D, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("tensor holds NaN or inf values")
    k = x.shape[1]
    odd = k % 2 == 1
    xp = np.concatenate([x, np.zeros((x.shape[0], 1), np.float32)], axis=1) if odd else x
    qt = ovp.quantize_ovp(xp, cfg, alpha=alpha, per_channel=per_channel)
    codes = ovp_format.element_codes(qt)
    if codes.min(initial=0) < 0 or codes.max(initial=0) >> cfg.bits:
        # a code the stored pair would cut: the round trip through the stored pairs, as the array sees them
        codes = split_pairs(ovp_format.encode_pairs(qt), mode)
    values = qt.codes.astype(np.int64) if need_values else None
    if odd:
        lone = qt.meta["outlier"][:, k - 1]
        if lone.any():
            scale = (qt.meta["alpha"] / np.float32(cfg.normal_max)).astype(np.float32)
            t = x[:, k - 1:k] / np.broadcast_to(scale, (x.shape[0], 1))
            code, v = _normal_codes(t[:, 0], cfg)
            codes[lone, k - 1] = code[lone]
            if need_values:
                values[lone, k - 1] = v[lone]
        codes, values = codes[:, :k], (values[:, :k] if need_values else None)
    return codes, values, qt


def _meta(scale, alpha, codes, mode, granularity):
    cfg = _cfg(mode)
    codes = np.asarray(codes)
    # the count of stored pairs (pair_words' size, an odd K padded) without making them
    pairs = int(np.prod(codes.shape[:-1], dtype=np.int64)) * ((codes.shape[-1] + 1) // 2)
    victims = int(np.count_nonzero(codes == cfg.victim_code))
    return {
        "format": f"ovp-{cfg.name}", "granularity": granularity,
        "scale": np.ravel(scale).tolist(), "alpha": np.ravel(alpha).tolist(),
        "codes": (f"unsigned {cfg.bits}-bit element codes; K elements (2k, 2k+1) form one stored "
                  f"pair code[2k] | code[2k+1] << {cfg.bits} (the {'byte' if cfg.bits == 4 else 'word'} "
                  f"the RTL's border decoder receives); {cfg.victim_code:#x} marks the victim"),
        "pairs": pairs, "victims": victims,
        "dequantise": "value = (i << e) * scale with <e, i> = decode(pair); GEMM: raw * s_a * s_w[n]",
    }


def _lean_codes(x, mode, per_channel):
    """``(codes, scale, alpha)`` of :func:`quantize_ovp_codes` without its values: for an even K
    from one compiled pass (:func:`models.quant.ovp.quantize_ovp_element_codes`), the same codes."""
    cfg = _cfg(mode)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2 and x.shape[1] % 2 == 0 and np.all(np.isfinite(x)):
        codes, alpha, scale = ovp.quantize_ovp_element_codes(x, cfg, per_channel=per_channel)
        if codes.min(initial=0) >= 0 and not codes.max(initial=0) >> cfg.bits:
            return codes, scale, alpha
    # odd K, invalid input (its error) or a code the stored pair would cut: the full quantiser
    codes, _, qt = quantize_ovp_codes(x, mode, per_channel=per_channel, need_values=False)
    return codes, qt.scale, qt.meta["alpha"]


def quantize_ovp_acts(x, *, mode="int4"):
    """M x K floats -> OVP element codes (M x K), one alpha per tensor, and the meta."""
    codes, scale, alpha = _lean_codes(x, mode, per_channel=False)
    return codes, _meta(scale, alpha, codes, mode, "tensor")


def quantize_ovp_weights(w, *, mode="int4"):
    """K x N floats -> OVP element codes (K x N), one alpha per output channel (column), pairs
    along K, and the meta."""
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"weights must be a 2-D K x N matrix, got shape {w.shape}")
    codes, scale, alpha = _lean_codes(w.T, mode, per_channel=True)
    return codes.T, _meta(scale, alpha, codes, mode, "output channel (column of K x N)")


def dequantise_codes(codes, scale, mode="int4"):
    """(rows, K) element codes -> float values ``(i << e) * scale`` (scale per row or scalar)."""
    e, i = decode_codes(codes, mode)
    k = np.asarray(codes).shape[-1]
    return ((i << e)[:, :k]).astype(np.float64) * np.asarray(scale, dtype=np.float64).reshape(-1, 1)


# Fixed clipping ranges of the synthetic outlier operands: A ~ N(0, 1) with alpha 3 (the normal
# grid covers +-3, the outlier grid ~4.1 .. 41 for int4), W ~ N(0, 0.05^2) with alpha 0.15.
OUTLIER_ACT_ALPHA = 3.0
OUTLIER_WEIGHT_ALPHA = 0.15


def outlier_floats(rng, m, k, n, k_tile):
    """Gaussian float operands A (M x K) ~ N(0, 1) and W (K x N) ~ N(0, 0.05^2) with outliers
    (5..45 sigma) injected along K: in the element pairs (2p, 2p+1) on both sides of every k-tile
    edge (``k_tile`` K elements; p = t - 2 and p = t for every tile start t) each row of A / column
    of W gets, with probabilities 0.4 / 0.15 / 0.15 / 0.15 / 0.15, no outlier, a left outlier, a
    right outlier, two outliers with the larger on the right, or two with the larger on the left;
    plus 2 % outliers scattered anywhere."""
    def inject(x):                                   # (rows, K), pairs along the last axis
        rows = x.shape[0]
        starts = range(0, k + k_tile, k_tile)
        edges = sorted({p for t in starts for p in (t - 2, t) if 0 <= p < k - 1})
        big = lambda size: rng.choice([-1.0, 1.0], size) * rng.uniform(5, 45, size)
        for p in edges:
            pattern = rng.choice(5, size=rows, p=[0.4, 0.15, 0.15, 0.15, 0.15])
            left, right = big(rows), big(rows)
            lo = np.minimum(np.abs(left), np.abs(right))
            hi = np.maximum(np.abs(left), np.abs(right))
            left = np.where(pattern == 3, np.sign(left) * lo, np.where(pattern == 4, np.sign(left) * hi, left))
            right = np.where(pattern == 3, np.sign(right) * hi, np.where(pattern == 4, np.sign(right) * lo, right))
            x[:, p] = np.where(np.isin(pattern, (1, 3, 4)), left, x[:, p])
            x[:, p + 1] = np.where(np.isin(pattern, (2, 3, 4)), right, x[:, p + 1])
        scatter = rng.random(x.shape) < 0.02
        x[scatter] = big(int(scatter.sum()))
        return x
    acts = inject(rng.standard_normal((m, k)))
    weights = inject(rng.standard_normal((n, k))) * 0.05
    return acts, np.ascontiguousarray(weights.T)


def outlier_operands(rng, m, k, n, k_tile, mode="int4"):
    """OVP element codes of :func:`outlier_floats` (A M x K, W K x N), quantised with the fixed
    alphas above (not searched: the search would widen the range to swallow the outliers of such
    small, outlier-dense tensors), so every injected value lands on the outlier grid."""
    acts, weights = outlier_floats(rng, m, k, n, k_tile)
    a_codes, _, _ = quantize_ovp_codes(acts, mode, per_channel=False, alpha=OUTLIER_ACT_ALPHA,
                                      need_values=False)
    w_codes, _, _ = quantize_ovp_codes(weights.T, mode, per_channel=True, alpha=OUTLIER_WEIGHT_ALPHA,
                                      need_values=False)
    return a_codes, w_codes.T
