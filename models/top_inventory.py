"""The accelerator top's parts that :func:`models.inventory.design_items` leaves out: the
sequencer, the host port and one-word buffers, counted from :mod:`hw.accelerator` for the
synthesised accelerator top (:func:`models.synth.accelerator_verilog`).

The cost model counts the buffers as SRAM bit cells and leaves the sequencer out (O(log depth)
bits, independent of R and C: :mod:`models.cost`). Synthesis has no SRAM: the accelerator top is
synthesised with every buffer one word deep, where :func:`hw.buffer.buffer_memory` builds a
register (:class:`hw.buffer.WordRegister`), so the comparison counts those registers here, with
the sequencer's counters at the widths those depths give. Items are unit-inventory tuples
``(primitive, widths, count, event)`` (:mod:`models.inventory`; only area and flops are used).

A grouped design's writer (:meth:`hw.accelerator.Accelerator._writer_ws_groups`) is counted here
for its control, tag pipelines and buffers (:func:`_grouped_writer`; its datapath is the cost
inventory's :func:`models.inventory.group_items`), a PE kind's table register by
:func:`_table_register` and GOBO's outlier pass for its sequencer and buffers
(:func:`_outlier_pass`; its unit, tile register and stages are
:func:`models.inventory.outlier_items`).
"""

from hw.gobo_outlier import FP16_WIDTH
from hw.gobo_outlier_pass import entry_fields

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


def _memory(width, depth, reads):
    """A buffer of ``depth`` >= 2 words (an Amaranth ``Memory``, which synthesis maps to flops):
    each word's enabled flops and its write-address compare, and per read port ``(bits,
    enabled)`` its ``depth``:1 select and data register of the ``bits`` the port's reader uses
    (synthesis drops the others; a port whose reader uses none is gone)."""
    addr = _bits(depth)
    items = [("reg_en", (width,), depth, "cycle"), ("eqc", (addr,), depth, "cycle")]
    for bits, enabled in reads:
        if bits:
            items += [("mux", (depth, bits), 1, "cycle"), ("reg_en" if enabled else "reg", (bits,), 1, "cycle")]
    return items


def _table_register(acc):
    """The PE kind's table (``Accelerator.elaborate``): ``table_entries`` host-written entries of
    ``table_entry_bits`` enabled flops, each entry's ``host_addr == i`` compare (the write
    condition's ``host_sel`` compare is the host port's)."""
    if not acc.table_entries:
        return []
    return [("reg_en", (acc.pe.table_width,), 1, "cycle"),
            ("eqc", (len(acc.host_addr),), acc.table_entries, "cycle")]


def _grouped_writer(acc, fold_bits):
    """:meth:`hw.accelerator.Accelerator._writer_ws_groups` besides its datapath: the output
    counter; with more than one fold per group the fold-in-group counter and its first / last
    compares; the tile-first flag; the parameter-word counter (only the parameter buffer's
    address bits: the rest addresses nothing); the stage-1 flags (valid, tile first / last, run
    last; with groups of several folds also group last: the group-first choice is made before
    the stage-1 register) and, for a unit with a
    requantisation that reads parameters, the parameter address + 1;
    the tags beside the unit's pipeline (the three flags and that address for ``latency - 1``
    stages, where the requantisation word is read, then the flags for one more) and beside the
    requantisation (run last, ``requant_latency`` stages; the output address addresses a one-word
    buffer). Buffers: the group accumulator (with several folds per group) and the running total
    as one-word registers (their transparent read registers merge with the word, as the plain
    writer's), and the parameter buffer (``param_depth`` >= 2 words: a memory) read by the host,
    by the unit (its ``param_bits_read`` of each lane) and by the requantisation
    (``rq_param_bits_read``)."""
    unit, C, A, gR = acc.post_array_unit, acc.cols, acc.pe.acc_width, acc.group_folds
    pa = _bits(acc.param_depth)
    items = _output_counter(fold_bits, fold_bits)
    if gR > 1:
        items += _counter(_bits(gR)) + [("eqc", (_bits(gR),), 2, "cycle")]
    flags = 4 + (1 if gR > 1 else 0)
    items += [("reg_en", (1,), 1, "cycle")] + _counter(pa)
    # the parameter address + 1 travels only to the requantisation word's read: none without one
    rq_pa = pa if unit.rq_param_bits_read else 0
    items.append(("reg", (flags,), 1, "cycle"))
    if rq_pa:
        items.append(("reg", (rq_pa,), 1, "cycle"))
    if unit.latency > 1:
        items.append(("reg", (3 + rq_pa,), unit.latency - 1, "cycle"))
    items.append(("reg", (3,), 1, "cycle"))
    if unit.requant_latency:
        items.append(("reg", (1,), unit.requant_latency, "cycle"))
    word = C * A + (A if unit.uses_asum else 0)
    if gR > 1:
        items.append(("reg_en", (word,), 1, "cycle"))
    items.append(("reg_en", (C * A,), 1, "cycle"))
    width = acc.word_widths["param"]
    return items + _memory(width, acc.param_depth, [(width, False), (C * unit.param_bits_read, False),
                                                    (C * unit.rq_param_bits_read, False)])


def _outlier_pass(acc, fold_bits):
    """GOBO's outlier pass (:func:`hw.gobo_outlier_pass.elaborate_outlier_pass`) besides
    :func:`models.inventory.outlier_items`: the outlier buffer (``outlier_depth`` >= 2 words, a
    memory) read by the host and by the pass (every entry field but ``k``, which addresses the
    one-word activation buffer); the pass's read ports on the activation buffer (the unit's R
    FP16 lanes) and the output buffer, and its write port on the output buffer (the word's
    second source); the sequencer: phase, row counter (its ``R - 1`` and drain-end compares),
    the registered load flag and row, the load / store / first-entry / stage-1 flags, the entry
    address, its tile base and the next-address select and increment, the n and m tile counters,
    the pending-fold count (add, subtract, nonzero test), the tile rows' load compares and the
    phase compares."""
    R, C = acc.rows, acc.cols
    fields = {name: width for name, _, width in entry_fields(acc.act_depth, C)}
    entry = sum(fields.values())
    depth, addr = acc.outlier_depth, _bits(acc.outlier_depth)
    items = _memory(entry, depth, [(entry, False), (entry - fields["k"], True)])
    act_used = min(acc.word_widths["act"], R * FP16_WIDTH)
    out = acc.word_widths["out"]
    items += [("reg_en", (act_used,), 1, "cycle"), ("reg_en", (out,), 1, "cycle"),
              ("mux", (2, out), 1, "cycle")]
    phases, row = 5, _bits(max(R, 2))
    pending = len(acc.cfg_fold_outer) + len(acc.cfg_fold_inner) + 1
    items += [("reg_en", (_bits(phases),), 1, "cycle"), ("eqc", (_bits(phases),), phases - 1, "cycle")]
    items += _counter(row) + [("eqc", (row,), 2 + R, "cycle"), ("reg", (row + 1,), 1, "cycle")]
    items += [("reg_en", (2,), 1, "cycle"), ("reg", (2,), 1, "cycle")]           # ld, st; en_first, s1_valid
    items += [("reg", (addr,), 1, "cycle"), ("reg_en", (addr,), 1, "cycle"),
              ("mux", (2, addr), 1, "cycle"), ("addn", (addr, 1), 1, "cycle")]
    for _ in ("nt", "mt"):
        items += _counter(fold_bits) + [("eq", (fold_bits,), 1, "cycle"), ("sub", (fold_bits,), 1, "cycle")]
    items += [("reg", (pending,), 1, "cycle"), ("add", (pending,), 1, "cycle"), ("sub", (pending,), 1, "cycle"),
              ("eqc", (pending,), 1, "cycle")]
    return items


def top_items(acc):
    """Unit-inventory tuples of what the accelerator top ``acc`` (facts only, one-word buffers)
    has besides :func:`models.inventory.design_items`: buffers, host port, cycle counter and
    sequencer (:meth:`hw.accelerator.Accelerator.elaborate`)."""
    R, ii = acc.rows, acc.pe.initiation_interval
    # the sequencer's counters are sized by the deepest buffer, the parameter / outlier one too
    depth = max(acc.act_depth, acc.weight_depth, acc.out_depth, acc.param_depth, acc.outlier_depth)
    fold_bits = len(acc.cfg_fold_outer)
    interval_bits = _bits(depth * ii + acc.array.min_fold_interval + 1)
    # every buffer the host reads (act, weight, out, and the parameter / outlier buffers)
    host_ports = 3 + (acc.param_depth > 0) + (acc.outlier_depth > 0)
    items = _buffers(acc) + _table_register(acc)
    if acc.table_entries and not acc.param_depth:
        items.append(("eqc", (len(acc.host_sel),), 1, "cycle"))   # the table's host_sel compare
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
        if acc.group_size is not None:
            items += _grouped_writer(acc, fold_bits)
        else:
            # writer: output counter, stage-1 valid / acc / last
            items += _output_counter(fold_bits, fold_bits) + [("reg", (3,), 1, "cycle")]
    else:
        items += [("eqc", (interval_bits,), 2, "cycle")]            # first / last token flags
        if acc.outlier_unit is None:
            items += _output_counter(max(fold_bits, _bits(R)), fold_bits)
        else:
            # the outlier pass's last write ends the run, not the writer's: its fold counters
            # (whose only use is that end) are removed, the row counter stays (a fold written)
            row = max(fold_bits, _bits(R))
            items += _counter(row) + [("eq", (row,), 1, "cycle"), ("sub", (row,), 1, "cycle")]
    if acc.outlier_unit is not None:
        items += _outlier_pass(acc, fold_bits)
    return items
