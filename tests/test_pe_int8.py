"""The INT8 PE alone, in Amaranth's simulator: arithmetic and wrap at each accumulator width,
timing facts, options. (The timing contract, holding without ``valid`` and the multiplier
declaration: tests/test_pe_conformance.py, for every kind.)"""

import numpy as np
import pytest

from hw.pe_int8 import Int8PE
from models.golden import wrap_signed
from sim.pe_driver import PEStep, run_steps


@pytest.mark.parametrize("acc_width", [32, 17])
def test_mac_matches_golden_including_extremes_and_wrap(acc_width):
    rng = np.random.default_rng(acc_width)
    corners = [(-128, -128), (-128, 127), (127, 127), (127, -128), (0, -128), (-1, -1)]
    pairs = corners + [tuple(p) for p in rng.integers(-128, 128, size=(200, 2))]
    hi = 1 << (acc_width - 1)
    steps = [PEStep(int(a), int(w), int(rng.integers(-hi, hi))) for a, w in pairs]
    steps += [PEStep(-128, -128, hi - 1)]  # overflows: must wrap, not saturate
    got = wrap_signed(run_steps(Int8PE(acc_width=acc_width), steps).outputs, acc_width).tolist()
    want = [int(wrap_signed(s.acc_in + s.act * s.weight, acc_width)) for s in steps]
    assert got == want


def test_timing_facts():
    pe = Int8PE()
    assert (pe.act_width, pe.weight_width, pe.acc_width) == (8, 8, 32)
    assert (pe.initiation_interval, pe.latency, pe.k_per_step, pe.macs_per_cycle) == (1, 1, 1, 1)


@pytest.mark.parametrize("bad", [16, 65, "32", 32.0, True])
def test_bad_acc_width_is_a_type_error_quoting_the_value(bad):
    with pytest.raises(TypeError, match=repr(bad).replace(".", r"\.")):
        Int8PE(acc_width=bad)
