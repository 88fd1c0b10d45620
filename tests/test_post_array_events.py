"""Which post-array parts act on every array word and which once per dequantised word
(:func:`models.inventory.post_array_parts`), checked against the units' RTL: GroupDequant's
dequantisation stages follow ``raw`` without ``in_valid`` (no enable), BitSerialScaleDequant's
registers hold; and the golden internal words the GroupDequant parts are priced at
(:func:`models.post_array_activity.group_dequant_words`) are the RTL's."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.group_dequant import GroupDequant, pack_param_lanes
from hw.pe import facts_only
from hw.scale_dequant import BitSerialScaleDequant
from models.inventory import post_array_parts, unit_items
from models.post_array_activity import _concat, _lanes_of, group_dequant_words

A, C = 32, 2


def _run(unit, inputs):
    """``y`` lanes of ``unit`` after each cycle of ``inputs`` ([{port: value}] per cycle)."""
    seen = []

    async def bench(ctx):
        for values in inputs:
            for port, v in values.items():
                ctx.set(getattr(unit, port), v)
            await ctx.tick()
            seen.append(_lanes_of(ctx.get(unit.y), C, A))

    sim = Simulator(unit)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen


def _stream(unit, params, words, valid_first=True):
    """One word under in_valid, then ``words`` without it, each held ``latency + 1`` cycles."""
    cycles = []
    for i, raw in enumerate(words):
        first = {"raw": _concat(raw, A), "asum": 3, "params": params,
                 "in_valid": int(valid_first and i == 0)}
        cycles += [first] + [{**first, "in_valid": 0}] * unit.latency
    return cycles


def test_bitserial_registers_hold_between_valids_and_its_parts_say_so():
    unit = BitSerialScaleDequant(cols=C, acc_width=A, digit_bits=4)
    y = _run(unit, _stream(unit, _concat([5, 7], 8), [[100, -3], [-77, 12345], [9, 9]]))
    settled = y[unit.latency]
    assert settled == [500, -21]
    # raw changes with no in_valid: the enabled registers (and y) hold
    assert all(v == settled for v in y[unit.latency:])
    events = {(prim, ev) for prim, _, _, ev in unit_items(unit)}
    assert {("reg_en", "word"), ("horner", "word")}.isdisjoint(events)
    # only the parts fed by the live ports act per array word
    assert {p for p, _, _, ev, _, _ in post_array_parts(unit) if ev == "word"} == {"tmult", "mux"}


def test_group_dequant_follows_raw_without_a_valid_and_its_stages_say_so():
    unit = GroupDequant(cols=C, acc_width=A)
    # lanes (b, c, z): a shift and a zero point in one column, neither in the other
    lanes = pack_param_lanes(np.array([[1 << 30, 4, 2], [(1 << 30) + 12345, 9, 0]], dtype=object))
    params = _concat([int(v) for v in lanes], 48)
    words = [[100, -3], [-77, 12345], [9, 9]]
    y = _run(unit, _stream(unit, params, words, valid_first=True))
    # every word, in_valid or not, reaches y latency cycles later
    outs = [y[(i + 1) * (unit.latency + 1) - 2] for i in range(len(words))]
    assert len({tuple(o) for o in outs}) == len(words)
    # and equals the golden internal word the model measures
    for raw, got in zip(words, outs):
        golden = group_dequant_words(unit, {"raw": _concat(raw, A), "asum": 3, "params": params})["y"][0]
        assert got == _lanes_of(golden, C, A)
    word = {(p, w) for p, w, _, ev, _, _ in post_array_parts(unit) if ev == "word"}
    assert ("mult", (8, A)) in word and ("mult", (A, 32)) in word
    # the requantisation pipeline (fed by total, once per dequantised word) is not
    assert all(ev == "group" for _, _, _, ev, _, ports in post_array_parts(unit)
               if any(p in ("total", "rq_params") for p, _ in ports))


@pytest.mark.parametrize("make", [lambda: GroupDequant(cols=C, acc_width=A),
                                  lambda: BitSerialScaleDequant(cols=C, acc_width=A, digit_bits=2)])
def test_every_part_names_its_ports_but_the_sequencing(make):
    unit = facts_only(make())
    unported = [(prim, widths) for prim, widths, _, _, _, ports in post_array_parts(unit) if not ports]
    # one sequencing register: the valid pipelines' flops or the digit counter and busy flag
    assert len(unported) == 1 and unported[0][0] in ("reg", "reg_en")
    assert unported[0][1][0] <= 1 + unit.latency.bit_length()
    assert all(bits > 0 for *_, ports in post_array_parts(unit) for _, bits in ports)
