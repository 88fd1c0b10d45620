"""The report's timing: every design's Fmax and critical path from static timing analysis.

What is measured, and why on units rather than on an array netlist: each design's PE and its
border units (the row unit before the array, e.g. the LUT table precompute, and the column unit,
e.g. BitMoD's term encoder) are synthesised alone (Yosys onto osu018, :mod:`models.synth`, the same
cached netlists the synthesis section uses) and timed by OpenSTA (:mod:`models.sta`) with every
input launched by a flop and every output captured by one. That is where the units sit in the
array: a PE's operands come from the array's pass and weight registers and the partial sum from
the PE above (a flop in every PE kind: the accumulator / partial-sum register), its result goes
to a flop; a border unit sits between the buffer's read register and the array's skew flops.
So the array's worst register-to-register path is the slowest of its units. A small array
netlist is not a substitute: synthesised flat with only 2 rows, Yosys narrows the accumulators
(a 2x2 INT8 array times at 193 MHz where its PE, with the 32-bit accumulator a 32-row array
needs, times at 140 MHz), and its port-to-port paths include the unbuffered fan-out of
``act_valid`` to every pass register, which layout would buffer. A design with a post-array unit
(a group dequantiser, synthesised for :data:`models.synth.POST_ARRAY_COLS` columns: its columns
are copies, so more do not lengthen its paths) has it timed the same way: it sits between the
accelerator's group accumulator read and its output registers, and runs on the same clock.

A design in broadcast tiles (``SystolicArray(tile=...)``, the claims' LUT Tensor Core and BitMoD
configurations) drives each operand bit to a whole tile; Yosys inserts no buffers, and a unit
timed alone sees one pin of load, so its Fmax is lowered by the delay of the buffer tree layout
would add (:func:`broadcast_rows`, :mod:`models.buffer_tree`): the tile's largest fan-out, its
tree's levels of one fan-out-of-4 BUFX4 delay each, added to the slowest unit's period (as if its
critical path started at the broadcast operand: an upper bound on the loss).

A design's Fmax = the lowest of its units' Fmax, at osu018 (0.18 um, 1.8 V), and scaled to the cost
model's 45 nm by Stillmaker & Baas's delay fits (``scale.delay.180_1v8_to_45_0v9`` of
:mod:`models.tech`): a relative figure between designs (ideal clock, no wire load, no layout).
"""

import pandas as pd

from models import synth, tech
from models.buffer_tree import tree_delay_ns, tree_levels, tiled_fmax_mhz
from models.claims_configs import CONFIGS
from models.registry import get_kind
from models.sta import NOMINAL_PERIOD_NS, StaError, find_sta, run_sta

# the osu018 -> 45 nm gate-delay factor (Fmax at 45 nm = Fmax at osu018 / this), with its source
DELAY_RECORD = "scale.delay.180_1v8_to_45_0v9"


def fmax_at_45nm(fmax_osu018_mhz):
    """Fmax at the cost model's 45 nm node from an osu018 Fmax (Stillmaker & Baas delay fit)."""
    return fmax_osu018_mhz / tech.value(DELAY_RECORD)


def tools_missing():
    """None if Yosys, the liberty and OpenSTA are installed, else the one-line reason."""
    try:
        synth.find_yosys()
        synth.liberty_path()
        find_sta()
    except (synth.SynthesisError, StaError) as e:
        return str(e)
    return None


def units_of(kind, options):
    """The units of a design that sit between registers: its PE, the border units its PE kind
    has and its post-array unit if the design has one (e.g. a group size)."""
    proto = kind.prototype(**dict(options))
    return [u for u in synth.ALL_UNITS if synth.has_unit(proto, u)]


def unit_rows(designs):
    """timing_units.csv: one row per (design, unit): osu018 area, critical path (start, end,
    data arrival, setup), Fmax at osu018 and at 45 nm. A unit without any timing path (e.g. a
    decoder that is only wiring) gets a row saying so and no Fmax."""
    rows = []
    for label, kind, options in designs:
        for unit in units_of(kind, options):
            row = {"design": label, "pe": kind.name, "unit": unit}
            r = synth.synthesize(kind.name, unit=unit, pe_options=tuple(options))
            try:
                # as synth.unit_timing, which cannot time a unit whose only path has zero delay
                sta = run_sta(r.netlist(), r.top, synth.liberty_path(),
                              clock_mhz=1000.0 / NOMINAL_PERIOD_NS, cache_dir=synth.cache_root())
            except StaError as e:
                if "no timing path" not in str(e):
                    raise
                sta = None
            if sta is None or sta.critical_path.period_ns <= 0:
                rows.append({**row, "area_osu018_um2": round(r.area_um2, 1),
                             "note": "no timing path: only wiring"})
                continue
            path = sta.critical_path
            rows.append({**row, "area_osu018_um2": round(r.area_um2, 1), "start": path.start,
                         "end": path.end, "delay_ns": round(path.delay_ns, 4),
                         "setup_ns": round(path.setup_ns, 4),
                         "fmax_osu018_mhz": round(sta.fmax_mhz, 2),
                         "fmax_mhz": round(fmax_at_45nm(sta.fmax_mhz), 1), "note": ""})
    return pd.DataFrame(rows)


def design_rows(units):
    """timing.csv: per design, its slowest unit (the ``limiting_unit``) and that unit's critical
    path and Fmax, which are the design's."""
    timed = units.dropna(subset=["fmax_mhz"])
    slowest = timed.loc[timed.groupby("design", sort=False).fmax_mhz.idxmin()]
    return slowest.rename(columns={"unit": "limiting_unit"})[
        ["design", "pe", "limiting_unit", "start", "end", "delay_ns", "setup_ns", "fmax_osu018_mhz",
         "fmax_mhz"]].reset_index(drop=True)


def timing_tables(designs, progress=None):
    """(timing_units, timing, note): the per-unit and per-design tables, or (None, None, why not)
    when a tool is missing."""
    missing = tools_missing()
    if missing is not None:
        return None, None, f"Timing skipped: {missing}"
    if progress:
        progress.step("OpenSTA timing of every PE, border and post-array unit (osu018 netlists, cached)")
    units = unit_rows(designs)
    note = (f"Fmax: OpenSTA on each design's PE, border units and post-array unit (Yosys-mapped on "
            f"osu018, inputs from flops, outputs to flops: where the accelerator puts them); a "
            f"design's Fmax is its slowest "
            f"unit's, scaled from 0.18 um / 1.8 V to 45 nm / 0.9 V by Stillmaker & Baas's delay fits "
            f"(x {1 / tech.value(DELAY_RECORD):.2f}). Ideal clock, no wire load, no layout: a figure "
            f"for comparing designs.")
    return units, design_rows(units), note


BROADCAST_COLUMNS = ("design, pe, tile (the claims' broadcast tiles), fanout (the tile's largest), tree_levels "
                     "(BUFX4, fan-out of 4 each), tree_delay_ns (osu018), fmax_osu018_mhz (the slowest "
                     "unit's, as timing.csv), tiled_fmax_osu018_mhz (with the tree's delay), "
                     "tiled_fmax_mhz (45 nm)")


def tiled_sides(configs=None):
    """(label, kind, options, tile) of every side of the claims' configurations
    (:data:`models.claims_configs.CONFIGS`) that is in broadcast tiles, each once."""
    seen = {}
    for config in (configs or CONFIGS).values():
        for side in (config.design, config.baseline):
            if max(side.tile) > 1:
                seen.setdefault((side.label, side.kind, tuple(side.options), tuple(side.tile)), None)
    return list(seen)


def broadcast_rows(sides, timing=None):
    """timing_broadcast.csv: per tiled side (label, kind, options, tile): its units' Fmax (the
    slowest unit, :func:`design_rows`; ``timing`` = that table if already made, keyed by label),
    the tile's largest fan-out, its buffer tree's levels and delay at osu018, and the Fmax with
    the tree in front of the slowest unit, at osu018 and at 45 nm."""
    if timing is None:
        timing = design_rows(unit_rows([(label, get_kind(kind), options) for label, kind, options, _ in sides]))
    fmax = dict(zip(timing.design, timing.fmax_osu018_mhz))
    rows = []
    for label, kind, options, tile in sides:
        fan = max(tile)
        tiled = tiled_fmax_mhz(fmax[label], fan)
        rows.append({"design": label, "pe": kind, "tile": f"{tile[0]}x{tile[1]}", "fanout": fan,
                     "tree_levels": tree_levels(fan), "tree_delay_ns": round(tree_delay_ns(fan), 4),
                     "fmax_osu018_mhz": round(fmax[label], 2), "tiled_fmax_osu018_mhz": round(tiled, 2),
                     "tiled_fmax_mhz": round(fmax_at_45nm(tiled), 1)})
    return pd.DataFrame(rows)
