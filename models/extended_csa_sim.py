"""How a carry-save sum of sign-extended addends switches on simulated toggles (the sim basis).

BitFusion's step sum (:func:`models.bitfusion_gemm.bitfusion_pe_items`) is one ``$macc`` of its
fused products and ``acc_in``, which Yosys's ``maccmap`` sign-extends to the sum's width: every
column above a product's top bit holds that product's sign. The inventory prices it as the ``csa``
primitive, whose table point is characterised with every input bit an independent random signal,
and the sim basis interpolates that table linearly in the activity. Neither holds on a PE's stream:
a sparse change of an addend reaches many nets (a ``csa`` (160, 32) fed sign-extended 8-bit
addends changing 5 % of cycles costs 2.1x the linear interpolation at the same toggles per
addend bit), and the copies of a sign move together (the same bits toggling independently
cost 2.3x more again). So the part is priced on its own structure: the primitive simulated with
each addend a random value of its driver's width (redrawn with probability ``p`` per cycle,
uniform over the signed codes), sign-extended to the sum's width, at each ``p`` of
:data:`PROBABILITIES`; the curve is the excess over the inputs held at 0 against the excess of
every input bit toggling 0.5 per cycle (the table's operating point, measured in the same run),
as a function of the mean toggles per cycle over the addends' own bits (the figure the model has
for the part's drivers: :meth:`models.part_activity.PartActivity.shared_toggles`).

On the BitFusion W4A4 MiniLM stream the ``csa`` (160, 32) simulated on the values it sees costs
0.143 pJ/step (45 nm, ``bench/bench_energy_parts.py``) at 0.028 toggles per addend bit; this
curve gives 0.135 there, the linear rule 0.062.

:func:`effective_activity` returns the activity at which the table's linear interpolation
(:func:`models.cost_primitives.sim_energy`) gives that energy, as
:mod:`models.group_saturation_sim` does, so the cost model's interface is unchanged. Only the
measured points (the registered BitFusion variants' step sums) take the rule.

The same structure is OVP's step sum as Yosys builds it (:mod:`models.merged_sums`: its two
shifted terms and ``acc_in`` merged into one ``$macc``): on OVP W4A4's stream that ``csa`` (96, 32)
simulated on its real addends costs 0.463 pJ/step, this curve at the model's toggles 0.465.

Table: ``models/data/extended_csa_curves_sim_osu018.json`` with its provenance; regenerate with
``python -m models.extended_csa_sim`` (4 points, about 30 s).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from . import characterise, characterise_sim

TABLE_PATH = Path(__file__).resolve().parent / "data" / "extended_csa_curves_sim_osu018.json"
GENERATOR = 1
#: the probabilities per cycle with which each addend's value is redrawn (1.0: a new random value every
#: cycle, about 0.5 toggles per own bit: the curve spans the activities a PE gives it, extrapolation
#: beyond the last point over-counts a saturating sum)
PROBABILITIES = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
#: the points measured: (csa widths, each addend's own bits, the last ``acc_in`` at full width):
#: BitFusion W4A4's (four 8-bit products) and W4A8's (two 12-bit products) step sums; OVP W4A4's
#: (and flint4's: two 18-bit shifted terms) and W8A8's (two 26-bit) step sums, which Yosys merges
#: from the inventory's two adders (:mod:`models.merged_sums`)
POINTS = (((160, 32), (8, 8, 8, 8, 32)), ((96, 32), (12, 12, 32)), ((96, 32), (18, 18, 32)),
          ((96, 32), (26, 26, 32)))


def _key(widths, narrow):
    return f"{','.join(map(str, widths))}|{','.join(map(str, narrow))}"


def extended_stream(netlist, narrow, p, seed, cycles=characterise_sim.CYCLES, lanes=characterise_sim.LANES):
    """({input bit: [``lanes``-bit int per cycle]}, mean toggles per cycle over the addends' own
    bits) of the csa ``netlist`` with addend i (input ``x{i}``) a signed ``narrow[i]``-bit value
    per lane, redrawn with probability ``p`` each cycle, its higher bits copies of its sign."""
    rng = np.random.default_rng(seed)
    stream, own = {}, []
    bits = characterise.data_input_bits(netlist)
    for i, n in enumerate(narrow):
        lo, hi = -(1 << (n - 1)), 1 << (n - 1)
        value = rng.integers(lo, hi, lanes)
        rows = []
        for c in range(cycles):
            redraw = rng.random(lanes) < p
            fresh = rng.integers(lo, hi, lanes)
            if c:
                value = np.where(redraw, fresh, value)
            rows.append(value)
        values = np.array(rows)
        for b in bits:
            port, _, index = b.partition("[")
            if port != f"x{i}":
                continue
            k = min(int(index[:-1]) if index else 0, n - 1)
            column = (values >> k) & 1
            stream[b] = [int.from_bytes(np.packbits(row.astype(bool), bitorder="little").tobytes(), "little")
                         for row in column]
        # its own bits' toggles per cycle over the cycle pairs after the warm-up, as
        # characterise_sim.stream_toggles counts the stream's
        kept = values[characterise_sim.WARMUP:]
        own += [float(np.mean(((kept[1:] ^ kept[:-1]) >> k) & 1)) for k in range(n)]
    return stream, float(np.mean(own))


def measure(widths, narrow):
    """{"toggles": [mean toggles per addend bit at each of :data:`PROBABILITIES`], "curve":
    [excess there / the all-toggling excess]} of one point."""
    netlist = characterise_sim.mapped("csa", tuple(widths))
    bits = characterise.data_input_bits(netlist)
    seed = characterise_sim.point_seed("csa", (*widths, *narrow))
    held = characterise_sim.sim_energy_pj(netlist, {b: (0.0, 0.0) for b in bits}, seed)
    every = characterise_sim.sim_energy_pj(netlist, {b: (characterise.STA_ACTIVITY, 0.5) for b in bits},
                                           seed) - held
    toggles, curve = [], []
    for p in PROBABILITIES:
        stream, rate = extended_stream(netlist, narrow, p, seed)
        toggles.append(rate)
        curve.append((characterise_sim.energy_pj(netlist, stream) - held) / every)
    return {"toggles": toggles, "curve": curve}


@functools.lru_cache(maxsize=1)
def load_table(path=TABLE_PATH):
    """{"widths|narrow": point} (empty when the table is missing: the linear rule stands)."""
    if not Path(path).is_file():
        return {}
    return json.loads(Path(path).read_text())["points"]


def effective_activity(widths, narrow, toggles):
    """The activity at which the sim basis's linear interpolation of the ``csa`` table point
    ``widths`` gives the measured energy of its sign-extended addends (own widths ``narrow``)
    toggling ``toggles`` per own bit: linear between the measured points, through 0 below the
    first, at the last point's ratio above it; None for a point not measured."""
    p = load_table().get(_key(widths, narrow))
    if p is None:
        return None
    xs, ys = p["toggles"], p["curve"]
    if toggles >= xs[-1]:
        ratio = ys[-1] * toggles / xs[-1]
    else:
        ratio = float(np.interp(toggles, (0.0, *xs), (0.0, *ys)))
    return ratio * characterise.STA_ACTIVITY


def write_table(path=TABLE_PATH):
    """Measure :data:`POINTS` and write the table."""
    points = {}
    for widths, narrow in POINTS:
        m = measure(widths, narrow)
        points[_key(widths, narrow)] = {k: [round(v, 6) for v in vs] for k, vs in m.items()}
    data = {"provenance": characterise_sim.measured_provenance(
        "per BitFusion / OVP step csa (models.extended_csa_sim.POINTS): its simulated excess energy with "
        "each addend a random signed value of its own width, sign-extended, redrawn with each "
        "probability, over the all-input-bits-at-0.5 excess, against the mean toggles per own bit",
        "python -m models.extended_csa_sim", GENERATOR, probabilities=list(PROBABILITIES)),
        "points": points}
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    load_table.cache_clear()
    return len(points)


if __name__ == "__main__":
    print(f"{write_table()} points -> {TABLE_PATH}")
