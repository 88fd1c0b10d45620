"""The accelerator top's own parts (:mod:`models.top_inventory`, the weight-stationary writer of
:func:`models.inventory.accelerator_items`) against what Yosys/osu018 builds of them (issue 14:
the 4x4 tops were +8 .. +17 % over synthesis while their PEs and arrays were within 10 %).

Each rule is checked on a small synthesised part written the way :mod:`hw.accelerator` writes it
(the 64-bit cycle counter, the host read mux at the INT8 4x4 word widths), and all of them
together on the INT8 2x2 tops: the model's flops are exactly the mapped netlist's and its area is
within the issue's 10 %. Under the old rules the ws top was +15.7 % and 30 flops over (the
writer's stage register counted at acc_width), the counter +61 % and the mux +158 %. About 30 s
uncached (each 2x2 top ~12 s). Skipped without Yosys / the liberty, except under CI=true.
"""

import pytest
from amaranth.back import verilog
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from models import cost_vs_synth, inventory, synth, tech, top_inventory
from models.cost_primitives import primitive
from tests.tools import require_synthesis

TARGET = 0.10


@pytest.fixture
def tools():
    require_synthesis()


def _area(items):
    return sum(n * primitive(p, *w).area_um2 for p, w, n, _ in items)


def _flops(items):
    return sum(n * primitive(p, *w).flop_bits for p, w, n, _ in items)


def _synth_area(component, top):
    """45 nm area and flops of ``component`` synthesised with the project's flow."""
    r = synth.synthesize_verilog(verilog.convert(component, name=top, emit_src=False), top)
    return r.area_um2 * tech.value("scale.area.180_to_45"), r.flop_bits


class _Counter(wiring.Component):
    """The accelerator's cycle counter: cleared by ``start``, counts while ``en``."""

    def __init__(self, width):
        super().__init__({"start": In(1), "en": In(1), "count": Out(width)})

    def elaborate(self, platform):
        m = Module()
        with m.If(self.start):
            m.d.sync += self.count.eq(0)
        with m.Elif(self.en):
            m.d.sync += self.count.eq(self.count + 1)
        return m


class _HostRead(wiring.Component):
    """The accelerator's host read port: a registered select picks a zero-extended word or 0."""

    def __init__(self, widths, sel_bits):
        self.widths = widths
        super().__init__({"sel": In(sel_bits), "rdata": Out(max(widths)),
                          **{f"w{i}": In(w) for i, w in enumerate(widths)}})

    def elaborate(self, platform):
        m = Module()
        sel_q = Signal.like(self.sel)
        m.d.sync += sel_q.eq(self.sel)
        with m.Switch(sel_q):
            for i in range(len(self.widths)):
                with m.Case(i):
                    m.d.comb += self.rdata.eq(getattr(self, f"w{i}"))
            with m.Default():
                m.d.comb += self.rdata.eq(0)
        return m


def test_cycle_counter_is_flops_and_an_incrementer(tools):
    """64 bits: 771 um^2 built; flops + incrementer (enable as carry) 792, the old rule (enabled
    flops + a 64-bit plus 1-bit adder) 1,245."""
    width = synth.accelerator_facts("int8", 2, 2).cycle_counter_width
    built, flops = _synth_area(_Counter(width), "top_counter")
    items = top_inventory._counter(width)
    assert flops == _flops(items) == width
    assert abs(_area(items) / built - 1) <= TARGET, (_area(items), built)


def test_host_read_mux_counts_only_the_bits_a_word_has(tools):
    """INT8 4x4: act and weight words 32 bits, out 128; bits 32.. are the out word ANDed with its
    select (388 um^2 built, 412 modelled; the old 4:1 mux of 128 bits 1,001)."""
    acc = synth.accelerator_facts("int8", 4, 4)
    widths = [acc.word_widths[b] for b in ("act", "weight", "out")]
    built, flops = _synth_area(_HostRead(widths, len(acc.host_sel)), "top_host_read")
    items = top_inventory._host_read_mux(acc) + [("reg", (len(acc.host_sel),), 1, "cycle")]
    assert flops == _flops(items)
    assert abs(_area(items) / built - 1) <= TARGET, (_area(items), built)


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_int8_2x2_top_flops_and_area(tools, dataflow):
    """The whole INT8 2x2 top (one-word buffers): the model's flops (array, writer, buffers,
    sequencer) are the mapped netlist's, its area within 10 %. ws: the writer's stage register
    keeps the array's significant output bits, the sequencer's token walker reads its parity
    and one flags bit; os: the walker's parity is unread (removed) and the preload counter,
    loaded with 0, stays (synthesis does not prove it constant)."""
    acc = synth.accelerator_facts("int8", 2, 2, dataflow)
    r = synth.synthesize("int8", rows=2, cols=2, dataflow=dataflow, accelerator=True)
    items = [(i.prim, i.widths, i.count, i.event) for i in inventory.design_items(acc)]
    assert _flops(items + top_inventory.top_items(acc)) == r.flop_bits
    model = cost_vs_synth.accelerator_area_um2("int8", 2, 2, dataflow)
    built = r.area_um2 * tech.value("scale.area.180_to_45")
    assert abs(model / built - 1) <= TARGET, (model, built)
