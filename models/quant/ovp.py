"""OliVe outlier-victim-pair (OVP) quantisation (spec section 1).

Grids are kept in the reference's *normalised units* (the value the scaled input is compared with)
and converted to *integer units* (what the hardware multiplies) with ``Config.unit``:

=========  ========================  ===============================  ======  ============
variant    normal grid (normalised)  outliers (normalised)            unit    bias
=========  ========================  ===============================  ======  ============
int4       4 * {-7..7}  (max 28)     +-{48,64,96,128,192,256,384}     1/4     2
flint4     +-{0,2,4,6,8,12,16,32}    same                             1/2     3
int8       {-127..127} / 4 (31.75)   +-2**(5+e) (1 + m/32), E2M5       4       2
=========  ========================  ===============================  ======  ============

In integer units an outlier is ``(2**M + m) * 2**(e + bias)`` (M = mantissa bits: 1 for 4-bit,
5 for 8-bit; e in 0..3; the point e = 0, m = 0 is excluded); e.g. int4: {12, 16, 24, ..., 96},
flint4: {24, ..., 192}.  The 8-bit variant follows the authors' code (E2M5 outlier grid, int normals
only: the code forces int for > 6 bits), not the E4M3 of a summary.

Quantisation (reproduces ``olive_*`` reference vectors bit-exactly given their alpha):

1. ``scale = alpha / max(normal grid)`` (float32; alpha per output channel for weights, per
   tensor for activations); ``t = x / scale`` (float32).
2. ``t`` goes to the nearest point of ``normal grid U outlier grid``; a tie goes to the LATER entry
   of the concatenation ``[sorted normal grid, sorted outlier grid]`` (the reference scans that list
   with ``<=``): between two points of one grid the larger value wins; on the normal/outlier border
   the outlier wins (for negative values too).
3. Pairs ``(2k, 2k+1)`` along the last axis (K must be even): an element is an outlier if
   ``|q| > max(normal)``.  Left outlier -> right is the victim (0); else right outlier -> left is the
   victim.  Two outliers: the LEFT is kept (the code's rule, not the paper summary's "larger").
4. ``fake_quant`` reproduces the reference's straight-through arithmetic
   ``((q - t) + t) * scale`` in float32; :meth:`QuantizedTensor.dequantize` returns ``q * scale``
   (differs by at most an ulp).

Alpha search (``search_alpha``): ``x_max = max(|mu + 3 sigma|, |mu - 3 sigma|)`` (sigma unbiased),
candidates ``alpha = x_max * float32(i * 0.01)`` for i = 75, 77, ..., 149 (float32), keep the
strictly smaller MSE (the first minimum in candidate order).  Per row for weights, per tensor for
activations.  Per row, mu and the MSE are float32 means summed in PyTorch's order
(:func:`rowsum_f32_vec8x4`), which reproduces the reference's alphas bit-exactly for its K = 256;
the per-tensor (activation) search scores in float64.

Stored form (``encode_pairs``): one byte per pair for 4-bit (low nibble = left element 2k, high
nibble = right element 2k+1), one 16-bit word per pair for 8-bit (low byte = left).  Normal int
values are two's complement (-8 / -128 never occur); flint4 normals are sign + 3-bit magnitude
index into {0,1,2,3,4,6,8,16} (ANT's monotone flint code).  The victim holds the identifier
``1000`` (``0x80`` for 8-bit); the outlier holds abfloat ``s e1 e0 m`` (``s e1 e0 m4..m0``).  The
identifier can never be a normal code (int -8 / flint -0 are freed) nor an outlier code (e=0, m=0
is excluded), so decoding is unambiguous.

Decoder (``decode_pairs``) emits exponent-integer pairs ``<e, i>`` per element: normal -> <0, v>,
victim -> <0, 0>, outlier -> <e + bias, +-(2**M + m)>; ``ovp_gemm`` multiplies them with
``<a, b> x <c, d> = <a + c, b * d>`` and accumulates ``(b * d) << (a + c)`` exactly (int64).
Only signed grids are modelled (the code's unsigned activation grid is not).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import LatticeTable, QuantizedTensor, as_float_2d

__all__ = [
    "Config",
    "CONFIGS",
    "get_config",
    "quantize_ovp",
    "fake_quant_ovp",
    "search_alpha",
    "x_max_3sigma",
    "encode_pairs",
    "decode_pairs",
    "ovp_mac",
    "ovp_gemm",
    "ovp_bits_per_element",
    "ALPHA_RATIOS",
]

ALPHA_RATIOS = tuple(range(75, 150, 2))  # i in 75, 77, ..., 149 (percent of x_max)


@dataclass(frozen=True)
class Config:
    name: str
    bits: int  # bits per element (4 or 8)
    normal: str  # "int" or "flint"
    normal_grid: tuple[float, ...]  # sorted, normalised units
    mant_bits: int  # outlier mantissa bits M
    unit: float  # integer units = normalised * unit
    flint_mags: tuple[int, ...] = ()

    @property
    def normal_max(self) -> float:
        return float(max(self.normal_grid))

    @property
    def bias(self) -> int:
        return int(5 - self.mant_bits + np.log2(self.unit))

    @property
    def outlier_grid(self) -> tuple[float, ...]:
        m = 2 ** self.mant_bits
        vals = [2.0 ** (5 + e) * (1 + j / m) for e in range(4) for j in range(m) if not (e == 0 and j == 0)]
        return tuple(sorted([-v for v in vals] + vals))

    @property
    def victim_code(self) -> int:
        return 1 << (self.bits - 1)


def _int_grid(bits: int) -> tuple[float, ...]:
    n = 2 ** (bits - 1) - 1
    return tuple(float(v) * 32.0 / 2 ** (bits - 1) for v in range(-n, n + 1))


_FLINT4_MAGS = (0, 1, 2, 3, 4, 6, 8, 16)
CONFIGS: dict[str, Config] = {
    "int4": Config("int4", 4, "int", _int_grid(4), 1, 0.25),
    "flint4": Config("flint4", 4, "flint",
                     tuple(sorted(set([-2.0 * v for v in _FLINT4_MAGS] + [2.0 * v for v in _FLINT4_MAGS]))),
                     1, 0.5, _FLINT4_MAGS),
    "int8": Config("int8", 8, "int", _int_grid(8), 5, 4.0),
}


def get_config(mode: str | Config) -> Config:
    if isinstance(mode, Config):
        return mode
    if mode not in CONFIGS:
        raise ValueError(f"unsupported OVP mode {mode!r}: known {sorted(CONFIGS)}")
    return CONFIGS[mode]


class _Grid:
    """Nearest-point lookup on the union grid with the reference's tie rule (ties -> later entry)."""

    def __init__(self, cfg: Config):
        normal = np.asarray(cfg.normal_grid, dtype=np.float64)
        outl = np.asarray(cfg.outlier_grid, dtype=np.float64)
        concat = np.concatenate([normal, outl])
        order = np.argsort(concat, kind="stable")
        self.values = concat[order]
        pos = order  # position in the concatenated list
        self.mids = (self.values[:-1] + self.values[1:]) / 2.0
        # at a tie between values[j] and values[j+1] go DOWN if values[j] comes later in the concat list
        self.tie_down = pos[:-1] > pos[1:]
        self.tie_down_mids = self.mids[self.tie_down]

        self.table = LatticeTable(self.mids, self.nearest_search)

    def nearest_search(self, t: np.ndarray) -> np.ndarray:
        """Reference implementation (binary search over the midpoints)."""
        t64 = np.asarray(t, dtype=np.float64)
        idx = np.searchsorted(self.mids, t64, side="right")  # ties go up
        if self.tie_down_mids.size:
            idx = idx - np.isin(t64, self.tie_down_mids)
        return self.values[idx]

    def nearest(self, t: np.ndarray) -> np.ndarray:
        """Nearest grid value (float32) of float32 ``t`` via the lattice table (same result as the search)."""
        return self.table(t)


_GRIDS: dict[str, _Grid] = {}


def _grid(cfg: Config) -> _Grid:
    if cfg.name not in _GRIDS:
        _GRIDS[cfg.name] = _Grid(cfg)
    return _GRIDS[cfg.name]


def _pair_victims(is_out: np.ndarray) -> np.ndarray:
    """Victim mask for pairs (2k, 2k+1) along the last axis (left outlier wins)."""
    left = is_out[..., 0::2]
    right = is_out[..., 1::2]
    vict = np.empty_like(is_out)
    vict[..., 1::2] = left  # left outlier -> right is the victim
    vict[..., 0::2] = right & ~left  # else right outlier -> left is the victim
    return vict


def _quant_normalised(t: np.ndarray, cfg: Config):
    """Grid + pair rule on normalised float32 ``t``; returns (q, is_outlier, is_victim)."""
    q = _grid(cfg).nearest(t)
    is_out = np.abs(q) > np.float32(cfg.normal_max)
    vict = _pair_victims(is_out)
    q = np.where(vict, np.float32(0.0), q)
    return q, is_out & ~vict, vict


def _check_even(x: np.ndarray) -> None:
    if x.shape[-1] % 2 != 0:
        raise ValueError(f"OVP pairs need an even last axis (K), got K={x.shape[-1]}")


def _alpha_array(alpha, rows: int, per_channel: bool) -> np.ndarray:
    a = np.asarray(alpha, dtype=np.float32)
    if per_channel:
        if a.size == 1:
            a = np.full((rows, 1), a.reshape(()), dtype=np.float32)
        a = a.reshape(rows, 1)
    else:
        if a.size != 1:
            raise ValueError(f"per-tensor OVP needs a scalar alpha, got shape {a.shape}")
        a = a.reshape(1, 1)
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError("alpha must be finite and positive")
    return a


def _fake_quant_f32(x32: np.ndarray, alpha32: np.ndarray, cfg: Config):
    """Reference float32 arithmetic: returns (fake-quantised, q normalised, outlier mask, victim mask)."""
    scale = alpha32 / np.float32(cfg.normal_max)
    t = x32 / scale
    q, is_out, vict = _quant_normalised(t, cfg)
    q32 = q.astype(np.float32)
    out = ((q32 - t) + t) * scale
    return out, q32, is_out, vict, scale


def rowsum_f32_vec8x4(a: np.ndarray) -> np.ndarray:
    """Float32 row sums in the order of PyTorch's vectorised CPU reduction (AVX2 build).

    Four 8-lane float32 accumulators walk the row in steps of 32 elements; then the four vectors
    are added in sequence and the 8 lanes are added in sequence; a ragged tail (K % 32) is added
    last, in sequence.  This order makes the float32 row mean (hence x_max and the alpha
    candidates) identical to the reference's for K = 256; for other K it is only an approximation
    of PyTorch's order (which also cascades very long rows), i.e. alpha may differ in the last ulp.
    """
    a = np.ascontiguousarray(a, dtype=np.float32)
    rows, k = a.shape
    main = (k // 32) * 32
    acc = np.add.reduce(a[:, :main].reshape(rows, -1, 32), axis=1, dtype=np.float32) if main else \
        np.zeros((rows, 32), np.float32)
    # explicit adds (not np.add.reduce, whose order numpy may change with the memory layout)
    v = acc[:, 0:8]
    for j in (1, 2, 3):
        v = v + acc[:, 8 * j:8 * j + 8]
    s = v[:, 0]
    for lane in range(1, 8):
        s = s + v[:, lane]
    for j in range(main, k):
        s = s + a[:, j]
    return s


def _sq_error_rows(xc: np.ndarray, scale: np.ndarray, cfg: Config) -> np.ndarray:
    """Per-row float32 sum of squared errors of the reference fake quantisation of ``xc``.

    Same arithmetic as :func:`_fake_quant_f32` (bit-identical result), written in place on one
    buffer for the alpha search's inner loop.
    """
    t = xc / scale
    q = _grid(cfg).nearest(t)
    qp = q.reshape(q.shape[0], -1, 2)
    nm = np.float32(cfg.normal_max)
    left_out = np.abs(qp[..., 0]) > nm
    right_out = np.abs(qp[..., 1]) > nm
    np.copyto(qp[..., 1], np.float32(0.0), where=left_out)  # left outlier -> right victim
    right_out &= ~left_out
    np.copyto(qp[..., 0], np.float32(0.0), where=right_out)  # else right outlier -> left victim
    q -= t  # ((q - t) + t) * scale, as the reference's straight-through expression
    q += t
    q *= scale
    q -= xc
    q *= q
    return rowsum_f32_vec8x4(q)


def x_max_3sigma(x: np.ndarray, per_channel: bool = True) -> np.ndarray:
    """``max(|mu + 3 sigma|, |mu - 3 sigma|)`` per row (or per tensor) in float32.

    mu: float32 mean with PyTorch's summation order (:func:`rowsum_f32_vec8x4`), sigma: unbiased,
    accumulated in float64 and rounded to float32 (PyTorch's CPU std accumulates in double).
    """
    x32 = np.asarray(x, dtype=np.float32)
    x64 = x32.astype(np.float64)
    if per_channel:
        mu = (rowsum_f32_vec8x4(x32) / np.float32(x32.shape[1])).reshape(-1, 1)
        sd = x64.std(axis=1, ddof=1, keepdims=True)
    else:
        mu = (rowsum_f32_vec8x4(x32.reshape(1, -1)) / np.float32(x32.size)).reshape(1, 1)
        sd = np.asarray(x64.std(ddof=1)).reshape(1, 1)
    mu = mu.astype(np.float32)
    sd = sd.astype(np.float32)
    three = np.float32(3.0)
    return np.maximum(np.abs(mu + three * sd), np.abs(mu - three * sd))


def search_alpha(x, mode: str = "int4", per_channel: bool = True, chunk_elems: int = 1 << 16):
    """OliVe's MSE alpha search; returns (alpha (rows,1) or (1,1) float32, best MSE per row/tensor).

    Rows are processed in chunks (per-channel search is row-independent), which keeps the working
    set in cache; the per-tensor search sums the squared error over all chunks.
    """
    cfg = get_config(mode)
    x32 = as_float_2d(x, dtype=np.float32)
    _check_even(x32)
    rows, k = x32.shape
    xmax = x_max_3sigma(x32, per_channel)
    if np.any(xmax <= 0):
        xmax = np.where(xmax > 0, xmax, np.float32(1.0))
    ratios = [np.float32(i * 0.01) for i in ALPHA_RATIOS]
    step = max(1, chunk_elems // k)
    sse = np.zeros((len(ratios), rows), dtype=np.float64)
    for r0 in range(0, rows, step):
        xc = x32[r0:r0 + step]
        for ci, ratio in enumerate(ratios):
            a = (xmax if per_channel else np.broadcast_to(xmax, (1, 1))) * ratio
            a = a[r0:r0 + step] if per_channel else a
            sc = a.astype(np.float32) / np.float32(cfg.normal_max)
            if per_channel:  # the reference's float32 score, same summation order
                sse[ci, r0:r0 + step] = _sq_error_rows(xc, sc, cfg)
            else:
                out, *_ = _fake_quant_f32(xc, a.astype(np.float32), cfg)
                d = (out - xc).astype(np.float64)
                sse[ci, r0:r0 + step] = np.einsum("ij,ij->i", d, d)
    if per_channel:
        mse = (sse.astype(np.float32) / np.float32(k)).astype(np.float64)
        best = np.argmin(mse, axis=0)  # first minimum = strict '<' update in candidate order
        alpha = (xmax[:, 0] * np.asarray(ratios, dtype=np.float32)[best]).astype(np.float32)
        return alpha.reshape(rows, 1), mse[best, np.arange(rows)]
    mse = sse.sum(axis=1) / x32.size
    best = int(np.argmin(mse))
    return (xmax * ratios[best]).astype(np.float32).reshape(1, 1), np.asarray([mse[best]])


def quantize_ovp(x, mode: str = "int4", alpha=None, per_channel: bool = True) -> QuantizedTensor:
    """OVP-quantise a 2-D array (rows = output channels for weights).

    ``alpha=None`` runs :func:`search_alpha`.  Codes are the integer-unit values (int16); the
    stored pair bytes are ``encode_pairs(qt)``; ``meta`` holds alpha, outlier / victim masks and
    the float32 reference fake-quantised result (``meta["fake_quant"]``).
    """
    cfg = get_config(mode)
    x32 = as_float_2d(x, dtype=np.float32)
    _check_even(x32)
    rows = x32.shape[0]
    if alpha is None:
        alpha, _ = search_alpha(x32, cfg, per_channel)
    a = _alpha_array(alpha, rows, per_channel)
    out, q32, is_out, vict, scale = _fake_quant_f32(x32, a, cfg)
    ints = np.rint(q32.astype(np.float64) * cfg.unit).astype(np.int16)
    unit_scale = (scale.astype(np.float64) / cfg.unit)

    def _dec(qt: QuantizedTensor) -> np.ndarray:
        return qt.codes.astype(np.float64) * qt.scale

    return QuantizedTensor(codes=ints, scale=unit_scale, kind=f"ovp-{cfg.name}", decoder=_dec,
                           meta={"mode": cfg.name, "alpha": a, "outlier": is_out, "victim": vict,
                                 "fake_quant": out, "per_channel": per_channel})


def fake_quant_ovp(x, mode: str = "int4", alpha=None, per_channel: bool = True) -> np.ndarray:
    """The reference's fake-quantised float32 tensor (bit-exact given the same alpha)."""
    return quantize_ovp(x, mode, alpha, per_channel).meta["fake_quant"]


def ovp_bits_per_element(mode: str = "int4") -> float:
    """OVP stores exactly ``bits`` per element (victims are free); the per-row scale is ignored."""
    return float(get_config(mode).bits)


# ---------------------------------------------------------------------------------------------
# Encoding, decoding, exponent-integer MAC
# ---------------------------------------------------------------------------------------------
def _outlier_fields(v: np.ndarray, cfg: Config):
    """Integer-unit outlier magnitude -> (e, m) with |v| = (2**M + m) << (e + bias)."""
    a = np.abs(v).astype(np.int64)
    big = 2 ** cfg.mant_bits
    e = np.zeros_like(a)
    for ee in range(4):  # at most four exponents: small fixed loop, vectorised over elements
        lo = big << (ee + cfg.bias)
        e = np.where(a >= lo, ee, e)
    m = (a >> (e + cfg.bias)) - big
    return e, m


def encode_pairs(qt: QuantizedTensor) -> np.ndarray:
    """Stored form of an OVP tensor: uint8 (4-bit: one byte per pair) or uint16 (8-bit) per pair."""
    cfg = get_config(qt.meta["mode"])
    v = qt.codes.astype(np.int64)
    is_out = np.asarray(qt.meta["outlier"])
    vict = np.asarray(qt.meta["victim"])
    nb = cfg.bits
    mask = (1 << nb) - 1
    if cfg.normal == "int":
        normal = v & mask
    else:
        mags = np.asarray(cfg.flint_mags)
        idx = np.searchsorted(mags, np.abs(v))
        normal = np.where(v < 0, 1 << (nb - 1), 0) | idx
    e, m = _outlier_fields(np.where(is_out, v, 1 << (cfg.mant_bits + cfg.bias + 1)), cfg)
    outc = (np.where(v < 0, 1, 0) << (nb - 1)) | (e << cfg.mant_bits) | m
    code = np.where(vict, cfg.victim_code, np.where(is_out, outc, normal)).astype(np.int64)
    word = code[..., 0::2] | (code[..., 1::2] << nb)
    return word.astype(np.uint8 if nb == 4 else np.uint16)


def decode_pairs(words: np.ndarray, mode: str = "int4"):
    """Decode stored pairs into exponent-integer pairs ``(e, i)``, each int64 of shape (..., 2*pairs).

    normal -> <0, v>; victim -> <0, 0>; outlier (the partner of a victim) -> <e + bias, +-(2**M + m)>.
    """
    cfg = get_config(mode)
    nb = cfg.bits
    w = np.asarray(words).astype(np.int64)
    mask = (1 << nb) - 1
    codes = np.empty(w.shape[:-1] + (2 * w.shape[-1],), dtype=np.int64)
    codes[..., 0::2] = w & mask
    codes[..., 1::2] = (w >> nb) & mask
    is_vict = codes == cfg.victim_code
    partner = np.empty_like(is_vict)
    partner[..., 0::2] = is_vict[..., 1::2]
    partner[..., 1::2] = is_vict[..., 0::2]
    is_out = partner & ~is_vict
    sign = np.where((codes >> (nb - 1)) & 1, -1, 1)
    if cfg.normal == "int":
        normal_v = np.where(codes >= (1 << (nb - 1)), codes - (1 << nb), codes)
    else:
        normal_v = sign * np.asarray(cfg.flint_mags)[codes & ((1 << (nb - 1)) - 1)]
    ef = (codes >> cfg.mant_bits) & 3
    mf = codes & ((1 << cfg.mant_bits) - 1)
    out_i = sign * ((1 << cfg.mant_bits) + mf)
    e = np.where(is_out, ef + cfg.bias, 0)
    i = np.where(is_out, out_i, np.where(is_vict, 0, normal_v))
    return e.astype(np.int64), i.astype(np.int64)


def ovp_mac(a, b, c, d):
    """Exponent-integer product ``<a, b> x <c, d> = <a + c, b * d>``."""
    return np.add(a, c), np.multiply(b, d)


def ovp_gemm(ea, ia, ew, iw) -> np.ndarray:
    """Exact integer GEMM from decoded pairs: ``Y[m, n] = sum_k (ia*iw) << (ea + ew)`` (int64).

    ``(ea, ia)``: activations (M, K); ``(ew, iw)``: weights (N, K).  Evaluated per pair of exponent
    values (a handful): for each (p, r), ``((ia * [ea == p]) @ (iw * [ew == r]).T) << (p + r)``,
    which is the same sum of shifted 4b x 4b products regrouped by shift amount.
    """
    ea, ia, ew, iw = (np.asarray(t, dtype=np.int64) for t in (ea, ia, ew, iw))
    if ia.ndim != 2 or iw.ndim != 2 or ia.shape[1] != iw.shape[1]:
        raise ValueError(f"ovp_gemm needs (M, K) and (N, K) operands, got {ia.shape} and {iw.shape}")
    y = np.zeros((ia.shape[0], iw.shape[0]), dtype=np.int64)
    for p in np.unique(ea):
        bp = np.where(ea == p, ia, 0)
        for r in np.unique(ew):
            dr = np.where(ew == r, iw, 0)
            y += (bp @ dr.T) << int(p + r)  # <p, b> x <r, d> = <p + r, b * d>, summed over k
    return y
