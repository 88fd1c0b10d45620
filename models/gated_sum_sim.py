"""How a step sum of AND-gated shifted rows of one operand switches on simulated toggles (the sim basis).

MixPE's step (:class:`hw.pe_shiftadd.ShiftAddPE`) adds, for each weight bit i, the activation shifted
by i gated by that bit, then ``acc_in``. The inventory lists an AND per row, the rows' adders and the
accumulate adder, each priced alone. Yosys (``proc; flatten; opt; wreduce; alumacc``) builds the
rows' muxes and ONE ``$macc`` (W4A8: ``A_WIDTH`` 70 = the 8-, 9-, 10- and 11-bit signed rows
``w[i] ? a << i : 0`` and the 32-bit ``acc_in``, ``Y_WIDTH`` 32), and ABC maps the gates and the
sum's carry-save tree together: every row is a copy of the same activation, so the sign-extended
``csa`` curve (:mod:`models.extended_csa_sim`, independent addends on separate pins) is not its
structure. On the MiniLM stream the PE's step as Yosys builds it (:func:`verilog`), simulated on
the PE's real operands, costs 0.603 pJ/step (45 nm, OpenSTA 2.0.17 pricing; 369 cells), the
``csa`` (160, 32) fed the same rows 0.705, the inventory's AND + adders priced alone 0.272 (0.323
at the ports-rule toggles of the rows, before they were measured: :mod:`models.internal_activity`).

ABC's mapping of that ``$macc`` depends on the text it comes from, not only on the ``$macc``: the
same cell (the same addends, widths, signs and ``CONFIG``) written with other net names maps to
440 .. 552 cells that cost 0.80 .. 1.10 pJ/step on the same operands. :func:`verilog` is therefore
the PE's own step expression (:func:`hw.pe_shiftadd.gated_rows_sum`) as Amaranth writes it, whose
assignments are the PE's Verilog line for line (``tests/test_gated_sum_sim.py``); it maps to the
PE's cells.

So that structure is characterised here: :func:`verilog`'s netlist simulated with the operand a
uniform signed value, the gating code uniform over its rows' bits and ``acc_in`` a uniform signed
word, each redrawn with probability ``p`` per cycle (:data:`PROBABILITIES`, as
:mod:`models.extended_csa_sim`); the curve is its excess over the inputs held at 0 against the
``csa`` table point's excess with every input bit toggling 0.5 (the table's operating point,
simulated in the same run with the table's seed), as a function of the mean toggles per cycle over
the gated rows' own bits (each ``w[i] & a``: what the inventory's AND outputs) and ``acc_in``'s, the
figure the model has for the sum's drivers
(:meth:`models.part_activity.PartActivity.shared_toggles`). :func:`effective_activity` returns the
activity at which the ``csa`` table point's linear interpolation gives that energy, so the cost
model prices the merged sum as that ``csa`` (:mod:`models.merged_sums`).

Table: ``models/data/gated_sum_curves_sim_osu018.json`` with its provenance; regenerate with
``python -m models.gated_sum_sim`` (1 point, a few seconds).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from amaranth.back import verilog as verilog_backend
from amaranth.hdl import Elaboratable, Module, Signal, signed

from hw.pe_shiftadd import gated_rows_sum

from . import characterise, characterise_sim, synth
from .extended_csa_sim import PROBABILITIES, curve_activity, read_curves, write_curves

TABLE_PATH = Path(__file__).resolve().parent / "data" / "gated_sum_curves_sim_osu018.json"
GENERATOR = 1
#: the family of a gated row (the inventory's AND of the operand with a gating bit)
GATE = "and"
#: the points measured: (csa widths, operand bits, rows): MixPE W4A8's step sum (four rows of an
#: 8-bit activation and the 32-bit acc_in)
POINTS = (((160, 32), 8, 4),)


def _key(widths, operand, rows):
    return f"{','.join(map(str, widths))}|{operand}&{rows}"


class _GatedSum(Elaboratable):
    """MixPE's step without its register: ``acc_out = acc_in + product`` with the product formed
    as :class:`hw.pe_shiftadd.ShiftAddPE` forms it (:func:`hw.pe_shiftadd.gated_rows_sum`)."""

    def __init__(self, width, operand, rows):
        self.act, self.weight = Signal(operand, name="act"), Signal(rows, name="weight")
        self.acc_in, self.acc_out = Signal(width, name="acc_in"), Signal(width, name="acc_out")
        self._rows, self._operand = rows, operand

    def elaborate(self, platform):
        m = Module()
        product = Signal(signed(self._operand + self._rows + 1))
        m.d.comb += [product.eq(gated_rows_sum(self.act.as_signed(), self.weight, self._rows)),
                     self.acc_out.eq(self.acc_in.as_signed() + product)]
        return m


def verilog(widths, operand, rows):
    """(Verilog text, top name) of MixPE's step sum as Amaranth writes the PE's (:class:`_GatedSum`:
    the PE's own expression, port names and net order, so Yosys's ``alumacc`` makes it the PE's
    ``$macc`` and ABC maps it as in the PE; ABC's mapping of that ``$macc`` depends on the nets'
    names: module docstring)."""
    unit = _GatedSum(widths[1], operand, rows)
    name = f"gated_sum_{operand}_{rows}_{widths[1]}"
    return verilog_backend.convert(unit, name=name, ports=[unit.act, unit.weight, unit.acc_in, unit.acc_out],
                                   emit_src=False), name


@functools.lru_cache(maxsize=None)
def mapped(widths, operand, rows):
    """The mapped netlist of :func:`verilog` (the primitive table's synthesis recipe)."""
    return synth.synthesize_verilog(*verilog(widths, operand, rows)).netlist()


def operand_values(p, operand, rows, width, seed, cycles=characterise_sim.CYCLES, lanes=characterise_sim.LANES):
    """{"act", "weight", "acc_in": [cycles x lanes] int array}: the operand (signed ``operand`` bits), the gating
    code (``rows`` bits) and ``acc_in`` (signed ``width`` bits), each uniform and redrawn with
    probability ``p`` per lane each cycle."""
    rng = np.random.default_rng(seed)
    out = {}
    for port, lo, hi in (("act", -(1 << (operand - 1)), 1 << (operand - 1)), ("weight", 0, 1 << rows),
                         ("acc_in", -(1 << (width - 1)), 1 << (width - 1))):
        value = rng.integers(lo, hi, lanes)
        values = [value]
        for _ in range(1, cycles):
            value = np.where(rng.random(lanes) < p, rng.integers(lo, hi, lanes), value)
            values.append(value)
        out[port] = np.array(values)
    return out


def own_toggles(values, operand, rows, width, warmup=characterise_sim.WARMUP):
    """Mean toggles per cycle over the gated rows' own bits (``w[i] & a``, ``operand`` each) and
    ``acc_in``'s ``width`` bits, over the cycle pairs after ``warmup``."""
    a, w, c = (np.asarray(values[k])[warmup:] for k in ("act", "weight", "acc_in"))
    words = [np.where((w >> i) & 1, a, 0) for i in range(rows)]
    counts = [(operand, x) for x in words] + [(width, c)]
    per_bit = [float(np.mean(((x[1:] ^ x[:-1]) >> k) & 1)) for n, x in counts for k in range(n)]
    return float(np.mean(per_bit))


def lane_stream(netlist, values):
    """{input bit: [lane int per cycle]} of ``netlist`` with its ports ``act``, ``weight``, ``acc_in`` at
    ``values`` ([cycles x lanes] ints, two's complement)."""
    stream = {}
    for b in characterise.data_input_bits(netlist):
        port, _, index = b.partition("[")
        column = (np.asarray(values[port]) >> (int(index[:-1]) if index else 0)) & 1
        stream[b] = [int.from_bytes(np.packbits(row.astype(bool), bitorder="little").tobytes(), "little")
                     for row in column]
    return stream


def measure(widths, operand, rows):
    """{"toggles": [mean toggles per own bit at each of :data:`PROBABILITIES`], "curve": [excess
    there / the ``csa`` table point's all-toggling excess]} of one point."""
    netlist = mapped(widths, operand, rows)
    bits = characterise.data_input_bits(netlist)
    seed = characterise_sim.point_seed("gated_sum", (*widths, operand, rows))
    held = characterise_sim.sim_energy_pj(netlist, {b: (0.0, 0.0) for b in bits}, seed)
    csa = characterise_sim.mapped("csa", tuple(widths))
    csa_bits = characterise.data_input_bits(csa)
    csa_seed = characterise_sim.point_seed("csa", tuple(widths))
    every = (characterise_sim.sim_energy_pj(csa, {b: (characterise.STA_ACTIVITY, 0.5) for b in csa_bits}, csa_seed)
             - characterise_sim.sim_energy_pj(csa, {b: (0.0, 0.0) for b in csa_bits}, csa_seed))
    toggles, curve = [], []
    for p in PROBABILITIES:
        values = operand_values(p, operand, rows, widths[1], seed)
        toggles.append(own_toggles(values, operand, rows, widths[1]))
        curve.append((characterise_sim.energy_pj(netlist, lane_stream(netlist, values)) - held) / every)
    return {"toggles": toggles, "curve": curve}


@functools.lru_cache(maxsize=1)
def load_table(path=TABLE_PATH):
    """{"widths|operand&rows": point} (empty when the table is missing: the rule does not apply)."""
    return read_curves(path)


def gated_rows(drivers):
    """(operand bits, rows) of a sum whose drivers are one inventory part of :data:`GATE` (its
    count the rows) and ports; None for any other sum."""
    parts = [d for d in drivers if not isinstance(d, str)]
    if len(parts) != 1 or parts[0][0] != GATE:
        return None
    return parts[0][1][0], parts[0][2]


def effective_activity(widths, operand, rows, toggles):
    """The activity at which the sim basis's linear interpolation of the ``csa`` table point
    ``widths`` gives the measured energy of ``rows`` gated rows of an ``operand``-bit value and
    ``acc_in`` toggling ``toggles`` per own bit (:func:`models.extended_csa_sim.curve_activity`);
    None for a point not measured."""
    p = load_table().get(_key(widths, operand, rows))
    return None if p is None else curve_activity(p, toggles)


def write_table(path=TABLE_PATH):
    """Measure :data:`POINTS` and write the table."""
    points = {_key(*p): {k: [round(v, 6) for v in vs] for k, vs in measure(*p).items()} for p in POINTS}
    write_curves(path, points, "per AND-gated step sum (models.gated_sum_sim.POINTS, MixPE's $macc as "
                 "models.gated_sum_sim.verilog builds it): its simulated excess energy with the operand, the gating "
                 "code and acc_in uniform random, each redrawn with each probability, over the csa table point's "
                 "all-input-bits-at-0.5 excess, against the mean toggles per own bit of the gated rows and acc_in",
                 "python -m models.gated_sum_sim", GENERATOR)
    load_table.cache_clear()
    return len(points)


if __name__ == "__main__":
    print(f"{write_table()} points -> {TABLE_PATH}")
