"""A bit-serial PE's per-cycle parts on the simulated-toggle basis
(:meth:`models.part_activity.PartActivity.cycle_view`): its held operands count once per step, the
term index toggles as the RTL's counter does, and the whole PE's model meets the mapped netlist's
own simulated switching."""

import pytest
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.sim import Simulator

from hw.bitserial_terms import TermSteps
from models import energy_vs_sta, gate_toggles, netlist_power, synth
from models.part_activity import PartActivity, counter_toggles, part_activity
from models.registry import PE_KINDS
from tools import require_synthesis


class _Steps(Elaboratable):
    """:class:`hw.bitserial_terms.TermSteps` of ``terms`` terms alone, accumulating a count."""

    def __init__(self, terms):
        self.valid = Signal()
        self.acc = Signal(8)
        self._m = Module()
        self.steps = TermSteps(self._m, self.valid, terms)
        self.steps.accumulate(self.acc, self.acc + 1)

    def elaborate(self, platform):
        return self._m


def _index_run(terms, steps=64):
    """(valid per cycle, term index per cycle) of back-to-back steps in the RTL simulator."""
    dut, valid, index = _Steps(terms), [], []

    async def tb(ctx):
        for cycle in range(steps * terms):
            ctx.set(dut.valid, cycle % terms == 0)
            valid.append(cycle % terms == 0)
            index.append(ctx.get(dut.steps.index))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return valid, index


def _rate(values, bits):
    return sum(bin(a ^ b).count("1") for a, b in zip(values, values[1:])) / ((len(values) - 1) * bits)


@pytest.mark.parametrize("terms", [2, 3, 4])
def test_term_index_toggles_as_the_rtl_counter(terms):
    """The term index's toggles per cycle (what a per-cycle part's term select reads) from the
    measured ``valid`` alone equal those of the RTL's index on the same steps: 1 per cycle for 2
    terms, 3/4 for 4 (``valid``'s own toggles, the old floor, are 1/2 there)."""
    valid, index = _index_run(terms)
    bits = max(1, (terms - 1).bit_length())
    ports = (("act", 0.0, 8), ("weight", 0.0, 8), ("acc_in", 0.0, 32), ("valid", _rate(valid, 1), 1),
             ("acc_out", 0.0, 32))
    parts = PartActivity("bitserial", (), "minilm", terms, ports, "0" * 16, "2026-12-01", basis="sim")
    measured = _rate(index, bits)
    assert parts.cycle_view().index_toggles() == pytest.approx(measured, rel=0.03)
    assert counter_toggles(terms) == pytest.approx(measured, rel=0.03)
    if terms == 4:
        assert parts.rate("valid") < 0.8 * measured


@pytest.mark.slow
@pytest.mark.parametrize("label", ["BitMoD mixed4 W4A8 g128", "BitMoD INT8 Booth g128"])
def test_bitserial_model_meets_the_netlist_switching(label):
    """The sim-basis model of a bit-serial PE per step against the Liberty-priced simulated toggles
    of its own mapped netlist on the same MiniLM stream, at OpenSTA 2.0.17's pricing (the
    bench_energy_vs_sim_power reference): within the +-15 % target (with every per-cycle part at
    its operands' per-step toggles and valid's as a floor: +141 % and +52 %)."""
    require_synthesis()
    key = tuple(sorted(dict(dict(PE_KINDS["bitserial"].variants)[label]).items()))
    model, _ = energy_vs_sta.pe_step_energy_pj("bitserial", key, source="minilm", basis="sim")
    netlist = synth.synthesize("bitserial", unit="pe", pe_options=key).netlist()
    simulated = netlist_power.simulated_power(netlist, gate_toggles.pe_stream("bitserial", key), 100.0)
    reference = energy_vs_sta.sta_step_energy_pj("bitserial", key, simulated)
    reference *= simulated.as_opensta_2019.total / simulated.power.total
    assert abs(model / reference - 1) <= 0.15, (model, reference)
    # the held operands: the per-cycle view reads act at its toggles per cycle
    parts = part_activity("bitserial", key, "minilm")
    assert parts.cycle_view().rate("act") == parts.rate("act")
