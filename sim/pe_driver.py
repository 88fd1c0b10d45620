"""One PE, alone, in Amaranth's simulator: the step driver every PE test uses.

The driver speaks the contract of :mod:`hw.pe` and nothing else, so one testbench serves every PE
kind: step ``i`` raises ``valid`` in cycle ``t_i = i * (initiation_interval + gap)`` with its
``act``, ``weight`` and ``acc_in``; the operands stay stable for ``initiation_interval`` cycles;
``acc_out`` is read exactly ``latency`` cycles after ``valid`` (several steps are in flight when
``latency > initiation_interval``). ``gap`` idle cycles (``valid`` low) may separate steps.

Outside the cycles the contract says are sampled, the driver drives *poison* (the bitwise
complement of the last value) instead of holding inputs politely: ``acc_in`` in every cycle
without ``valid``, the operands in idle cycles. A PE that samples ``acc_in`` late, or reads its
operands after ``initiation_interval`` cycles, therefore computes a wrong result in every test.

A PE's operands may be derived from code lanes by border units (a LUT table, an OVP decoder's
pairs, bit-serial weight terms). :class:`BorderedPE` simulates the PE together with its border
units, as the array wires them, so a test can drive the buffers' code lanes (``act_lanes`` /
``weight_lanes`` of element codes, :func:`code_step`) and compare with the kind's golden model.
"""

from dataclasses import dataclass

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

CLOCK_PERIOD_S = 1e-8


@dataclass(frozen=True)
class PEStep:
    """One step's inputs. ``act`` / ``weight`` are bit patterns (Python ints, masked to the port
    width, so negative two's complement values may be given); ``acc_in`` likewise, or None for
    output-stationary feedback: the previous step's ``acc_out`` (needs ``latency <=
    initiation_interval + gap``)."""

    act: int
    weight: int
    acc_in: int | None = 0


@dataclass(frozen=True)
class PERun:
    """What a run saw. ``outputs[i]``: ``acc_out`` ``latency`` cycles after step i's ``valid``;
    ``trace[c]``: ``acc_out`` during cycle c (cycle 0 is the first step's ``valid``; the trace
    ends ``tail`` cycles after the last output); ``valid_cycles[i]``: step i's ``valid`` cycle.
    Values are unsigned ``acc_width``-bit words, as the port carries them."""

    outputs: tuple
    trace: tuple
    valid_cycles: tuple
    latency: int


class BorderedPE(wiring.Component):
    """A PE behind its own border units, as one array slot sees it from the buffers.

    Ports as :class:`hw.pe.ProcessingElement`, except ``act`` / ``weight`` are code lanes
    (``act_code_width`` / ``weight_code_width`` bits) that pass the PE's ``act_border()`` /
    ``weight_border()`` (combinational) or go straight through when it has none. Timing facts
    (``initiation_interval``, ``latency``, ``acc_width``) are the PE's.
    """

    def __init__(self, pe):
        self.pe = pe
        ports = {
            "act":     In(pe.act_code_width),
            "weight":  In(pe.weight_code_width),
            "valid":   In(1),
            "acc_in":  In(pe.acc_width),
            "acc_out": Out(pe.acc_width),
        }
        if pe.table_width:
            ports["table"] = In(pe.table_width)
        super().__init__(ports)

    initiation_interval = property(lambda self: self.pe.initiation_interval)
    latency = property(lambda self: self.pe.latency)
    acc_width = property(lambda self: self.pe.acc_width)

    def elaborate(self, platform):
        m = Module()
        pe = self.pe
        m.submodules.pe = pe
        for name, code, operand, border in (("act_border", self.act, pe.act, pe.act_border()),
                                            ("weight_border", self.weight, pe.weight, pe.weight_border())):
            if border is None:
                m.d.comb += operand.eq(code)
            else:
                m.submodules[name] = border
                m.d.comb += [border.code.eq(code), operand.eq(border.operand)]
        m.d.comb += [pe.valid.eq(self.valid), pe.acc_in.eq(self.acc_in), self.acc_out.eq(pe.acc_out)]
        if pe.table_width:
            m.d.comb += pe.table.eq(self.table)
        return m


def code_step(pe, act_codes, weight_codes, acc_in=0):
    """A :class:`PEStep` of :class:`BorderedPE` from one step's element codes (``k_per_step``
    each, host form: signed or unsigned as the kind's codes), through the PE's lane encoders."""
    return PEStep(int(pe.act_lanes(act_codes)), int(pe.weight_lanes(weight_codes)), acc_in)


def run_steps(dut, steps, *, gap=0, tail=0, table=None):
    """Drive ``steps`` (:class:`PEStep`) into ``dut`` (a PE or a :class:`BorderedPE`), back to
    back at the initiation interval plus ``gap`` idle cycles, and return a :class:`PERun`.

    ``table``: the ``table`` port's value for the whole run (a PE kind with a table, :mod:`hw.pe`;
    set before the first cycle and held, as the accelerator's register is), else None.

    ``tail`` more idle cycles (``valid`` low, poisoned inputs) follow the last output, for
    hold checks. Raises ValueError when feedback is asked for before the result exists.
    """
    ii, latency = dut.initiation_interval, dut.latency
    period = ii + gap
    if gap < 0 or tail < 0:
        raise ValueError("gap and tail must be >= 0")
    if steps and steps[0].acc_in is None:
        raise ValueError("the first step has no previous acc_out to feed back")
    if latency > period and any(s.acc_in is None for s in steps[1:]):
        raise ValueError(f"feedback needs latency ({latency}) <= initiation interval + gap ({period})")
    masks = {port: (1 << len(getattr(dut, port))) - 1 for port in ("act", "weight", "acc_in")}
    starts = tuple(i * period for i in range(len(steps)))
    last = (starts[-1] if steps else 0) + latency + tail
    trace = []

    if (table is None) == ("table" in dut.signature.members):
        raise ValueError("give table exactly when the PE reads a table")

    async def testbench(ctx):
        if table is not None:
            ctx.set(dut.table, table)
        trace.append(ctx.get(dut.acc_out))
        held = {"act": 0, "weight": 0, "acc_in": 0}
        for cycle in range(last):
            i, phase = divmod(cycle, period)
            if i < len(steps) and phase == 0:
                step = steps[i]
                acc_in = trace[starts[i - 1] + latency] if step.acc_in is None else step.acc_in
                held = {"act": step.act, "weight": step.weight, "acc_in": acc_in}
                values, valid = held, 1
            else:
                # operands are held through the step's II cycles; everything else is poison
                busy = i < len(steps) and phase < ii
                values = {port: held[port] if busy and port != "acc_in" else ~held[port]
                          for port in held}
                valid = 0
            for port, value in values.items():
                ctx.set(getattr(dut, port), value & masks[port])
            ctx.set(dut.valid, valid)
            await ctx.tick()
            trace.append(ctx.get(dut.acc_out))

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD_S)
    sim.add_testbench(testbench)
    sim.run()
    return PERun(outputs=tuple(trace[t + latency] for t in starts), trace=tuple(trace),
                 valid_cycles=starts, latency=latency)
