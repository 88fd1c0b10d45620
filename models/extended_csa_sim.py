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
#: the points measured with every addend but the last a signed value of its own bits shifted left
#: by a random amount of the given bits, wrapped to the sum's width (a shifter whose output is the
#: sum's full width: :func:`addend_structure`): (csa widths, own bits, shift amount bits). ANT
#: W4A4's step sum (four 10-bit products, each by a 5-bit amount, and acc_in)
SHIFTED_POINTS = (((160, 32), (10, 10, 10, 10, 32), 5),)
#: the shifter family whose full-width output is measured as a shifted word
SHIFTER = "shiftn"


def _key(widths, narrow, shift=0):
    key = f"{','.join(map(str, widths))}|{','.join(map(str, narrow))}"
    return f"{key}|<<{shift}" if shift else key


def addend_structure(sum_width, addends):
    """(own bits per addend, shift amount bits) of a csa summing to ``sum_width`` bits the
    ``addends`` ((family, primitive widths, output width), one per addend): a shifter whose output
    is the sum's full width adds its input word shifted (its amount's bits, 0 when none is), any
    other addend its output, sign-extended."""
    narrow, shifts = [], set()
    for family, widths, out in addends:
        if family == SHIFTER and out >= sum_width:
            narrow.append(widths[0])
            shifts.add(widths[1])
        else:
            narrow.append(out)
    return tuple(narrow), (shifts.pop() if len(shifts) == 1 else 0)


def extended_stream(netlist, narrow, p, seed, cycles=characterise_sim.CYCLES, lanes=characterise_sim.LANES,
                    shift=0):
    """({input bit: [``lanes``-bit int per cycle]}, mean toggles per cycle over the addends' own
    bits) of the csa ``netlist`` with addend i (input ``x{i}``) a signed ``narrow[i]``-bit value
    per lane, redrawn with probability ``p`` each cycle, its higher bits copies of its sign.
    ``shift``: every addend but the last shifted left by a uniform ``shift``-bit amount drawn with
    its value, wrapped to its input's width (its own bits: all of them)."""
    rng = np.random.default_rng(seed)
    stream, own = {}, []
    bits = characterise.data_input_bits(netlist)
    sizes = {}
    for b in bits:
        port, _, index = b.partition("[")
        sizes[port] = max(sizes.get(port, 0), int(index[:-1]) + 1 if index else 1)
    for i, n in enumerate(narrow):
        lo, hi = -(1 << (n - 1)), 1 << (n - 1)
        shifted = bool(shift) and i < len(narrow) - 1
        width = sizes.get(f"x{i}", n)

        def draw():
            value = rng.integers(lo, hi, lanes)
            if shifted:     # wrapped to the word the shifter outputs
                value = (value << rng.integers(0, 1 << shift, lanes)) & ((1 << width) - 1)
            return value
        value = draw()
        rows = []
        for c in range(cycles):
            redraw = rng.random(lanes) < p
            fresh = draw()
            if c:
                value = np.where(redraw, fresh, value)
            rows.append(value)
        values = np.array(rows)
        for b in bits:
            port, _, index = b.partition("[")
            if port != f"x{i}":
                continue
            k = int(index[:-1]) if index else 0
            k = k if shifted else min(k, n - 1)
            column = (values >> k) & 1
            stream[b] = [int.from_bytes(np.packbits(row.astype(bool), bitorder="little").tobytes(), "little")
                         for row in column]
        # its own bits' toggles per cycle over the cycle pairs after the warm-up, as
        # characterise_sim.stream_toggles counts the stream's
        kept = values[characterise_sim.WARMUP:]
        own += [float(np.mean(((kept[1:] ^ kept[:-1]) >> k) & 1)) for k in range(width if shifted else n)]
    return stream, float(np.mean(own))


def measure(widths, narrow, shift=0):
    """{"toggles": [mean toggles per addend bit at each of :data:`PROBABILITIES`], "curve":
    [excess there / the all-toggling excess]} of one point (``shift``: :func:`extended_stream`'s)."""
    netlist = characterise_sim.mapped("csa", tuple(widths))
    bits = characterise.data_input_bits(netlist)
    seed = characterise_sim.point_seed("csa", (*widths, *narrow, *((shift,) if shift else ())))
    held = characterise_sim.sim_energy_pj(netlist, {b: (0.0, 0.0) for b in bits}, seed)
    every = characterise_sim.sim_energy_pj(netlist, {b: (characterise.STA_ACTIVITY, 0.5) for b in bits},
                                           seed) - held
    toggles, curve = [], []
    for p in PROBABILITIES:
        stream, rate = extended_stream(netlist, narrow, p, seed, shift=shift)
        toggles.append(rate)
        curve.append((characterise_sim.energy_pj(netlist, stream) - held) / every)
    return {"toggles": toggles, "curve": curve}


@functools.lru_cache(maxsize=1)
def load_table(path=TABLE_PATH):
    """{"widths|narrow": point} (empty when the table is missing: the linear rule stands)."""
    return read_curves(path)


def read_curves(path):
    """The points of a table :func:`write_curves` wrote ({} when it is missing)."""
    return json.loads(Path(path).read_text())["points"] if Path(path).is_file() else {}


def effective_activity(widths, narrow, toggles, shift=0):
    """The activity at which the sim basis's linear interpolation of the ``csa`` table point
    ``widths`` gives the measured energy of its sign-extended addends (own widths ``narrow``)
    toggling ``toggles`` per own bit: linear between the measured points, through 0 below the
    first, at the last point's ratio above it; None for a point not measured (``shift``: the
    shifted addends' amount bits, :data:`SHIFTED_POINTS`)."""
    p = load_table().get(_key(widths, narrow, shift))
    return None if p is None else curve_activity(p, toggles)


def curve_activity(point, toggles):
    """The table activity of a measured ``point`` ({"toggles", "curve"}) at ``toggles`` per own
    bit: its curve linear between the measured points, through 0 below the first, at the last
    point's ratio above it, times the table's operating activity."""
    xs, ys = point["toggles"], point["curve"]
    if toggles >= xs[-1]:
        ratio = ys[-1] * toggles / xs[-1]
    else:
        ratio = float(np.interp(toggles, (0.0, *xs), (0.0, *ys)))
    return ratio * characterise.STA_ACTIVITY


def write_table(path=TABLE_PATH):
    """Measure :data:`POINTS` and write the table."""
    points = {}
    for widths, narrow, shift in [(*p, 0) for p in POINTS] + list(SHIFTED_POINTS):
        m = measure(widths, narrow, shift)
        points[_key(widths, narrow, shift)] = {k: [round(v, 6) for v in vs] for k, vs in m.items()}
    write_curves(path, points, "per BitFusion / OVP / ANT step csa (models.extended_csa_sim.POINTS, SHIFTED_POINTS): "
                 "its simulated excess energy with each addend a random signed value of its own width (shifted by "
                 "a random amount of the point's bits for SHIFTED_POINTS), sign-extended, redrawn with each "
                 "probability, over the all-input-bits-at-0.5 excess, against the mean toggles per own bit",
                 "python -m models.extended_csa_sim", GENERATOR)
    load_table.cache_clear()
    return len(points)


def write_curves(path, points, what, regenerate, generator):
    """Write a table of measured curves (``points``: {key: {"toggles", "curve"}}, at each of
    :data:`PROBABILITIES`) with its provenance (``what`` it holds, the ``regenerate`` command,
    its ``generator``)."""
    data = {"provenance": characterise_sim.measured_provenance(what, regenerate, generator,
                                                               probabilities=list(PROBABILITIES)),
            "points": points}
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    print(f"{write_table()} points -> {TABLE_PATH}")
