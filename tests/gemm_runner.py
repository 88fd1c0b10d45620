"""The one runner every GEMM case table uses: a case's operands through Amaranth's simulator or
Verilator, checked bit for bit against the golden model and cycle for cycle against the model."""

import pytest

from sim.amaranth_sim import simulate_gemm_amaranth
from sim.run import simulate_gemm


def verilator_params(cases):
    """pytest parameters of a case table: the sweep-only cases carry the ``slow`` marker."""
    return [pytest.param(c, marks=pytest.mark.slow) if c.sweep_only else c for c in cases]


def amaranth_cases(cases):
    return [c for c in cases if c.amaranth_sized]


def check(result):
    assert result.mismatches == 0, f"{result.mismatches} elements differ from the golden model"
    assert result.cycles == result.model.cycles


def job_operands(case):
    """The case's operands as a run takes them (codes checked, the extra operand attached)."""
    design = case.design()
    acts, weights, extra = case.make_job_operands()
    return design, design.kind.operands(acts, weights, design.facts.pe, extra=extra)


def run_amaranth(case):
    check(simulate_gemm_amaranth(*job_operands(case)))


def run_verilator(case):
    check(simulate_gemm(*job_operands(case)))
