"""OliVe outlier-victim-pair (OVP) format (spec section 1): grids, the pair rule, codes.

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

The quantisation rule (reproduced bit-exactly by :func:`models.quant.ovp.quantize_ovp` given alpha):

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

The alpha search lives in :mod:`models.quant.ovp_search`, the quantiser in :mod:`models.quant.ovp`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..fast_quant import ovp_element_codes
from .common import LatticeTable, QuantizedTensor

__all__ = [
    "Config",
    "CONFIGS",
    "get_config",
    "encode_pairs",
    "decode_pairs",
    "ovp_mac",
    "ovp_gemm",
    "ovp_bits_per_element",
]


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



def _pair_victims_into(is_out: np.ndarray, vict: np.ndarray) -> None:
    """:func:`_pair_victims` of a C-contiguous 2-D mask, written into ``vict`` (same layout): each pair
    of bools is read as one little- or big-endian uint16 (bools are 0/1 bytes)."""
    if not (is_out.flags.c_contiguous and vict.flags.c_contiguous):
        vict[...] = _pair_victims(is_out)
        return
    w = is_out.view(np.uint16)
    left_shift, right_shift = (0, 8) if np.little_endian else (8, 0)
    left = (w >> np.uint16(left_shift)) & np.uint16(1)
    right = (w >> np.uint16(right_shift)) & np.uint16(1)
    v = vict.view(np.uint16)
    # left outlier -> right is the victim; else right outlier -> left is the victim
    right_vict = (right & (left ^ np.uint16(1))) << np.uint16(left_shift)
    np.bitwise_or(left << np.uint16(right_shift), right_vict, out=v)



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


def _value_codes(v: np.ndarray, cfg: Config):
    """Integer-unit values -> (normal code, outlier code) of each, element-wise (either may be
    meaningless for a value that is not of its kind)."""
    nb = cfg.bits
    if cfg.normal == "int":
        normal = v & ((1 << nb) - 1)
    else:
        mags = np.asarray(cfg.flint_mags)
        idx = np.searchsorted(mags, np.abs(v))
        normal = np.where(v < 0, 1 << (nb - 1), 0) | idx
    e, m = _outlier_fields(v, cfg)
    return normal, (np.where(v < 0, 1, 0) << (nb - 1)) | (e << cfg.mant_bits) | m


def element_codes(qt: QuantizedTensor) -> np.ndarray:
    """Element codes (int64, the tensor's shape) of an OVP tensor: victim code, outlier code or
    normal code. :func:`_value_codes` is element-wise, so it is evaluated once per distinct value
    in the tensor's range (a table) and looked up, instead of on every element."""
    cfg = get_config(qt.meta["mode"])
    v = np.asarray(qt.codes)
    is_out = np.asarray(qt.meta["outlier"])
    vict = np.asarray(qt.meta["victim"])
    lo = int(v.min(initial=0))
    # an outlier's fields of a non-outlier value are never used: as where the fields came from
    # np.where(is_out, v, 2**(M + bias + 1)), any value works for the non-outliers
    normal, outc = _value_codes(np.arange(lo, int(v.max(initial=0)) + 1), cfg)
    # one compiled pass of the lookups (models.fast_quant.ovp_element_codes; the numpy steps
    # stay as element_codes_numpy, the reference tests/test_fast_quick.py pins it to)
    return ovp_element_codes(v, is_out, vict, normal, outc, lo, cfg.victim_code)


def element_codes_numpy(qt: QuantizedTensor) -> np.ndarray:
    """:func:`element_codes` in numpy (the reference)."""
    cfg = get_config(qt.meta["mode"])
    v = qt.codes.astype(np.int64)
    is_out = np.asarray(qt.meta["outlier"])
    vict = np.asarray(qt.meta["victim"])
    lo = int(v.min(initial=0))
    normal, outc = _value_codes(np.arange(lo, int(v.max(initial=0)) + 1), cfg)
    index = v - lo
    code = np.where(is_out, np.take(outc, index), np.take(normal, index))
    np.copyto(code, cfg.victim_code, where=vict)
    return code


def encode_pairs(qt: QuantizedTensor) -> np.ndarray:
    """Stored form of an OVP tensor: uint8 (4-bit: one byte per pair) or uint16 (8-bit) per pair."""
    nb = get_config(qt.meta["mode"]).bits
    code = element_codes(qt)
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
