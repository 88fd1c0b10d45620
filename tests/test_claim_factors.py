"""The measured factors past a paper configuration (models/claim_factors.py): the substituted
measurement equals the cost model's when nothing is substituted, each factor changes one thing,
the factors multiply to the fully substituted ratio, the formulas are the papers' and every figure
is the one shared/specs/baselines.md records."""

import json
import math
from dataclasses import fields, replace
from pathlib import Path

import pytest

from hw.mac_units import Fp8Fp32AccPE
from hw.pe_fp8 import Fp8PE
from hw.pe_int8 import Int8PE
from models import claim_factors as cf
from models import claim_row, claims, lmul_energy
from models.claims_configs import CLAIMS, COMMON, CONFIGS, Setting
from models.cost import CostConfig, evaluate
from models.workloads import Gemm
from tests.tools import require_sta, require_synthesis

# baselines.md lines the figures come from, quoted (the file is read too when it is reachable)
QUOTED = {
    "ant_pe": "PE power [CODE results/systolic_array_synth.csv] 8/4 PE: leak 64.314 uW, dyn 279.96 uW at 500 MHz",
    "bitmod": "  - BitMoD: 64x16 / 32x32; 0.56 pJ/cycle/PE; 1507.7 um^2.",
    "ant": "  - ANT: 64x16 / 32x32; 0.56 pJ; 1318.6 um^2; w bits 5/5/5.25/5/4/5 per model, KV 16.",
    "olive": "  - OliVe: 72x16 / 36x32; 0.613 pJ; 1318.6 um^2; w 4 (4.5 for Llama-3-8B).",
    "bits": "  - BitMoD weight bits: 3.0625 (gen), 4.0625 (disc), 6.0625 (lossless); KV 8.",
    "ant_conf": "32x32 PEs, 500 MHz, WBUF 128 KB, IBUF 256 KB, OBUF 128 KB, DRAM 1024 b/cycle, CACTI 28 nm",
    "shared": "  - Shared: 512 KB W-SRAM + 512 KB I-SRAM, 8 banks, CACTI 28 nm; DRAM 128 b/cycle x2; "
              "P&R factor 1.5; ctx 256, batch 1.",
}


# the artifact code lines read for the figures baselines.md does not record (quoted)
CODE_QUOTED = {
    # clevercool/ANT-Quantization@2c0f3cc ant_simulator/bitfusion/src/simulator/stats.py get_energy
    "ant_stats": ("        dram_leak_energy = 3838.05 / 500000\n        dram_cost_read = 1.18294 / 1024\n"
                  "        dram_cost_write = 1.47797 / 1024"),
    # abdelfattah-lab/BitMoD-HPCA-25@6b68523 bitmod_sim/accelerator.py _init_mem
    "bitmod_dram": "        dram_rw_bw = 128\n ... \n        wr_cost = dram_rw_bw / 64 * 1200",
    # clevercool/ANT-Quantization@2c0f3cc ant_simulator/bitfusion/sram/cacti_sweep.csv: size (bytes),
    # block size (bytes), technology (u), read_energy_nJ, write_energy_nJ, leak_power_mW of its rows
    "ant_cacti": ("4096.0,64.0,0.028,0.0168924,0.0203422,2.96594\n8192.0,64.0,0.028,0.0177688,0.0248866,5.4983\n"
                  "128.0,4.0,0.028,0.000294945,0.000415925,0.127708"),
    # yuzhang712/mixpe_simulator@769f0c8 results/systolic_array_synth.csv (the row simulator.py
    # get_energy_cost looks up by Max / Min Precision) and conf_mixint.ini / conf_bitfusion.ini
    "mixpe_synth": "systolic_array,500000000,1,1,8,4, 1 ,64314,279960,344300",
    # bitfusion/src/benchmarks/bitfusion_bench.py: one LLM layer block (input, weight, output, -, -,
    # precision of activations and weights, -); every block 8 bits but some 5120 x 5120 rows at 4
    "mixpe_bf_bench": ("[[1, 5120], [1920, 5120], [1, 1920], [], [], 8, 1],\n"
                       "[[1, 5120], [15360, 5120], [1, 15360], [], [], 8, 1],\n"
                       "[[1, 5120], [640, 5120], [1, 640], [], [], 8, 1],\n"
                       "[[1, 5120], [5120, 5120], [1, 5120], [], [], 4, 1],\n"
                       "[[1, 5120], [2560, 5120], [1, 2560], [], [], 8, 1],\n"
                       "[[1, 5120], [20480, 5120], [1, 20480], [], [], 8, 1],\n"
                       "[[1, 20480], [640, 20480], [1, 640], [], [], 8, 1],\n"
                       "[[1, 20480], [5120, 20480], [1, 5120], [], [], 8, 1],"),
    "mixpe_conf": ("if_width = 1024\n ... frequency = 500000000\n ... Wgt_SRAM = 131072\nAct_SRAM = 262144\n"
                   "Out_SRAM = 131072\na = 64\nc = 64\nhigh_prec = 8\nlow_prec = 4"),
}


def _baselines_md():
    here = Path(__file__).resolve()
    for root in here.parents:
        path = root / "shared" / "specs" / "baselines.md"
        if path.exists():
            return path.read_text()
    return None


def test_quoted_lines_are_in_baselines_md():
    text = _baselines_md()
    if text is None:
        pytest.skip("shared/specs/baselines.md not reachable from this checkout (the quotes stand)")
    for line in QUOTED.values():
        assert line in text


def test_figures_are_the_quoted_ones():
    assert f"dyn {cf.ANT_PE_DYN_UW} uW at {cf.ANT_PE_CLOCK_MHZ} MHz" in QUOTED["ant_pe"]
    assert cf.ant_pe_pj_per_cycle() == pytest.approx(0.55992)
    assert f"; {cf.BITMOD_PE_PJ} pJ/cycle/PE" in QUOTED["bitmod"]
    assert f"; {cf.BITMOD_ANT_PE_PJ} pJ;" in QUOTED["ant"] and f"; {cf.BITMOD_OLIVE_PE_PJ} pJ;" in QUOTED["olive"]
    assert f"P&R factor {cf.BITMOD_PR_FACTOR};" in QUOTED["shared"]
    assert f"{cf.BITMOD_W_BITS} (gen)" in QUOTED["bits"] and f"KV {cf.BITMOD_KV_BITS}." in QUOTED["bits"]
    # per-model lists: Llama-2-7b's entry (the order of BitMoD's model_list)
    ant_bits = QUOTED["ant"].split("w bits ")[1].split(" ")[0].split("/")
    assert len(ant_bits) == len(cf.BITMOD_MODELS)
    assert float(ant_bits[cf.BITMOD_MODELS.index("Llama-2-7b")]) == cf.BITMOD_ANT_W_BITS
    assert f"w {cf.BITMOD_OLIVE_W_BITS} (4.5 for Llama-3-8B)" in QUOTED["olive"]


def test_code_figures_are_the_quoted_lines():
    assert f"dram_cost_read = {cf.ANT_DRAM_READ_NJ_PER_KBIT} / 1024" in CODE_QUOTED["ant_stats"]
    assert f"dram_cost_write = {cf.ANT_DRAM_WRITE_NJ_PER_KBIT} / 1024" in CODE_QUOTED["ant_stats"]
    assert cf.ANT_DRAM_LEAK_NJ == 3838.05 / 500000 and "3838.05 / 500000" in CODE_QUOTED["ant_stats"]
    assert f"leak {cf.ANT_PE_LEAK_UW} uW" in QUOTED["ant_pe"]
    assert f"dram_rw_bw = {cf.BITMOD_DRAM_BUS_BITS}" in CODE_QUOTED["bitmod_dram"]
    assert f"/ 64 * {cf.BITMOD_DRAM_PJ_PER_64B}" in CODE_QUOTED["bitmod_dram"]
    assert cf.bitmod_dram_pj_per_bit() == pytest.approx(18.75)
    assert cf.ant_dram_pj_per_bit() == pytest.approx((1.15521, 1.44333), rel=1e-4)
    # energy.py prints nJ x 1e3 as pJ: an array of 1024 ANT PEs leaks 1024 x 64.314 uW / 500 MHz
    assert cf.ant_static_pj_per_cycle() == pytest.approx((0.128628, 7.6761), rel=1e-5)


def test_mixpe_figures_are_its_simulators():
    """MixPE's rows: the setting is conf_mixint.ini's and both PEs are charged the 8/4 row."""
    row = CODE_QUOTED["mixpe_synth"].split(",")
    assert (row[4], row[5]) == ("8", "4") and float(row[8]) / 1e3 == cf.ANT_PE_DYN_UW
    for name in ("mixpe-vs-ant", "mixpe-vs-bitfusion"):
        (f,) = cf.FACTORS[name]
        assert f.design.pe_pj_per_cycle == f.baseline.pe_pj_per_cycle == pytest.approx(
            float(row[8]) * 1e-9 / int(row[1]) * 1e12)
        s = CONFIGS[name].setting
        conf = CODE_QUOTED["mixpe_conf"]
        assert f"Act_SRAM = {int(s.act_kib * 1024)}" in conf and f"Wgt_SRAM = {int(s.weight_kib * 1024)}" in conf
        assert f"Out_SRAM = {int(s.out_kib * 1024)}" in conf and f"frequency = {int(s.clock_mhz * 1e6)}" in conf
        assert f"if_width = {round(s.dram_gbps * 8e9 / (s.clock_mhz * 1e6))}" in conf
        assert (CONFIGS[name].design.rows, CONFIGS[name].design.cols) == (64, 64) and "a = 64\nc = 64" in conf
    # BitFusion at the precision most of its bench rows give activations and weights alike
    precisions = [int(line.split(", ")[-2]) for line in CODE_QUOTED["mixpe_bf_bench"].splitlines()]
    most = max(set(precisions), key=precisions.count)
    bf = CONFIGS["mixpe-vs-bitfusion"].baseline
    design = claims.cost_config(bf, CONFIGS["mixpe-vs-bitfusion"].setting).design()
    assert bf.kind == "bitfusion" and (design.facts.pe.act_element_bits, design.facts.pe.weight_element_bits) == \
        (most, most)


def test_common_setting_is_the_cost_models_defaults():
    default = {f.name: f.default for f in fields(CostConfig)}
    for name in ("clock_mhz", "node", "act_kib", "weight_kib", "out_kib", "dram", "dram_gbps"):
        assert getattr(COMMON, name) == default[name] == getattr(Setting(), name)


def _sides():
    for config in CONFIGS.values():
        for side in (config.design, config.baseline):
            yield claims.resolve(side), config.setting
        for side in (config.common_design, config.common_baseline):
            yield claims.resolve(side), COMMON


def test_nothing_substituted_is_the_cost_model():
    for side, setting in _sides():
        gemms = claims.workload_gemms(setting.workload, quick=True)
        got = cf.measure(side, setting, cf.NONE, gemms, claims.cost_config)
        want = claims.side_figures(side, setting, quick=True)
        assert got == pytest.approx(want, rel=1e-12), side.label


def _setup(name="bitmod-vs-ant"):
    config = CONFIGS[name]
    side = claims.resolve(config.design)
    return side, config.setting, claims.workload_gemms(config.setting.workload, quick=True)


def test_weight_bits_at_the_pes_own_width_change_nothing_and_otherwise_only_weight_traffic():
    side, setting, gemms = _setup()
    cost = claims.cost_config(side, setting)
    own = cost.design().facts.pe.weight_element_bits
    base = cf.measure(side, setting, cf.NONE, gemms, claims.cost_config)
    assert cf.measure(side, setting, cf.Override(weight_bits=own), gemms, claims.cost_config) == \
        pytest.approx(base, rel=1e-12)
    doubled = cf.measure(side, setting, cf.Override(weight_bits=2 * own), gemms, claims.cost_config)
    result = evaluate(cost, gemms)
    extra = sum((layer.energy_pj["dram_weight"] + layer.dram_bytes["weight"] * 8
                 / cost.design().facts.word_widths["weight"] * result.energy_per_action_pj["sram_weight_word"])
                * layer.count for layer in result.layers if not layer.name.startswith("attn_"))
    assert doubled["energy_pj"] - base["energy_pj"] == pytest.approx(extra, rel=1e-9)
    assert doubled["area_um2"] == base["area_um2"] and doubled["macs"] == base["macs"]


def test_pe_energy_per_cycle_replaces_only_the_pe_group():
    side, setting, gemms = _setup()
    result = evaluate(claims.cost_config(side, setting), gemms)
    base = cf.measure(side, setting, cf.NONE, gemms, claims.cost_config)
    got = cf.measure(side, setting, cf.Override(pe_pj_per_cycle=2.0), gemms, claims.cost_config)
    pes = side.rows * side.cols
    assert got["energy_pj"] - base["energy_pj"] == pytest.approx(
        2.0 * pes * result.cycles - result.energy_pj["pes"], rel=1e-9)
    assert got["latency_s"] == base["latency_s"]


def test_dram_energy_and_static_energy_change_only_their_terms():
    side, setting, gemms = _setup()
    result = evaluate(claims.cost_config(side, setting), gemms)
    base = cf.measure(side, setting, cf.NONE, gemms, claims.cost_config)
    own = result.energy_per_action_pj["dram_bit"]
    assert cf.measure(side, setting, cf.Override(dram_pj_per_bit=(own, own)), gemms, claims.cost_config) == \
        pytest.approx(base, rel=1e-12)
    got = cf.measure(side, setting, cf.Override(dram_pj_per_bit=(2 * own, own)), gemms, claims.cost_config)
    reads = result.energy_pj["dram_act"] + result.energy_pj["dram_weight"]
    assert got["energy_pj"] - base["energy_pj"] == pytest.approx(reads, rel=1e-9)
    side = replace(side, count=2)   # two arrays share the work: each leaks for half the time
    base = cf.measure(side, setting, cf.NONE, gemms, claims.cost_config)
    got = cf.measure(side, setting, cf.Override(static_pj_per_cycle=(0.5, 3.0)), gemms, claims.cost_config)
    per_cycle = 0.5 * side.rows * side.cols * side.count + 3.0
    assert got["energy_pj"] - base["energy_pj"] == pytest.approx(
        per_cycle * base["latency_s"] * setting.clock_mhz * 1e6, rel=1e-9)   # latency_s: wall time
    assert got["latency_s"] == base["latency_s"]


def test_sram_energy_per_bit_replaces_only_the_sram_groups():
    """Our SRAM words, at the substituted per-bit energies: at our own per-word energy / width it
    changes nothing; doubling one buffer's read energy adds exactly its read bits' energy."""
    side, setting, gemms = _setup()
    config = claims.cost_config(side, setting)
    result = evaluate(config, gemms)
    widths = config.design().facts.word_widths
    own = tuple((b, result.energy_per_action_pj[f"sram_{b}_word"] / widths[b],
                 result.energy_per_action_pj[f"sram_{b}_word"] / widths[b]) for b in ("act", "weight", "out"))
    base = cf.measure(side, setting, cf.NONE, gemms, claims.cost_config)
    assert cf.measure(side, setting, cf.Override(sram_pj_per_bit=own), gemms, claims.cost_config) == \
        pytest.approx(base, rel=1e-12)
    doubled = tuple((b, 2 * r if b == "act" else r, w) for b, r, w in own)
    got = cf.measure(side, setting, cf.Override(sram_pj_per_bit=doubled), gemms, claims.cost_config)
    reads = sum(layer.sram_words["act_read"] * layer.count for layer in result.layers)
    assert got["energy_pj"] - base["energy_pj"] == pytest.approx(reads * result.energy_per_action_pj["sram_act_word"],
                                                                 rel=1e-9)


def test_ant_sram_figures_are_its_cacti_rows_for_its_buffers():
    """ANT's SRAM model: each buffer's bank size (conf_ant.ini's buffer over its banks) is the
    CACTI row quoted for it, at 28 nm; the per-bit and leakage figures follow from those rows."""
    rows = [line.split(",") for line in CODE_QUOTED["ant_cacti"].splitlines()]
    by_size = {int(float(r[0])): r for r in rows}
    conf_kib = {"weight": 128, "act": 256, "out": 128}           # conf_ant.ini (baselines.md s1)
    assert "WBUF 128 KB, IBUF 256 KB, OBUF 128 KB" in QUOTED["ant_conf"]
    for b, (banks, bits, rd, wr, leak) in cf.ANT_SRAM.items():
        size, block, tech, read, write, leak_mw = by_size[conf_kib[b] * 1024 // banks]
        assert (float(block) * 8, float(tech), float(read), float(write), float(leak_mw)) == (bits, 0.028, rd, wr, leak)
    pj = {b: (r, w) for b, r, w in cf.ant_sram_pj_per_bit()}
    assert pj["weight"] == pytest.approx((0.0168924e3 / 512, 0.0203422e3 / 512))
    # mW / 500 MHz = 2 pJ per mW per cycle
    leak_mw = 32 * 2.96594 + 32 * 5.4983 + 1024 * 0.127708
    assert cf.ant_sram_leak_pj_per_cycle() == pytest.approx(leak_mw * 2, rel=1e-9)
    factors = {f.name: f for f in cf.FACTORS["olive-vs-ant"]}
    leak = factors["paper's SRAM leakage"].baseline.static_pj_per_cycle
    assert leak[1] - cf.ant_static_pj_per_cycle()[1] == pytest.approx(cf.ant_sram_leak_pj_per_cycle())
    assert factors["paper's SRAM energy"].design.sram_pj_per_bit == cf.ant_sram_pj_per_bit()


def test_gpu_and_unverified_figures_get_no_factors_past_the_paper_config():
    rows = claims.claims_table(quick=True, lmul=False)
    assert all(r["residual_factors"] == [] for r in rows if r["verdict"] == "unreproducible")
    assert any(r["residual_factors"] for r in rows if "systolic" in r["claim"])


def test_cycle_formulas_are_the_papers():
    class Pe:
        def __init__(self, a, w):
            self.act_element_bits, self.weight_element_bits = a, w
    g = Gemm("x", 64, 64, 64)
    # ANT's artifact: a 4-bit operand pair runs 4x an 8-bit one on a 32x32 array
    assert cf.ant_artifact_os_cycles(g, 32, 32, Pe(4, 4), ()) == 1 * 1 * 64
    assert cf.ant_artifact_os_cycles(g, 32, 32, Pe(8, 8), ()) == 2 * 2 * 64
    assert cf.ant_artifact_os_cycles(g, 32, 32, Pe(8, 4), ()) == 2 * 1 * 64
    with pytest.raises(ValueError, match="at most 8 bits"):
        cf.ant_artifact_os_cycles(g, 32, 32, Pe(16, 4), ())
    # BitMoD's simulator: one decoded token of a 4096 x 4096 projection on 64 x 16
    d = Gemm("q_proj", 1, 4096, 4096)
    (name, bitmod), = {cf.FACTORS["bitmod-vs-ant"][0].design.cycles}
    (_, ant), = {cf.FACTORS["bitmod-vs-ant"][0].baseline.cycles}
    assert name == "bitmod_sim" and dict(bitmod)["bit_serial"] and not dict(ant)["bit_serial"]
    assert cf.bitmod_sim_cycles(d, 64, 16, None, bitmod) == 1024 * 64 * 1 * 2
    assert cf.bitmod_sim_cycles(d, 64, 16, None, ant) == 4096 * 64
    # attention runs at the KV bits: 8 -> 4 cycles per tile
    assert cf.bitmod_sim_cycles(Gemm("attn_qk", 1, 128, 256), 64, 16, None, bitmod) == 32 * 4 * 1 * 4


def _changed(a, b):
    return {f.name for f in fields(cf.Override) if getattr(a, f.name) != getattr(b, f.name)}


def test_each_factor_substitutes_one_kind_of_figure_and_carries_its_source():
    assert set(cf.FACTORS) <= set(CONFIGS)
    for factors in cf.FACTORS.values():
        state = (cf.NONE, cf.NONE)
        for f in factors:
            if isinstance(f, cf.SynthesisFactor):   # replaces the whole measurement: after the rest
                rest = factors[factors.index(f):]
                assert all(isinstance(g, cf.SynthesisFactor) for g in rest) and "lmul_energy.json" in f.source
                # one change per synthesis step: one side's unit, or both sides' scope (pe -> mac),
                # or the figure read for the same units (OpenSTA's -> simulated toggles')
                for a, b in zip(rest, rest[1:]):
                    sides = (a.design_unit != b.design_unit) + (a.baseline_unit != b.baseline_unit)
                    figure = a.figure != b.figure
                    assert (sides == 0 and figure) or (not figure and (sides == 1 or (
                        sides == 2 and all(u.endswith("_mac") and not v.endswith("_mac")
                                           for u, v in ((b.design_unit, a.design_unit),
                                                        (b.baseline_unit, a.baseline_unit)))))), (a.name, b.name)
                break
            nxt = (state[0].merged(f.design), state[1].merged(f.baseline))
            changed = _changed(state[0], nxt[0]) | _changed(state[1], nxt[1])
            assert len(changed) == 1, (f.name, changed)
            assert f.source.startswith(("baselines.md s", "CODE "))
            state = nxt


@pytest.mark.parametrize("claim", [c for c in CLAIMS if c.config in cf.FACTORS and not c.unreproducible
                                   and not any(isinstance(f, cf.SynthesisFactor) for f in cf.FACTORS[c.config])],
                         ids=lambda c: c.claim)
def test_factors_multiply_to_the_fully_substituted_ratio(claim):
    config = CONFIGS[claim.config]
    row = claims.claim_row(claim, quick=True)
    paper = claims.State(claims.resolve(config.design), claims.resolve(config.baseline), config.setting)
    design, baseline = cf.NONE, cf.NONE
    for f in cf.FACTORS[claim.config]:
        if f.metrics and claim.metric not in f.metrics:
            continue
        design, baseline = design.merged(f.design), baseline.merged(f.baseline)
    full = claims.overridden_ratio(paper, (design, baseline), claim.metric, quick=True)
    past = math.prod(f["factor"] for f in row["residual_factors"])
    assert row["measured_ratio_paper_config"] * past == pytest.approx(full, rel=1e-3)
    sources = [f.source for f in cf.FACTORS[claim.config] if not f.metrics or claim.metric in f.metrics]
    assert [f["change"].endswith(src) for f, src in zip(row["residual_factors"], sources)] == [True] * len(sources)
    # and the first factor is the paper config with that one substitution, measured on its own
    # (a metric no factor applies to, MixPE's speedup, gets none)
    if not sources:
        assert row["residual_factors"] == []
        return
    first = next(f for f in cf.FACTORS[claim.config] if not f.metrics or claim.metric in f.metrics)
    alone = claims.overridden_ratio(paper, (first.design, first.baseline), claim.metric, quick=True)
    assert row["residual_factors"][0]["factor"] == pytest.approx(alone / claims.ratio(paper, claim.metric, True),
                                                                 rel=1e-12)


def test_synthesis_factor_reads_the_cached_pe_figures():
    """FP8 vs INT8: past the cost model, the two PEs synthesised + power-analysed (cached), then
    their MAC units, then the MAC units' simulated toggles, then the FP8 MAC with an FP32
    accumulator (simulated): each factor is the ratio of the cached figures it names, each step
    changing one side's unit, both sides' scope or the power estimate."""
    data = lmul_energy.load()
    claim = next(c for c in CLAIMS if c.config == "fp8-vs-int8")
    row = claims.claim_row(claim, quick=True, synth_data=data)
    e = {u: data["units"][u]["energy_pj_per_cycle"]
         for u in ("fp8_pe", "int8_pe", "fp8_mac", "int8_mac", "fp8_fp32_mac")}
    sim = {u: data["units"][u][lmul_energy.SIMULATED_FIGURE] for u in ("fp8_mac", "int8_mac", "fp8_fp32_mac")}
    pe, mac, power, acc = row["residual_factors"]
    assert row["measured_ratio_paper_config"] * pe["factor"] == pytest.approx(e["fp8_pe"] / e["int8_pe"], rel=1e-3)
    assert mac["factor"] == pytest.approx((e["fp8_mac"] / e["int8_mac"]) / (e["fp8_pe"] / e["int8_pe"]), rel=1e-9)
    assert power["factor"] == pytest.approx((sim["fp8_mac"] / sim["int8_mac"]) / (e["fp8_mac"] / e["int8_mac"]),
                                            rel=1e-9)
    assert acc["factor"] == pytest.approx(sim["fp8_fp32_mac"] / sim["fp8_mac"], rel=1e-9)
    for f, units in ((pe, ("int8_pe", "fp8_pe")), (mac, ("fp8_mac", "int8_mac")), (power, ("fp8_mac", "int8_mac")),
                     (acc, ("fp8_fp32_mac", "int8_mac"))):
        assert all(u in f["change"] for u in units)
    # the cached units are the designs the factors name: the INT8 MAC keeps the INT8 PE's 32-bit
    # accumulator, the FP8 MAC the FP8 PE's 53-bit one, the FP32-accumulating MAC a 32-bit word
    units = data["units"]
    assert units["int8_mac"]["flop_bits"] == units["int8_pe"]["flop_bits"] == 32
    assert units["fp8_mac"]["flop_bits"] == units["fp8_pe"]["flop_bits"] == 53
    assert units["fp8_fp32_mac"]["flop_bits"] == 32 and units["fp8_fp32_mac"]["format"] == "e4m3"
    assert all(units[u]["multipliers"] == 1 and units[u]["activity"] == "minilm"
               for u in ("int8_mac", "fp8_mac", "fp8_fp32_mac"))
    # another cache gives another factor: nothing is typed in
    halved = json.loads(json.dumps(data))
    halved["units"]["int8_pe"]["energy_pj_per_cycle"] /= 2
    halved["units"]["fp8_fp32_mac"][lmul_energy.SIMULATED_FIGURE] /= 2
    again = claims.claim_row(claim, quick=True, synth_data=halved)["residual_factors"]
    assert again[0]["factor"] == pytest.approx(2 * pe["factor"], rel=1e-12)
    assert again[3]["factor"] == pytest.approx(acc["factor"] / 2, rel=1e-12)


def test_mac_units_are_built_from_their_pes():
    """lmul_energy's MAC units close the PE the factor names (the FP8 PE, the FP32-accumulating
    FP8 PE, the INT8 PE) and take their own kind's operand activity."""
    for unit, cls, kind in (("fp8_mac", Fp8PE, "fp8"), ("fp8_fp32_mac", Fp8Fp32AccPE, "fp8"),
                            ("int8_mac", Int8PE, "int8")):
        make, activity_kind = lmul_energy._MACS[lmul_energy.UNITS[unit][0]]
        assert type(make(lmul_energy.UNITS[unit][1] or "e4m3")) is cls and activity_kind == kind


def test_a_range_claim_is_explained_inside_its_range():
    """The decomposition target of a claim that states a range is the range (widened by the
    tolerance at each end), as the verdict reads it; a point claim keeps its point."""
    steps = [("common", "", 1.0), ("x", "", 0.8)]        # the paper config differs from 1.5 and the range
    past = [("y", "", 2.0)]                              # measured past it: 2.0, inside 1.5..2.8 not near 1.5
    inside = claim_row.row("P", "c", 1.5, "cfg", steps, "yes", "energy_cost", paper_range=(1.5, 2.8), beyond=past)
    point = claim_row.row("P", "c", 1.5, "cfg", steps, "yes", "energy_cost", beyond=past)
    assert inside["verdict"] == point["verdict"] == "differs"
    assert inside["decomposition_within_15pct"] and not point["decomposition_within_15pct"]
    beyond = claim_row.row("P", "c", 1.5, "cfg", steps, "yes", "energy_cost", paper_range=(1.5, 2.8),
                           beyond=[("y", "", 3.3)])
    assert not beyond["decomposition_within_15pct"]


def test_rows_say_what_is_not_measured_past_the_paper_config():
    assert set(cf.UNKNOWN) <= set(CONFIGS)
    rows = {r["claim"]: r for r in claims.claims_table(quick=True, lmul=False)}
    assert cf.UNKNOWN["olive-vs-ant"] in rows["energy reduction vs ANT (systolic)"]["note"]
    unpu = rows["compute density vs prior LUT accelerator (UNPU)"]
    assert unpu["verdict"] == "unreproducible" and "no readable source" in unpu["note"]


@pytest.mark.slow
@pytest.mark.parametrize("unit", ["int8_mac", "fp8_mac", "fp8_fp32_mac", "fp32_accumulate_adder_dot",
                                  "fp32_accumulate_adder_random", "fp32_multiplier_random", "fp32_adder_random"])
def test_cached_mac_units_are_these_designs(unit):
    """The cached MAC-unit figures the FP8-vs-INT8 and L-Mul factors read come from these designs:
    resynthesised, the netlist hash, the energy and the simulated energies are the cached ones
    (same tools)."""
    require_synthesis()
    require_sta()
    data = lmul_energy.load()
    fresh = lmul_energy.generate(units=(unit,))
    if fresh["provenance"]["yosys"] != data["provenance"]["yosys"] or \
            fresh["provenance"]["opensta"] != data["provenance"]["opensta"]:
        pytest.skip("the cache was made with other tool versions: regenerate it")
    got, cached = fresh["units"][unit], data["units"][unit]
    assert got["netlist_hash"] == cached["netlist_hash"]
    assert got.keys() == cached.keys()
    for key in ("energy_pj_per_cycle", "simulated_energy_pj_per_cycle", lmul_energy.SIMULATED_FIGURE):
        assert got[key] == pytest.approx(cached[key], rel=1e-9)
