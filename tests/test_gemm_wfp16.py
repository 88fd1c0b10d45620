"""The weight-only FP16-activation design: its GEMM golden model against the exact-rational scalar
restatement, Amaranth's simulator and Verilator on the case table (bit-exact, RTL cycles ==
model, both dataflows), the quantisation error on real MiniLM tensors, the quantisers' refusals
and the command line's JSON and dump contract."""

import json

import numpy as np
import pytest

from hw.accelerator import IncompatibleOptions
from hw.pe import OptionError
from models.bitserial_fp16 import decode_fp16
from models.design import DesignConfig
from models.realdata import real_gemm
from models.registry import get_kind
from models.wfp16_gemm import raw_to_float, special_weight_codes, weight_operand
from sim import cli
from sim.simulators import ICARUS
from tests.cases_wfp16 import WFP16_CASES
from tests.gemm_runner import (amaranth_cases, job_operands, require_tool, run_amaranth, run_verilator,
                               verilator_params)
from tests.test_pe_wfp16 import _reference


def _wrap(x, width):
    return (x + (1 << (width - 1))) % (1 << width) - (1 << (width - 1))


@pytest.mark.parametrize("case", [c for c in WFP16_CASES if c.operands != "minilm-ffn2" or c.k <= 64],
                         ids=lambda c: c.id)
def test_golden_model_is_the_exact_sum(case):
    """Per output, the scalar restatement step by step: exact sums of K steps (per group with
    groups), each group's times its scale code, wrapped at acc_width."""
    design, ops = job_operands(case)
    pe = design.facts.pe
    golden = design.kind.golden(ops, pe)
    kps, width, k = pe.k_per_step, pe.acc_width, case.k
    group = pe.group_size or -(-k // kps) * kps
    codes = ops.extra.codes if pe.group_size else np.ones((1, case.n), dtype=np.int64)
    for i in range(case.m):
        for j in range(case.n):
            total = 0
            for g, start in enumerate(range(0, k, group)):
                stop = min(k, start + group)
                acc = 0
                for s in range(start, stop, kps):    # the layout pads K with zero codes
                    a = np.pad(ops.acts[i, s:min(s + kps, stop)], (0, max(0, s + kps - stop)))
                    w = np.pad(ops.weights[s:min(s + kps, stop), j], (0, max(0, s + kps - stop)))
                    acc = _wrap(_reference(pe, a, w, acc), width)
                total = _wrap(total + _wrap(acc * int(codes[g, j]), width), width)
            assert int(golden[i, j]) == total, (i, j)


def test_random_codes_cover_the_special_values():
    for case in (WFP16_CASES[0], WFP16_CASES[2]):
        acts, weights = case.make_operands()
        for special in (0x0000, 0x8000, 0x0001, 0x03FF, 0x7BFF, 0xFBFF, 0x0400):
            assert (acts == special).any(), hex(special)
        pe = case.design().facts.pe
        for special in special_weight_codes(pe):
            assert (weights == special).any(), special


@pytest.mark.parametrize("case", amaranth_cases(WFP16_CASES), ids=lambda c: c.id)
def test_amaranth_simulator(case):
    run_amaranth(case)


@pytest.mark.parametrize("case", verilator_params(WFP16_CASES), ids=lambda c: c.id)
def test_verilator(case):
    run_verilator(case)


def test_real_tensors_quantisation_error():
    """MiniLM L0 FFN2 (heavy-outlier weights) with FP16 activations: the dequantised output
    against float64 of the same FP16 activations x the float weights. INT8 is far closer than the
    4-bit formats, and the exact accumulator adds no error: the raw output is exactly the FP16
    activations times the integer weight values."""
    acts, weights = real_gemm("minilm:L0.ffn2", 16, 1536, 32)
    kind = get_kind("wfp16")
    errors = {}
    for fmt in ("int4", "int8", "ovp4"):
        pe = kind.prototype(weight_format=fmt)
        ops = kind.operands(acts, weights, pe)
        raw = kind.golden(ops, pe)
        a = np.where(decode_fp16(ops.acts)[0] == 1, -1.0, 1.0) * np.ldexp(
            decode_fp16(ops.acts)[2].astype(np.float64), decode_fp16(ops.acts)[1] - 25)
        assert np.array_equal(raw_to_float(raw), a @ weight_operand(ops.weights, fmt).astype(np.float64))
        out = kind.dequantize_output(raw, ops.acts, ops.acts_meta, ops.weights_meta, pe)
        exact = a @ weights.astype(np.float64)
        errors[fmt] = np.linalg.norm(out - exact) / np.linalg.norm(exact)
    assert errors["int8"] < 0.05 < errors["int4"] and errors["int8"] < errors["ovp4"] < 1, errors


def test_both_dataflows_are_offered():
    assert get_kind("wfp16").dataflows == ("ws", "os")
    assert {c.dataflow for c in WFP16_CASES if not c.sweep_only} == {"ws", "os"}


@pytest.mark.parametrize("bad, message", [(np.inf, "NaN or infinity"), (np.nan, "NaN or infinity"),
                                          (1e5, "exceed the FP16 range")])
def test_quantisers_refuse_non_finite(bad, message):
    kind = get_kind("wfp16")
    for fmt in ("int4", "ovp4"):
        pe = kind.prototype(weight_format=fmt)
        x = np.ones((2, 4))
        x[1, 2] = bad
        with pytest.raises(ValueError, match=message):
            kind.operands(x, np.ones((4, 2)), pe)
        if bad != 1e5:       # weights are scaled: only NaN / inf are refused
            with pytest.raises(ValueError, match="weights contain NaN or infinity"):
                kind.operands(np.ones((2, 4)), x.T.copy(), pe)


def test_infinity_codes_are_refused_when_operands_are_built():
    kind = get_kind("wfp16")
    pe = kind.prototype()
    with pytest.raises(ValueError, match="infinity or NaN"):
        kind.operands(np.full((2, 3), 0x7C00), np.ones((3, 2), dtype=np.int64), pe)


def test_cli_json_dump_and_bad_input(tmp_path, capsys):
    """``pearray sim --pe wfp16`` (Icarus: no extra Verilator build) follows the JSON and dump
    contract: the dump holds the codes the RTL received and both outputs; bad input is one line,
    exit 2, before any work."""
    require_tool(ICARUS)
    rng = np.random.default_rng(4)
    np.save(tmp_path / "a.npy", rng.normal(size=(3, 9)))
    np.save(tmp_path / "w.npy", rng.normal(size=(9, 2)))
    code = cli.main(["sim", "--pe", "wfp16", "--weight-format", "ovp4", "--dataflow", "os",
                     "--simulator", "icarus", "--rows", "2", "--cols", "2",
                     "--acts", str(tmp_path / "a.npy"), "--weights", str(tmp_path / "w.npy"),
                     "--json", "--dump", str(tmp_path / "d")])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["bit_exact"] and report["cycles_match"]
    assert report["weight_format"] == "ovp4"
    d = tmp_path / "d"
    acts, weights = np.load(d / "acts_q.npy"), np.load(d / "weights_q.npy")
    assert acts.shape == (3, 9) and weights.shape == (9, 2) and weights.max() <= 15
    kind, pe = get_kind("wfp16"), get_kind("wfp16").prototype(weight_format="ovp4")
    golden = kind.golden_gemm(acts, weights, pe)
    assert np.load(d / "golden_out.npy", allow_pickle=True).tolist() == golden.tolist()
    assert np.load(d / "rtl_out.npy", allow_pickle=True).tolist() == golden.tolist()
    meta = json.loads((d / "meta.json").read_text())
    assert meta["acts"]["format"] == "fp16" and len(meta["weights"]["scale"]) == 2
    # grouped (ws): the dump also holds the scale codes the post-array unit received
    code = cli.main(["sim", "--pe", "wfp16", "--group", "4", "--simulator", "icarus", "--rows", "2",
                     "--cols", "2", "--m", "3", "--k", "10", "--n", "3", "--json",
                     "--dump", str(tmp_path / "g")])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["bit_exact"] and report["cycles_match"] and report["group_size"] == 4
    scale_codes = np.load(tmp_path / "g" / "scale_codes.npz")["scale_codes"]
    assert scale_codes.shape == (3, 3) and scale_codes.min() >= 1 and scale_codes.max() <= 255
    for argv, message in ((["--weight-format", "int2"], "--weight-format must be one of int4, int8, ovp4"),
                          (["--weight-format", "ovp4", "--group", "4"],
                           "needs an int4 or int8 weight_format"),
                          (["--format", "e4m3"], "PE kind 'wfp16' has no --format option")):
        code = cli.main(["sim", "--pe", "wfp16", "--rows", "2", "--cols", "2", "--m", "3", "--k", "4",
                         "--n", "2", *argv])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    np.save(tmp_path / "inf.npy", np.full((3, 4), 0x7C00, dtype=np.int64))
    np.save(tmp_path / "w4.npy", np.ones((4, 2), dtype=np.int64))
    code = cli.main(["sim", "--pe", "wfp16", "--rows", "2", "--cols", "2", "--acts",
                     str(tmp_path / "inf.npy"), "--weights", str(tmp_path / "w4.npy")])
    captured = capsys.readouterr()
    assert code == 2 and "infinity or NaN" in captured.err and "simulating" not in captured.err


def test_groups_are_ws_int_only_and_match_the_quantiser():
    kind = get_kind("wfp16")
    with pytest.raises(OptionError, match="needs an int4 or int8 weight_format"):
        kind.prototype(weight_format="ovp4", group_size=128)
    with pytest.raises(IncompatibleOptions, match="os"):
        DesignConfig("wfp16", 2, 2, "os", 8, 8, 8, (("group_size", 8),)).facts
    pe = kind.prototype(group_size=8)
    acts, weights = real_gemm("minilm:L0.ffn1", 4, 40, 3)
    ops = kind.operands(acts, weights, pe)
    assert ops.extra.codes.tolist() == ops.weights_meta["scale_codes"]   # the quantiser's codes
    with pytest.raises(ValueError, match="group size 8, the design uses 16"):
        kind.extra_operand(ops.acts, ops.weights, kind.prototype(group_size=16), None, ops.weights_meta)

    # on the heavy-outlier FFN2 weights, g128 INT4 beats one scale per channel (measured 0.26 vs 0.36)
    acts, weights = real_gemm("minilm:L0.ffn2", 16, 1536, 64)
    exact = acts.astype(np.float64) @ weights.astype(np.float64)
    errors = []
    for pe in (kind.prototype(group_size=128), kind.prototype()):
        ops = kind.operands(acts, weights, pe)
        out = kind.dequantize_output(kind.golden(ops, pe), ops.acts, ops.acts_meta, ops.weights_meta, pe)
        errors.append(np.linalg.norm(out - exact) / np.linalg.norm(exact))
    assert errors[0] < 0.8 * errors[1] < 0.4, errors
