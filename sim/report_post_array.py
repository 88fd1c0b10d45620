"""The report's check of the cost model's energy of the post-array unit: each grouped design's
per-group dequantiser on its own real stream, the model against the unit's gate-simulated netlist
and OpenSTA (issue 14 item 4, "post-array unit").

:mod:`sim.report_energy_check` checks a PE alone and :mod:`sim.report_array_energy` a small array;
neither holds the unit after the array that a grouped design (MixPE, BitMoD, W4A16 g128) adds, and
whose energy the decision table's TOPS/W counts on every array word. Here the unit
(:data:`models.post_array_activity.COLS` columns, as synthesised) runs on the words the group
writer delivers on MiniLM L0 FFN1 (:func:`models.post_array_activity.post_array_run`: golden words,
checked through the unit's RTL), and per dequantised word, 45 nm pJ:

- the cost model on the sim basis (:func:`models.energy_vs_sta.post_array_word_energy_pj`, the
  unit's parts at its own measured toggles) against the mapped netlist simulated gate by gate on
  the same stream, priced as OpenSTA 2.0.17 prices a transition
  (:func:`models.energy_vs_sta.sim_word_energy_pj`): the check of the report's default basis;
- the model on the OpenSTA basis against OpenSTA's power of the same netlist with the stream's
  per-port activities (:func:`models.energy_vs_sta.sta_word_energy_pj`).

``bench/bench_post_array_energy.py`` prints the same figures (and where the two references differ,
per register). A design without a post-array unit has no row. Figures are cached per design
(:mod:`sim.report_cache`, under ``<synth cache>/post_array_energy``): a cold digit-serial unit is
about 100 s of gate simulation, MixPE's about 10 min.
"""

import html
import math

import pandas as pd

from models import energy_vs_sta, synth
from models.post_array_activity import COLS

from . import report_cache
from .report_energy_check import CLOCK_MHZ, TOLERANCE

SOURCE = "minilm"
PROVENANCE = ("models.energy_vs_sta (bench/bench_post_array_energy.py): post_array_run's minilm L0 FFN1 "
              f"stream through the unit's RTL; osu018 netlist, OpenSTA and the gate simulation at {CLOCK_MHZ:g} "
              "MHz; 45 nm 0.9 V")
COLUMNS = ("design, pe, toggles_per_word (the unit's measured toggles per array word on its own MiniLM L0 "
           "FFN1 stream), model_sim_pj_per_word, sim_pj_per_word (the cost model on the gate-simulated "
           "primitive table, and the unit's mapped netlist simulated gate by gate on the same stream priced "
           "as OpenSTA 2.0.17 prices a transition; 45 nm pJ per dequantised word), error_sim_pct (100 x "
           "(model / simulated - 1)), model_sta_pj_per_word, sta_pj_per_word (the model on OpenSTA's "
           "primitive table, and OpenSTA's power of the netlist with the stream's port activities), "
           f"error_sta_pct (within +-{TOLERANCE:.0%} counts as confirmed), note (why a design with a "
           "post-array unit has no figures), source")
# per energy basis: the error column the decision table and the summary read
ERRORS = {"sim": "error_sim_pct", "sta": "error_sta_pct"}
# the decision table's cell of a design without a post-array unit
NO_UNIT, NOT_RUN, NO_TOOLS = "— (none)", "— (not run)", "— (no tools)"
NOT_CHOSEN = "not in this report's plan"
LEGEND = (f"{NO_UNIT}: the design has no post-array unit (no groups); {NOT_RUN}: {NOT_CHOSEN}; "
          f"{NO_TOOLS}: the check did not run")
FIGURES = ["toggles_per_word", "model_sim_pj_per_word", "sim_pj_per_word", "error_sim_pct",
           "model_sta_pj_per_word", "sta_pj_per_word", "error_sta_pct"]

# the fields of a design's cache entry, in design_post_array_energy's order
_ENTRY = ("toggles_per_word", "model_sim_pj", "sim_pj", "model_sta_pj", "sta_pj")


def design_post_array_energy(kind, options):
    """(toggles per array word, model pJ per dequantised word on the sim basis, gate-simulated pJ,
    model on the OpenSTA basis, OpenSTA pJ) of the post-array unit of ``kind`` (a registry name)
    with ``options`` on MiniLM, from the cache or computed and cached."""
    def measure():
        model_sim, rates = energy_vs_sta.post_array_word_energy_pj(kind, options, SOURCE, basis="sim")
        model_sta, _ = energy_vs_sta.post_array_word_energy_pj(kind, options, SOURCE, basis="sta")
        power = synth.unit_power(kind, synth.POST_ARRAY, options, source=SOURCE, clock_mhz=CLOCK_MHZ)
        return (rates.word, model_sim, energy_vs_sta.sim_word_energy_pj(kind, options, SOURCE, CLOCK_MHZ),
                model_sta, energy_vs_sta.sta_word_energy_pj(kind, options, power))
    path = report_cache.cache_file("post_array_energy", kind, options, SOURCE, CLOCK_MHZ, _ENTRY)
    return report_cache.cached(path, _ENTRY, measure)


def post_array_table(designs, chosen=None, progress=None):
    """post_array_energy.csv: one row per design of ``designs`` ((label, kind, options)) with a
    post-array unit, its figures, or NaN and a note: not in ``chosen`` (labels; None: every
    design). Needs Yosys, the liberty and OpenSTA (the caller checks)."""
    if progress:
        progress.step("model energy of every post-array unit vs its gate-simulated netlist and OpenSTA (cached)")
    rows = []
    for label, kind, options in designs:
        if not synth.has_unit(kind.prototype(**dict(options)), synth.POST_ARRAY):
            continue
        row = {"design": label, "pe": kind.name}
        if chosen is not None and label not in chosen:
            rows.append({**row, "note": NOT_CHOSEN})
            continue
        toggles, model_sim, sim, model_sta, sta = design_post_array_energy(kind.name, tuple(options))
        rows.append({**row, "toggles_per_word": round(toggles, 4),
                     "model_sim_pj_per_word": round(model_sim, 2), "sim_pj_per_word": round(sim, 2),
                     "error_sim_pct": round(100 * (model_sim / sim - 1), 1),
                     "model_sta_pj_per_word": round(model_sta, 2), "sta_pj_per_word": round(sta, 2),
                     "error_sta_pct": round(100 * (model_sta / sta - 1), 1), "note": "", "source": PROVENANCE})
    return pd.DataFrame(rows, columns=["design", "pe", *FIGURES, "note", "source"])


def _measured(check):
    """The rows of ``check`` (post_array_energy.csv) with figures."""
    return check[check.error_sim_pct.notna()]


def join(frame, tables, basis, percent):
    """``frame`` (the decision frame, indexed by design) with ``post_array_pct`` (the design's
    post-array error on ``basis``, NaN without one) and ``post_array`` (it as ``percent`` formats
    it, or a dash and why not: no unit, not run, no tools)."""
    check = tables.get("post_array_energy.csv")
    if check is None:
        return frame.assign(post_array_pct=math.nan, post_array=NO_TOOLS)
    check = check.set_index("design").reindex(frame.index)
    errors = check[ERRORS[basis]].astype(float)
    text = [percent(e) if not math.isnan(e) else NOT_RUN if isinstance(note, str) else NO_UNIT
            for e, note in zip(errors, check.note)]
    return frame.assign(post_array_pct=errors, post_array=text)


def summary_line(tables, basis):
    """One line: how many post-array units the model on ``basis`` puts within :data:`TOLERANCE` of
    its reference, the range and the largest miss (or that the check did not run)."""
    check = tables.get("post_array_energy.csv")
    if check is None:
        return "Post-array units, model vs measurement: not run here (needs Yosys, the osu018 liberty and OpenSTA)."
    if check.empty:
        return "Post-array units: no design in this report has one (no groups)."
    check = _measured(check)
    if check.empty:
        return "Post-array units, model vs measurement: none in this report's plan."
    column, reference = ERRORS[basis], {"sim": "gate-simulated netlist", "sta": "OpenSTA"}[basis]
    errors = check[column]
    worst = check.loc[errors.abs().idxmax()]
    within = int((errors.abs() <= 100 * TOLERANCE).sum())
    return (f"Post-array units, model ({basis} basis) vs {reference} per dequantised word: {within}/{len(check)} "
            f"within ±{100 * TOLERANCE:g} %, error {errors.min():+.0f} .. {errors.max():+.0f} %; "
            f"largest miss {worst.design} ({worst[column]:+.0f} %).")


def section(data, table, link, percent):
    """The HTML section: the method, :func:`summary_line` on both bases, and per grouped design the
    model next to both references with the errors. ``table``, ``link``, ``percent``: the page's
    formatters."""
    check = data.tables.get("post_array_energy.csv")
    basis = data.plan.energy_basis
    intro = ("<p class='note'>The unit a grouped design adds after its array (the per-group dequantiser), "
             f"{COLS} columns as synthesised, fed the words the group writer delivers on MiniLM "
             "L0 FFN1 (golden words, checked through the unit's RTL). The cost model charges a part on every "
             "array word only where it follows the unit's live inputs, else once per dequantised word, each "
             "at the unit's own measured toggles. Per dequantised word, 45 nm pJ: the model on the sim basis "
             "against the mapped netlist simulated gate by gate on the same stream (priced as OpenSTA 2.0.17 "
             "prices a transition), and on the OpenSTA basis against OpenSTA's power with the stream's port "
             f"activities. The decision table's <b>post-array</b> is the error on this report's energy basis "
             f"({basis}). {summary_line(data.tables, 'sim')} {summary_line(data.tables, 'sta')}")
    if check is None or _measured(check).empty:
        return intro + "</p>"
    intro += f" {link('post_array_energy.csv')}; <code>python bench/bench_post_array_energy.py</code> prints the same.</p>"
    skipped = ", ".join(html.escape(d) for d in check.design[check.error_sim_pct.isna()])
    return intro + table(_measured(check).sort_values(ERRORS[basis], key=abs, ascending=False),
                         {"design": "design", "toggles_per_word": "toggles / word",
                          "model_sim_pj_per_word": "model, sim basis", "sim_pj_per_word": "netlist sim@STA",
                          "error_sim_pct": "error, sim basis", "model_sta_pj_per_word": "model, OpenSTA basis",
                          "sta_pj_per_word": "OpenSTA", "error_sta_pct": "error, OpenSTA basis"},
                         {"error_sim_pct": percent, "error_sta_pct": percent}, table_id="post-array-energy") + (
        f"<p class='note'>Not measured ({NOT_CHOSEN}): {skipped}.</p>" if skipped else "")
