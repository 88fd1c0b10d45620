"""Measured factors past a paper configuration: the papers' own figures and formulas run through
this project's system model, one thing at a time.

:mod:`models.claims` measures a claim from this project's common configuration to the paper's
(its chain). What is left, paper / paper-config, comes from what the paper's own evaluation does
differently from this project's models: its PE energy table instead of our inventory, its cycle
formula instead of our RTL's cycles, its weight bits per element instead of our PE's storage
format. Each :class:`Factor` here substitutes ONE of those, taken from the paper's artifact as
``shared/specs/baselines.md`` records it (the ``source`` of every figure says where), into the same
system model (:func:`measure`): the workload, the buffers, the DRAM roofline and everything else
stay this project's. The factors accumulate in order (each step keeps the earlier substitutions),
so they telescope: their product is exactly (the ratio with every substitution) / (paper config).

Substitutions (:class:`Override`, per side):

* ``pe_pj_per_cycle``: the ``pes`` energy group becomes (pJ per PE per cycle) x PEs x cycles,
  the way the papers' simulators charge compute energy (BitMoD's ``calc_compute_energy``; ANT's
  synthesised PE power at its clock);
* ``weight_bits``: weight bits per element of the projections (GEMMs not named ``attn_*``: the
  KV cache is not a weight) in DRAM; the DRAM bytes, DRAM energy, DRAM time and SRAM fill writes
  scale with it;
* ``dram_pj_per_bit``: (read, write) DRAM energy per bit of the paper's simulator instead of this
  project's DRAM type's (:mod:`models.tech`); the DRAM traffic and time stay ours;
* ``sram_pj_per_bit``: ((buffer, read pJ per bit, write pJ per bit), ...) of the paper's SRAM model
  instead of this project's SRAM energies per word; the SRAM words read and written stay ours;
* ``static_pj_per_cycle``: (pJ per PE, pJ for the rest) static (leakage) energy per cycle, charged over
  every cycle of the latency (memory stalls included), as ANT's artifact does; this project's
  model has only osu018's leakage (~1e-5 of its clock energy) in its per-cycle idle energy;
* ``cycles``: a :data:`CYCLE_MODELS` formula replaces the RTL's cycle count in the latency (the DRAM
  roofline is this project's), the flop clock energy and the per-cycle PE energy.

No factor is a paper figure divided by ours: each is a re-run of the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .cost import ARRAY_GROUPS, AREA_GROUPS, ENERGY_GROUPS, evaluate
from .lmul_energy import SIMULATED_FIGURE

#: the energy / area groups a figure counts (``Setting.counted``: pe, array or system)
COUNTED_ENERGY = {"pe": ("pes",), "array": (*ARRAY_GROUPS, "out_accumulate", "clock"), "system": ENERGY_GROUPS}
COUNTED_AREA = {"pe": ("pes",), "array": (*ARRAY_GROUPS, "out_accumulate"), "system": AREA_GROUPS}


# --------------------------------------------------------------------------------------------
# the papers' cycle formulas (CYCLE_MODELS), as functions of (gemm, rows, cols, pe facts, params)


def ant_artifact_os_cycles(gemm, rows, cols, pe, params):
    """ANT's artifact, output-stationary (baselines.md s1, CODE ant_simulator simulator.py /
    accelerator.py ``get_perf_factor``; conf_ant.ini high_prec 8, low_prec 4): cycles =
    ceil(M / (R fa)) ceil(N / (C fw)) K with f = floor(8 / max(p, 4)) per operand, p the operand's
    bits (read from the PE: a 4-bit operand gives 2, an 8-bit one 1): an 8/4 fusion unit does four
    4b x 4b MACs or one 8b x 8b per cycle."""
    fa = 8 // max(pe.act_element_bits, 4)
    fw = 8 // max(pe.weight_element_bits, 4)
    if fa < 1 or fw < 1:
        raise ValueError(f"ANT's artifact cycle model takes operands of at most 8 bits, not "
                         f"{pe.act_element_bits} x {pe.weight_element_bits}")
    return math.ceil(gemm.m / (rows * fa)) * math.ceil(gemm.n / (cols * fw)) * gemm.k


def bitmod_sim_cycles(gemm, rows, cols, pe, params):
    """BitMoD's simulator (baselines.md s5, CODE bitmod_sim/accelerator.py ``_calc_tile_fc``,
    pe_array.py ``pe_latency``): tiles = ceil(Cin / dp) ceil(Cout / h) ceil(tokens / w), h = rows
    (output channels), w = cols (tokens); cycles = tiles x latency, latency = ceil(floor(p) / 2)
    for a bit-serial PE (p = weight bits, the KV bits for attention), else 1. ``params``:
    (("bit_serial", bool), ("dp", int), ("w_prec", float), ("kv_prec", float))."""
    p = dict(params)
    tiles = math.ceil(gemm.k / p["dp"]) * math.ceil(gemm.n / rows) * math.ceil(gemm.m / cols)
    prec = p["kv_prec"] if gemm.name.startswith("attn_") else p["w_prec"]
    return tiles * (math.ceil(math.floor(prec) / 2) if p["bit_serial"] else 1)


CYCLE_MODELS = {"ant_artifact_os": ant_artifact_os_cycles, "bitmod_sim": bitmod_sim_cycles}


# --------------------------------------------------------------------------------------------
# one side measured with substitutions


@dataclass(frozen=True)
class Override:
    """What one side's measurement takes from the paper instead of this project's models
    (None / empty: ours). ``cycles``: (name in :data:`CYCLE_MODELS`, params tuple)."""
    pe_pj_per_cycle: float | None = None
    weight_bits: float | None = None
    cycles: tuple | None = None
    dram_pj_per_bit: tuple | None = None
    static_pj_per_cycle: tuple | None = None
    sram_pj_per_bit: tuple | None = None

    def merged(self, other):
        """This override with ``other``'s substitutions added (``other`` wins)."""
        return replace(self, **{k: v for k, v in vars(other).items() if v is not None})


NONE = Override()


def measure(side, setting, override, gemms, cost_config):
    """{latency_s, energy_pj, area_um2, macs} of one side (the figures of
    :func:`models.claims.side_figures`) with ``override``'s substitutions; with :data:`NONE` it
    equals ``side_figures`` exactly. ``cost_config``: models.claims.cost_config (passed in to keep
    the import one way)."""
    config = cost_config(side, setting)
    result = evaluate(config, gemms)
    facts = config.design().facts
    pe = facts.pe
    clock_hz = setting.clock_mhz * 1e6
    bandwidth = config.bandwidth_gbps * 1e9
    sram_weight_pj = result.energy_per_action_pj["sram_weight_word"]
    pes = side.rows * side.cols
    latency, energy = 0.0, 0.0
    for layer, gemm in zip(result.layers, gemms):
        cycles = layer.cycles
        if override.cycles is not None:
            name, params = override.cycles
            cycles = CYCLE_MODELS[name](gemm, side.rows, side.cols, pe, params)
        e = dict(layer.energy_pj)
        dram = dict(layer.dram_bytes)
        words = dict(layer.sram_words)
        if override.weight_bits is not None and not gemm.name.startswith("attn_"):
            scale = override.weight_bits / pe.weight_element_bits
            extra = dram["weight"] * (scale - 1)
            dram["weight"] += extra
            e["dram_weight"] *= scale
            e["sram_weight"] += extra * 8 / facts.word_widths["weight"] * sram_weight_pj
            words["weight_write"] += extra * 8 / facts.word_widths["weight"]
        if override.sram_pj_per_bit is not None:
            for b, read, write in override.sram_pj_per_bit:
                e[f"sram_{b}"] = (words[f"{b}_read"] * read + words[f"{b}_write"] * write) * facts.word_widths[b]
        if override.dram_pj_per_bit is not None:
            read, write = override.dram_pj_per_bit
            for b, pj in (("act", read), ("weight", read), ("out", write)):
                e[f"dram_{b}"] *= pj / result.energy_per_action_pj["dram_bit"]
        if override.pe_pj_per_cycle is not None:
            e["pes"] = override.pe_pj_per_cycle * pes * cycles
        e["clock"] *= cycles / layer.cycles
        compute_s = cycles / clock_hz
        if setting.counted == "system":
            layer_s = max(compute_s, sum(dram.values()) / bandwidth)
        else:
            layer_s = compute_s
        latency += layer_s * layer.count
        energy += sum(e[g] for g in COUNTED_ENERGY[setting.counted]) * layer.count
        if override.static_pj_per_cycle is not None:
            # static energy is charged for every cycle the layer takes, stalls included
            per_pe, fixed = override.static_pj_per_cycle
            # (``count`` arrays share the layer: each leaks for layer_s / count)
            energy += (per_pe * pes * side.count + fixed) * layer_s / side.count * clock_hz * layer.count
    return {"latency_s": latency / side.count, "energy_pj": energy,
            "area_um2": side.count * sum(result.area_um2[g] for g in COUNTED_AREA[setting.counted]),
            "macs": result.macs}


# --------------------------------------------------------------------------------------------
# the factors


@dataclass(frozen=True)
class Factor:
    """One substitution past the paper configuration: ``design`` / ``baseline`` overrides (merged
    into what the earlier factors substituted), ``change`` in words, ``source`` where the figure
    or formula comes from; ``metrics``: the claim metrics it applies to (empty: all)."""
    name: str
    change: str
    source: str
    design: Override = NONE
    baseline: Override = NONE
    metrics: tuple = ()


@dataclass(frozen=True)
class SynthesisFactor:
    """A factor that replaces the cost model's PE energies by the two PEs synthesised (Yosys,
    osu018) and power-analysed (OpenSTA) on MiniLM-L6 operands: ``design_unit`` / ``baseline_unit``
    name entries of the cached :data:`models.lmul_energy.DATA_FILE` (``python -m
    models.lmul_energy`` regenerates it). Only for a PE-alone energy comparison, and after every
    cost-model factor of its chain (it replaces the whole measurement; consecutive synthesis
    factors compare synthesised units differing in one thing). ``figure``: the cached energy read,
    OpenSTA's (``energy_pj_per_cycle``) or, for a unit of :data:`models.lmul_energy.SIMULATED`, its
    simulated toggles' (:data:`models.lmul_energy.SIMULATED_FIGURE`)."""
    name: str
    change: str
    source: str
    design_unit: str
    baseline_unit: str
    metrics: tuple = ("energy", "energy_cost")
    figure: str = "energy_pj_per_cycle"

    def ratio(self, data, metric):
        """The claim's ratio from the cached figures ``data`` (:func:`models.lmul_energy.load`)."""
        d = data["units"][self.design_unit][self.figure]
        b = data["units"][self.baseline_unit][self.figure]
        return d / b if metric == "energy_cost" else b / d


# --------------------------------------------------------------------------------------------
# the papers' figures (each quoted from shared/specs/baselines.md; tests read them there)

#: ANT's artifact PE (baselines.md s1 / s3, CODE results/systolic_array_synth.csv): the 8/4 PE's
#: dynamic power in uW at the artifact's 500 MHz clock (= BitFusion's 8/2 Fusion Unit row)
ANT_PE_DYN_UW = 279.96
ANT_PE_LEAK_UW = 64.314
ANT_PE_CLOCK_MHZ = 500
#: ANT's artifact SRAM model (CODE clevercool/ANT-Quantization@2c0f3cc ant_simulator/bitfusion/src/simulator/
#: simulator.py get_energy_cost: WBUF / IBUF 32 banks of 512-bit words, OBUF 32 x 32 banks of 32-bit
#: words; per-bit energy = CACTI access energy / word bits, leakage = bank leakage x banks, charged
#: every cycle as sram_leak_energy = leak mW x 1e6 / frequency nJ) and its CACTI 28 nm rows
#: (bitfusion/sram/cacti_sweep.csv: bank bytes, block bytes, read nJ, write nJ, leak mW per bank),
#: for conf_ant.ini's WBUF 128 KiB (4096 B banks), IBUF 256 KiB (8192 B) and OBUF 128 KiB (128 B)
ANT_SRAM = {  # buffer: (banks, word bits, read nJ, write nJ, leak mW per bank)
    "weight": (32, 512, 0.0168924, 0.0203422, 2.96594),
    "act": (32, 512, 0.0177688, 0.0248866, 5.4983),
    "out": (32 * 32, 32, 0.000294945, 0.000415925, 0.127708),
}
#: ANT's artifact energy model (CODE clevercool/ANT-Quantization@2c0f3cc
#: ant_simulator/bitfusion/src/simulator/stats.py ``get_energy``, energies in nJ as energy.py
#: prints them x1e3 as pJ): DRAM read / write per bit and DRAM leakage per cycle; core and SRAM
#: leakage are charged every cycle, core dynamic energy every non-stall cycle
ANT_DRAM_READ_NJ_PER_KBIT = 1.18294
ANT_DRAM_WRITE_NJ_PER_KBIT = 1.47797
ANT_DRAM_LEAK_NJ = 3838.05 / 500000
#: BitMoD's simulator (baselines.md s5, CODE bitmod_sim/test_*.py): pJ per PE per cycle, and its
#: post-place-and-route factor (pe_array.py PR_SCALING: pe_energy * PR_SCALING)
BITMOD_PE_PJ = 0.56
BITMOD_ANT_PE_PJ = 0.56
BITMOD_OLIVE_PE_PJ = 0.613
BITMOD_PR_FACTOR = 1.5
#: the models of BitMoD's test configs, in the order of their per-model lists (CODE
#: bitmod_sim/test_ant.py model_list; baselines.md s5 gives ANT's "w bits 5/5/5.25/5/4/5 per model")
BITMOD_MODELS = ("opt-1.3b", "phi-2", "Yi-6B", "Llama-2-7b", "Llama-2-13b", "Llama-3-8B")
#: BitMoD's DRAM energy (CODE abdelfattah-lab/BitMoD-HPCA-25@6b68523 bitmod_sim/accelerator.py
#: ``_init_mem``: ``wr_cost = dram_rw_bw / 64 * 1200`` pJ per access of dram_rw_bw = 128 bits,
#: read and write alike)
BITMOD_DRAM_BUS_BITS = 128
BITMOD_DRAM_PJ_PER_64B = 1200
#: weight bits per element in BitMoD's generative runs (baselines.md s5; ANT's and OliVe's are
#: the Llama-2-7b entries of test_ant.py / test_olive.py w_prec), and BitMoD's KV bits
BITMOD_W_BITS = 3.0625
BITMOD_KV_BITS = 8
BITMOD_ANT_W_BITS = 5
BITMOD_OLIVE_W_BITS = 4


def ant_pe_pj_per_cycle(uw=ANT_PE_DYN_UW):
    """ANT's artifact PE: energy per cycle (pJ) = its power ``uw`` (dynamic by default) / its clock."""
    return uw * 1e-6 / (ANT_PE_CLOCK_MHZ * 1e6) * 1e12


def ant_dram_pj_per_bit():
    """(read, write) pJ per DRAM bit in ANT's artifact (nJ per 1024 bits x 1e3 / 1024)."""
    return (ANT_DRAM_READ_NJ_PER_KBIT * 1e3 / 1024, ANT_DRAM_WRITE_NJ_PER_KBIT * 1e3 / 1024)


def ant_static_pj_per_cycle():
    """ANT's artifact static energy per cycle (pJ): (per PE: the PE's leakage power at its clock,
    the rest: DRAM leakage); its SRAM leakage (CACTI) is not known here and is left out."""
    return (ant_pe_pj_per_cycle(ANT_PE_LEAK_UW), ANT_DRAM_LEAK_NJ * 1e3)


def ant_sram_pj_per_bit():
    """((buffer, read pJ per bit, write pJ per bit), ...) of ANT's artifact SRAM model."""
    return tuple((b, rd * 1e3 / bits, wr * 1e3 / bits) for b, (_, bits, rd, wr, _) in ANT_SRAM.items())


def ant_sram_leak_pj_per_cycle():
    """ANT's artifact SRAM leakage per cycle (pJ): every bank of the three buffers at its clock."""
    return sum(banks * leak for banks, _, _, _, leak in ANT_SRAM.values()) * 1e-3 / (ANT_PE_CLOCK_MHZ * 1e6) * 1e12


_ANT_SRAM_SRC = ("CODE clevercool/ANT-Quantization@2c0f3cc ant_simulator/bitfusion/src/simulator/simulator.py "
                 "get_energy_cost (WBUF / IBUF 32 banks x 512 b, OBUF 1024 banks x 32 b) and "
                 "bitfusion/sram/cacti_sweep.csv (CACTI 28 nm: 4096 B / 8192 B / 128 B banks)")
_ANT_SRC = ("baselines.md s1: ANT artifact PE power (results/systolic_array_synth.csv, 8/4 PE dyn "
            f"{ANT_PE_DYN_UW} uW at {ANT_PE_CLOCK_MHZ} MHz)")
_ANT_STATS_SRC = ("CODE clevercool/ANT-Quantization@2c0f3cc ant_simulator/bitfusion/src/simulator/stats.py "
                  f"get_energy: DRAM read {ANT_DRAM_READ_NJ_PER_KBIT}/1024, write "
                  f"{ANT_DRAM_WRITE_NJ_PER_KBIT}/1024 nJ/bit, DRAM leak 3838.05/500000 nJ/cycle; "
                  f"baselines.md s1: 8/4 PE leak {ANT_PE_LEAK_UW} uW at {ANT_PE_CLOCK_MHZ} MHz")
_ANT_CYCLES_SRC = ("baselines.md s1: ANT artifact output-stationary cycles ceil(M/(32 fa)) ceil(OC/(32 fw)) "
                   "K^2 IC, f = floor(8/max(p,4)) (accelerator.py get_perf_factor, conf_ant.ini)")
_BITMOD_PE_SRC = (f"baselines.md s5: bitmod_sim test_*.py pe_energy BitMoD {BITMOD_PE_PJ}, ANT "
                  f"{BITMOD_ANT_PE_PJ}, OliVe {BITMOD_OLIVE_PE_PJ} pJ/cycle x P&R factor {BITMOD_PR_FACTOR}")
_BITMOD_BITS_SRC = (f"baselines.md s5: BitMoD weight bits {BITMOD_W_BITS} (gen), ANT w bits 5 and OliVe w 4 "
                    "on Llama-2-7B (bitmod_sim test_ant.py / test_olive.py w_prec)")
_BITMOD_CYCLES_SRC = ("baselines.md s5: bitmod_sim tiles = ceil(Cin/dp) ceil(Cout/h) ceil(tokens/w), "
                      "cycles per tile ceil(floor(wp)/2) bit-serial (dp 4), else 1 (dp 1)")


def bitmod_dram_pj_per_bit():
    """pJ per DRAM bit in BitMoD's simulator: (bus / 64 x 1200 pJ) per access of ``bus`` bits."""
    return BITMOD_DRAM_BUS_BITS / 64 * BITMOD_DRAM_PJ_PER_64B / BITMOD_DRAM_BUS_BITS


_BITMOD_DRAM_SRC = ("CODE abdelfattah-lab/BitMoD-HPCA-25@6b68523 bitmod_sim/accelerator.py _init_mem: "
                    f"wr_cost = dram_rw_bw / 64 * {BITMOD_DRAM_PJ_PER_64B} per {BITMOD_DRAM_BUS_BITS}-bit access")


def _bitmod_sim(bit_serial, w_prec, kv_prec=16):
    return ("bitmod_sim", (("bit_serial", bit_serial), ("dp", 4 if bit_serial else 1), ("w_prec", w_prec),
                           ("kv_prec", kv_prec)))


def _bitmod_factors(baseline_pj, baseline_bits):
    bitmod = _bitmod_sim(True, BITMOD_W_BITS, BITMOD_KV_BITS)
    return (
        Factor("paper's cycle model", "BitMoD's simulator cycles (bit-serial dp 4 vs bit-parallel dp 1) "
               "instead of our RTL's", _BITMOD_CYCLES_SRC,
               design=Override(cycles=bitmod), baseline=Override(cycles=_bitmod_sim(False, baseline_bits))),
        Factor("paper's PE energy table", f"PE energy {BITMOD_PE_PJ} vs {baseline_pj} pJ/cycle x "
               f"{BITMOD_PR_FACTOR} (BitMoD's simulator configs) instead of our inventory", _BITMOD_PE_SRC,
               design=Override(pe_pj_per_cycle=BITMOD_PE_PJ * BITMOD_PR_FACTOR),
               baseline=Override(pe_pj_per_cycle=baseline_pj * BITMOD_PR_FACTOR)),
        Factor("paper's weight bits", f"weights in DRAM at {BITMOD_W_BITS} vs {baseline_bits} bits "
               "(BitMoD's test configs) instead of our PEs' storage formats", _BITMOD_BITS_SRC,
               design=Override(weight_bits=BITMOD_W_BITS), baseline=Override(weight_bits=baseline_bits)),
        Factor("paper's DRAM energy", f"DRAM at BitMoD's {bitmod_dram_pj_per_bit():.4g} pJ per bit instead of "
               "DDR4's", _BITMOD_DRAM_SRC, design=Override(dram_pj_per_bit=(bitmod_dram_pj_per_bit(),) * 2),
               baseline=Override(dram_pj_per_bit=(bitmod_dram_pj_per_bit(),) * 2), metrics=("energy",)),
    )


def _ant_static_with_sram():
    per_pe, rest = ant_static_pj_per_cycle()
    return (per_pe, rest + ant_sram_leak_pj_per_cycle())


_OLIVE_ANT = (
    Factor("paper's PE energy table", f"both PEs at ANT's artifact PE ({ant_pe_pj_per_cycle():.3g} pJ/cycle; "
           "INF: OliVe's systolic evaluation reuses ANT's simulator) instead of our inventories", _ANT_SRC,
           design=Override(pe_pj_per_cycle=ant_pe_pj_per_cycle()),
           baseline=Override(pe_pj_per_cycle=ant_pe_pj_per_cycle())),
    Factor("paper's cycle model", "ANT's artifact cycles (an 8/4 fusion unit: four 4b x 4b or one 8b x 8b "
           "MAC per cycle) instead of our RTL's", _ANT_CYCLES_SRC,
           design=Override(cycles=("ant_artifact_os", ())), baseline=Override(cycles=("ant_artifact_os", ()))),
    Factor("paper's DRAM energy", "DRAM at ANT's artifact's %.3g / %.3g pJ per bit read / write instead of "
           "HBM2's" % ant_dram_pj_per_bit(), _ANT_STATS_SRC,
           design=Override(dram_pj_per_bit=ant_dram_pj_per_bit()),
           baseline=Override(dram_pj_per_bit=ant_dram_pj_per_bit()), metrics=("energy",)),
    Factor("paper's static energy", "core leakage (%.3g pJ per PE per cycle) and DRAM leakage (%.3g pJ per "
           "cycle) charged over every cycle, as ANT's artifact does"
           % (ant_pe_pj_per_cycle(ANT_PE_LEAK_UW), ANT_DRAM_LEAK_NJ * 1e3), _ANT_STATS_SRC,
           design=Override(static_pj_per_cycle=ant_static_pj_per_cycle()),
           baseline=Override(static_pj_per_cycle=ant_static_pj_per_cycle()), metrics=("energy",)),
    Factor("paper's SRAM energy", "SRAM reads / writes at ANT's artifact's CACTI 28 nm per-bit energies (%s) "
           "instead of our SRAM table's" % ", ".join(f"{b} {r:.3g} / {w:.3g} pJ" for b, r, w in ant_sram_pj_per_bit()),
           _ANT_SRAM_SRC, design=Override(sram_pj_per_bit=ant_sram_pj_per_bit()),
           baseline=Override(sram_pj_per_bit=ant_sram_pj_per_bit()), metrics=("energy",)),
    Factor("paper's SRAM leakage", "the three buffers' CACTI leakage (%.4g pJ per cycle) added to the static "
           "energy charged over every cycle, as ANT's artifact does (sram_leak_energy)"
           % ant_sram_leak_pj_per_cycle(), _ANT_SRAM_SRC + "; " + _ANT_STATS_SRC,
           design=Override(static_pj_per_cycle=_ant_static_with_sram()),
           baseline=Override(static_pj_per_cycle=_ant_static_with_sram()), metrics=("energy",)),
)

_MIXPE_PE_SRC = ("CODE yuzhang712/mixpe_simulator@769f0c8 bitfusion/src/simulator/simulator.py get_energy_cost "
                 "(core energy = the results/systolic_array_synth.csv row of the config's high_prec / low_prec, "
                 "8 / 4 in conf_mixint.ini and conf_bitfusion.ini: dyn 279960 nW at 500 MHz per PE); "
                 "baselines.md s1 (the same 8/4 row in ANT's artifact)")
#: MixPE's simulator charges every design's PE as the 8/4 row (MixPE, BitFusion and ANT alike)
_MIXPE = (
    Factor("paper's PE energy table", f"both PEs at the simulator's 8/4 PE row ({ant_pe_pj_per_cycle():.3g} "
           "pJ per PE per cycle) instead of our inventories", _MIXPE_PE_SRC,
           design=Override(pe_pj_per_cycle=ant_pe_pj_per_cycle()),
           baseline=Override(pe_pj_per_cycle=ant_pe_pj_per_cycle()), metrics=("energy",)),
)

#: config name (models.claims_configs.CONFIGS) -> its factors past the paper configuration, in order
FACTORS = {
    "olive-vs-ant": _OLIVE_ANT,
    # GOBO's cycle model and PE figures are not known (baselines.md s2, s6): only OliVe's side
    "olive-vs-gobo": (
        Factor("paper's cycle model (OliVe side)", "OliVe at ANT's artifact cycles (four 4b x 4b MACs per "
               "fusion unit per cycle); GOBO's side unchanged (its cycle model is not verified)",
               _ANT_CYCLES_SRC, design=Override(cycles=("ant_artifact_os", ()))),
    ),
    "bitmod-vs-ant": _bitmod_factors(BITMOD_ANT_PE_PJ, BITMOD_ANT_W_BITS),
    "bitmod-vs-olive": _bitmod_factors(BITMOD_OLIVE_PE_PJ, BITMOD_OLIVE_W_BITS),
    "mixpe-vs-ant": _MIXPE,
    "mixpe-vs-bitfusion": _MIXPE,
    # the seed states no configuration: this project's own synthesis of the two PEs, then of
    # their MAC units, then with the FP8 side accumulating in FP32
    "fp8-vs-int8": (
        SynthesisFactor("cost model -> synthesis + OpenSTA", "the FP8 (e4m3) and INT8 PEs synthesised on "
                        "osu018 and power-analysed on MiniLM-L6 L0 FFN1 operands instead of the 45 nm "
                        "primitive table", "this project's synthesis: models/data/lmul_energy.json units "
                        "fp8_pe, int8_pe (python -m models.lmul_energy)", "fp8_pe", "int8_pe"),
        # the seed's claim is about MAC units: the PEs closed on their own accumulators (no psum
        # port whose activity comes from a neighbour), then the FP8 MAC accumulating in floating
        # point as an FP MAC does (INF: the seed names no accumulator; FP32 is this project's)
        SynthesisFactor("what is counted", "the PEs -> their MAC units alone (hw.mac_units.MacUnit: the "
                        "PE's accumulator fed back, operands at the PE's MiniLM-L6 activity)",
                        "this project's synthesis: models/data/lmul_energy.json units fp8_mac, int8_mac "
                        "(python -m models.lmul_energy)", "fp8_mac", "int8_mac"),
        # OpenSTA's propagation puts the FP32 add (hw.fp32_add) at several times its netlist's
        # simulated switching (models.lmul_energy), so the accumulator step reads simulated toggles
        SynthesisFactor("power estimate", "OpenSTA's propagated activity -> the MAC netlists' zero-delay "
                        "simulated toggles on the same MiniLM-L6 operand stream (models.netlist_power, priced "
                        "as OpenSTA 2.0.17, no glitches)", "this project's synthesis: models/data/"
                        "lmul_energy.json units fp8_mac, int8_mac (python -m models.lmul_energy)", "fp8_mac",
                        "int8_mac", figure=SIMULATED_FIGURE),
        SynthesisFactor("FP8 accumulator", "the FP8 MAC's exact 53-bit fixed-point accumulator -> an FP32 "
                        "accumulator rounding to nearest even per step (hw.mac_units.Fp8Fp32AccPE; INF: the "
                        "seed's FP MAC accumulates in floating point, its width is not stated); the INT8 MAC "
                        "keeps its INT32 accumulator; simulated toggles", "this project's synthesis: "
                        "models/data/lmul_energy.json units fp8_fp32_mac, int8_mac (python -m "
                        "models.lmul_energy)", "fp8_fp32_mac", "int8_mac", figure=SIMULATED_FIGURE),
    ),
}

_MIXPE_UNKNOWN = ("not measured past the paper config: MixPE's simulator (CODE yuzhang712/mixpe_simulator@769f0c8, "
                  "BitFusion-derived) has its cycle model (accelerator.py) and its DRAM, SRAM (CACTI) and static "
                  "energy (stats.py) outside the stored snapshot, and which baseline the 2.6x / 1.4x are against "
                  "is not known")

#: config name -> what the paper's evaluation does that no factor here measures (the row's note)
UNKNOWN = {
    "olive-vs-ant": "not measured past the paper config: ANT's loop tiling search (optimize_for_order: its SRAM "
                    "and DRAM traffic; ours is this project's sequencer's), ANT's per-layer 4/8-bit choice on BERT",
    "olive-vs-gobo": "GOBO's cycle model, PE energy and array are not known (baselines.md s2, s6): only OliVe's "
                     "side is substituted",
    "bitmod-vs-ant": "not measured past the paper config: BitMoD's CACTI 28 nm SRAM energies",
    "bitmod-vs-olive": "not measured past the paper config: BitMoD's CACTI 28 nm SRAM energies",
    "mixpe-vs-ant": _MIXPE_UNKNOWN,
    "mixpe-vs-bitfusion": _MIXPE_UNKNOWN,
    "fp8-vs-int8": "the seed states no configuration (which FP8 / INT8 units, node, accumulator width): only "
                   "this project's synthesis (osu018, 100 MHz) is measured past the cost model",
}
