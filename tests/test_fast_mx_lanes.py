"""The compiled MX lane decoder (:mod:`models.fast_mx_lanes`, behind
``models.mx_gemm.decoded_lanes`` and ``mx_check_operands``) against the definition,
:func:`models.mx_gemm.split_lanes` then :func:`models.mx_gemm.element_integers`: the same
integers and slot codes (int64) on random lane codes of every format and sub-block, K' not a
whole number of lanes, transposed (weight) layouts and real MiniLM operands; operands the
definition refuses raise its errors, out-of-range codes get its field-by-field values; a
perturbed decoder is caught."""

import numpy as np
import pytest

from hw.pe_mx import FORMATS
from models import accuracy as acc, fast_mx_lanes, mx_gemm
from models.realdata import real_gemm
from models.registry import PE_KINDS

KIND = PE_KINDS["mx"]


def _definition(codes, pe, name):
    el, sl = mx_gemm.split_lanes(codes, pe, name)
    return mx_gemm.element_integers(el, pe.mx_format, name), sl


def _same(codes, pe):
    """The decoder on ``codes`` and on its transpose's transposed view (the weights' layout),
    frozen or not, equals the definition."""
    want = _definition(codes, pe, "x")
    fast = fast_mx_lanes.decode_lanes(np.asarray(codes, dtype=np.int64), *mx_gemm._element_table(pe.mx_format), pe)
    assert fast is not None
    for got in (fast, mx_gemm.decoded_lanes(np.array(codes), pe, "x"),
                mx_gemm.decoded_lanes(acc.freeze(np.array(codes)), pe, "x"),
                mx_gemm.decoded_lanes(acc.freeze(np.array(codes).T.copy()), pe, "x", transpose=True)):
        assert got[0].dtype == got[1].dtype == np.int64
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("sub_block", [1, 8, 16])
def test_random_codes(fmt, sub_block):
    pe = KIND.prototype(format=fmt, sub_block=sub_block)
    rng = np.random.default_rng(21)
    for m, k, n in ((5, 64, 3), (3, 200, 4), (1, 7, 1)):
        a, w = KIND.random_codes(rng, m, k, n, pe)
        _same(a, pe)
        _same(np.asarray(w).T, pe)
        _same(np.asarray(a)[:, :-1], pe)                # K' cut inside a lane: zero-padded


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_real_minilm_operands(fmt):
    pe = KIND.prototype(format=fmt)
    x, w = real_gemm("minilm:L0.ffn2", m=8, n=24)
    ops = KIND.operands(x, w, pe)
    _same(ops.acts, pe)
    _same(np.asarray(ops.weights).T, pe)


@pytest.mark.parametrize("fmt", ["mxfp8-e4m3", "mxfp8-e5m2", "mxfp6-e2m3", "nvfp4"])
def test_what_the_definition_refuses_or_decodes_field_by_field(fmt):
    """NaN / infinity element codes and too wide slot codes raise the definition's errors
    (decoded_lanes and mx_check_operands alike); elements outside the code range get the field
    decoder's values."""
    pe = KIND.prototype(format=fmt)
    fmt_ = pe.mx_format
    rng = np.random.default_rng(22)
    a, w = KIND.random_codes(rng, 3, 64, 2, pe)
    bad = np.array(a)
    wide = np.array(a)
    wide[0, pe.sub_block] = (1 << fmt_.bits) - 1
    if fmt_.scale_slots > 1:
        wide[0, pe.sub_block + 1] = (1 << fmt_.bits) - 1        # a slot code past 8 bits
    else:
        wide[0, pe.sub_block] = 1 << 9
    if fmt_.bits * fmt_.scale_slots > 8 or fmt_.scale_slots == 1:     # NVFP4's two 4-bit slots: 8 bits
        with pytest.raises(ValueError, match="scale codes must be 8-bit"):
            mx_gemm.decoded_lanes(acc.freeze(wide), pe, "activation")
        with pytest.raises(ValueError, match="scale codes must be 8-bit"):
            mx_gemm.mx_check_operands(acc.freeze(wide), acc.freeze(np.array(w)), pe)
    if fmt_.ebits in (4, 5):
        bad[1, 0] = 0x7F if fmt_.ebits == 4 else 0x7C
        with pytest.raises(ValueError, match="element codes contain"):
            mx_gemm.decoded_lanes(acc.freeze(bad), pe, "activation")
    odd = np.array(a)
    odd[2, 1] = (1 << fmt_.bits) + 3                         # past the code range: field decoder
    assert fast_mx_lanes.decode_lanes(odd, *mx_gemm._element_table(fmt_), pe) is None
    want = _definition(odd, pe, "activation")
    got = mx_gemm.decoded_lanes(acc.freeze(odd), pe, "activation")
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_a_perturbed_decoder_is_caught():
    """The comparison can fail: the decoder with another format's table, or with one slot less."""
    pe = KIND.prototype(format="mxfp8-e4m3")
    a, _ = KIND.random_codes(np.random.default_rng(23), 4, 96, 2, pe)
    want = _definition(a, pe, "x")
    other = mx_gemm._element_table(KIND.prototype(format="mxfp8-e5m2").mx_format)
    got = fast_mx_lanes.decode_lanes(np.asarray(a, dtype=np.int64), other[0], np.zeros(256, bool), pe)
    assert not np.array_equal(got[0], want[0])
