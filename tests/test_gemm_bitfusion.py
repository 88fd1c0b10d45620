"""The BitFusion case table against a plain-Python reference, Amaranth's simulator, Verilator
and Icarus, and the command line with ``--pe bitfusion``."""

import json

import numpy as np
import pytest

from sim import cli
from tests.cases_bitfusion import BITFUSION_CASES
from sim.simulators import ICARUS
from tests.gemm_runner import (amaranth_cases, icarus_params, require_tool, run_amaranth, run_icarus,
                               run_verilator, verilator_params)


@pytest.mark.parametrize("case", BITFUSION_CASES, ids=lambda c: c.id)
def test_golden_model(case):
    """The golden output against plain-Python integer dot products, wrapped once at the end; the
    codes are in the design's signed ranges."""
    acts, weights = case.make_operands()
    pe = case.design().facts.pe
    assert -(1 << (pe.act_bits - 1)) <= acts.min() and acts.max() < 1 << (pe.act_bits - 1)
    assert -(1 << (pe.weight_bits - 1)) <= weights.min() and weights.max() < 1 << (pe.weight_bits - 1)
    ref = [[sum(x * y for x, y in zip(row, col)) for col in weights.T.tolist()] for row in acts.tolist()]
    wrapped = [[(v + (1 << 31)) % (1 << 32) - (1 << 31) for v in r] for r in ref]
    assert case.design().kind.golden_gemm(acts, weights, pe).tolist() == wrapped


@pytest.mark.parametrize("case", amaranth_cases(BITFUSION_CASES), ids=lambda c: c.id)
def test_amaranth_simulator(case):
    run_amaranth(case)


@pytest.mark.parametrize("case", verilator_params(BITFUSION_CASES), ids=lambda c: c.id)
def test_verilator(case):
    run_verilator(case)


@pytest.mark.parametrize("case", icarus_params(BITFUSION_CASES), ids=lambda c: c.id)
def test_icarus(case):
    run_icarus(case)


def test_cli_sim_w4a8(tmp_path, capsys):
    """``pearray sim --pe bitfusion --weight-bits 4`` end to end, on Icarus (a small design builds
    in seconds there; Verilator builds the case table's)."""
    require_tool(ICARUS)
    code = cli.main(["sim", "--pe", "bitfusion", "--rows", "2", "--cols", "2", "--weight-bits", "4",
                     "--simulator", "icarus",
                     "--m", "5", "--k", "9", "--n", "3", "--json", "--dump", str(tmp_path / "d")])
    out, _ = capsys.readouterr()
    report = json.loads(out)
    assert code == 0 and report["bit_exact"] and report["cycles_match"]
    rtl, golden = (np.load(tmp_path / "d" / f"{n}.npy") for n in ("rtl_out", "golden_out"))
    assert np.array_equal(rtl, golden) and rtl.shape == (5, 3)


@pytest.mark.parametrize("args, message", [(["--act-bits", "3"], "--act-bits must be one of 2, 4, 8, not 3"),
                                           (["--weight-bits", "1"], "--weight-bits must be one of 2, 4, 8, not 1")])
def test_cli_rejects_bad_bits(args, message, capsys):
    code = cli.main(["sim", "--pe", "bitfusion", "--rows", "2", "--cols", "2", "--m", "2", "--k", "4",
                     "--n", "2", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
