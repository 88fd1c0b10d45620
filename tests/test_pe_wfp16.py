"""The weight-only FP16-activation PE's arithmetic against an exact-rational restatement of
models/wfp16_gemm.py: the FP16 value (IEEE definition) times the weight value (two's complement,
or the OliVe pair read from the spec's table, not from the decoder), the exact sum in units of
2**-24 wrapped at acc_width, in Amaranth's simulator with the border decoder (the contract itself
-- timing, holding, poison -- is the conformance suite's)."""

import numpy as np
import pytest

from hw.pe_wfp16 import ACC_FRAC, WEIGHT_FORMATS, Wfp16PE
from models.fp16_gemm import SPECIAL_CODES
from models.golden import wrap_signed
from models.ovp_gemm import decode_codes
from models.registry import get_kind
from models.wfp16_gemm import random_wfp16_operands, special_weight_codes
from sim.pe_driver import BorderedPE, code_step, run_steps
from tests.test_pe_fp16 import fp16_value

FORMATS = tuple(WEIGHT_FORMATS)


def _ovp_pair_values(left, right):
    """OliVe int4 pair (spec: 1000 marks the victim; its partner is an abfloat outlier s e1 e0 m
    of value +-(2 + m) * 2**(e + 2)) -> the two element values in code units."""
    def normal(c):
        return c - 16 if c >= 8 else c

    def outlier(c):
        mag = (2 + (c & 1)) * 2 ** (((c >> 1) & 3) + 2)
        return -mag if c & 8 else mag
    if left == 8:
        return 0, (0 if right == 8 else outlier(right))
    if right == 8:
        return outlier(left), 0
    return normal(left), normal(right)


def _weight_values(codes, fmt):
    if WEIGHT_FORMATS[fmt].ovp_mode is None:
        return [int(c) for c in codes]
    return list(_ovp_pair_values(int(codes[0]), int(codes[1])))


def _reference(pe, acts, weights, acc_in):
    exact = sum(fp16_value(int(a)) * w for a, w in zip(acts, _weight_values(weights, pe.weight_format)))
    units = exact * 2 ** ACC_FRAC
    assert units.denominator == 1              # the sum is an integer number of units: no rounding
    return int(wrap_signed(acc_in + units.numerator, pe.acc_width)) & ((1 << pe.acc_width) - 1)


def _run(fmt, step_codes):
    """step_codes: (act codes, weight codes, acc_in) per step -> (outputs, wanted)."""
    pe = Wfp16PE(weight_format=fmt)
    steps = [code_step(pe, a, w, acc) for a, w, acc in step_codes]
    want = [_reference(pe, a, w, acc) for a, w, acc in step_codes]
    return list(run_steps(BorderedPE(Wfp16PE(weight_format=fmt)), steps).outputs), want


def _acc_values(rng, pe, count):
    """acc_in values: uniform over the whole width (so sums wrap), zero and the extremes."""
    W = pe.acc_width
    out = [int.from_bytes(rng.bytes(-(-W // 8)), "little") % (1 << W) - (1 << (W - 1))
           for _ in range(count)]
    out[:3] = [0, (1 << (W - 1)) - 1, -(1 << (W - 1))]
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_random_steps_are_exact(fmt):
    rng = np.random.default_rng(len(fmt))
    pe = get_kind("wfp16").prototype(weight_format=fmt)
    kps, n = pe.k_per_step, 400
    acts, weights = random_wfp16_operands(rng, 1, n * kps, 1, pe)
    accs = _acc_values(rng, pe, n)
    got, want = _run(fmt, [(acts[0, i * kps:(i + 1) * kps], weights[i * kps:(i + 1) * kps, 0], accs[i])
                           for i in range(n)])
    assert got == want


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_special_code_pair(fmt):
    """Every special FP16 code (both signs: zeros, subnormals, smallest normal, 1.0, max normal)
    against every special weight code (int extremes incl. the most negative; OVP victim, largest
    outliers of both signs, normal extremes), from acc_in 0 and from the accumulator's extremes."""
    pe = get_kind("wfp16").prototype(weight_format=fmt)
    acts = [int(c) | s for c in SPECIAL_CODES for s in (0, 0x8000)]
    ws = [int(c) for c in special_weight_codes(pe)]
    lo, hi = -(1 << (pe.acc_width - 1)), (1 << (pe.acc_width - 1)) - 1
    steps = []
    for i, a in enumerate(acts):
        for j, w in enumerate(ws):
            acc = (0, hi, lo)[(i + j) % 3]
            if pe.k_per_step == 1:
                steps.append(([a], [w], acc))
            else:               # the special code in both pair positions, partnered with every other
                for w2 in ws:
                    steps.append(([a, acts[(i + 3) % len(acts)]], [w, w2], acc))
    got, want = _run(fmt, steps)
    assert got == want


def test_widths_follow_the_formats():
    """The derived widths: the largest |m * i| << shift fits product_bits (and needs all of them)."""
    for fmt, (P, A) in {"int4": (43, 60), "int8": (47, 64), "ovp4": (48, 65)}.items():
        pe = get_kind("wfp16").prototype(weight_format=fmt)
        biggest = 2047 * WEIGHT_FORMATS[fmt].max_int << pe.shift_max
        assert biggest.bit_length() == pe.product_bits == P and pe.acc_width == A


def test_ovp_restatement_matches_the_format_model():
    """The spec table above and the OliVe format model (which the golden model uses) agree on
    every stored int4 pair."""
    pairs = np.array([[l, r] for l in range(16) for r in range(16)])
    e, i = decode_codes(pairs, "int4")
    for (l, r), ee, ii in zip(pairs, e, i):
        assert list(ii << ee) == list(_ovp_pair_values(int(l), int(r))), (l, r)
