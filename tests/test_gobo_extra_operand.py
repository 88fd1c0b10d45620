"""GOBO's extra operand (:func:`models.gobo_gemm.gobo_extra_operand`) built once per metadata:
equal to ``GoboDictionary.of_meta`` on every call, the same object for metadata whose centroids
and outlier lists are equal to the last call's (an accuracy run's segments), a new one when a
list changed in place, and the constructor's errors for refused metadata after an accepted one."""

import copy

import numpy as np
import pytest

from models import gobo_gemm
from models.gobo_format import GoboDictionary, quantize_gobo


def _meta(seed):
    return quantize_gobo(np.random.default_rng(seed).standard_t(2, (60, 24)))[1]


def test_equal_metadata_reuses_the_dictionary():
    meta = _meta(1)
    first = gobo_gemm.gobo_extra_operand(None, None, None, None, meta)
    assert first == GoboDictionary.of_meta(meta) and len(first.outliers) > 0
    assert gobo_gemm.gobo_extra_operand(None, None, None, None, meta) is first
    assert gobo_gemm.gobo_extra_operand(None, None, None, None, copy.deepcopy(meta)) is first


def test_changed_metadata_builds_anew():
    meta = _meta(2)
    first = gobo_gemm.gobo_extra_operand(None, None, None, None, meta)
    meta["outliers"]["value"][0] ^= 1                        # changed in place
    second = gobo_gemm.gobo_extra_operand(None, None, None, None, meta)
    assert second is not first and second == GoboDictionary.of_meta(meta) and second != first
    meta["centroids"][3] = 0x3C00
    third = gobo_gemm.gobo_extra_operand(None, None, None, None, meta)
    assert third == GoboDictionary.of_meta(meta) and third.centroids[3] == 0x3C00
    other = _meta(3)
    assert gobo_gemm.gobo_extra_operand(None, None, None, None, other) == GoboDictionary.of_meta(other)
    assert gobo_gemm.gobo_extra_operand(None, None, None, None, None) is gobo_gemm.DEFAULT_DICTIONARY


def test_refused_metadata_still_raises():
    meta = _meta(4)
    gobo_gemm.gobo_extra_operand(None, None, None, None, meta)
    bad = copy.deepcopy(meta)
    bad["outliers"]["k"][1] = bad["outliers"]["k"][0]
    bad["outliers"]["n"][1] = bad["outliers"]["n"][0]         # two outliers at one position
    for _ in range(2):
        with pytest.raises(ValueError, match="two outliers at one"):
            gobo_gemm.gobo_extra_operand(None, None, None, None, bad)
    as_arrays = {**meta, "outliers": {f: np.asarray(v) for f, v in meta["outliers"].items()}}
    assert gobo_gemm.gobo_extra_operand(None, None, None, None, as_arrays) == GoboDictionary.of_meta(meta)
