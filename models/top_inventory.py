"""The accelerator top's parts that :func:`models.inventory.design_items` leaves out: the
sequencer, the host port and one-word buffers, counted from :mod:`hw.accelerator` for the
synthesised accelerator top (:func:`models.synth.accelerator_verilog`).

The cost model counts the buffers as SRAM bit cells and leaves the sequencer out (O(log depth)
bits, independent of R and C: :mod:`models.cost`). Synthesis has no SRAM: the accelerator top is
synthesised with every buffer one word deep, where :func:`hw.buffer.buffer_memory` builds a
register (:class:`hw.buffer.WordRegister`), so the comparison counts those registers here, with
the sequencer's counters at the widths those depths give. Items are unit-inventory tuples
``(primitive, widths, count, event)`` (:mod:`models.inventory`; only area and flops are used).

Not inventoried (an :class:`~models.tech.UnknownComponentError`): a grouped design's writer
(:meth:`hw.accelerator.Accelerator._writer_ws_groups`) and a PE kind's table register.
"""

from .tech import UnknownComponentError


def _bits(n):
    """Bits of an Amaranth ``range(n)`` signal."""
    return max(1, (n - 1).bit_length())


def _counter(width):
    """A counter register that loads 0 or its increment: enabled flops and a +1 (``addn``:
    a ``width``-bit word plus one bit)."""
    return [("reg_en", (width,), 1, "cycle"), ("addn", (width, 1), 1, "cycle")]


def _fold_walker(interval_bits, fold_bits, ii):
    """:class:`hw.accelerator._FoldWalker`: the cycle, token, phase and fold counters, the
    ``token < count``, ``cycle == interval - 1`` and ``inner/outer == n - 1`` compares, parity."""
    items = _counter(interval_bits) + _counter(interval_bits)          # cycle, token
    items += [("lt", (interval_bits,), 1, "cycle"), ("eq", (interval_bits,), 1, "cycle"),
              ("sub", (interval_bits,), 1, "cycle")]
    if ii > 1:
        items += _counter(_bits(ii)) + [("eqc", (_bits(ii),), 2, "cycle")]
    for _ in ("outer", "inner"):
        items += _counter(fold_bits) + [("eq", (fold_bits,), 1, "cycle"), ("sub", (fold_bits,), 1, "cycle")]
    return items + [("reg_en", (1,), 1, "cycle")]                      # parity


def _output_counter(item_bits, fold_bits):
    """:class:`hw.accelerator._OutputCounter`: item, inner and outer counters and their compares."""
    items = _counter(item_bits) + [("eq", (item_bits,), 1, "cycle"), ("sub", (item_bits,), 1, "cycle")]
    for _ in ("outer", "inner"):
        items += _counter(fold_bits) + [("eq", (fold_bits,), 1, "cycle"), ("sub", (fold_bits,), 1, "cycle")]
    return items


def _buffers(acc):
    """The one-word buffers: the word (enabled flops) and one data register per read port (the
    host's, always enabled; the sequencer's, enabled). The ws writer's read-modify-write port is
    transparent to the write port: its register takes the written data or the word every cycle,
    which is the word register's own next value, so synthesis merges the two (none counted)."""
    if any(getattr(acc, f"{b}_depth") != 1 for b in ("act", "weight", "out")):
        raise UnknownComponentError("the accelerator top is inventoried with one-word buffers only")
    widths = acc.word_widths
    items = []
    for name in ("act", "weight", "out"):
        w = widths[name]
        items += [("reg_en", (w,), 1, "cycle"), ("reg", (w,), 1, "cycle")]        # word, host read
        if name != "out":
            items.append(("reg_en", (w,), 1, "cycle"))                           # sequencer read
    return items


def top_items(acc):
    """Unit-inventory tuples of what the accelerator top ``acc`` (facts only, one-word buffers)
    has besides :func:`models.inventory.design_items`: buffers, host port, cycle counter and
    sequencer (:meth:`hw.accelerator.Accelerator.elaborate`)."""
    if acc.group_size is not None or acc.table_entries:
        raise UnknownComponentError("the accelerator top's grouped writer and table register are "
                                    "not inventoried")
    R, ii = acc.rows, acc.pe.initiation_interval
    depth = max(acc.act_depth, acc.weight_depth, acc.out_depth)
    fold_bits = len(acc.cfg_fold_outer)
    interval_bits = _bits(depth * ii + acc.array.min_fold_interval + 1)
    host_ports = 3
    items = _buffers(acc)
    items += [
        ("reg", (2,), 1, "cycle"),                                  # busy, done
        ("reg_en", (acc.cycle_counter_width,), 1, "cycle"),         # cycles
        ("addn", (acc.cycle_counter_width, 1), 1, "cycle"),
        ("eqc", (len(acc.host_sel),), host_ports, "cycle"),         # host write selects
        ("reg", (len(acc.host_sel),), 1, "cycle"),                  # host_sel_q
        ("mux", (host_ports + 1, len(acc.host_rdata)), 1, "cycle"),  # host_rdata (+ default 0)
        ("lt", (interval_bits,), 1, "cycle"),                       # interval = max(S * II, F)
        ("mux", (2, interval_bits), 1, "cycle"),
    ]
    items += _fold_walker(interval_bits, fold_bits, ii)             # token issuer
    items += [("reg", (1,), 2, "cycle"),                            # tok_active, issue_q
              ("reg_en", (2,), 1, "cycle")]                         # flags_q
    # every buffer address (act_addr, weight loader, output base, ...) drives a one-word
    # buffer's ignored address bit: synthesis removes those counters, so none is counted
    if acc.dataflow == "ws":
        items += _counter(_bits(R + 1)) + [("eqc", (_bits(R + 1),), 2, "cycle")]   # preload
        # weight loader: its walker, active, we / row / bank registers
        items += _fold_walker(interval_bits, fold_bits, 1)
        items += [("reg", (2,), 1, "cycle"), ("reg_en", (len(acc.array.weight_row) + 1,), 1, "cycle")]
        # writer: output counter, stage-1 valid / acc / last
        items += _output_counter(fold_bits, fold_bits) + [("reg", (3,), 1, "cycle")]
    else:
        items += [("eqc", (interval_bits,), 2, "cycle")]            # first / last token flags
        items += _output_counter(max(fold_bits, _bits(R)), fold_bits)
    return items
