"""The one runner every GEMM case table uses: a case's operands through Amaranth's simulator,
Verilator or Icarus Verilog, checked bit for bit against the golden model and cycle for cycle
against the model."""

import os

import pytest

from models.cycles import gemm_cycles
from sim.amaranth_sim import simulate_gemm_amaranth
from sim.run import simulate_gemm
from sim.simulators import ICARUS
from sim.toolchain import ToolchainError


def verilator_params(cases):
    """pytest parameters of a case table: the sweep-only cases carry the ``slow`` marker."""
    return [pytest.param(c, marks=pytest.mark.slow) if c.sweep_only else c for c in cases]


def amaranth_cases(cases):
    return [c for c in cases if c.amaranth_sized]


def icarus_params(cases):
    """pytest parameters of the Icarus cross-simulation: every case of the table. Per (kind,
    dataflow) the small (Amaranth-sized) case with the most model cycles runs by default; the
    rest carry the ``slow`` marker (Icarus is ~100x slower per cycle than Verilator; a small case
    costs ~1-2 s, mostly process start)."""
    biggest = {}
    for case in amaranth_cases(cases):
        cycles = gemm_cycles(case.design().timing(), case.m, case.k, case.n).cycles
        key = (case.pe, case.dataflow)
        if key not in biggest or cycles > biggest[key][0]:
            biggest[key] = (cycles, case)
    default = {case for _, case in biggest.values()}
    return [c if c in default else pytest.param(c, marks=pytest.mark.slow) for c in cases]


def require_tool(simulator):
    """Skip without ``simulator``'s tool (saying how to install it), except under CI=true, where
    the cross-simulation must run: a missing tool fails the test."""
    try:
        simulator.find_tool()
    except ToolchainError as e:
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail(f"CI must run the {simulator.name} cross-simulation: {e}")
        pytest.skip(str(e))


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


def run_icarus(case):
    require_tool(ICARUS)
    check(simulate_gemm(*job_operands(case), simulator=ICARUS))
