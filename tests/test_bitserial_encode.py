"""BitMoD weight-code encoder (models.bitserial_gemm.encode_weight_values): the searchsorted
lookup gives the codes (and the errors) of the per-element dictionary lookup it replaces."""
from __future__ import annotations

import numpy as np
import pytest

from models import bitserial_gemm as bg


def _reference_index(values, fmt):
    """The magnitude -> index lookup as first written (a dict, one Python call per element)."""
    mags = np.asarray(bg._fp_magnitudes(fmt), dtype=np.int64)
    lookup = {int(v): i for i, v in enumerate(mags)}
    return np.vectorize(lambda v: lookup.get(abs(int(v)), -1), otypes=[np.int64])(values)


def _reference_encode(values, fmt, selector=None):
    """encode_weight_values with the reference lookup (same code after the lookup)."""
    vb = bg._fp_value_bits(fmt)
    values = np.asarray(values, dtype=np.int64)
    index = _reference_index(values, fmt) if values.size else values
    codes = np.where(values < 0, 1 << (vb - 1), 0) | np.maximum(index, 0)
    if fmt in bg.SPECIAL_VALUES:
        selector = np.broadcast_to(np.asarray(selector, dtype=np.int64), values.shape)
        sv = np.asarray(bg.SPECIAL_VALUES[fmt], dtype=np.int64)[selector & 3]
        is_sv = (index < 0) & (values == sv)
        codes = np.where(is_sv, 1 << (vb - 1), codes) | (selector << vb)
        index = np.where(is_sv, 0, index)
    return codes, index


@pytest.mark.parametrize("fmt", ["fp4", "fp3", "mixed4", "mixed3"])
def test_encode_equals_dict_lookup(fmt):
    rng = np.random.default_rng(1)
    mags = np.asarray(bg._fp_magnitudes(fmt), dtype=np.int64)
    sv = np.asarray(bg.SPECIAL_VALUES.get(fmt, (0, 0, 0, 0)), dtype=np.int64)
    # every representable value, with and without sign, and each SV under its selector
    values = np.concatenate([mags, -mags])
    selector = rng.integers(0, 4, values.shape)
    if fmt in bg.SPECIAL_VALUES:
        values = np.concatenate([values, sv])
        selector = np.concatenate([selector, np.arange(4)])
    values, selector = values.reshape(1, -1), selector.reshape(1, -1)
    sel = selector if fmt in bg.SPECIAL_VALUES else None
    got = bg.encode_weight_values(values, fmt, sel)
    want, index = _reference_encode(values, fmt, selector)
    assert not np.any(index < 0) and np.array_equal(got, want)
    # values off the grid: the same refusal
    for bad in (np.array([[int(mags.max()) + 1]]), np.array([[-(2 ** 63)]]), np.array([[7, 5, 9, 11]])):
        _, idx = _reference_encode(bad, fmt, np.zeros_like(bad))
        if np.any(idx < 0):
            with pytest.raises(ValueError):
                bg.encode_weight_values(bad, fmt, np.zeros_like(bad) if sel is not None else None)
        else:
            assert np.array_equal(bg.encode_weight_values(bad, fmt, np.zeros_like(bad) if sel is not None else None),
                                  _reference_encode(bad, fmt, np.zeros_like(bad))[0])
