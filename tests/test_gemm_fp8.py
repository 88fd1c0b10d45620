"""The FP8 kind's GEMM case table: golden model against the scalar restatement, Amaranth's
simulator and Verilator (bit-exact, RTL cycles == model), and the command line."""

import json

import numpy as np
import pytest

from sim import cli
from tests.cases_fp8 import FP8_CASES
from tests.gemm_runner import amaranth_cases, run_amaranth, run_verilator, verilator_params
from tests.test_pe_fp8 import _scalar_gemm

@pytest.mark.parametrize("case", FP8_CASES, ids=lambda c: c.id)
def test_golden_model(case):
    acts, weights = case.make_operands()
    pe = case.design().facts.pe
    golden = case.design().kind.golden_gemm(acts, weights, pe)
    assert golden.tolist() == _scalar_gemm(acts.tolist(), weights.tolist(), pe.format)


@pytest.mark.parametrize("case", amaranth_cases(FP8_CASES))
def test_amaranth_simulator(case):
    run_amaranth(case)


@pytest.mark.parametrize("case", verilator_params(FP8_CASES))
def test_verilator(case):
    run_verilator(case)


def test_cli(tmp_path, capsys):
    code = cli.main(["sim", "--pe", "fp8", "--format", "e4m3", "--dataflow", "os", "--rows", "2",
                     "--cols", "3", "--m", "5", "--k", "9", "--n", "4", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["bit_exact"] and report["cycles_match"] and report["format"] == "e4m3"
    for argv, message in (
            (["--format", "e4m4"], "--format must be one of e4m3, e5m2, not 'e4m4'"),
            (["--weight-bits", "4"], "PE kind 'fp8' has no --weight-bits option")):
        code = cli.main(["sim", "--pe", "fp8", "--rows", "2", "--cols", "2", "--m", "3", "--k", "4",
                         "--n", "2", *argv])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    # NaN codes in an integer file and infinities in a float file: refused before any work
    np.save(tmp_path / "w.npy", np.ones((4, 2), dtype=np.int64))
    for acts, message in ((np.full((3, 4), 0x7F), "NaN/infinity patterns (e.g. 0x7F)"),
                          (np.full((3, 4), np.inf), "holds NaN or inf values")):
        np.save(tmp_path / "a.npy", acts)
        code = cli.main(["sim", "--pe", "fp8", "--rows", "2", "--cols", "2", "--acts",
                         str(tmp_path / "a.npy"), "--weights", str(tmp_path / "w.npy")])
        captured = capsys.readouterr()
        assert code == 2 and message in captured.err and "simulating" not in captured.err
