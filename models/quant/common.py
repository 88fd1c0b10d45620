"""Shared helpers for the quantisation golden models.

Everything here is pure numpy.  Validation helpers raise :class:`ValueError` with a
one-line message that names the problem (NaN/inf input, wrong ndim, unsupported bit
width, group size that does not divide K, ...), so callers and tests can match on it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

__all__ = [
    "QuantizedTensor",
    "as_float_2d",
    "check_bits",
    "check_group",
    "check_finite",
    "relative_error",
    "sqnr_db",
    "mse",
    "division_thresholds",
]


def check_finite(x: np.ndarray, name: str = "x") -> None:
    """Raise ValueError if ``x`` holds NaN or +-inf."""
    if not np.all(np.isfinite(x)):
        n_nan = int(np.count_nonzero(np.isnan(x)))
        n_inf = int(np.count_nonzero(np.isinf(x)))
        raise ValueError(f"{name} must be finite: found {n_nan} NaN and {n_inf} inf value(s)")


def as_float_2d(x: Any, name: str = "x", dtype: Any = np.float64) -> np.ndarray:
    """Convert ``x`` to a finite 2-D float array of ``dtype`` (validating ndim, size and finiteness)."""
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (out, in), got ndim={a.ndim} with shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} must be non-empty, got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    a = a.astype(dtype, copy=False)
    check_finite(a, name)
    return a


def check_bits(bits: Any, allowed: Any, what: str = "bits") -> int:
    """Return ``bits`` as int if it is one of ``allowed`` (an iterable of ints), else raise."""
    allowed = tuple(allowed)
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or int(bits) not in allowed:
        raise ValueError(f"unsupported {what}={bits!r}: supported values are {list(allowed)}")
    return int(bits)


def check_group(k: int, group_size: Any) -> int:
    """Validate a group size along K (must be a positive int dividing ``k``)."""
    if isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer)) or int(group_size) <= 0:
        raise ValueError(f"group_size must be a positive integer, got {group_size!r}")
    g = int(group_size)
    if k % g != 0:
        raise ValueError(f"group_size={g} does not divide K={k} (last axis)")
    return g


def mse(x: np.ndarray, xq: np.ndarray) -> float:
    d = np.asarray(x, dtype=np.float64) - np.asarray(xq, dtype=np.float64)
    return float(np.mean(d * d))


def relative_error(x: Any, xq: Any) -> float:
    """Relative Frobenius error ``||x - xq||_F / ||x||_F`` (computed in float64)."""
    x = np.asarray(x, dtype=np.float64)
    xq = np.asarray(xq, dtype=np.float64)
    if x.shape != xq.shape:
        raise ValueError(f"shape mismatch: x {x.shape} vs xq {xq.shape}")
    den = np.linalg.norm(x.ravel())
    if den == 0.0:
        raise ValueError("relative_error undefined: ||x||_F is zero")
    return float(np.linalg.norm((x - xq).ravel()) / den)


def sqnr_db(x: Any, xq: Any) -> float:
    """Signal-to-quantisation-noise ratio ``10 log10(||x||^2 / ||x - xq||^2)`` in dB (inf if exact)."""
    x = np.asarray(x, dtype=np.float64)
    xq = np.asarray(xq, dtype=np.float64)
    if x.shape != xq.shape:
        raise ValueError(f"shape mismatch: x {x.shape} vs xq {xq.shape}")
    sig = float(np.sum(x * x))
    noise = float(np.sum((x - xq) ** 2))
    if sig == 0.0:
        raise ValueError("sqnr_db undefined: signal power is zero")
    if noise == 0.0:
        return float("inf")
    return float(10.0 * np.log10(sig / noise))


@dataclass(frozen=True, eq=False)
class QuantizedTensor:
    """A quantised tensor: integer ``codes`` plus the metadata needed to dequantise them.

    ``codes``     integer array (the stored element codes or integer values, see ``kind``).
    ``scale``     array broadcastable to ``codes.shape`` after ``expand`` (see below), or a scalar.
    ``zero_point`` same, or ``None`` for symmetric formats.
    ``kind``      short format name (``"int"``, ``"ovp-int4"``, ``"bitmod-fp4"`` ...).
    ``meta``      free-form extra metadata (type selectors, group size, levels ...).
    ``decoder``   function ``(qt) -> float array`` used by :meth:`dequantize`; for plain
                  affine formats it is ``(codes - zero_point) * scale``.

    Scales and zero points are stored per group: shape ``(rows, n_groups)`` for group size
    G (per tensor: ``(1, 1)``, per channel: ``(rows, 1)``); :meth:`expand` repeats them to the
    element grid.
    """

    codes: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray | None = None
    group_size: int | None = None
    kind: str = "int"
    meta: Mapping[str, Any] = field(default_factory=dict)
    decoder: Callable[["QuantizedTensor"], np.ndarray] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.codes.shape)

    def expand(self, a: np.ndarray | None) -> np.ndarray | None:
        """Repeat per-group metadata ``a`` (shape (rows, groups) or broadcastable) over the elements."""
        if a is None:
            return None
        a = np.asarray(a)
        if self.group_size is None or a.ndim == 0 or a.shape[-1] == 1:
            return a
        return np.repeat(a, self.group_size, axis=-1)

    def dequantize(self) -> np.ndarray:
        if self.decoder is not None:
            return self.decoder(self)
        s = self.expand(self.scale).astype(np.float64)
        q = self.codes.astype(np.float64)
        if self.zero_point is not None:
            q = q - self.expand(self.zero_point).astype(np.float64)
        return q * s


class LatticeTable:
    """Fast nearest-grid-point lookup for grids whose decision boundaries lie on a lattice.

    ``mids`` are the decision boundaries (midpoints between adjacent grid values) and
    ``nearest_exact(t)`` the reference rule (float64 in, grid value out, including how a value
    exactly on a midpoint is resolved).  When every midpoint is a multiple of a power of two ``h``,
    the answer is constant on each open lattice cell ``(n h, (n + 1) h)`` and only lattice points
    themselves can be ties; so two tables (cell interior, lattice point) indexed by ``floor(t / h)``
    give exactly the reference's answer with a handful of cheap vectorised operations.
    """

    def __init__(self, mids: np.ndarray, nearest_exact: Callable[[np.ndarray], np.ndarray]):
        mids = np.asarray(mids, dtype=np.float64)
        h = 1.0
        while not np.all(np.mod(mids / h, 1.0) == 0.0):
            h /= 2.0
            if h < 2.0 ** -20:
                raise ValueError("grid midpoints are not on a power-of-two lattice")
        self.h = h
        self.inv_h = np.float32(1.0 / h)
        self.L = int(np.ceil(np.max(np.abs(mids)) / h)) + 2
        n = np.arange(-self.L, self.L, dtype=np.float64)
        lut = np.empty((n.size, 2), dtype=np.float32)
        lut[:, 0] = nearest_exact((n + 0.5) * h)  # inside the cell
        lut[:, 1] = nearest_exact(n * h)  # exactly on the lattice point
        self.lut = lut.ravel()

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """Grid values (float32) for ``t`` (float32 or float64; no rounding of ``t`` is involved)."""
        u = np.asarray(t)
        if u.dtype not in (np.float32, np.float64):
            u = u.astype(np.float64)
        if self.inv_h != 1:
            u = u * u.dtype.type(self.inv_h)  # power of two: exact
        fl = np.floor(u)
        exact = u == fl
        np.clip(fl, -self.L, self.L - 1, out=fl)
        idx = fl.astype(np.intp)
        idx += self.L
        idx *= 2
        idx += exact
        return np.take(self.lut, idx, mode="clip")


_F16_MIN_NORMAL = np.float32(2.0 ** -14)


def round_f16(v: np.ndarray) -> np.ndarray:
    """Round float32 values to the nearest fp16 value (ties to even); result held in float32.

    Equals ``v.astype(np.float16).astype(np.float32)`` for |v| <= 65504 (tested), but is several
    times faster: numpy's float16 casts are not vectorised.  Normal fp16 range: round the float32
    mantissa to 10 bits with the integer RNE trick; fp16 subnormals (|v| < 2**-14) are the
    multiples of 2**-24, obtained exactly by ``(|v| + 0.5) - 0.5`` in float32 (ulp(0.5) = 2**-24).
    """
    v = np.ascontiguousarray(v, dtype=np.float32)
    u = v.view(np.uint32)
    r = u + (np.uint32(0x0FFF) + ((u >> np.uint32(13)) & np.uint32(1)))
    r &= np.uint32(0xFFFFE000)
    out = r.view(np.float32)
    a = np.abs(v)
    small = a < _F16_MIN_NORMAL
    if np.any(small):
        sub = (a + np.float32(0.5)) - np.float32(0.5)
        out = np.where(small, np.copysign(sub, v), out)
    return out


def division_thresholds(m, s):
    """``theta`` with ``fl(x / s) >= m  <=>  x >= theta`` for every float32 ``x`` (``m`` float32,
    nonzero; ``s`` float32 in the normal range; broadcast), and a validity mask.

    ``x -> fl(x / s)`` is monotone, so the set is ``[theta, inf)``; ``theta`` lies within an ulp or
    so of ``fl(|m| s)`` (up to the sign): the 5 floats around it are tested (adjacent floats of a
    positive value are adjacent integers of its bit pattern).  ``m < 0``: ``fl(x / s) = -fl(|x| / s)``,
    so ``theta = -max{y : fl(y / s) <= |m|}``.  ``valid`` is False if the answer is not among them.
    """
    m = np.asarray(m, dtype=np.float32)
    s = np.asarray(s, dtype=np.float32)
    am = np.abs(m)
    neg = m < 0
    bound = np.where(neg, np.nextafter(am, np.float32(np.inf)), am)  # y < bound: "below" |m|
    b0 = (am * s).view(np.int32)
    cnt = np.zeros(b0.shape, dtype=np.int32)
    for kk in range(-2, 3):
        cnt += ((b0 + np.int32(kk)).view(np.float32) / s) < bound
    valid = (cnt >= 1) & (cnt <= 4)
    theta = (b0 - np.int32(2) + cnt - neg).view(np.float32)
    return np.where(neg, -theta, theta), valid


def check_int8_acts(a) -> np.ndarray:
    """INT8 activation codes as int64; ValueError for non-integers or values out of range."""
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"activations must be integers (INT8), got dtype {a.dtype}")
    if a.size and (a.min() < -128 or a.max() > 127):
        raise ValueError("activations out of the INT8 range [-128, 127]")
    return a.astype(np.int64)
