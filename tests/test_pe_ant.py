"""ANT: the border type decoder and the ANT PE alone (Amaranth's simulator) against the spec's
grids, the PE behind its decoders against the golden twin, the quantiser's rounding and type
selection against plain-Python references, the accuracy on real MiniLM tensors. (Lint, the
conformance suite and synthesis cover the kind through the registry.)"""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.ant_decoder import DECODE, ELEMENT_WIDTH, EXP_WIDTH, FUSED, INT_WIDTH, LANES, TYPE_NAMES, AntDecoder
from hw.pe_ant import AntPE
from models.ant_gemm import (ant_dequantise, ant_gemm_int, ant_values, quantize_ant_acts,
                             quantize_ant_weights, select_ant_types)
from models.golden import wrap_signed
from models.intcodes import quantize_acts, quantize_weights
from models.quant import ant_format
from models.quant.common import relative_error
from models.realdata import real_gemm
from sim.pe_driver import BorderedPE, PEStep, code_step, run_steps
from tests.cases_ant import ANT_CASES, MINILM_TYPES


def plain_value(c, ant_type):
    """One element code's value in LSB units, straight from the spec's grids (no numpy, no
    models.quant.ant_format)."""
    sign, low3 = (-1 if c & 8 else 1), c & 7
    if ant_type == "int4":
        return c - 16 if c >= 8 else c
    if ant_type in ("uint4", "uint8"):
        return c
    if ant_type == "int8":
        return c - 256 if c >= 128 else c
    if ant_type == "flint4":
        return sign * (0, 1, 2, 3, 4, 6, 8, 16)[low3]
    if ant_type == "uflint4":
        return sorted({0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 24, 32, 64})[c]
    if ant_type == "pot4":
        return 0 if low3 == 0 else sign * 2 ** (low3 - 1)
    if ant_type == "upot4":
        return 0 if c == 0 else 2 ** (c - 1)
    raise ValueError(ant_type)


def _fields(word):
    """Decoder operand word -> [(e, i)] * LANES per the documented layout."""
    out = []
    for j in range(LANES):
        v = (word >> (j * ELEMENT_WIDTH)) & ((1 << ELEMENT_WIDTH) - 1)
        e, i = v & ((1 << EXP_WIDTH) - 1), v >> EXP_WIDTH
        out.append((e, i - (1 << INT_WIDTH) if i >= 1 << (INT_WIDTH - 1) else i))
    return out


@pytest.mark.parametrize("ant_type", TYPE_NAMES)
def test_model_tables_are_the_spec_grids(ant_type):
    t = ant_format.TYPES[ant_type]
    assert list(t.values) == [plain_value(c, ant_type) for c in range(1 << t.bits)]
    assert t.decode(t.encode(np.array(t.grid))).tolist() == list(t.grid)
    if ant_type in DECODE:                           # the RTL's table, same values
        assert [i << e for e, i in DECODE[ant_type]] == list(t.values)


@pytest.mark.parametrize("ant_type", TYPE_NAMES)
def test_decoder_exhaustive(ant_type):
    """Every code in every lane (4-bit: the 16 words with all lanes equal plus random words;
    8-bit: all 256 bytes) against the spec's values; ``constant_bits`` against the operand bits
    that no simulated code changed."""
    dec = AntDecoder(ant_type=ant_type)
    rng = np.random.default_rng(3)
    if ant_type in FUSED:
        words = list(range(256))
    else:
        words = [sum(c << (4 * j) for j in range(LANES)) for c in range(16)]
        words += [int(w) for w in rng.integers(0, 1 << 16, size=64)]
    got = []

    async def tb(ctx):
        for w in words:
            ctx.set(dec.code, w)
            got.append(ctx.get(dec.operand))

    sim = Simulator(dec)
    sim.add_testbench(tb)
    sim.run()
    for w, operand in zip(words, got):
        fields = _fields(operand)
        if ant_type in FUSED:
            assert sum(i << e for e, i in fields) == plain_value(w, ant_type)
            assert fields[0][0] == 0 and 0 <= fields[0][1] <= 15 and fields[1][0] == 4
            assert fields[2:] == [(0, 0), (0, 0)]
        else:
            assert [i << e for e, i in fields] == [plain_value((w >> (4 * j)) & 15, ant_type)
                                                   for j in range(LANES)]
    # the bits no code changes (every lane saw every code) and those equal to a lower bit of
    # their field in every word are the ones the array never carries
    columns = {b: tuple(operand >> b & 1 for operand in got) for b in range(LANES * ELEMENT_WIDTH)}
    assert dec.constant_bits == {b: col[0] for b, col in columns.items() if len(set(col)) == 1}
    field_start = {b: b - b % ELEMENT_WIDTH + (EXP_WIDTH if b % ELEMENT_WIDTH >= EXP_WIDTH else 0)
                   for b in columns}
    copies = {}
    for b, col in columns.items():
        same = [s for s in range(field_start[b], b) if columns[s] == col and len(set(columns[s])) > 1]
        if same and len(set(col)) > 1:
            copies[b] = same[0]
    assert dec.copied_bits == copies


@pytest.mark.parametrize("fused", [False, True])
def test_pe_step_equals_the_exponent_integer_identity(fused):
    """Random and extreme exponent-integer operands (shift 28, |i| 15, the -8 corner), acc_in at
    the wrap edges: the PE's step against ``acc_in + sum_p (i_a * i_w) << (e_a + e_w)``."""
    pe = AntPE(act_type="int8", weight_type="uint8") if fused else AntPE()
    rng = np.random.default_rng(int(fused))
    n = 300
    e = rng.integers(0, 15, size=(n, 2, LANES))
    i = rng.integers(-8, 16, size=(n, 2, LANES))
    e[:3], i[:3] = 14, [[[15] * 4] * 2, [[-8] * 4, [15] * 4], [[-8] * 4] * 2]
    acc_in = rng.integers(-(1 << 31), 1 << 31, size=n)
    acc_in[:2] = [(1 << 31) - 1, -(1 << 31)]

    def pack(es, is_):
        return sum((int(es[j]) | ((int(is_[j]) & ((1 << INT_WIDTH) - 1)) << EXP_WIDTH)) << (j * ELEMENT_WIDTH)
                   for j in range(LANES))

    steps = [PEStep(pack(e[s, 0], i[s, 0]), pack(e[s, 1], i[s, 1]), int(acc_in[s])) for s in range(n)]
    got = wrap_signed(run_steps(pe, steps).outputs, 32).tolist()
    pairs = [(j, l) for j in (0, 1) for l in (0, 1)] if fused else [(p, p) for p in range(LANES)]
    want = [int(acc_in[s]) + sum((int(i[s, 0, j]) * int(i[s, 1, l])) << int(e[s, 0, j] + e[s, 1, l])
                                 for j, l in pairs) for s in range(n)]
    assert got == wrap_signed(np.array([w % (1 << 64) - (1 << 64) if w >= 1 << 63 else w for w in want]), 32).tolist()
    assert (pe.k_per_step, pe.macs_per_step) == ((1, 1) if fused else (4, 4))
    assert (pe.initiation_interval, pe.latency) == (1, 1)


@pytest.mark.parametrize("types", [("upot4", "pot4"), ("uflint4", "flint4"), ("int4", "uint4"),
                                   ("int8", "int8"), ("uint8", "int8")])
def test_bordered_pe_against_the_golden_twin(types):
    """The PE behind its two decoders, fed code lanes, against ant_gemm_int step by step
    (output-stationary feedback: acc_in = the previous acc_out)."""
    pe = AntPE(act_type=types[0], weight_type=types[1])
    k = pe.k_per_step
    rng = np.random.default_rng(5)
    n = 60
    a = rng.integers(0, 1 << pe.act_element_bits, size=(n, k))
    w = rng.integers(0, 1 << pe.weight_element_bits, size=(n, k))
    a[:4] = (1 << pe.act_element_bits) - 1                # the largest codes
    w[:4] = np.array([7, 8, 15, 0][:k] if k == 4 else [128])
    steps = [code_step(pe, a[s], w[s], acc_in=None if s else 0) for s in range(n)]
    got = wrap_signed(run_steps(BorderedPE(pe), steps).outputs, 32)
    want = [ant_gemm_int(a[:s + 1].reshape(1, -1), w[:s + 1].reshape(-1, 1), act_type=types[0],
                         weight_type=types[1])[0, 0] for s in range(n)]
    assert got.tolist() == want


def test_pe_contract_and_bad_options():
    pe = AntPE()
    assert pe.act_width == pe.weight_width == LANES * ELEMENT_WIDTH and pe.acc_width == 32
    assert pe.act_code_width == pe.weight_code_width == 16 and pe.act_element_bits == 4
    fused = AntPE(act_type="uint8", weight_type="int8")
    assert fused.act_code_width == 8 and fused.k_per_step == 1
    assert type(pe.act_border()) is type(pe.weight_border()) is AntDecoder
    for bad in ("int3", None, 4, "fp4"):
        with pytest.raises(TypeError, match="act_type"):
            AntPE(act_type=bad)
    with pytest.raises(TypeError, match="must both be 4-bit or both 8-bit"):
        AntPE(act_type="int8")
    with pytest.raises(TypeError, match="acc_width"):
        AntPE(acc_width=16)


def _plain_round(t, grid):
    """The artifact's kernel: scan the grid ascending, keep a point whose distance is <= the
    best so far (ties -> the larger value); beyond the ends the end point is nearest."""
    best, dist = None, None
    for g in grid:
        if dist is None or abs(t - g) <= dist:
            best, dist = g, abs(t - g)
    return best


@pytest.mark.parametrize("ant_type", ["int4", "uint4", "flint4", "uflint4", "pot4", "upot4", "int8"])
def test_rounding_against_the_plain_kernel(ant_type):
    t_ = ant_format.TYPES[ant_type]
    grid = list(t_.grid)
    # every midpoint (ties), points around them, beyond both ends
    mids = [(a + b) / 2 for a, b in zip(grid, grid[1:])]
    ts = mids + [m + d for m in mids for d in (-0.01, 0.01)] + [grid[0] - 5.5, grid[-1] + 7.25]
    x = np.array([ts], dtype=np.float32)
    values, scale = ant_format.quantize(x, np.float32(t_.max_value), t_)      # scale 1
    assert scale == 1
    assert values[0].tolist() == [_plain_round(float(v), grid) for v in x[0]]


def test_alpha_search_and_type_selection_against_brute_force():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 50)).astype(np.float32)
    x[0, :3] = [9.0, -7.5, 6.0]
    for name in ("int4", "flint4", "pot4"):
        alpha, err = ant_format.search_alpha(x, name, per_row=True)
        for r in range(3):
            errs = []
            for i in range(75, 150):
                a = np.float32(np.abs(x[r]).max() * np.float32(i / 100))
                q, s = ant_format.quantize(x[r:r + 1], a, name)
                errs.append((float(np.mean((q * np.float64(s) - x[r]) ** 2)), a))
            best = min(errs, key=lambda p: p[0])       # min() keeps the first: the smallest clip
            assert np.isclose(alpha[r, 0], best[1]) and np.isclose(
                np.mean((ant_format.quantize(x[r:r + 1], alpha[r, 0], name)[0] * np.float64(
                    ant_format.quantize(x[r:r + 1], alpha[r, 0], name)[1]) - x[r]) ** 2), best[0])
    chosen, errors = ant_format.select_type(x, weights=True)
    assert set(errors) == {"int4", "pot4", "flint4"} and errors[chosen] == min(errors.values())
    assert ant_format.candidates(np.abs(x), weights=False) == ("uint4", "upot4", "uflint4")
    assert ant_format.candidates(x, weights=False, bits=8) == ("int8",)


@pytest.mark.parametrize("src", sorted(MINILM_TYPES))
def test_minilm_cases_carry_the_selected_types(src):
    """The real-tensor cases' types are what ANT's MSE selection picks for their slices."""
    case = next(c for c in ANT_CASES if c.operands == src)
    layer = "ffn2" if src == "minilm-ffn2" else "ffn1"
    acts, weights = real_gemm(f"minilm:L0.{layer}", case.m, case.k, case.n)
    assert select_ant_types(acts, weights) == dict(case.pe_options)


def test_golden_twin_dequantises_to_the_quantised_product():
    acts, weights = real_gemm("minilm:L0.ffn1", 32, 96, 40)
    a_codes, a_meta = quantize_ant_acts(acts, ant_type="pot4")
    w_codes, w_meta = quantize_ant_weights(weights, ant_type="int4")
    raw = ant_gemm_int(a_codes, w_codes, act_type="pot4", weight_type="int4")
    a_f = ant_values(a_codes, "pot4") * np.float64(a_meta["scale"][0])
    w_f = ant_values(w_codes, "int4") * np.asarray(w_meta["scale"])[None, :]
    out = ant_dequantise(raw, act_scale=a_meta["scale"], weight_scale=w_meta["scale"])
    assert np.allclose(out, a_f @ w_f, rtol=1e-12, atol=1e-12)
    assert relative_error(acts @ weights, out) < 0.5


@pytest.mark.parametrize("layer", ["ffn1", "ffn2"])
def test_accuracy_ant_selected_types_vs_int4_on_minilm(layer):
    """ANT's selected 4-bit types against plain INT4 (absmax, per channel / per tensor) on a
    MiniLM L0 FFN slice: each tensor's error is at most INT4's, and the W4A4 output error too."""
    acts, weights = real_gemm(f"minilm:L0.{layer}", 64, 256, 96)
    ref = acts.astype(np.float64) @ weights
    types = select_ant_types(acts, weights)
    a_codes, a_meta = quantize_ant_acts(acts, ant_type=types["act_type"])
    w_codes, w_meta = quantize_ant_weights(weights, ant_type=types["weight_type"])
    out = ant_dequantise(ant_gemm_int(a_codes, w_codes, **types), act_scale=a_meta["scale"],
                         weight_scale=w_meta["scale"])
    a_ant = ant_values(a_codes, types["act_type"]) * a_meta["scale"][0]
    w_ant = ant_values(w_codes, types["weight_type"]) * np.asarray(w_meta["scale"])[None, :]
    qa, ma = quantize_acts(acts, bits=4)
    qw, mw = quantize_weights(weights, bits=4)
    a_int, w_int = qa * ma["scale"][0], qw * np.asarray(mw["scale"])[None, :]
    ant_r = (relative_error(weights, w_ant), relative_error(acts, a_ant), relative_error(ref, out))
    int_r = (relative_error(weights, w_int), relative_error(acts, a_int), relative_error(ref, a_int @ w_int))
    print(f"\nMiniLM L0 {layer} 64x256x96, ANT {types}: weights/acts/output rel. error "
          f"{ant_r[0]:.4f} {ant_r[1]:.4f} {ant_r[2]:.4f}; INT4 {int_r[0]:.4f} {int_r[1]:.4f} {int_r[2]:.4f}")
    assert ant_r[0] <= int_r[0] and ant_r[1] <= int_r[1] and ant_r[2] < int_r[2]
