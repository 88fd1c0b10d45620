"""The GOBO PE's arithmetic against an exact-rational restatement (the FP16 PE's reference,
``tests/test_pe_fp16.py``): the centroid the 3-bit index selects from the table, its exact
product with the FP16 activation, one FP32 RNE addition; an outlier-flagged step passes
``acc_in`` through. Step by step in Amaranth's simulator (timing, holding and poison are the
conformance suite's)."""

import numpy as np
import pytest

from hw.pe_gobo import CENTROIDS, OUTLIER_FLAG_BIT, GoboPE
from models.fp16_gemm import SPECIAL_CODES, random_fp16_operands
from models.gobo_gemm import random_dictionary
from sim.pe_driver import PEStep, run_steps
from tests.test_pe_fp16 import _acc_words, fp16_value, fp32_add_rne


def _reference(act, code, acc_word, table):
    if code >> OUTLIER_FLAG_BIT:
        return acc_word
    w = table[code & (CENTROIDS - 1)]
    return fp32_add_rne(acc_word, fp16_value(act) * fp16_value(w), (act ^ w) >> 15)


def _check(steps, table):
    pe = GoboPE()
    want = [_reference(s.act, s.weight, s.acc_in, table) for s in steps]
    assert list(run_steps(pe, steps, table=pe.table_value(table)).outputs) == want


@pytest.mark.parametrize("seed", [20, 21, 22])
def test_random_steps_and_tables(seed):
    rng = np.random.default_rng(seed)
    table = random_dictionary(rng).centroids
    acts, _ = random_fp16_operands(rng, 1, 400, 1, None)
    codes = rng.integers(0, 1 << (OUTLIER_FLAG_BIT + 1), size=400)
    _check([PEStep(int(a), int(c), acc) for a, c, acc in zip(acts[0], codes, _acc_words(rng, 400))], table)


def test_every_entry_is_selected_by_its_index():
    """Distinct centroids (special codes, both signs): each index must pick its own entry (a
    swapped or stuck index bit gives a different product), on 1.0 and on a subnormal."""
    table = [int(c) for c in SPECIAL_CODES[1:]] + [0x8400, 0xBC00, 0x3555]   # 8 distinct, no zero
    steps = [PEStep(a, i, acc) for a in (0x3C00, 0x0001, 0xC500) for i in range(CENTROIDS)
             for acc in (0, 0x3F800000)]
    _check(steps, table)
    assert len({_reference(0x3C00, i, 0, table) for i in range(CENTROIDS)}) == CENTROIDS


def test_outlier_flag_passes_acc_in_through_for_every_index():
    table = [0x3C00] * CENTROIDS
    steps = [PEStep(0x3C00, (1 << OUTLIER_FLAG_BIT) | i, acc) for i in range(CENTROIDS)
             for acc in (0, 0x80000000, 0x3F800000, 0x7F7FFFFF)]
    _check(steps, table)


def test_run_steps_requires_the_table():
    with pytest.raises(ValueError, match="table"):
        run_steps(GoboPE(), [PEStep(0, 0)])
