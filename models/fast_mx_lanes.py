"""Compiled MX lane decoder: a lane-code matrix's element integers and scale-slot codes in one
pass (:func:`decode_lanes`), what :func:`models.mx_gemm.split_lanes` and
:func:`models.mx_gemm.element_integers` make of it.

Why compiled: the numpy definition zero-pads the codes to whole lanes (an int64 copy), ORs the
slot codes together, and looks the element codes up in the format's table (two more int64
passes and a check pass); an accuracy run decodes every activation tensor and every weight
matrix that way (a tenth of an MX design's SmolLM2 ``--quick`` run). Here it is one read of the
codes and one write of each result.

Why it gives the definition's values (``tests/test_fast_mx_lanes.py`` pins it): it reads the
same positions (lane ``s`` of a row is positions ``s * k_per_step`` on, a position past K' is
the pad's 0), ORs the slot codes shifted by ``i * bits`` as ``split_lanes`` does, and takes each
element's integer from the same table (:func:`models.mx_gemm._element_table`). Whenever the
definition would not simply look up and OR (an element or slot code outside ``0 .. 2**bits - 1``,
a code the table refuses, a slot code of more than 8 bits) the kernel stops and the caller runs
the definition, which raises its error or decodes field by field.

Single-threaded on purpose, as :mod:`models.fast_seq`.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

from hw.pe_mx import SCALE_BITS


def _decode(codes, values, refused, sub_block, scale_slots, bits, ints, slots):
    """``ints[r, s, j]``, ``slots[r, s]`` of lane ``s`` of row ``r`` of ``codes`` (module
    docstring); returns 0, or 1 when the definition must run instead (the outputs incomplete).
    Compiled by :func:`_compiled`."""
    rows, width = codes.shape
    steps = ints.shape[1]
    per = sub_block + scale_slots
    top = 1 << bits
    for r in range(rows):
        for s in range(steps):
            p0 = s * per
            for j in range(sub_block):
                c = codes[r, p0 + j] if p0 + j < width else 0
                if c < 0 or c >= top or refused[c]:
                    return 1
                ints[r, s, j] = values[c]
            slot = 0
            for i in range(scale_slots):
                p = p0 + sub_block + i
                c = codes[r, p] if p < width else 0
                if c < 0 or c >= top:
                    return 1
                slot |= c << (i * bits)
            if slot >= 1 << SCALE_BITS:
                return 1
            slots[r, s] = slot
    return 0


def decode_lanes(codes, values, refused, pe):
    """(R, K') int64 lane codes (any strides) -> (element integers (R, steps, sub_block), slot
    codes (R, steps)), both int64, with ``values`` / ``refused`` the element format's table; None
    where the definition must run instead (module docstring)."""
    per = pe.k_per_step
    steps = -(-codes.shape[1] // per)
    ints = np.empty((codes.shape[0], steps, pe.sub_block), dtype=np.int64)
    slots = np.empty((codes.shape[0], steps), dtype=np.int64)
    if _compiled().decode(codes, values, refused, pe.sub_block, pe.mx_format.scale_slots,
                          pe.mx_format.bits, ints, slots):
        return None
    return ints, slots


@functools.cache
def _compiled():
    """The kernel compiled by numba, or loaded from numba's on-disk cache (``cache=True``).
    Deferred on purpose, as :mod:`models.fast_seq`: numba takes about 0.5 s to import."""
    import numba
    return SimpleNamespace(decode=numba.njit(cache=True, nogil=True)(_decode))
