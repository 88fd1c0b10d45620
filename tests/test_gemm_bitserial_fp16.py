"""The BitMoD FP16-activation mode: its golden model against a scalar re-statement of the spec,
Amaranth's simulator, Verilator and Icarus on the case table, accuracy against float64, and the
output-stationary-only rule."""

import json

import numpy as np
import pytest

from hw.accelerator import IncompatibleOptions
from models.bitserial_fp16 import decode_acc, decode_fp16
from models.bitserial_gemm import decode_weight_codes
from sim import cli
from tests.cases_bitserial import BITSERIAL_FP16_CASES
from models.design import DesignConfig

from tests.gemm_runner import (amaranth_cases, icarus_params, run_amaranth, run_icarus, run_verilator,
                                verilator_params)
from tests.test_pe_bitserial import _spec_value


def _scalar_terms(value, fmt):
    """A weight value's terms, restated: Booth digits (INT) or the two highest one-bits (FP)."""
    if fmt in ("int8", "int6"):
        bits = 8 if fmt == "int8" else 6
        u = value & ((1 << bits) - 1)
        out = []
        for i in range(bits // 2):
            hi, mid = (u >> (2 * i + 1)) & 1, (u >> (2 * i)) & 1
            lo = (u >> (2 * i - 1)) & 1 if i else 0
            d = -2 * hi + mid + lo
            out.append((d != 0, d < 0, 2 * i + (abs(d) == 2)))
        return out
    n, terms = abs(value), []
    for _ in range(1 if fmt == "fp3" else 2):
        if n:
            p = n.bit_length() - 1
            terms.append((True, value < 0, p))
            n -= 1 << p
        else:
            terms.append((False, False, 0))
    return terms


def _scalar_reference(acts, codes, fmt):
    """One output at a time, plain Python integers, the steps of models/bitserial_fp16.py."""
    m, k, n = len(acts), len(acts[0]), len(codes[0])
    bits = {"int8": 8, "int6": 6}.get(fmt)
    out = [[0] * n for _ in range(m)]
    for i in range(m):
        for j in range(n):
            X = F = 0
            for s in range(0, k, 4):
                lanes = []
                for kk in range(s, min(k, s + 4)):
                    x = acts[i][kk]
                    ef, f = (x >> 10) & 31, x & 1023
                    e, man = (1, f) if ef == 0 else (ef, f | 1024)
                    c = codes[kk][j]
                    value = _spec_value(c & ((1 << bits) - 1) if bits else c, fmt)
                    lanes.append((x >> 15, e, man, _scalar_terms(value, fmt)))
                for t in range(len(lanes[0][3])):
                    live = [(sg ^ ts[t][1], e + ts[t][2], man) for sg, e, man, ts in lanes
                            if ts[t][0] and man]
                    E = max((v for _, v, _ in live), default=0)
                    dot = sum((-1 if neg else 1) * ((man << 3) >> (E - v)) for neg, v, man in live)
                    top = max(X, E)
                    S = (F >> min(top - X, 16)) + (dot >> min(top - E, 17))
                    k_norm = next(q for q in (0, 1, 2) if -(1 << 15) <= S >> q < 1 << 15)
                    F, X = S >> k_norm, top + k_norm
            out[i][j] = (F & 0xFFFF) | (X << 16)
    return out


@pytest.mark.parametrize("case", BITSERIAL_FP16_CASES, ids=lambda c: c.id)
def test_golden_model(case):
    acts, weights = case.make_operands()
    pe = case.design().facts.pe
    golden = case.design().kind.golden_gemm(acts, weights, pe)
    want = _scalar_reference(acts.tolist(), weights.tolist(), pe.weight_format)
    assert np.array_equal(golden, np.array(want))


def test_random_activations_cover_subnormals_zeros_and_large_exponents():
    case = BITSERIAL_FP16_CASES[0]
    acts, _ = case.make_operands()
    _, e, m = decode_fp16(acts)
    ef = (acts >> 10) & 31
    assert (ef == 0).any() and (m == 0).any() and (ef >= 28).any() and ((acts >> 15) == 1).any()


def test_accumulator_tracks_the_float_gemm_on_real_tensors():
    """Truncation costs little: MiniLM L0 FFN1, mixed4 weights, the float-like accumulator vs
    float64 of the same FP16 activations and weight values."""
    case = next(c for c in BITSERIAL_FP16_CASES if c.operands == "minilm")
    acts, weights = case.make_operands()
    pe = case.design().facts.pe
    raw = case.design().kind.golden_gemm(acts, weights, pe)
    a = acts.astype(np.uint16).view(np.float16).astype(np.float64)
    exact = a @ decode_weight_codes(weights, pe.weight_format)
    err = np.linalg.norm(decode_acc(raw) - exact) / np.linalg.norm(exact)
    assert 0 < err < 5e-3          # measured 2.5e-3 (floor truncation, 15-bit magnitude)


@pytest.mark.parametrize("case", amaranth_cases(BITSERIAL_FP16_CASES), ids=lambda c: c.id)
def test_amaranth_simulator(case):
    run_amaranth(case)


@pytest.mark.parametrize("case", verilator_params(BITSERIAL_FP16_CASES), ids=lambda c: c.id)
def test_verilator(case):
    run_verilator(case)


@pytest.mark.parametrize("case", icarus_params(BITSERIAL_FP16_CASES), ids=lambda c: c.id)
def test_icarus(case):
    run_icarus(case)


def test_weight_stationary_is_rejected():
    with pytest.raises(IncompatibleOptions, match="os"):
        DesignConfig("bitserial_fp16", 2, 2, "ws", 8, 8, 8).facts


def test_cli(tmp_path, capsys):
    code = cli.main(["sim", "--pe", "bitserial_fp16", "--dataflow", "os", "--rows", "2", "--cols", "2",
                     "--weight-format", "int6", "--m", "3", "--k", "10", "--n", "3", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["bit_exact"] and report["cycles_match"]
    code = cli.main(["sim", "--pe", "bitserial_fp16", "--rows", "2", "--cols", "2", "--m", "3",
                     "--k", "10", "--n", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "dataflow 'os' only" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "a.npy").write_bytes(b"")
    acts = np.full((3, 8), np.inf)
    np.save(tmp_path / "a.npy", acts)
    np.save(tmp_path / "w.npy", np.ones((8, 2)))
    code = cli.main(["sim", "--pe", "bitserial_fp16", "--dataflow", "os", "--rows", "2", "--cols", "2",
                     "--acts", str(tmp_path / "a.npy"), "--weights", str(tmp_path / "w.npy")])
    err = capsys.readouterr().err
    assert code == 2 and "holds NaN or inf" in err
