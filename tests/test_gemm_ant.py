"""The ANT case table against a plain-Python golden reference, Amaranth's simulator, Verilator
and Icarus, and the command line with ``--pe ant``."""

import json

import numpy as np
import pytest

from models.golden import wrap_signed
from sim import cli
from tests.cases_ant import ANT_CASES
from tests.gemm_runner import (amaranth_cases, icarus_params, run_amaranth, run_icarus, run_verilator,
                               verilator_params)
from tests.test_pe_ant import plain_value


@pytest.mark.parametrize("case", ANT_CASES, ids=lambda c: c.id)
def test_golden_model(case):
    """The golden output (what the RTL is compared with) against plain-Python integers decoded
    from the spec's grids, wrapped once at the end."""
    acts, weights = case.make_operands()
    pe = case.design().facts.pe
    a = [[plain_value(c, pe.act_type) for c in row] for row in acts.tolist()]
    w = [[plain_value(c, pe.weight_type) for c in col] for col in weights.T.tolist()]
    ref = [[sum(x * y for x, y in zip(ra, cw)) for cw in w] for ra in a]
    assert np.array_equal(case.design().kind.golden_gemm(acts, weights, pe), wrap_signed(np.array(ref), 32))


@pytest.mark.parametrize("case", amaranth_cases(ANT_CASES), ids=lambda c: c.id)
def test_amaranth_simulator(case):
    run_amaranth(case)


@pytest.mark.parametrize("case", verilator_params(ANT_CASES), ids=lambda c: c.id)
def test_verilator(case):
    run_verilator(case)


@pytest.mark.parametrize("case", icarus_params(ANT_CASES), ids=lambda c: c.id)
def test_icarus(case):
    run_icarus(case)


def test_cli_sim_with_types(tmp_path, capsys):
    code = cli.main(["sim", "--pe", "ant", "--rows", "2", "--cols", "2", "--act-type", "upot4",
                     "--weight-type", "flint4", "--m", "5", "--k", "9", "--n", "3", "--json",
                     "--dump", str(tmp_path / "d")])
    out, _ = capsys.readouterr()
    report = json.loads(out)
    assert code == 0 and report["bit_exact"] and report["cycles_match"]
    rtl, golden = (np.load(tmp_path / "d" / f"{n}.npy") for n in ("rtl_out", "golden_out"))
    assert np.array_equal(rtl, golden) and rtl.shape == (5, 3)


@pytest.mark.parametrize("args, message", [(["--act-type", "int3"], "'int3'"),
                                           (["--act-type", "int8"], "must both be 4-bit or both 8-bit")])
def test_cli_rejects_bad_types(args, message, capsys):
    code = cli.main(["sim", "--pe", "ant", "--rows", "2", "--cols", "2", "--m", "2", "--k", "4", "--n", "2", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
