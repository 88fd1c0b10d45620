"""OliVe outlier-victim-pair (OVP) quantisation (spec section 1): float tensors -> OVP codes.

Quantisation follows the format's rule (:mod:`models.quant.ovp_format`: scale, nearest grid
point with the reference's ties, the pair rule, the straight-through float32 arithmetic) and
reproduces the ``olive_*`` reference vectors bit-exactly given their alpha; the fast path
(:func:`_nearest_union`) gives the grid's result with the alpha search's dense rule.

The format itself (grids, ties, the pair rule, the stored pairs, the exponent-integer decoder and
GEMM) is :mod:`models.quant.ovp_format`; the alpha search (``alpha=None``) is
:mod:`models.quant.ovp_search`.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import fast_ovp_pairs
from .common import QuantizedTensor, as_float_2d
from .ovp_format import Config, _alpha_array, _check_even, _grid, _pair_victims_into, _value_codes, get_config
from .ovp_search import _dense, _search_alpha, _uniform_level

__all__ = ["quantize_ovp", "fake_quant_ovp", "quantize_ovp_element_codes"]


_QUANT_CHUNK_ELEMS = 1 << 16


def _nearest_union(t: np.ndarray, cfg: Config) -> np.ndarray:
    """``_grid(cfg).nearest(t)`` (float32 ``t``), up to the sign of a zero result.

    ``|t| < t_out``: the dense rule of :class:`_Dense` in ``t`` units (uniform grids: clipped
    ``floor(2 t / D)``, ``2 / D`` a power of two; other grids: a table over ``floor(t / h)``);
    ``|t| >= t_out`` (outliers, rare): the lattice table.  A zero may come out as -0.0 where the
    table gives +0.0; every use below (``(q - t) + t``, ``|q|``, ``rint(q * unit)``) is blind to it.
    """
    dn = _dense(cfg)
    if dn.uniform:
        q = _uniform_level(t, dn)
    else:
        f = t * np.float32(1.0 / dn.h)
        np.floor(f, out=f)
        np.clip(f, -dn.F, dn.F - 1, out=f)
        f += np.float32(dn.F)
        q = np.take(dn.q_of_f, f.astype(np.intp))
    # a boolean mask, not flat indices into q.reshape(-1): that is a copy (the write is lost)
    # whenever t is not C-contiguous
    big = np.abs(t) >= dn.t_out
    if big.any():
        q[big] = _grid(cfg).nearest(t[big])
    return q



def _quantize_block(xc, scale, cfg: Config, out, ints, is_out, vict) -> None:
    """:func:`_fake_quant_f32` of a row block plus the integer codes, written into the given slices."""
    t = xc / scale
    q = _nearest_union(t, cfg)
    out_mask = np.abs(q) > np.float32(cfg.normal_max)
    _pair_victims_into(out_mask, vict)
    np.copyto(q, np.float32(0.0), where=vict)
    np.logical_and(out_mask, ~vict, out=is_out)
    # integer codes: q * unit is an exact integer in float32 too (unit a power of two), so this is
    # rint(float64(q) * unit) of the reference
    c = q * np.float32(cfg.unit)
    np.rint(c, out=c)
    np.copyto(ints, c.astype(np.int32), casting="unsafe")
    np.subtract(q, t, out=q)  # ((q - t) + t) * scale, the reference's straight-through arithmetic
    q += t
    np.multiply(q, scale, out=out)


def quantize_ovp(x, mode: str = "int4", alpha=None, per_channel: bool = True) -> QuantizedTensor:
    """OVP-quantise a 2-D array (rows = output channels for weights).

    ``alpha=None`` runs :func:`search_alpha`.  Codes are the integer-unit values (int16); the
    stored pair bytes are ``encode_pairs(qt)``; ``meta`` holds alpha, outlier / victim masks and
    the float32 reference fake-quantised result (``meta["fake_quant"]``).
    """
    cfg = get_config(mode)
    x32 = np.ascontiguousarray(as_float_2d(x, dtype=np.float32))  # the block loops assume C order
    _check_even(x32)
    rows = x32.shape[0]
    if alpha is None:
        alpha, _ = _search_alpha(x32, cfg, per_channel, need_mse=False)   # only alpha is kept
    a = _alpha_array(alpha, rows, per_channel)
    scale = a / np.float32(cfg.normal_max)
    k = x32.shape[1]
    out = np.empty(x32.shape, dtype=np.float32)
    ints = np.empty(x32.shape, dtype=np.int16)
    is_out = np.empty(x32.shape, dtype=bool)
    vict = np.empty(x32.shape, dtype=bool)
    step = max(1, _QUANT_CHUNK_ELEMS // k)  # row blocks (element-wise arithmetic: same values)
    for r0 in range(0, rows, step):
        sl = slice(r0, r0 + step)
        sc = scale[sl] if per_channel else scale
        _quantize_block(x32[sl], sc, cfg, out[sl], ints[sl], is_out[sl], vict[sl])
    unit_scale = (scale.astype(np.float64) / cfg.unit)

    def _dec(qt: QuantizedTensor) -> np.ndarray:
        return qt.codes.astype(np.float64) * qt.scale

    return QuantizedTensor(codes=ints, scale=unit_scale, kind=f"ovp-{cfg.name}", decoder=_dec,
                           meta={"mode": cfg.name, "alpha": a, "outlier": is_out, "victim": vict,
                                 "fake_quant": out, "per_channel": per_channel})


def fake_quant_ovp(x, mode: str = "int4", alpha=None, per_channel: bool = True) -> np.ndarray:
    """The reference's fake-quantised float32 tensor (bit-exact given the same alpha)."""
    return quantize_ovp(x, mode, alpha, per_channel).meta["fake_quant"]


@functools.cache
def _code_tables(mode: str):
    """``(v_lo, normal, outlier)``: the normal and outlier element code (int64) of every
    integer-unit value from ``v_lo`` to ``-v_lo`` (the grid's largest magnitude), read-only."""
    cfg = get_config(mode)
    top = int(round(max(abs(v) for v in cfg.outlier_grid) * cfg.unit))
    normal, outc = (np.ascontiguousarray(t, dtype=np.int64) for t in _value_codes(np.arange(-top, top + 1), cfg))
    normal.setflags(write=False)
    outc.setflags(write=False)
    return -top, normal, outc


def quantize_ovp_element_codes(x, mode: str = "int4", alpha=None, per_channel: bool = True):
    """``(codes, alpha, scale)``: the element codes (int64) of :func:`quantize_ovp` followed by
    :func:`models.quant.ovp_format.element_codes`, its alpha (float32, ``(rows, 1)`` or ``(1, 1)``)
    and integer-unit scale (float64, as ``QuantizedTensor.scale``), from one compiled pass
    (:func:`models.fast_ovp_pairs.element_codes`: the grid's value by the lattice table, the pair
    rule and the code tables, per element) instead of the float32 fake-quantised tensor, the
    integer values, both masks and the lookups; ``tests/test_fast_ovp_pairs.py`` pins the codes."""
    cfg = get_config(mode)
    x32 = np.ascontiguousarray(as_float_2d(x, dtype=np.float32))  # the kernels read C order
    _check_even(x32)
    if alpha is None:
        alpha, _ = _search_alpha(x32, cfg, per_channel, need_mse=False)
    a = _alpha_array(alpha, x32.shape[0], per_channel)
    scale = a / np.float32(cfg.normal_max)
    v_lo, normal, outc = _code_tables(cfg.name)
    codes = fast_ovp_pairs.element_codes(x32, scale, _grid(cfg).table, cfg.normal_max, cfg.unit, v_lo, normal,
                                         outc, cfg.victim_code)
    return codes, a, scale.astype(np.float64) / cfg.unit
