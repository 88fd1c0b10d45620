"""The shift-add (MixPE) case table against the golden model, Amaranth's simulator and Verilator,
and the command line with ``--pe shiftadd``."""

import json

import numpy as np
import pytest

from sim import cli
from sim.amaranth_sim import simulate_gemm_amaranth
from sim.cases_shiftadd import SHIFTADD_CASES
from sim.run import simulate_gemm

from tests.test_pe_shiftadd import _python_reference

AMARANTH_CASES = [c for c in SHIFTADD_CASES if c.amaranth_sized]


@pytest.mark.parametrize("case", SHIFTADD_CASES, ids=lambda c: c.id)
def test_golden_model(case):
    acts, weights, params = case.make_job_operands()
    pe = case.design().facts.pe
    assert params.groups == -(-case.k // case.design().facts.group_size)
    golden = case.design().kind.golden_gemm(acts, weights, pe, params)
    assert np.array_equal(golden, _python_reference(acts.tolist(), weights.tolist(), params))


def _check(result):
    assert result.mismatches == 0, f"{result.mismatches} elements differ from the golden model"
    assert result.cycles == result.model.cycles


@pytest.mark.parametrize("case", AMARANTH_CASES, ids=lambda c: c.id)
def test_amaranth_simulator(case):
    _check(simulate_gemm_amaranth(case.design(), *case.make_job_operands()))


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c.sweep_only else c
                                  for c in SHIFTADD_CASES], ids=lambda c: c.id)
def test_verilator(case):
    _check(simulate_gemm(case.design(), *case.make_job_operands()))


def test_cli_sim_and_verilog(tmp_path, capsys):
    code = cli.main(["verilog", "--pe", "shiftadd", "--rows", "2", "--cols", "2", "-o", str(tmp_path / "v")])
    out, _ = capsys.readouterr()
    assert code == 0 and "group_size" not in out and "module top" in open(out.strip()).read()
    code = cli.main(["sim", "--pe", "shiftadd", "--rows", "2", "--cols", "2", "--weight-bits", "3",
                     "--m", "5", "--k", "9", "--n", "3", "--json", "--dump", str(tmp_path / "d")])
    out, _ = capsys.readouterr()
    report = json.loads(out)
    assert code == 0 and report["bit_exact"] and report["cycles_match"] and report["weight_bits"] == 3
    rtl, golden = (np.load(tmp_path / "d" / f"{n}.npy") for n in ("rtl_out", "golden_out"))
    assert np.array_equal(rtl, golden) and rtl.shape == (5, 3)
