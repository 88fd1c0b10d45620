"""The bit-serial (BitMoD) case table against an independent reference, Amaranth's simulator,
Verilator and Icarus; the cycle model across formats; the command line with ``--pe bitserial``."""

import json

import numpy as np
import pytest

from models.bitserial_gemm import scale_code_params, scale_codes_of
from models.cycles import gemm_cycles
from sim import cli
from tests.cases_bitserial import BITSERIAL_CASES, BitSerialCase

from tests.gemm_runner import (amaranth_cases, icarus_params, run_amaranth, run_icarus, run_verilator,
                                verilator_params)
from tests.test_pe_bitserial import _spec_value
from models.realdata import get_tensor
from models.registry import get_kind
from models.quant.bitmod import fake_quant_bitmod


def _wrap(x, bits=32):
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def _python_reference(acts, codes, fmt, group, scale_codes):
    """Plain Python integers, values straight from the spec tables, direct products (no terms)."""
    m, k, n = len(acts), len(codes), len(codes[0])
    bits = {"int8": 8, "int6": 6}.get(fmt)
    value = [[_spec_value(c & ((1 << bits) - 1) if bits else c, fmt) for c in row] for row in codes]
    out = [[0] * n for _ in range(m)]
    for i in range(m):
        for j in range(n):
            if group is None:
                out[i][j] = _wrap(sum(acts[i][kk] * value[kk][j] for kk in range(k)))
                continue
            total = 0
            for g in range(0, k, group):
                raw = _wrap(sum(acts[i][kk] * value[kk][j] for kk in range(g, min(k, g + group))))
                total = _wrap(total + _wrap(raw * scale_codes[g // group][j]))
            out[i][j] = total
    return out


@pytest.mark.parametrize("case", BITSERIAL_CASES, ids=lambda c: c.id)
def test_golden_model(case):
    acts, weights, extra = case.make_job_operands()
    pe = case.design().facts.pe
    golden = case.design().kind.golden_gemm(acts, weights, pe, extra)
    codes = None if extra is None else scale_codes_of(extra).tolist()
    want = _python_reference(acts.tolist(), weights.tolist(), pe.weight_format, pe.group_size, codes)
    assert np.array_equal(golden, np.array(want))


def test_real_tensors_use_every_special_value():
    """The MiniLM mixed4 case's groups pick more than one SV type, and its weights hit the SV code."""
    case = next(c for c in BITSERIAL_CASES if c.operands == "minilm-ffn2" and
                dict(c.pe_options)["weight_format"] == "mixed4")
    _, weights, _ = case.make_job_operands()
    selectors = np.unique(weights >> 4)
    sv_code = (weights & 0xF) == 0b1000
    assert len(selectors) >= 2 and sv_code.any()


@pytest.mark.parametrize("case", amaranth_cases(BITSERIAL_CASES), ids=lambda c: c.id)
def test_amaranth_simulator(case):
    run_amaranth(case)


@pytest.mark.parametrize("case", verilator_params(BITSERIAL_CASES), ids=lambda c: c.id)
def test_verilator(case):
    run_verilator(case)


@pytest.mark.parametrize("case", icarus_params(BITSERIAL_CASES), ids=lambda c: c.id)
def test_icarus(case):
    run_icarus(case)


def test_cycle_model_follows_the_term_count():
    """Same shape, every format: the model's cycles grow with the terms per weight (II), and the
    fold interval is max(S * II, R)."""
    cycles = {}
    for fmt in ("fp3", "fp4", "mixed4", "int6", "int8"):
        case = BitSerialCase("x", 8, 8, "ws", 64, 256, 16,
                             pe_options=(("group_size", 128), ("weight_format", fmt)))
        design = case.design(cases=(case,))
        timing = design.timing()
        assert timing.initiation_interval == design.facts.pe.terms
        cycles[fmt] = gemm_cycles(timing, 64, 256, 16).cycles
    assert cycles["fp4"] == cycles["mixed4"]
    assert cycles["fp3"] < cycles["fp4"] < cycles["int6"] < cycles["int8"]


def test_scale_code_params_round_trip():
    codes = np.array([[1, 2, 3, 127], [128, 200, 254, 255]])
    params = scale_code_params(codes, 8)
    assert np.array_equal(scale_codes_of(params), codes) and (params.groups, params.n) == (2, 4)
    with pytest.raises(ValueError, match="scale codes"):
        scale_code_params(np.array([[0, 1]]), 8)


def test_cli_sim_every_format_flag_and_dump(tmp_path, capsys):
    code = cli.main(["verilog", "--pe", "bitserial", "--rows", "2", "--cols", "2",
                     "--weight-format", "int6", "-o", str(tmp_path / "v")])
    out, _ = capsys.readouterr()
    assert code == 0 and "module top" in open(out.strip()).read()
    code = cli.main(["sim", "--pe", "bitserial", "--rows", "2", "--cols", "2", "--weight-format",
                     "mixed3", "--group", "4", "--m", "5", "--k", "9", "--n", "3", "--json",
                     "--dump", str(tmp_path / "d")])
    out, _ = capsys.readouterr()
    report = json.loads(out)
    assert code == 0 and report["bit_exact"] and report["cycles_match"]
    assert report["weight_format"] == "mixed3" and report["group_size"] == 4
    rtl, golden = (np.load(tmp_path / "d" / f"{n}.npy") for n in ("rtl_out", "golden_out"))
    assert np.array_equal(rtl, golden) and rtl.shape == (5, 3)


def test_cli_raw_design_in_output_stationary(capsys):
    code = cli.main(["sim", "--pe", "bitserial", "--rows", "2", "--cols", "2", "--dataflow", "os",
                     "--group", "none", "--weight-format", "int8", "--m", "3", "--k", "5", "--n", "2",
                     "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["bit_exact"] and report["group_size"] is None


@pytest.mark.parametrize("argv, match", [
    (["--weight-format", "fp5"], "--weight-format must be one of"),
    (["--group", "3"], "multiple"),                          # not a multiple of the 2 rows
    (["--dataflow", "os"], "weight-stationary"),              # grouped needs ws
    (["--group", "zero"], "argument --group: expected an integer"),
])
def test_cli_bad_options(argv, match, capsys):
    code = cli.main(["sim", "--pe", "bitserial", "--rows", "2", "--cols", "2", "--m", "3",
                     "--k", "4", "--n", "2"] + argv)
    err = capsys.readouterr().err
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1


def test_weight_format_is_rejected_for_other_kinds(capsys):
    code = cli.main(["sim", "--pe", "int8", "--rows", "2", "--cols", "2", "--m", "3", "--k", "4",
                     "--n", "2", "--weight-format", "int8"])
    assert code == 2 and "no --weight-format option" in capsys.readouterr().err


@pytest.mark.parametrize("fmt, group, limit", [("mixed4", 128, 0.14), ("mixed3", 128, 0.26),
                                               ("int8", 128, 0.06), ("fp4", None, 0.16)])
def test_dequantised_output_tracks_the_float_gemm(fmt, group, limit):
    """The registry chain (quantisers -> golden integer GEMM -> dequantisation) on real MiniLM L0
    FFN2 tensors stays close to the fp64 GEMM, and matches the fake-quantised float GEMM."""
    kind = get_kind("bitserial")
    pe = kind.prototype(weight_format=fmt, group_size=group)
    x = get_tensor("minilm:L0.ffn2.act")[:32, :384].astype(np.float64)
    w = get_tensor("minilm:L0.ffn2").T[:384, :48].astype(np.float64)
    acts, a_meta = kind.quantize_acts(x, pe)
    codes, w_meta = kind.quantize_weights(w, pe)
    extra = kind.extra_operand(acts, codes, pe, a_meta, w_meta)
    y = kind.dequantize_output(kind.golden_gemm(acts, codes, pe, extra), acts, a_meta, w_meta, pe)
    exact = x @ w
    assert np.linalg.norm(y - exact) / np.linalg.norm(exact) < limit
    # the same weights through the format's fake quantiser, activations through INT8
    wq = fake_quant_bitmod(w.T, fmt, group_size=group or 384, scale_format="int8").T
    xq = acts * a_meta["scale"][0]
    assert np.allclose(y, xq @ wq, rtol=1e-9, atol=1e-9 * np.abs(xq @ wq).max())
