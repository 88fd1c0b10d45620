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
    """A counter register that clears or, when enabled, counts (``x <= 0`` / ``x <= x + 1``):
    plain flops and an incrementer whose carry-in is the enable (``inc``). Its next value
    ``en ? x + 1 : x`` is ``x + en``: synthesis builds the half-adder chain with the enable as its
    carry and no load-enable mux (a cleared counter's clear is the flop's reset AND). Counters of
    2 .. 64 bits synthesised alone: ``reg`` + ``inc`` is -1 .. +18 % of what is built, the old
    rule (``reg_en`` + a ``width``-bit plus one-bit adder) -1 .. +70 %; the 64-bit cycle
    counter 792 um^2 for 771 built, the old rule 1,245 (``tests/test_top_inventory.py``)."""
    return [("reg", (width,), 1, "cycle"), ("inc", (width,), 1, "cycle")]


def _fold_walker(interval_bits, fold_bits, ii, parity=True):
    """:class:`hw.accelerator._FoldWalker`: the cycle, token, phase and fold counters, the
    ``token < count``, ``cycle == interval - 1`` and ``inner/outer == n - 1`` compares, and the
    parity flop when something reads it (``parity``: synthesis removes an unread one)."""
    items = _counter(interval_bits) + _counter(interval_bits)          # cycle, token
    items += [("lt", (interval_bits,), 1, "cycle"), ("eq", (interval_bits,), 1, "cycle"),
              ("sub", (interval_bits,), 1, "cycle")]
    if ii > 1:
        items += _counter(_bits(ii)) + [("eqc", (_bits(ii),), 2, "cycle")]
    for _ in ("outer", "inner"):
        items += _counter(fold_bits) + [("eq", (fold_bits,), 1, "cycle"), ("sub", (fold_bits,), 1, "cycle")]
    return items + [("reg_en", (1,), 1, "cycle")] * parity            # parity


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


def _host_read_mux(acc):
    """``host_rdata``: the registered ``host_sel`` picks one buffer's read data, each word
    zero-extended to ``host_rdata``'s width (the widest word), or 0 for a select no buffer has.
    Synthesis builds each bit from the words that have it: where n >= 2 words reach, an n:1 mux
    (plus a zero input when some select reads none of them); where one word reaches, its bit
    ANDed with that word's decoded select. The old rule, one (ports + 1):1 mux as wide as the
    widest word, counted the zero-extended bits as mux inputs: the L-Mul E4M3 4x4 top (act and
    weight words 32 bits, out 212) was 1,659 um^2 modelled for 544 built (a 4:1 mux of 32 bits
    and 180 ANDs). The host port synthesised alone: +4 .. +6 % at the INT8 and L-Mul widths; a
    band two of three words reach (LUT W4A8: act and out 128 bits, weight 64) is over-counted,
    857 um^2 for 661 built (a decoded AND-OR there is cheaper than a binary-select 3:1 mux). The
    bands come from the buffers' word widths (:attr:`hw.accelerator.Accelerator.word_widths`)."""
    widths = sorted(acc.word_widths.values())
    selects = 1 << len(acc.host_sel)
    items, low = [], 0
    for i, high in enumerate(widths):
        if high > low:
            n = len(widths) - i            # the words at least `high` bits wide reach this band
            inputs = n + (n < selects)     # a select that reads none of them reads 0
            items.append(("and", (high - low,), 1, "cycle") if n == 1 else
                         ("mux", (inputs, high - low), 1, "cycle"))
            low = high
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
        *_counter(acc.cycle_counter_width),                         # cycles
        ("eqc", (len(acc.host_sel),), host_ports, "cycle"),         # host write selects
        ("reg", (len(acc.host_sel),), 1, "cycle"),                  # host_sel_q
        *_host_read_mux(acc),                                       # host_rdata
        ("lt", (interval_bits,), 1, "cycle"),                       # interval = max(S * II, F)
        ("mux", (2, interval_bits), 1, "cycle"),
    ]
    ws = acc.dataflow == "ws"
    # token issuer; only ws reads its fold parity (the act bank)
    items += _fold_walker(interval_bits, fold_bits, ii, parity=ws)
    items += [("reg", (1,), 2, "cycle"),                            # tok_active, issue_q
              ("reg_en", (1 if ws else 2,), 1, "cycle")]            # flags_q: bank / first, last
    # preload counter: os loads it with 0, so it never counts, but that is a sequential fact
    # synthesis does not prove (the os tops keep its flops)
    items += _counter(_bits(R + 1)) + [("eqc", (_bits(R + 1),), 2, "cycle")]
    # every buffer address (act_addr, weight loader, output base, ...) drives a one-word
    # buffer's ignored address bit: synthesis removes those counters, so none is counted
    if ws:
        # weight loader: its walker, active, we / row / bank registers
        items += _fold_walker(interval_bits, fold_bits, 1)
        items += [("reg", (2,), 1, "cycle"), ("reg_en", (len(acc.array.weight_row) + 1,), 1, "cycle")]
        # writer: output counter, stage-1 valid / acc / last
        items += _output_counter(fold_bits, fold_bits) + [("reg", (3,), 1, "cycle")]
    else:
        items += [("eqc", (interval_bits,), 2, "cycle")]            # first / last token flags
        items += _output_counter(max(fold_bits, _bits(R)), fold_bits)
    return items
