"""MiniLM's exact GELU, fast: ``fl32(0.5 * x * (1 + math.erf(x / sqrt 2)))`` for float32 ``x``,
bit for bit, without calling ``math.erf`` on (almost) every element.

The reference (:func:`reference_gelu`) computes in float64 and rounds once to float32. Here
``erf`` is first estimated in numpy: a Taylor polynomial of degree :data:`DEGREE` around the
nearest point ``z0 = j / 128`` of a table over ``|z| <= 6`` (``erf(z0)`` from ``math.erf``, the
derivatives ``erf^(n)(z0) = 2/sqrt(pi) (-1)**(n-1) H_(n-1)(z0) exp(-z0**2)``, ``H`` the
physicists' Hermite polynomials), ``sign(z)`` beyond. For ``|h| = |z - z0| <= 2**-8`` the
truncation is below ``2**-60`` and the float64 evaluation within a few units of ``2**-53``; ``math.erf``
(the C library's) is within one unit in the last place of the true value. So the estimate is
within ``ERF_BOUND = 2**-40`` of ``math.erf`` with a margin of three orders of magnitude (the
tests check it on dense sweeps and real inputs).

Certification: with ``e`` within ``ERF_BOUND`` of the reference's erf, the float64 result
``r = 0.5 x (1 + e)`` is within ``m = |x| ERF_BOUND + |r| 2**-48`` of the reference's float64
value (the two roundings of the product included). Rounding to float32 is monotone, so where
``r - m`` and ``r + m`` round to the same float32 the reference rounds to it too; the other
elements (near a float32 rounding boundary, and large negative ``x`` whose result is tiny, and
any non-finite value) are computed by the reference formula with ``math.erf``.

:func:`_gelu_chunk` is that estimate and certificate in numpy; :func:`gelu` runs the same IEEE
float64 operations per element in one compiled pass (:func:`_gelu_estimates`, numba without
``fastmath``), instead of a dozen passes over chunk-sized temporaries (tests/test_exact_speedups.py
pins it to the numpy chunk and the definition).
"""

from __future__ import annotations

import functools
import math

import numpy as np

DEGREE = 6
STEP = 1.0 / 128
LIMIT = 6.0                     # |z| beyond: erf(z) = sign(z) within erfc(6) < 2**-55
ERF_BOUND = 2.0 ** -48


def reference_gelu(x: np.ndarray) -> np.ndarray:
    """The definition: ``fl32(0.5 * x * (1 + math.erf(x / sqrt 2)))``, element by element."""
    x = np.asarray(x)
    z = np.asarray(x, dtype=np.float64) / math.sqrt(2.0)
    e = np.fromiter(map(math.erf, z.ravel().tolist()), dtype=np.float64, count=z.size).reshape(z.shape)
    return (0.5 * x * (1.0 + e)).astype(x.dtype)


@functools.lru_cache(maxsize=1)
def _taylor_table() -> np.ndarray:
    """(DEGREE + 1, points): Taylor coefficients ``erf^(n)(z0) / n!`` at ``z0 = j * STEP``."""
    z0 = np.arange(-round(LIMIT / STEP), round(LIMIT / STEP) + 1) * STEP
    coeff = np.empty((DEGREE + 1, z0.size))
    coeff[0] = [math.erf(z) for z in z0]
    g = 2.0 / math.sqrt(math.pi) * np.exp(-z0 * z0)
    h_prev, h = np.zeros_like(z0), np.ones_like(z0)          # H_-1 (unused), H_0
    for n in range(1, DEGREE + 1):                            # erf^(n) = g (-1)^(n-1) H_(n-1)
        coeff[n] = g * (-1) ** (n - 1) * h / math.factorial(n)
        h_prev, h = h, 2 * z0 * h - 2 * (n - 1) * h_prev      # H_n = 2z H_(n-1) - 2(n-1) H_(n-2)
    coeff.setflags(write=False)
    return coeff


def erf_estimate(z: np.ndarray) -> np.ndarray:
    """``erf(z)`` of float64 ``z`` within :data:`ERF_BOUND` (module docstring)."""
    coeff = _taylor_table()
    half = (coeff.shape[1] - 1) // 2
    j = np.rint(np.clip(z, -LIMIT, LIMIT) / STEP)
    h = z - j * STEP
    index = (j + half).astype(np.intp)
    e = np.take(coeff[DEGREE], index)
    for n in range(DEGREE - 1, -1, -1):
        e *= h
        e += np.take(coeff[n], index)
    return np.where(np.abs(z) > LIMIT, np.sign(z), e)


def gelu(x: np.ndarray) -> np.ndarray:
    """:func:`reference_gelu` of float32 ``x``, bit for bit (module docstring): the certified
    estimate of :func:`_gelu_chunk` in one compiled pass (:func:`_gelu_estimates`), the
    reference where it cannot decide."""
    x = np.asarray(x)
    if x.dtype != np.float32:
        return reference_gelu(x)
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty(flat.shape, dtype=np.float32)
    unsure = np.empty(flat.shape, dtype=np.bool_)
    if _compiled()(flat, _taylor_table(), math.sqrt(2.0), out, unsure):
        out[unsure] = reference_gelu(flat[unsure])
    return out.reshape(x.shape)


def _gelu_estimates(x, coeff, sqrt2, out, unsure):
    """:func:`_gelu_chunk` element by element (the same IEEE float64 operations in the same
    order, numba without ``fastmath``): ``out`` the certified float32 results, ``unsure`` True
    where the reference must decide (also every non-finite input); True when any is."""
    half = (coeff.shape[1] - 1) // 2
    degree = coeff.shape[0] - 1
    any_unsure = False
    for i in range(x.size):
        x32 = x[i]
        x64 = np.float64(x32)
        z = x64 / sqrt2
        if not np.isfinite(z):
            unsure[i] = True
            any_unsure = True
            continue
        j = np.rint(min(max(z, -LIMIT), LIMIT) / STEP)
        h = z - j * STEP
        index = int(j + half)
        e = coeff[degree, index]
        for n in range(degree - 1, -1, -1):
            e *= h
            e += coeff[n, index]
        if abs(z) > LIMIT:
            e = np.sign(z)
        r = np.float64(np.float32(0.5) * x32) * (1.0 + e)
        m = abs(x64) * ERF_BOUND + abs(r) * 2.0 ** -48
        out[i] = np.float32(r)
        bad = not (np.float32(r - m) == np.float32(r + m) and np.isfinite(r))
        unsure[i] = bad
        any_unsure |= bad
    return any_unsure


@functools.cache
def _compiled():
    """:func:`_gelu_estimates` compiled by numba (no ``fastmath``: IEEE semantics), or loaded
    from its on-disk cache; deferred: only a MiniLM forward pass needs it."""
    import numba
    return numba.njit(cache=True, nogil=True, error_model="numpy")(_gelu_estimates)


def _gelu_chunk(x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        # the reference's expression (0.5 * x in float32, then float64), only erf estimated
        r = 0.5 * x * (1.0 + erf_estimate(x64 / math.sqrt(2.0)))
        m = np.abs(x64) * ERF_BOUND + np.abs(r) * 2.0 ** -48
        out = r.astype(np.float32)
        sure = ((r - m).astype(np.float32) == (r + m).astype(np.float32)) & np.isfinite(r)
    if not sure.all():
        out[~sure] = reference_gelu(x[~sure])
    return out
