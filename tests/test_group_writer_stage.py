"""The grouped writer registers what it hands the post-array unit (issue 14): the group sum is
formed a stage earlier and the unit's ``raw`` input is a flop's output, so no add sits in front of
the unit's first stage (in the W4A16 INT4 g128 4x4 top that add + the dequantiser's first stage
was the critical path once fan-out was buffered: 9.86 ns, 101.4 MHz at osu018; registered, the
top is the array's, 9.36 ns). Bit- and cycle-exactness are the GEMM tests' (the grouped cases of
tests/test_gemm_shiftadd.py, test_gemm_bitserial.py, test_gemm_wfp16.py)."""

import re

import pytest
from amaranth.back import rtlil

from models.synth import accelerator_facts, _accelerator

# (kind, rows, cols, options): a group of several folds (the sum path) and a group of one fold
GROUPED = [("shiftadd", 2, 2, (("group_size", 4), ("weight_bits", 4))),
           ("bitserial", 2, 1, (("group_size", 4), ("weight_format", "mixed4"))),
           ("wfp16", 2, 2, (("group_size", 4), ("weight_format", "int4"))),
           ("shiftadd", 2, 2, (("group_size", 2), ("weight_bits", 4)))]


def _top_module(text):
    start = text.index("module \\top\n")
    return text[start:text.index("\nend\n", start)]


def _flop_driven(module, wire):
    """Whether ``wire`` of the RTLIL ``module`` is a $dff's Q, or a top-level alias of (a slice
    of) one."""
    flops = [b + "\n" for b in re.split(r"\n  cell ", module) if b.startswith("$dff ")]
    names = {wire}
    names.update(re.findall(rf"^\s*connect {re.escape(wire)} (\\\S+)(?: \[[\d:]+\])?$", module, re.M))
    return any(re.search(rf"connect \\Q {re.escape(n)}\n", b) for n in names for b in flops)


@pytest.mark.parametrize("kind, rows, cols, options", GROUPED, ids=lambda v: str(v))
def test_post_array_unit_input_is_a_register(kind, rows, cols, options):
    acc = _accelerator(kind, rows, cols, "ws", options, (1, 1))
    folds = accelerator_facts(kind, rows, cols, "ws", options).group_folds
    top = _top_module(rtlil.convert(acc, name="top"))
    # the unit's raw port is the top's wire \raw (Amaranth names it after the port)
    assert re.search(r"^  wire width \d+ \\raw$", top, re.M)
    assert _flop_driven(top, "\\raw"), \
        f"{kind} ({folds} folds a group): the unit's raw input is not a flop's output"
