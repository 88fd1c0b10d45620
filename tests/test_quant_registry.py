"""FORMATS registry and quant_table."""
from __future__ import annotations

import numpy as np
import pytest

from models import quant
from models.quant import FORMATS, quant_table

REQUIRED = ["int8", "int4", "int4-g128", "ovp-int4", "ovp-flint4", "bitmod-fp4", "bitmod-mixed4",
            "bitmod-mixed3", "mxfp4", "mxfp8-e4m3", "mxint8", "nvfp4", "fp8-e4m3", "fp8-e5m2"]


@pytest.fixture(scope="module")
def w():
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((16, 256)) * 0.05).astype(np.float32)
    x[rng.random(x.shape) < 0.01] *= 12  # a few outliers
    return x


def test_required_names_present():
    assert set(REQUIRED) <= set(FORMATS)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_runs(name, w):
    y = FORMATS[name](w)
    assert y.shape == w.shape and np.all(np.isfinite(y))
    err = quant.relative_error(w, y)
    assert 0 < err < 0.6
    assert not np.array_equal(y, w)  # something was quantised


def test_table(w):
    df = quant_table(w)
    assert list(df.columns) == ["format", "bits_per_element", "relative_error", "sqnr_db"]
    assert list(df["format"]) == list(FORMATS)
    t = df.set_index("format")
    assert t.loc["int8", "relative_error"] < t.loc["int4", "relative_error"]
    assert t.loc["mxfp8-e4m3", "relative_error"] < t.loc["mxfp4", "relative_error"]
    assert t.loc["bitmod-mixed4", "relative_error"] <= t.loc["bitmod-fp4", "relative_error"] * 1.0001
    np.testing.assert_allclose(t["sqnr_db"], -20 * np.log10(t["relative_error"]), rtol=1e-9)
    assert t.loc["int4-g128", "bits_per_element"] == 4 + 16 / 128
    assert t.loc["mxfp4", "bits_per_element"] == 4 + 8 / 32
    assert t.loc["bitmod-mixed4", "bits_per_element"] == 4 + 18 / 128
    assert t.loc["nvfp4", "bits_per_element"] == pytest.approx(4.5 + 32 / w.size)
    sub = quant_table(w, ["int8", "nvfp4"])
    assert list(sub["format"]) == ["int8", "nvfp4"]


def test_unknown_format_lists_known_names(w):
    with pytest.raises(ValueError, match="unknown format 'int5'.*int4-g128.*mxfp4"):
        quant_table(w, ["int8", "int5"])
    with pytest.raises(ValueError, match="known formats"):
        quant.quantize(w, "foo")


def test_bad_input_through_registry():
    with pytest.raises(ValueError, match="NaN"):
        quant_table(np.full((2, 128), np.nan))
    with pytest.raises(ValueError, match="2-D"):
        quant.quantize(np.ones(128), "int8")
    with pytest.raises(ValueError, match="does not divide K"):
        quant.quantize(np.ones((2, 96)), "int4-g128")
