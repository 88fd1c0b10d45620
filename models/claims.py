"""The seed papers' headline claims measured under their own configurations and in the common one.

:func:`claims_table` gives one row per claim of :data:`models.claims_configs.CLAIMS` (and the two
L-Mul rows of :mod:`models.lmul_claims`), with the columns of ``claims.csv``:

* ``paper_ratio``: the paper's number; ``paper_config``: its configuration in one line;
* ``measured_ratio_paper_config``: the cost model (:func:`models.cost.evaluate`) of the two
  designs under the paper's configuration (:class:`~models.claims_configs.PaperConfig`);
* ``measured_ratio_common_array``: the same designs in the common setting
  (:data:`~models.claims_configs.COMMON`: 32 x 32 each, 500 MHz, 45 nm, MiniLM-L6, system);
* ``verdict``: ``reproduced`` when the paper-config ratio is within +-30 % of the paper's (inside
  a stated range widened by 30 %), ``unreproducible`` when the paper's figure is a GPU result or
  unverified (the row measures the closest hardware comparison), else ``differs``;
* ``like_for_like``: yes / no / partly and why;
* ``decomposition`` (for a claim that differs): the factors between the two measured ratios, each
  measured by changing ONE thing of the common configuration into the paper's, in the order of
  :data:`STEPS` (precisions and kinds, array shape/count/dataflow, clock, node, buffers and DRAM,
  workload, what is counted). The factors telescope: their product is exactly
  paper-config / common. Past the paper configuration, :func:`residual_chain` measures the
  paper's own figures and formulas (PE energy tables, cycle models, weight bits, DRAM and static
  energy: :data:`models.claim_factors.FACTORS`) substituted one at a time into the same system
  model; the row compares the product of ALL measured factors with the gap paper / common (target
  +-15 %), and what is left is the unexplained residual, with its reason. A GPU or unverified
  figure gets no factors past the paper config (it did not come from the paper's simulator).

Metrics (:data:`models.claims_configs.METRICS`): ``speedup`` = baseline latency / design latency
(compute time at the RTL's cycles for PE / array counts, the DRAM roofline for system counts;
divided by the number of arrays); ``energy`` = baseline energy / design energy over the counted
groups; ``density`` = (MACs / latency / counted area) of the design over the baseline's;
``energy_cost`` = design energy / baseline energy (the FP8-vs-INT8 claim).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from . import bitfusion_muxes
from .claim_factors import COUNTED_AREA, COUNTED_ENERGY, FACTORS, NONE, UNKNOWN, SynthesisFactor, measure
from .claim_row import row
from .buffer_tree import BUFFER_CELL, tree_buffers, tree_delay_ns, tree_levels
from .claims_configs import CLAIMS, COMMON, CONFIGS, EXTRA_WORKLOADS, Claim, Setting, Side
from .lmul_claims import lmul_rows
from .lmul_energy import load as load_synthesis
from .cost import CostConfig, evaluate
from .registry import PE_KINDS, get_kind
from .workloads import get_workload

#: the workload every paper workload becomes with ``quick``
QUICK_WORKLOAD = "minilm-l6"



@dataclass(frozen=True)
class State:
    """The two designs and the setting one measurement uses (a point on the way from the common
    configuration to the paper's)."""
    design: Side
    baseline: Side
    setting: Setting


def resolve(side):
    """``side`` measured with its planned kind when that kind is registered (then nothing is
    missing), else as it is."""
    if side.planned_kind is None or side.planned_kind not in PE_KINDS:
        return side
    return replace(side, label=side.planned_label or side.planned_kind, kind=side.planned_kind,
                   options=side.planned_options, planned_kind=None, planned_options=(), missing="")


def _precisions(side, paper_side):
    return replace(side, label=paper_side.label, kind=paper_side.kind, options=paper_side.options,
                   planned_kind=paper_side.planned_kind, missing=paper_side.missing,
                   dataflow=None if side.dataflow is None else paper_side.dataflow)


def _array(side, paper_side):
    return replace(side, rows=paper_side.rows, cols=paper_side.cols, count=paper_side.count,
                   dataflow=paper_side.dataflow)


def _tile(side, paper_side):
    return replace(side, tile=paper_side.tile)


def _setting(*names):
    return lambda s, paper: State(s.design, s.baseline,
                                  replace(s.setting, **{n: getattr(paper.setting, n) for n in names}))


#: (name, what it changes) from the common configuration to the paper's, one thing each
STEPS = (
    ("precisions / kinds", lambda s, p: State(_precisions(s.design, p.design),
                                              _precisions(s.baseline, p.baseline), s.setting)),
    ("array shape, count and dataflow", lambda s, p: State(_array(s.design, p.design),
                                                           _array(s.baseline, p.baseline), s.setting)),
    ("broadcast tiles", lambda s, p: State(_tile(s.design, p.design), _tile(s.baseline, p.baseline),
                                           s.setting)),
    ("clock", _setting("clock_mhz")),
    ("technology node", _setting("node")),
    ("buffers and DRAM", _setting("act_kib", "weight_kib", "out_kib", "dram", "dram_gbps")),
    ("workload", _setting("workload")),
    ("what is counted", _setting("counted", "budget")),
)


def workload_gemms(name, quick=False):
    """The GEMMs of workload ``name`` (:mod:`models.workloads` or ``EXTRA_WORKLOADS``)."""
    name = QUICK_WORKLOAD if quick else name
    return EXTRA_WORKLOADS[name] if name in EXTRA_WORKLOADS else get_workload(name)


def cost_config(side, setting):
    """The :class:`models.cost.CostConfig` of one side under ``setting``."""
    dataflow = side.dataflow or get_kind(side.kind).dataflows[0]
    return CostConfig(side.kind, side.rows, side.cols, dataflow, clock_mhz=setting.clock_mhz,
                      node=setting.node, act_kib=setting.act_kib, weight_kib=setting.weight_kib,
                      out_kib=setting.out_kib, dram=setting.dram, dram_gbps=setting.dram_gbps,
                      pe_options=side.options, tile=side.tile)


def side_figures(side, setting, quick=False):
    """{latency_s, energy_pj, area_um2, macs} of one side, over what ``setting.counted`` counts."""
    result = evaluate(cost_config(side, setting), workload_gemms(setting.workload, quick))
    if setting.counted == "system":
        latency = result.latency_s
    else:
        latency = result.cycles / (setting.clock_mhz * 1e6)
    return {"latency_s": latency / side.count,
            "energy_pj": sum(result.energy_pj[g] for g in COUNTED_ENERGY[setting.counted]),
            "area_um2": side.count * sum(result.area_um2[g] for g in COUNTED_AREA[setting.counted]),
            "macs": result.macs}


def ratio(state, metric, quick=False):
    """The claim's ratio (see the module docstring) of ``state``'s design over its baseline."""
    return _metric(side_figures(state.design, state.setting, quick),
                   side_figures(state.baseline, state.setting, quick), metric)


def _metric(d, b, metric):
    """The claim's ratio from the design's and the baseline's figures."""
    if metric == "speedup":
        return b["latency_s"] / d["latency_s"]
    if metric == "energy":
        return b["energy_pj"] / d["energy_pj"]
    if metric == "energy_cost":
        return d["energy_pj"] / b["energy_pj"]
    if metric == "density":
        return (d["macs"] / d["latency_s"] / d["area_um2"]) / (b["macs"] / b["latency_s"] / b["area_um2"])
    raise ValueError(f"unknown claim metric {metric!r}")


def _change(before, after):
    """What one step changed, in words (for the decomposition text)."""
    parts = []
    for which in ("design", "baseline"):
        x, y = getattr(before, which), getattr(after, which)
        if (x.kind, x.options) != (y.kind, y.options):
            parts.append(f"{x.label} -> {y.label}")
        elif (x.rows, x.cols, x.count, x.dataflow) != (y.rows, y.cols, y.count, y.dataflow):
            count = f" x{y.count}" if y.count != 1 else ""
            parts.append(f"{y.label} {x.rows}x{x.cols} -> {y.rows}x{y.cols}{count}"
                         + (f" {y.dataflow}" if y.dataflow else ""))
        elif x.tile != y.tile:
            parts.append(f"{y.label} tile {x.tile[0]}x{x.tile[1]} -> {y.tile[0]}x{y.tile[1]}")
    for f in ("clock_mhz", "node", "act_kib", "weight_kib", "out_kib", "dram", "dram_gbps", "workload",
              "counted"):
        x, y = getattr(before.setting, f), getattr(after.setting, f)
        if x != y:
            parts.append(f"{f} {x if x is not None else 'peak'} -> {y if y is not None else 'peak'}")
    return "; ".join(parts)


def chain(config, metric, quick=False):
    """[(step name, what changed, ratio after the step)], starting with ("common", "", ratio of the
    common configuration) and ending at the paper configuration."""
    state = State(resolve(config.common_design), resolve(config.common_baseline), COMMON)
    paper = replace(config, design=resolve(config.design), baseline=resolve(config.baseline))
    out = [("common", "", ratio(state, metric, quick))]
    for name, step in STEPS:
        nxt = step(state, paper)
        if nxt != state:
            out.append((name, _change(state, nxt), ratio(nxt, metric, quick)))
            state = nxt
    return out


def overridden_ratio(state, overrides, metric, quick=False):
    """:func:`ratio` of ``state`` with ``overrides`` = (design, baseline)
    :class:`~models.claim_factors.Override` substitutions (:func:`models.claim_factors.measure`)."""
    gemms = workload_gemms(state.setting.workload, quick)
    d = measure(state.design, state.setting, overrides[0], gemms, cost_config)
    b = measure(state.baseline, state.setting, overrides[1], gemms, cost_config)
    return _metric(d, b, metric)


def residual_chain(config, metric, quick=False, synth_data=None):
    """[(factor name, what it substitutes and its source, ratio after it)] past the paper
    configuration: the factors of :data:`models.claim_factors.FACTORS` for ``config`` that apply
    to ``metric``, each keeping the earlier ones' substitutions. ``synth_data``: the cached
    synthesis figures a :class:`~models.claim_factors.SynthesisFactor` reads (None: read
    :data:`models.lmul_energy.DATA_FILE`)."""
    paper = State(resolve(config.design), resolve(config.baseline), config.setting)
    overrides = (NONE, NONE)
    out = []
    for f in FACTORS.get(config.name, ()):
        if f.metrics and metric not in f.metrics:
            continue
        if isinstance(f, SynthesisFactor):
            data = synth_data if synth_data is not None else load_synthesis()
            out.append((f.name, f"{f.change}; {f.source}", f.ratio(data, metric)))
            continue
        overrides = (overrides[0].merged(f.design), overrides[1].merged(f.baseline))
        out.append((f.name, f"{f.change}; {f.source}", overridden_ratio(paper, overrides, metric, quick)))
    return out


def _note(claim: Claim, config):
    parts = [claim.unreproducible] if claim.unreproducible else []
    parts += [s.missing for s in (resolve(config.design), resolve(config.baseline)) if s.missing]
    parts += [claim.caveat] if claim.caveat else []
    # a BitFusion side is built for one fusion mode: what its run-time muxes add, measured apart
    parts += [bitfusion_muxes.note()] if "bitfusion" in (config.design.kind, config.baseline.kind) else []
    parts += [UNKNOWN[config.name]] if config.name in UNKNOWN and not claim.unreproducible else []
    return "; ".join(parts)


def broadcast_summary(config):
    """One clause per tiled side of ``config``: the broadcast's fan-out, its buffer trees (counted
    in the side's area and energy, :func:`models.inventory.broadcast_items`) and the delay they
    add at osu018 to a path from the broadcast operand (not in any ratio: both sides run at the
    setting's clock, which the tree's delay may not allow)."""
    out = []
    for side in (config.design, config.baseline):
        fans = sorted({f for f in side.tile if f > 1}, reverse=True)
        if not fans:
            continue
        trees = ", ".join(f"{f}-way: {tree_levels(f)} level(s) of {BUFFER_CELL}, {tree_buffers(f)} a bit, "
                          f"+{tree_delay_ns(f):.3g} ns at osu018" for f in fans)
        out.append(f"{side.label} tile {side.tile[0]}x{side.tile[1]} broadcast buffer trees ({trees}) "
                   f"counted in area and energy, their delay not in the clock")
    return "; ".join(out)


def claim_row(claim, quick=False, synth_data=None):
    """The claims.csv row of one :class:`~models.claims_configs.Claim`."""
    config = CONFIGS[claim.config]
    planned = [s.planned_kind for s in (config.design, config.baseline) if s.planned_kind]
    built = planned and all(k in PE_KINDS for k in planned) and claim.like_when_built
    broadcast = broadcast_summary(config)
    summary = (config.summary + (f" [{broadcast}]" if broadcast else "")
               + (f" [--quick: {QUICK_WORKLOAD} for every workload]" if quick else ""))
    # the factors past the paper config model the paper's own simulator, which an unreproducible
    # (GPU, unverified) figure did not come from
    beyond = () if claim.unreproducible else residual_chain(config, claim.metric, quick, synth_data)
    return row(claim.paper, claim.claim, claim.paper_ratio, summary, chain(config, claim.metric, quick),
               claim.like_when_built if built else claim.like_for_like, claim.metric, _note(claim, config),
               claim.paper_range, beyond=beyond, unreproducible=bool(claim.unreproducible))


def claims_table(quick=False, lmul=True, lmul_data=None):
    """Every claim's row (list of dicts, :data:`models.claim_row.COLUMNS`), the L-Mul rows last
    (from the cached synthesis + OpenSTA figures ``lmul_data``, None: read
    :data:`models.lmul_energy.DATA_FILE`; no synthesis runs here)."""
    rows = [claim_row(c, quick, lmul_data) for c in CLAIMS]
    if lmul:
        rows += lmul_rows(lmul_data)
    return rows
