"""The L-Mul kind's GEMM case table: golden model against the scalar restatement, Amaranth's
simulator and Verilator (bit-exact, RTL cycles == model), and the command line."""

import json

import pytest

from sim import cli
from tests.cases_lmul import LMUL_CASES
from tests.gemm_runner import amaranth_cases, run_amaranth, run_verilator, verilator_params

from tests.test_pe_lmul import _scalar_gemm


@pytest.mark.parametrize("case", LMUL_CASES, ids=lambda c: c.id)
def test_golden_model(case):
    acts, weights = case.make_operands()
    pe = case.design().facts.pe
    golden = case.design().kind.golden_gemm(acts, weights, pe)
    assert golden.tolist() == _scalar_gemm(acts.tolist(), weights.tolist(), pe.format)


@pytest.mark.parametrize("case", amaranth_cases(LMUL_CASES))
def test_amaranth_simulator(case):
    run_amaranth(case)


@pytest.mark.parametrize("case", verilator_params(LMUL_CASES))
def test_verilator(case):
    run_verilator(case)


def test_cli(capsys):
    code = cli.main(["sim", "--pe", "lmul", "--dataflow", "ws", "--rows", "2", "--cols", "3",
                     "--m", "5", "--k", "9", "--n", "4", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["bit_exact"] and report["cycles_match"] and report["pe"] == "lmul"
