"""The shift-add (MixPE) case table against the golden model, Amaranth's simulator, Verilator and Icarus,
and the command line with ``--pe shiftadd``."""

import json

import numpy as np
import pytest

from sim import cli
from tests.cases_shiftadd import SHIFTADD_CASES

from tests.gemm_runner import (amaranth_cases, icarus_params, run_amaranth, run_icarus, run_verilator,
                                verilator_params)
from tests.test_pe_shiftadd import _python_reference


@pytest.mark.parametrize("case", SHIFTADD_CASES, ids=lambda c: c.id)
def test_golden_model(case):
    acts, weights, params = case.make_job_operands()
    pe = case.design().facts.pe
    assert params.groups == -(-case.k // case.design().facts.group_size)
    golden = case.design().kind.golden_gemm(acts, weights, pe, params)
    assert np.array_equal(golden, _python_reference(acts.tolist(), weights.tolist(), params))


@pytest.mark.parametrize("case", amaranth_cases(SHIFTADD_CASES), ids=lambda c: c.id)
def test_amaranth_simulator(case):
    run_amaranth(case)


@pytest.mark.parametrize("case", verilator_params(SHIFTADD_CASES), ids=lambda c: c.id)
def test_verilator(case):
    run_verilator(case)


@pytest.mark.parametrize("case", icarus_params(SHIFTADD_CASES), ids=lambda c: c.id)
def test_icarus(case):
    run_icarus(case)


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
