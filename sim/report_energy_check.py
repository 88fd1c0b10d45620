"""The report's check of the cost model's energy against OpenSTA: how far each design's TOPS/W can
be trusted.

The decision table ranks by TOPS/W, whose PE energy comes from the cost model (primitives
characterised alone on osu018, each at its measured activity). For each design this module puts
that energy per PE step on MiniLM activity next to OpenSTA's power of the synthesised PE on the
same activity, with the functions ``bench/bench_energy_vs_sta.py`` uses
(:func:`models.energy_vs_sta.pe_step_energy_pj`, :func:`models.synth.unit_power` at
:data:`CLOCK_MHZ`, :func:`models.energy_vs_sta.sta_step_energy_pj`): ``energy_vs_sta_pct`` = 100 x
(model / OpenSTA - 1). A design whose error is within :data:`TOLERANCE` has its energy
*confirmed*; the answer line (:func:`energy_qualifier`) says when the TOPS/W winner's is not, and
names the best design whose energy is.

A second, independent check sits beside it: the PE's mapped netlist simulated gate by gate
(zero delay) on the same port stream, every net's toggles priced with Liberty as OpenSTA 2.0.17
prices a transition (:func:`models.netlist_power.simulated_power`, ``as_opensta_2019``), against the
model on the primitive table characterised the same way (``basis="sim"``):
``energy_vs_sim_pct`` = 100 x (model on the sim basis / simulated - 1). It measures the netlist's
own switching on the real stream instead of OpenSTA's probabilistic propagation, so where the two
checks disagree the report shows both rather than picking one. The decision table's TOPS/W is on
the report's energy basis (``pearray report --energy-basis``, :attr:`sim.report.ReportPlan.energy_basis`),
and the answer line's "confirmed" reads that basis's check (:data:`CHECKS`): "sim" (the default, the
report's activity being measured: :func:`sim.args.default_energy_basis`) the simulated-toggle one,
"sta" the OpenSTA check. :func:`default_reason` says why sim is the default, with this report's own
figures of both checks.

The figure is the PE's alone (the TOPS/W also counts buffers, SRAM and DRAM, which this check does
not cover), and OpenSTA's power is itself a probabilistic estimate (see docs/cost-model.md): a disagreement
says the ranking rests on an unconfirmed energy, not which side is right.

Each design's energies are cached as JSON under ``<synth cache>/energy_vs_sta``
(:mod:`sim.report_cache`): measuring the activity simulates the PE in Amaranth (5-30 s a design),
which the STA cache alone does not avoid.
"""

import math

import pandas as pd

from models import energy_vs_sta, gate_toggles, netlist_power, synth

from . import report_cache

# the clock OpenSTA's power is taken at (the bench's; energy per step hardly depends on it: leakage
# is ~1e-5 of the clock energy)
CLOCK_MHZ = 100.0
SOURCE = "minilm"
# |model / OpenSTA - 1| up to which a design's energy counts as confirmed (issue 14's target)
TOLERANCE = 0.15
COLUMNS = ("design, pe, model_pj_per_step (the cost model's PE energy per step on MiniLM L0 FFN1 "
           "activity, 45 nm: models.energy_vs_sta), sta_pj_per_step (OpenSTA's total power of the "
           f"synthesised PE at {CLOCK_MHZ:g} MHz on the same activity x the step's cycles, scaled from "
           "osu018 to 45 nm by the same factor), data_activity (toggles per step of its data ports), "
           "energy_vs_sta_pct (100 x (model / OpenSTA - 1): the error in the PE energy behind the "
           f"design's TOPS/W on the OpenSTA energy basis; within +-{TOLERANCE:.0%} counts as "
           "confirmed), model_sim_pj_per_step (the "
           "model on the primitive table characterised by gate-level simulation: basis='sim'), "
           "sim_pj_per_step (the PE's mapped netlist simulated gate by gate on the same stream, each net's "
           "toggles priced as OpenSTA 2.0.17 prices a transition, same scaling), energy_vs_sim_pct "
           "(100 x (model_sim / sim - 1): the second, independent check; the one \"confirmed\" reads "
           "on the sim basis, the default)")


# the fields of a design's cache entry, in design_energies' order
_ENTRY = ("model_pj", "sta_pj", "activity", "model_sim_pj", "sim_pj")


def design_energies(kind, options):
    """(model pJ per step, OpenSTA pJ per step, data-port toggles per step, sim-basis model pJ per
    step, simulated-toggle pJ per step) of the PE of ``kind`` (a registry name) with ``options`` on
    MiniLM activity, from the cache or computed and cached."""
    return report_cache.cached(report_cache.cache_file("energy_vs_sta", kind, options, SOURCE, CLOCK_MHZ, _ENTRY),
                               _ENTRY, lambda: _measure(kind, options))


def _measure(kind, options):
    model, activity = energy_vs_sta.pe_step_energy_pj(kind, options, source=SOURCE)
    power = synth.unit_power(kind, pe_options=options, unit="pe", source=SOURCE, clock_mhz=CLOCK_MHZ)
    sta = energy_vs_sta.sta_step_energy_pj(kind, options, power)
    model_sim, _ = energy_vs_sta.pe_step_energy_pj(kind, options, source=SOURCE, basis="sim")
    netlist = synth.synthesize(kind, unit="pe", pe_options=options).netlist()
    simulated = netlist_power.simulated_power(netlist, gate_toggles.pe_stream(kind, options, SOURCE), CLOCK_MHZ)
    # priced as OpenSTA 2.0.17 prices a transition, as the sim-basis primitives are
    sim = (energy_vs_sta.sta_step_energy_pj(kind, options, simulated)
           * simulated.as_opensta_2019.total / simulated.power.total)
    return model, sta, activity, model_sim, sim


def energy_table(designs, progress=None):
    """energy_vs_sta.csv: one row per (label, kind, options) of ``designs``. Needs the synthesis and
    timing tools (the caller checks: :func:`sim.report_timing.tools_missing`)."""
    if progress:
        progress.step("model energy vs OpenSTA power of every PE on MiniLM activity (cached)")
    rows = []
    for label, kind, options in designs:
        model, sta, activity, model_sim, sim = design_energies(kind.name, tuple(options))
        rows.append({"design": label, "pe": kind.name, "model_pj_per_step": round(model, 4),
                     "sta_pj_per_step": round(sta, 4), "data_activity": round(activity, 4),
                     "energy_vs_sta_pct": round(100 * (model / sta - 1), 1),
                     "model_sim_pj_per_step": round(model_sim, 4), "sim_pj_per_step": round(sim, 4),
                     "energy_vs_sim_pct": round(100 * (model_sim / sim - 1), 1)})
    return pd.DataFrame(rows)


def join(frame, tables):
    """``frame`` (indexed by design) with the ``energy_vs_sta_pct`` and ``energy_vs_sim_pct`` columns
    of energy_vs_sta.csv in ``tables`` (NaN where the check did not run)."""
    check = tables.get("energy_vs_sta.csv")
    if check is None:
        return frame.assign(energy_vs_sta_pct=math.nan, energy_vs_sim_pct=math.nan)
    return frame.join(check.set_index("design")[["energy_vs_sta_pct", "energy_vs_sim_pct"]])


#: per energy basis: (the decision frame's column of the check of its PE energy, the reference
#: the answer line names)
CHECKS = {"sta": ("energy_vs_sta_pct", "OpenSTA"), "sim": ("energy_vs_sim_pct", "simulated toggles")}

#: per energy basis: how the page and summary.md name the basis the TOPS/W figures are on
BASIS_NAMES = {"sta": "the OpenSTA energy basis (primitives characterised by OpenSTA; checked by "
                      "\"energy vs STA\")",
               "sim": "the simulated-toggle energy basis (primitives characterised by gate-level "
                      "simulation, plus the pins between PE parts; checked by \"energy vs sim\")"}


def default_reason(check):
    """Why the sim basis is the default, in the figures of ``check`` (energy_vs_sta.csv: every
    design's two checks; None when they did not run): how many PEs each basis has within
    :data:`TOLERANCE` of its reference and their range, and OpenSTA's whole-PE energy over the
    simulated toggles' at the same pricing (``sta_pj_per_step / sim_pj_per_step``)."""
    why = ("The sim basis is the default wherever the activity is measured: its reference is the "
           "activity-based power on real tensors (each PE's netlist simulated gate by gate on the MiniLM "
           "stream, priced as OpenSTA 2.0.17 prices toggles: sim@STA)")
    if check is None or check.empty:
        return why + ("; the energy checks did not run here, docs/cost-model.md 'Energy bases and their "
                      "references' gives the measured figures.")
    n = len(check)

    def within(column):
        errors = check[column]
        return (f"{int(errors.map(confirmed).sum())}/{n} PEs within ±{100 * TOLERANCE:g} % "
                f"({errors.min():+.0f} .. {errors.max():+.0f} %)")
    ratio = check.sta_pj_per_step / check.sim_pj_per_step
    return (f"{why}. In this report it puts {within('energy_vs_sim_pct')} of sim@STA, the OpenSTA basis "
            f"{within('energy_vs_sta_pct')} of OpenSTA's report_power, and OpenSTA's own whole-PE figure is "
            f"{ratio.min():.2f} .. {ratio.max():.3g}x sim@STA at the same pricing: its probabilistic "
            f"propagation, not the model, is what the OpenSTA basis chases.")


def confirmed(error_pct):
    """Whether an energy error (in %) is within :data:`TOLERANCE` (False when unknown)."""
    return not math.isnan(error_pct) and abs(error_pct) <= 100 * TOLERANCE


def energy_qualifier(frame, column, winner, describe, percent, basis="sta"):
    """The words the answer line puts after the TOPS/W ``winner`` (a row of the decision frame)
    ranked by ``column``: empty when its energy is confirmed by the check of ``basis``
    (:data:`CHECKS`); else its model's error vs that reference, "unconfirmed", and the best
    acceptable design by ``column`` whose energy is confirmed (``describe(row)``: how the answer
    line names a design), or that there is none. ``percent``: the page's signed-percentage
    formatter."""
    check, reference = CHECKS[basis]
    error = winner[check]
    if math.isnan(error):
        return f" (model energy not checked against {reference})" if frame[check].notna().any() else ""
    if confirmed(error):
        return ""
    ok = frame[frame.acceptable & frame[column].notna()
               & frame[check].map(lambda e: confirmed(float(e)))]
    tol = f"±{100 * TOLERANCE:g} %"
    best = (f"best with its energy confirmed within {tol}: {describe(ok.loc[ok[column].idxmax()])}"
            if not ok.empty else f"no acceptable design has its energy confirmed within {tol}")
    return f" (model PE energy {percent(error)} vs {reference}: unconfirmed; {best})"
