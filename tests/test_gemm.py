"""The GEMM case table against the golden model, Amaranth's simulator, Verilator and Icarus."""

import numpy as np
import pytest

from models.design import _pow2_at_least
from models.golden import gemm_int, wrap_signed
from tests.cases import CASES
from tests.gemm_runner import (amaranth_cases, icarus_params, run_amaranth, run_icarus, run_verilator,
                                verilator_params)
from tests.test_pe_ovp import _plain_values


def _reference_gemm(acts, weights, width=32):
    """Plain Python integers, wrapped once at the end: independent of numpy's int64 path."""
    m, k = len(acts), len(acts[0])
    n = len(weights[0])
    out = [[sum(int(acts[i][x]) * int(weights[x][j]) for x in range(k)) for j in range(n)]
           for i in range(m)]
    half = 1 << (width - 1)
    return np.array([[(v + half) % (1 << width) - half for v in row] for row in out])


def _lut_values(weights, pe):
    return 2 * weights - ((1 << pe.weight_bits) - 1)


def _ovp_values(acts, weights, pe):
    """OVP element codes -> integer values (normal-grid units), decoded in plain Python from the
    spec's encoding (tests/test_pe_ovp.py), K zero-padded to whole pairs as the layout does."""
    return _plain_values(acts, pe.mode), np.array(_plain_values(weights.T, pe.mode)).T


# Per kind: the integer operands whose plain product the PE computes, written from the spec and
# independent of the golden model's implementation. A new kind must add its entry here.
VALUES = {
    "int8": lambda acts, weights, pe: (acts, weights),
    "lut": lambda acts, weights, pe: (acts, _lut_values(weights, pe)),
    "ovp": _ovp_values,
}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_golden_model(case):
    acts, weights = case.make_operands()
    pe = case.design().facts.pe
    assert case.pe in VALUES, f"no independent reference for PE kind {case.pe!r}"
    a, w = VALUES[case.pe](acts, weights, pe)
    golden = case.design().kind.golden_gemm(acts, weights, pe)
    assert np.array_equal(golden, _reference_gemm(np.asarray(a).tolist(), np.asarray(w).tolist()))


def test_golden_model_wraps_like_a_32_bit_accumulator():
    acts = np.full((1, 140000), -128)
    weights = np.full((140000, 1), -128)
    total = 140000 * 16384
    assert gemm_int(acts, weights)[0, 0] == wrap_signed(total, 32) == total - (1 << 32)


def test_gemv_and_1x1x1_cases_keep_their_one_word_buffers():
    """These cases exist for their one-word buffers (hw/buffer.py): each sits alone on its array
    shape, so its design is sized for it alone; a case added later on the same shape would size
    the shared design up and quietly lose them."""
    one_word = [c for c in CASES if c.name in ("gemv", "1x1x1", "m1-every-cycle")]
    for case in one_word:
        design, layout = case.design(), case.design().layout(case.m, case.k, case.n)
        for b in ("act", "weight", "out"):
            assert getattr(design, f"{b}_depth") == _pow2_at_least(getattr(layout, f"{b}_depth")), case.id
    all_one = {(c.pe, c.dataflow) for c in one_word
               if c.design().act_depth == c.design().weight_depth == c.design().out_depth == 1}
    assert {("int8", "ws"), ("int8", "os")} <= all_one
    assert {c.pe for c in one_word if c.design().facts.pe.k_per_step > 1 and c.m == 1} >= {"lut", "ovp"}


@pytest.mark.parametrize("case", amaranth_cases(CASES), ids=lambda c: c.id)
def test_amaranth_simulator(case):
    run_amaranth(case)


@pytest.mark.parametrize("case", verilator_params(CASES), ids=lambda c: c.id)
def test_verilator(case):
    run_verilator(case)


@pytest.mark.parametrize("case", icarus_params(CASES), ids=lambda c: c.id)
def test_icarus(case):
    run_icarus(case)
