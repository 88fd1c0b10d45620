"""The MX / NVFP4 design: Amaranth's simulator and Verilator on the case table, accuracy on real
tensors against float64 of the dequantised operands, the output-stationary-only rule, the CLI."""

import json

import numpy as np
import pytest

from hw.accelerator import IncompatibleOptions
from hw.pe_mx import CONTINUE_CODE, FORMATS
from models.design import DesignConfig
from models.mx_gemm import QUANT_ELEMENT, mx_gemm, split_lanes
from models.quant.mx import quantize_mx, quantize_nvfp4
from models.realdata import real_gemm
from models.registry import get_kind
from sim import cli
from tests.cases_mx import AMARANTH_MINILM, MX_CASES
from tests.gemm_runner import amaranth_cases, run_amaranth, run_verilator, verilator_params


@pytest.mark.parametrize("name", list(FORMATS))
def test_real_tensors_track_the_dequantised_product(name):
    """MiniLM L0 FFN1 (K 300: a partial last block): the PE's output (block sums exact, FP32
    rounding) vs float64 of the same dequantised operands, and the quantisation error vs the
    float GEMM is the format's."""
    kind = get_kind("mx")
    pe = kind.prototype(format=name)
    acts, weights = real_gemm("minilm:L0.ffn1", 16, 300, 24)
    ops = kind.operands(acts, weights, pe)
    out = kind.dequantize_output(kind.golden(ops, pe), ops.acts, ops.acts_meta, ops.weights_meta, pe)
    fmt = FORMATS[name]
    pad = -300 % fmt.block
    if fmt.scale == "e4m3":
        deq = lambda x: quantize_nvfp4(np.pad(x, ((0, 0), (0, pad))), fmt.block).dequantize()
    else:
        deq = lambda x: quantize_mx(np.pad(x, ((0, 0), (0, pad))), QUANT_ELEMENT[name],
                                    block=fmt.block).dequantize()
    exact = deq(acts) @ deq(weights.T).T
    assert np.linalg.norm(out - exact) / np.linalg.norm(exact) < 1e-6
    error = np.linalg.norm(out - acts @ weights) / np.linalg.norm(acts @ weights)
    assert 0 < error < QUANTISATION_ERROR_BOUND[name]


# relative Frobenius error of the 16 x 300 x 24 GEMM vs float64, measured (mxint8 0.014,
# e4m3 0.032, e2m3 0.039, e5m2 0.053, e3m2 0.053, nvfp4 0.099, mxfp4 0.144) with 20 % margin:
# more mantissa bits, less error; NVFP4's finer blocks and E4M3 scales beat MXFP4
QUANTISATION_ERROR_BOUND = {"mxint8": 0.017, "mxfp8-e4m3": 0.038, "mxfp6-e2m3": 0.047,
                            "mxfp8-e5m2": 0.064, "mxfp6-e3m2": 0.064, "nvfp4": 0.12, "mxfp4": 0.174}


def _amaranth_params():
    """Every Amaranth-sized case; MiniLM only for :data:`AMARANTH_MINILM` unless ``slow``."""
    return [pytest.param(c, marks=pytest.mark.slow)
            if c.operands.startswith("minilm") and dict(c.pe_options)["format"] not in AMARANTH_MINILM
            else c for c in amaranth_cases(MX_CASES)]


@pytest.mark.parametrize("case", _amaranth_params(), ids=lambda c: getattr(c, "id", None))
def test_amaranth_simulator(case):
    run_amaranth(case)


@pytest.mark.parametrize("case", verilator_params(MX_CASES), ids=lambda c: c.id)
def test_verilator(case):
    run_verilator(case)


def test_random_cases_cover_scale_extremes_and_specials():
    """The default random case holds both zeros, a subnormal, max normal, the E8M0 extremes and
    blocks shorter than a whole block (random ends) as well as whole ones."""
    case = MX_CASES[0]
    acts, weights = case.make_operands()
    pe = case.design().facts.pe
    a_el, a_sl = split_lanes(acts, pe, "a")
    w_el, w_sl = split_lanes(weights.T, pe, "w")
    assert {0, 254, CONTINUE_CODE} <= set(a_sl.ravel().tolist()) | set(w_sl.ravel().tolist())
    assert {0x00, 0x80, 0x01, 0x7E} <= set(a_el.ravel().tolist()) | set(w_el.ravel().tolist())
    runs = np.diff(np.flatnonzero(np.r_[True, a_sl[0] != CONTINUE_CODE]))
    assert pe.steps_per_block in runs and min(runs) < pe.steps_per_block


def test_weight_stationary_is_rejected():
    with pytest.raises(IncompatibleOptions, match="os"):
        DesignConfig("mx", 2, 2, "ws", 8, 8, 8).facts


def test_cli(tmp_path, capsys):
    """``sim --json --dump``: bit-exact, cycles match, and the dump holds the lane codes the RTL
    received (elements, block scale codes, continue codes) from which the golden model gives the
    RTL's words; bad options and invalid or open-ended code files: one line, exit 2, no work."""
    dump = tmp_path / "dump"
    pe = get_kind("mx").prototype(format="mxfp8-e5m2")
    k = str(2 * pe.steps_per_block * pe.k_per_step)       # two whole blocks (the GEMV case's design)
    code = cli.main(["sim", "--pe", "mx", "--format", "mxfp8-e5m2", "--dataflow", "os", "--rows", "2",
                     "--cols", "2", "--m", "1", "--k", k, "--n", "3", "--json", "--dump", str(dump)])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["bit_exact"] and report["cycles_match"]
    assert report["format"] == "mxfp8-e5m2"
    acts, weights = np.load(dump / "acts_q.npy"), np.load(dump / "weights_q.npy")
    slots = split_lanes(acts, pe, "a")[1]
    assert CONTINUE_CODE in slots and np.any(slots != CONTINUE_CODE)
    assert np.array_equal(mx_gemm(acts, weights, pe), np.load(dump / "rtl_out.npy"))
    assert json.loads((dump / "meta.json").read_text())["k_per_step"] == pe.k_per_step
    for argv, message in ((["--format", "mxfp5"], "mxfp5"),
                          (["--sub-block", "3"], "--sub-block must divide")):
        code = cli.main(["sim", "--pe", "mx", "--dataflow", "os", "--rows", "2", "--cols", "2",
                         "--m", "1", "--k", k, "--n", "3", *argv])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    # weights whose second block's last lane is cut off: an open block at the end, refused
    np.save(tmp_path / "a.npy", acts[:, :-pe.k_per_step])
    np.save(tmp_path / "w.npy", weights[:-pe.k_per_step])
    code = cli.main(["sim", "--pe", "mx", "--format", "mxfp8-e5m2", "--dataflow", "os", "--rows", "2",
                     "--cols", "2", "--acts", str(tmp_path / "a.npy"), "--weights", str(tmp_path / "w.npy")])
    captured = capsys.readouterr()
    assert code == 2 and "must end its block" in captured.err and "simulating" not in captured.err
