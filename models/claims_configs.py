"""The seed papers' headline comparisons as named, checked-in configurations (``pearray claims``).

Each :class:`PaperConfig` is one paper's comparison as the paper (or its artifact) set it up: the
two designs (:class:`Side`: kind, precisions, array shape and count, dataflow), the system around
them (:class:`Setting`: clock, node, buffers, DRAM, workload, what is counted) and a one-line
summary. Each :class:`Claim` is one headline number measured under a config. The facts and their
sources are in ``shared/specs/pe-designs.md`` (sections 1-5) and ``shared/specs/baselines.md``;
every field below cites the one it comes from (CODE / PAPER / SUM / INF as those files tag them).

Where a paper's side is a kind this project has not built (GOBO, FP16-activation weight-only
ANT / OliVe, UNPU, an A100 tensor core), the :class:`Side` measures the closest
registered kind and names the kind the paper needs in ``planned_kind`` / ``planned_options`` /
``planned_label`` (the names the kinds being built use: ``gobo``, ``wfp16``): once that kind is
registered, :func:`models.claims.resolve` measures it instead, with no edit here. ``common`` sides are the same designs in this project's
common setting (:data:`COMMON`: every design on a 32 x 32 array, its preferred dataflow, 500 MHz,
45 nm, 64 KiB buffers, LPDDR4, MiniLM-L6, the whole system counted).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .cost import CostConfig
from .workloads import LLAMA2_7B, RunConfig, transformer_gemms

#: what a figure counts: the PEs alone, the array (PEs, their registers, border units, output
#: accumulation, flop clocking), or the system (the array plus SRAM buffers and DRAM)
COUNTED = ("pe", "array", "system")
#: the ratio a claim states, always "the paper's design is this many times better" except
#: ``energy_cost`` ("this many times MORE energy than the baseline", the FP8-vs-INT8 claim)
METRICS = ("speedup", "energy", "density", "energy_cost")

#: workloads the papers use that ``models.workloads`` does not name: BitMoD's generative runs
#: (CODE bitmod_sim: context 256, batch 1), one decoded token attending over 256 positions
EXTRA_WORKLOADS = {
    "llama2-7b-decode-256": transformer_gemms(LLAMA2_7B, RunConfig(q_len=1, kv_len=256)),
}


@dataclass(frozen=True)
class Side:
    """One design of a comparison. ``kind``/``options``: the registered kind measured;
    ``planned_kind``/``planned_options``/``planned_label``: the kind the paper's side needs when it
    is not built (``kind`` is then the closest available, and ``missing`` says what differs);
    ``count`` arrays of ``rows`` x ``cols`` share the work (latency / count, area x count, energy
    unchanged); ``dataflow`` None = the kind's preferred one; ``tile`` the array's broadcast tiles
    ``(tile_rows, tile_cols)`` (:class:`hw.array.SystolicArray`; (1, 1) = plain systolic)."""
    label: str
    kind: str
    options: tuple = ()
    rows: int = 32
    cols: int = 32
    count: int = 1
    dataflow: str | None = None
    tile: tuple = (1, 1)
    planned_kind: str | None = None
    planned_options: tuple = ()
    planned_label: str = ""
    missing: str = ""


#: the cost model's defaults, which the common setting takes (never retyped here)
_COST_DEFAULT = {f.name: f.default for f in fields(CostConfig)}


@dataclass(frozen=True)
class Setting:
    """The system around the two designs. Buffers in KiB; ``dram_gbps`` None = the DRAM type's
    peak; ``workload``: a :mod:`models.workloads` name or a key of :data:`EXTRA_WORKLOADS`. The
    clock, node, buffers and DRAM default to :class:`models.cost.CostConfig`'s."""
    clock_mhz: float = _COST_DEFAULT["clock_mhz"]
    node: int = _COST_DEFAULT["node"]
    act_kib: float = _COST_DEFAULT["act_kib"]
    weight_kib: float = _COST_DEFAULT["weight_kib"]
    out_kib: float = _COST_DEFAULT["out_kib"]
    dram: str = _COST_DEFAULT["dram"]
    dram_gbps: float | None = _COST_DEFAULT["dram_gbps"]
    workload: str = "minilm-l6"
    counted: str = "system"
    budget: str = "equal PE count"


#: this project's common setting (the report's "equal PE count" budget)
COMMON = Setting()


@dataclass(frozen=True)
class PaperConfig:
    """One paper's comparison: its two designs and setting, and the same designs in :data:`COMMON`."""
    name: str
    paper: str
    design: Side
    baseline: Side
    setting: Setting
    common_design: Side
    common_baseline: Side
    summary: str           # the one-line paper_config column
    source: str


@dataclass(frozen=True)
class Claim:
    """One headline number: ``paper_ratio`` of ``metric`` (see :data:`METRICS`) under config
    ``config``; ``paper_range`` (lo, hi) when the paper states a range (verdict: inside it,
    widened by the tolerance); ``unreproducible``: why the paper's own number cannot be
    reproduced here (the row then measures the closest comparison the paper also reports);
    ``like_when_built``: the like-for-like text once the config's planned kinds are registered."""
    paper: str
    claim: str
    paper_ratio: float
    config: str
    metric: str
    like_for_like: str
    paper_range: tuple | None = None
    unreproducible: str = ""
    #: like_for_like once every planned kind of the config is registered (and measured)
    like_when_built: str = ""
    #: what else the row should say (an assumption of the config, an unknown of the paper)
    caveat: str = ""


_W8A8 = (("act_type", "int8"), ("weight_type", "int8"))
_GOBO = "GOBO W3A16 (FP16 act, FP16 outliers)"
_GEN_BITMOD = (("weight_format", "mixed3"),)
# BitMoD's two comparisons (vs ANT, vs OliVe) share its design, system and common-array design.
# Its arrays broadcast weight terms down a column and activations along a row in 8x8
# output-stationary tiles (issue 16; baselines.md s5: bitmod_sim models every accelerator, the
# baselines too, as h weight lines x w activation lines, so both sides get the same tiles)
_BITMOD_TILE = (8, 8)
_BITMOD_DESIGN = Side("BitMoD mixed3 W3A16", "bitserial_fp16", _GEN_BITMOD, rows=64, cols=16,
                      tile=_BITMOD_TILE)
# BitMoD's simulator, generative tasks (baselines.md s5, CODE bitmod_sim/test_*.py)
_BITMOD_SETTING = Setting(clock_mhz=1000, node=28, act_kib=512, weight_kib=512, out_kib=64, dram="ddr4",
                          dram_gbps=2 * 128 / 8 * 1000e6 / 1e9, workload="llama2-7b-decode-256")
_BITMOD_COMMON = Side("BitMoD mixed4 W4A8 g128", "bitserial",
                      (("weight_format", "mixed4"), ("group_size", 128)))

# MixPE's two claims: what is not known about the comparison, and what the BitFusion side leaves out
# MixPE's two comparisons (one per built baseline) share its design, system setting and
# common-array design
_MIXPE_DESIGN = Side("MixPE W4A8 g128", "shiftadd", (("weight_bits", 4), ("group_size", 128)), rows=64, cols=64)
# MixPE's simulator (CODE yuzhang712/mixpe_simulator@769f0c8 conf_mixint.ini, conf_bitfusion.ini,
# the same for its design and its BitFusion baseline): 500 MHz, Wgt_SRAM 128 KiB, Act_SRAM 256 KiB,
# Out_SRAM 128 KiB, memory interface if_width 1024 bits per cycle; INF: its DRAM type is not in the
# configs, taken as HBM2 as for ANT's artifact (OliVe's configs), whose simulator MixPE's extends
_MIXPE_SETTING = Setting(clock_mhz=500, act_kib=256, weight_kib=128, out_kib=128, dram="hbm2",
                         dram_gbps=1024 / 8 * 500e6 / 1e9, workload="llama2-7b-prefill")
_MIXPE_COMMON = Side("MixPE W4A8 g128", "shiftadd", (("weight_bits", 4), ("group_size", 128)))
_MIXPE_ANT_CAVEAT = ("which accelerator the paper's ratio is against is not in the spec (ANT, BitFusion, FP16 "
                     "and INT8 are its baselines); ANT at W8A8 is an inference (ANT has no W4A8 mode)")
_MIXPE_CAVEAT = ("which accelerator the paper's ratio is against is not in the spec (ANT, BitFusion, FP16 and "
                 "INT8 are its baselines); BitFusion at W8A8 on every layer, as the artifact's "
                 "bitfusion_bench.py runs all but a few of its LLM layers (those at 4 bits are not modelled); "
                 "its Fusion Unit is built for one fusion mode (no run-time shift/add configuration muxes: a "
                 "lower bound on its area) and its "
                 "BitBrick internals are from a summary ([MEM], baselines.md s3)")

CONFIGS = {c.name: c for c in (
    PaperConfig(
        name="olive-vs-gobo", paper="OliVe (ISCA 2023)",
        design=Side("OliVe OVP W4A4", "ovp", (("mode", "int4"),), dataflow="os"),
        baseline=Side("GOBO (closest: FP16 PE)", "fp16", planned_kind="gobo", planned_label=_GOBO,
                      missing="baseline not built: GOBO (3-bit dictionary weights + FP16 outliers, "
                              "FP16 activations); measured with the FP16 x FP16 PE (its FP16 activation "
                              "arithmetic, but 16-bit weights where GOBO streams 3-bit indices)"),
        # ANT's artifact configuration (baselines.md s1, CODE conf_ant.ini), which OliVe reuses
        setting=Setting(clock_mhz=500, node=28, act_kib=256, weight_kib=128, out_kib=128,
                        dram="hbm2", dram_gbps=1024 / 8 * 500e6 / 1e9, workload="bert-base"),
        common_design=Side("OliVe OVP W4A4", "ovp", (("mode", "int4"),)),
        common_baseline=Side("GOBO (closest: FP16 PE)", "fp16", planned_kind="gobo", planned_label=_GOBO,
                             missing="baseline not built: GOBO; measured with the FP16 x FP16 PE"),
        summary="OVP W4A4 vs GOBO (FP16 acts, 3-bit dictionary weights), 32x32 os each, 500 MHz, 28 nm, "
                "IBUF 256 / WBUF 128 / OBUF 128 KiB, DRAM 1024 b/cycle, BERT-base seq 128, system",
        source="pe-designs.md s1 (ABS headline; ANT artifact 32x32 500 MHz), baselines.md s1-2"),
    PaperConfig(
        name="olive-vs-ant", paper="OliVe (ISCA 2023)",
        design=Side("OliVe OVP W4A4", "ovp", (("mode", "int4"),), dataflow="os"),
        # INF: ANT's per-layer precision keeps BERT mostly at 8 bits (baselines.md s1: its BERT
        # bench rows are mostly 8-bit), so the baseline runs ANT's fused 8-bit mode
        baseline=Side("ANT W8A8 fused", "ant", _W8A8, dataflow="os"),
        setting=Setting(clock_mhz=500, node=28, act_kib=256, weight_kib=128, out_kib=128,
                        dram="hbm2", dram_gbps=1024 / 8 * 500e6 / 1e9, workload="bert-base"),
        common_design=Side("OliVe OVP W4A4", "ovp", (("mode", "int4"),)),
        common_baseline=Side("ANT W4A4 int", "ant"),
        summary="OVP W4A4 vs ANT (per-layer 4/8-bit, taken as W8A8 fused on BERT), 32x32 os each, 500 MHz, "
                "28 nm, IBUF 256 / WBUF 128 / OBUF 128 KiB, DRAM 1024 b/cycle, BERT-base seq 128, system",
        source="pe-designs.md s1 (SUM systolic 3.7x / 3.3x), baselines.md s1 (ANT artifact)"),
    PaperConfig(
        name="bitmod-vs-ant", paper="BitMoD (HPCA 2025)",
        design=_BITMOD_DESIGN,
        baseline=Side("ANT weight-only (closest: FP16 PE)", "fp16", rows=64, cols=16, dataflow="os",
                      tile=_BITMOD_TILE,
                      planned_kind="wfp16", planned_options=(("weight_format", "int4"),),
                      planned_label="ANT weight-only (wfp16 W4A16 INT4)",
                      missing="baseline not built: ANT weight-only with FP16 activations (FP16 x INT8-like "
                              "PE, 1318.6 um^2 in BitMoD's spreadsheet); measured with the FP16 x FP16 PE "
                              "(1968.7 um^2 there) and its 16-bit weights"),
        setting=_BITMOD_SETTING,
        common_design=_BITMOD_COMMON,
        common_baseline=Side("ANT W4A4 int", "ant"),
        summary="BitMoD FP3/FP4 W3A16 64x16 vs ANT weight-only (FP16 acts) 64x16, output-stationary 8x8 "
                "broadcast tiles, 1 GHz, "
                "28 nm, 512 KiB W + 512 KiB I SRAM, DRAM 2x128 b/cycle, Llama-2-7B decode ctx 256 batch 1, system",
        source="pe-designs.md s2 (PAPER headline), baselines.md s5 (CODE bitmod_sim configs)"),
    PaperConfig(
        name="bitmod-vs-olive", paper="BitMoD (HPCA 2025)",
        design=_BITMOD_DESIGN,
        baseline=Side("OliVe weight-only (closest: FP16 PE)", "fp16", rows=72, cols=16, dataflow="os",
                      tile=_BITMOD_TILE,
                      planned_kind="wfp16", planned_options=(("weight_format", "ovp4"),),
                      planned_label="OliVe weight-only (wfp16 W4A16 OVP4)",
                      missing="baseline not built: OliVe weight-only with FP16 activations (FP16 x INT8-like "
                              "PE, 1318.6 um^2 in BitMoD's spreadsheet); measured with the FP16 x FP16 PE "
                              "(1968.7 um^2 there) and its 16-bit weights"),
        setting=_BITMOD_SETTING,
        common_design=_BITMOD_COMMON,
        common_baseline=Side("OliVe OVP W4A4", "ovp", (("mode", "int4"),)),
        summary="BitMoD FP3/FP4 W3A16 64x16 vs OliVe weight-only (FP16 acts) 72x16, output-stationary 8x8 "
                "broadcast tiles, 1 GHz, "
                "28 nm, 512 KiB W + 512 KiB I SRAM, DRAM 2x128 b/cycle, Llama-2-7B decode ctx 256 batch 1, system",
        source="pe-designs.md s2 (PAPER headline), baselines.md s5 (CODE bitmod_sim configs)"),
    PaperConfig(
        name="luttc-vs-fp16", paper="LUT Tensor Core (ISCA 2025)",
        # the LUT array is 4x the FP16 tensor-core array (baselines.md s4, CODE accel-sim README);
        # its table is broadcast to a tile's 64 columns (CODE fp_lut_array RTL, N_DIM = 64)
        design=Side("LUT W2A8", "lut", (("weight_bits", 2),), rows=64, cols=64, tile=(1, 64)),
        baseline=Side("A100 FP16 tensor core (closest: FP16 PE array)", "fp16",
                      missing="the paper's baseline is a simulated A100 FP16 tensor core (Accel-Sim, GPU); "
                              "measured with this project's FP16 x FP16 PE array"),
        setting=Setting(clock_mhz=1000, node=28, workload="llama2-7b-prefill", counted="array",
                        budget="LUT array 4x the FP16 array"),
        common_design=Side("LUT W2A8", "lut", (("weight_bits", 2),)),
        common_baseline=Side("INT8", "int8"),
        summary="LUT W2A8 64x64, its table broadcast per 64-column tile (tile 1x64), vs "
                "FP16 tensor core 32x32, 1 GHz, 28 nm, array only, Llama-2-7B prefill (for BitNet-3B)",
        source="pe-designs.md s3 (SUM headline), baselines.md s4 (CODE RTL, dc.tcl 1 ns, accel-sim)"),
    PaperConfig(
        name="luttc-vs-unpu", paper="LUT Tensor Core (ISCA 2025)",
        design=Side("LUT W2A8", "lut", (("weight_bits", 2),)),
        baseline=Side("UNPU (closest: bit-serial INT8 Booth PE)", "bitserial",
                      (("weight_format", "int8"), ("group_size", 128)), planned_kind="unpu",
                      missing="baseline not built: UNPU (bit-serial LUT accelerator, 16-bit activations); "
                              "measured with the BitMoD bit-serial PE (Booth INT8 weights, INT8 activations)"),
        setting=Setting(clock_mhz=1000, node=28, workload="llama2-7b-prefill", counted="array"),
        common_design=Side("LUT W2A8", "lut", (("weight_bits", 2),)),
        common_baseline=Side("UNPU (closest: bit-serial INT8 Booth PE)", "bitserial",
                             (("weight_format", "int8"), ("group_size", 128))),
        summary="LUT W2A8 vs UNPU (prior LUT accelerator), equal array 32x32, 1 GHz, 28 nm, array only, "
                "Llama-2-7B prefill",
        source="pe-designs.md s3, baselines.md s4 (SUM 1.44x)"),
    PaperConfig(
        name="mixpe-vs-ant", paper="MixPE (2024)",
        design=_MIXPE_DESIGN,
        # INF: ANT has no W4A8 mode (act int8 needs 8-bit weights), so W8A8 fused on W4A8 layers
        baseline=Side("ANT W8A8 fused", "ant", _W8A8),
        setting=_MIXPE_SETTING,
        common_design=_MIXPE_COMMON,
        common_baseline=Side("INT8", "int8"),
        summary="MixPE W4A8 g128 64x64 vs ANT W8A8 32x32 (also BitFusion 32x40, FP16 32x28, INT8 32x32), "
                "500 MHz, node not stated (45 nm), IBUF 256 / WBUF 128 / OBUF 128 KiB, DRAM 1024 b/cycle, "
                "Llama-2-7B prefill, system",
        source="pe-designs.md s4 (CODE mixpe_simulator configs, ABS headline), CODE mixpe_simulator@769f0c8 "
               "conf_mixint.ini (buffers, if_width)"),
    PaperConfig(
        name="mixpe-vs-bitfusion", paper="MixPE (2024)",
        design=_MIXPE_DESIGN,
        # CODE mixpe_simulator configs: BitFusion 32x40 is one of MixPE's baselines (with ANT 32x32,
        # FP16 32x28, INT8 32x32). Its precision is the artifact's: bitfusion_bench.py gives each
        # layer one precision for activations and weights alike (as ANT's benchmarks.py does), 8
        # bits on every row of its LLM benchmarks except some 5120 x 5120 projections at 4; so
        # W8A8, one product per Fusion Unit per cycle (the few 4-bit layers are not modelled)
        baseline=Side("BitFusion W8A8", "bitfusion", rows=32, cols=40),
        setting=_MIXPE_SETTING,
        common_design=_MIXPE_COMMON,
        common_baseline=Side("INT8", "int8"),
        summary="MixPE W4A8 g128 64x64 vs BitFusion W8A8 32x40 (also ANT 32x32, FP16 32x28, INT8 32x32), "
                "500 MHz, node not stated (45 nm), IBUF 256 / WBUF 128 / OBUF 128 KiB, DRAM 1024 b/cycle, "
                "Llama-2-7B prefill, system",
        source="pe-designs.md s4 (CODE mixpe_simulator configs, ABS headline), baselines.md s3 (BitFusion), "
               "CODE mixpe_simulator@769f0c8 conf_mixint.ini / conf_bitfusion.ini (buffers, if_width), "
               "bitfusion/src/benchmarks/bitfusion_bench.py (BitFusion's per-layer precisions)"),
    PaperConfig(
        name="fp8-vs-int8", paper="FP8 vs INT8 (seed)",
        design=Side("FP8 E4M3", "fp8", (("format", "e4m3"),)),
        baseline=Side("INT8", "int8"),
        setting=Setting(counted="pe", budget="one PE each"),
        common_design=Side("FP8 E4M3", "fp8", (("format", "e4m3"),)),
        common_baseline=Side("INT8", "int8"),
        summary="FP8 E4M3 MAC vs INT8 MAC in dedicated hardware: the PE alone, 45 nm",
        source="pe-designs.md s6 (seed: 50-180 % less efficient)"),
)}

CLAIMS = (
    Claim("OliVe (ISCA 2023)", "speedup vs GOBO", 4.5, "olive-vs-gobo", "speedup",
          "no: GOBO not built, FP16 PE stands in",
          like_when_built="yes: GOBO weight-only PE (FP16 activations) built"),
    Claim("OliVe (ISCA 2023)", "energy reduction vs GOBO", 4.0, "olive-vs-gobo", "energy",
          "no: GOBO not built, FP16 PE stands in",
          like_when_built="yes: GOBO weight-only PE (FP16 activations) built"),
    Claim("OliVe (ISCA 2023)", "speedup vs ANT (GPU)", 2.4, "olive-vs-ant", "speedup",
          "no: GPU result; the systolic comparison is measured", unreproducible=(
              "GPU result (tensor-core kernels): no GPU model here; the row measures the systolic "
              "comparison the paper also reports")),
    Claim("OliVe (ISCA 2023)", "energy reduction vs ANT (GPU)", 2.0, "olive-vs-ant", "energy",
          "no: GPU result; the systolic comparison is measured", unreproducible=(
              "GPU result: no GPU model here; the row measures the systolic comparison")),
    Claim("OliVe (ISCA 2023)", "speedup vs ANT (systolic)", 3.7, "olive-vs-ant", "speedup",
          "yes: both built; ANT precision per layer assumed 8-bit on BERT",
          caveat="ANT's per-layer precision on BERT taken as its fused 8-bit mode (an inference from its artifact)"),
    Claim("OliVe (ISCA 2023)", "energy reduction vs ANT (systolic)", 3.3, "olive-vs-ant", "energy",
          "yes: both built; ANT precision per layer assumed 8-bit on BERT",
          caveat="ANT's per-layer precision on BERT taken as its fused 8-bit mode (an inference from its artifact)"),
    Claim("BitMoD (HPCA 2025)", "speedup vs ANT", 1.69, "bitmod-vs-ant", "speedup",
          "no: FP16-activation weight-only ANT not built, FP16 x FP16 PE stands in",
          like_when_built="partly: FP16-activation weight-only baseline built (wfp16); its PE is not ANT's own"),
    Claim("BitMoD (HPCA 2025)", "energy efficiency vs ANT", 1.48, "bitmod-vs-ant", "energy",
          "no: FP16-activation weight-only ANT not built, FP16 x FP16 PE stands in",
          like_when_built="partly: FP16-activation weight-only baseline built (wfp16); its PE is not ANT's own"),
    Claim("BitMoD (HPCA 2025)", "speedup vs OliVe", 1.48, "bitmod-vs-olive", "speedup",
          "no: FP16-activation weight-only OliVe not built, FP16 x FP16 PE stands in",
          like_when_built="partly: FP16-activation weight-only baseline built (wfp16); its PE is not OliVe's own"),
    Claim("BitMoD (HPCA 2025)", "energy efficiency vs OliVe", 1.31, "bitmod-vs-olive", "energy",
          "no: FP16-activation weight-only OliVe not built, FP16 x FP16 PE stands in",
          like_when_built="partly: FP16-activation weight-only baseline built (wfp16); its PE is not OliVe's own"),
    Claim("LUT Tensor Core (ISCA 2025)", "compute density vs A100 FP16 tensor core", 20.9, "luttc-vs-fp16",
          "density", "no: A100 tensor core (GPU) vs FP16 PE array; the table is broadcast per 64-column tile "
          "as in the paper",
          unreproducible="the 20.9x figure is unverified (baselines.md s4: not found in any readable text) "
                         "and its baseline is a simulated A100"),
    Claim("LUT Tensor Core (ISCA 2025)", "energy efficiency vs A100 FP16 tensor core", 11.2, "luttc-vs-fp16",
          "energy", "no: A100 tensor core (GPU) vs FP16 PE array; the table is broadcast per 64-column tile "
          "as in the paper",
          unreproducible="the 11.2x figure is unverified (baselines.md s4) and its baseline is a simulated A100"),
    Claim("LUT Tensor Core (ISCA 2025)", "compute density vs prior LUT accelerator (UNPU)", 1.44,
          "luttc-vs-unpu", "density", "no: UNPU not built, a bit-serial PE stands in",
          # the baseline is a named chip whose design no readable source gives, so there is no
          # configuration to rebuild and no factor to measure past one (as for the A100 rows)
          unreproducible="the 1.44x is unverified against a baseline that cannot be rebuilt: UNPU's PE, "
                         "array, precisions and energies are in no readable source (pe-designs.md s3 only "
                         "names it; baselines.md s4 found '1.44x vs prior SOTA LUT accelerators' in a "
                         "summary only); the row measures the closest built comparison, LUT W2A8 vs the "
                         "bit-serial INT8 Booth PE"),
    # The spec does not say which baseline the 2.6x / 1.4x are against, so the claim is measured
    # against both built baselines rather than picking the one that happens to agree
    Claim("MixPE (2024)", "speedup vs quant. accelerators: ANT W8A8", 2.6, "mixpe-vs-ant", "speedup",
          "partly: ANT is built (one of the paper's baselines), at W8A8", caveat=_MIXPE_ANT_CAVEAT),
    Claim("MixPE (2024)", "energy reduction vs quant. accel.: ANT W8A8", 1.4, "mixpe-vs-ant", "energy",
          "partly: ANT is built (one of the paper's baselines), at W8A8", caveat=_MIXPE_ANT_CAVEAT),
    Claim("MixPE (2024)", "speedup vs quant. accelerators: BitFusion", 2.6, "mixpe-vs-bitfusion", "speedup",
          "partly: BitFusion is built (one of the paper's baselines), its fusion mode fixed at build time",
          caveat=_MIXPE_CAVEAT),
    Claim("MixPE (2024)", "energy reduction vs quant. accel.: BitFusion", 1.4, "mixpe-vs-bitfusion", "energy",
          "partly: BitFusion is built (one of the paper's baselines), its fusion mode fixed at build time",
          caveat=_MIXPE_CAVEAT),
    Claim("FP8 vs INT8 (seed)", "FP8 MAC energy vs INT8 MAC (50-180 % more)", 1.5, "fp8-vs-int8",
          "energy_cost", "yes: both PEs built, PE only", paper_range=(1.5, 2.8)),
)
