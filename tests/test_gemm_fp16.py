"""The FP16 x FP16 -> FP32 design: its GEMM golden model against an exact-rational restatement,
Amaranth's simulator and Verilator on the case table, accuracy on real tensors, the
output-stationary-only rule and the quantiser's refusals."""

import json

import numpy as np
import pytest

from hw.accelerator import IncompatibleOptions
from models.design import DesignConfig
from models.fp16_gemm import decode_fp16, decode_fp32
from models.realdata import real_gemm
from models.registry import get_kind
from sim import cli
from tests.cases_fp16 import FP16_CASES
from tests.gemm_runner import amaranth_cases, run_amaranth, run_verilator, verilator_params
from tests.test_pe_fp16 import fp32_add_rne, fp16_value


@pytest.mark.parametrize("case", [c for c in FP16_CASES if c.k <= 40], ids=lambda c: c.id)
def test_golden_model_is_a_sequence_of_rounded_fp32_additions(case):
    acts, weights = case.make_operands()
    golden = case.design().kind.golden_gemm(acts, weights, case.design().facts.pe)
    for i in range(case.m):
        for j in range(case.n):
            acc = 0
            for k in range(case.k):
                acc = fp32_add_rne(acc, fp16_value(int(acts[i, k])) * fp16_value(int(weights[k, j])))
            assert int(golden[i, j]) & 0xFFFFFFFF == acc, (i, j)


def test_random_codes_cover_the_special_values():
    acts, weights = FP16_CASES[1].make_operands()
    codes = np.concatenate([acts.ravel(), weights.ravel()])
    for special in (0x0000, 0x8000, 0x0001, 0x03FF, 0x7BFF, 0xFBFF):
        assert (codes == special).any(), hex(special)
    assert (((codes >> 10) & 31) == 30).any()


def test_real_tensors_track_float64():
    """MiniLM L0 FFN1 in FP16 with FP32 accumulation vs float64 of the same FP16 values."""
    kind, pe = get_kind("fp16"), get_kind("fp16").prototype()
    ops = kind.operands(*real_gemm("minilm:L0.ffn1", 16, 384, 32), pe)
    out = decode_fp32(kind.golden(ops, pe))
    exact = decode_fp16(ops.acts) @ decode_fp16(ops.weights)
    err = np.linalg.norm(out - exact) / np.linalg.norm(exact)
    assert 0 < err < 1e-6          # FP32 rounding of 384 steps


@pytest.mark.parametrize("case", amaranth_cases(FP16_CASES), ids=lambda c: c.id)
def test_amaranth_simulator(case):
    run_amaranth(case)


@pytest.mark.parametrize("case", verilator_params(FP16_CASES), ids=lambda c: c.id)
def test_verilator(case):
    run_verilator(case)


def test_weight_stationary_is_rejected():
    with pytest.raises(IncompatibleOptions, match="os"):
        DesignConfig("fp16", 2, 2, "ws", 8, 8, 8).facts


@pytest.mark.parametrize("bad, message", [(np.inf, "NaN or infinity"), (np.nan, "NaN or infinity"),
                                          (1e5, "exceed the FP16 range")])
def test_quantiser_refuses_non_finite_and_out_of_range(bad, message):
    kind, pe = get_kind("fp16"), get_kind("fp16").prototype()
    x = np.ones((2, 4))
    x[1, 2] = bad
    with pytest.raises(ValueError, match=message):
        kind.operands(x, np.ones((4, 2)), pe)
    with pytest.raises(ValueError, match="weights"):
        kind.operands(np.ones((2, 4)), x.T.copy(), pe)


def test_infinity_codes_are_refused():
    kind, pe = get_kind("fp16"), get_kind("fp16").prototype()
    ops = kind.operands(np.full((2, 3), 0x7C00), np.full((3, 2), 0x3C00), pe)
    with pytest.raises(ValueError, match="infinity or NaN"):
        kind.golden(ops, pe)


def test_cli(tmp_path, capsys):
    code = cli.main(["sim", "--pe", "fp16", "--dataflow", "os", "--rows", "2", "--cols", "2",
                     "--m", "3", "--k", "10", "--n", "3", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["bit_exact"] and report["cycles_match"]
    code = cli.main(["sim", "--pe", "fp16", "--rows", "2", "--cols", "2", "--m", "3", "--k", "10",
                     "--n", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "dataflow 'os' only" in err and len(err.strip().splitlines()) == 1
    np.save(tmp_path / "a.npy", np.full((3, 8), np.nan))
    np.save(tmp_path / "w.npy", np.ones((8, 2)))
    code = cli.main(["sim", "--pe", "fp16", "--dataflow", "os", "--rows", "2", "--cols", "2",
                     "--acts", str(tmp_path / "a.npy"), "--weights", str(tmp_path / "w.npy")])
    err = capsys.readouterr().err
    assert code == 2 and "NaN or inf" in err and len(err.strip().splitlines()) == 1
