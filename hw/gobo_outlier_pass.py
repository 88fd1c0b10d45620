"""GOBO's outlier pass: the accelerator's outlier buffer and the sequencer that feeds
:class:`hw.gobo_outlier.GoboOutlierUnit` (one lane) after the array, adding each output's
outlier products into the output buffer (step 5 of :mod:`models.gobo_gemm`).

**Outlier buffer** (host-loaded before ``start``, like the weights; ``host_sel``
:data:`HOST_OUTLIER`): GOBO's sparse outlier list, per n tile of the output-stationary layout
(folds ``(m tile, n tile)``, m tile outer) its entries in column-then-k order, the n tiles one
after another (:func:`outlier_entry_words` packs it). An entry word, LSB first:

* ``value`` (16): the outlier's FP16 pattern; ``k`` (:func:`entry_fields`' ``k_bits``): its
  activation step, read from activation word ``mt * S + k`` (lane = the row in the m tile);
  ``col`` (``col_bits``): its column in the n tile (the output word's lane);
* flags ``has_entry`` (0: the one placeholder entry of an n tile without outliers, a
  pass-through), ``col_first`` / ``col_last`` (the first / last entry of its column: the unit's
  ``first`` / ``last``), ``tile_last`` (the n tile's last entry).

An n tile holds ``max(1, E)`` entries, ``E`` its outliers (:func:`tile_entry_counts`).

**Pass** (starts the cycle after the array's last output write; the array never waits for it,
so it stalls nothing and is not stalled): for each fold, for each of its R output rows (padding
rows included: the pass does not know M), the n tile's entries are walked once, one per cycle,
with no gap between rows or folds. Each entry, in flight:

* cycle j: read the outlier buffer (the address follows from the previous entry's flags, read
  in the same cycle);
* j + 1: read activation word ``mt * S + k`` and output word ``fold * R + row``;
* j + 2: one unit op: lane ``row`` of the activation word times ``value``, added to the column's
  accumulator, whose first op starts from the output word's lane ``col`` (the row's first entry:
  the buffer's word as read; later columns: the row's holding register, where finished columns
  are written back);
* j + 3: the unit's result returns (``latency`` 1) into the holding register's lane ``col``; on
  the row's last entry the holding word with that lane replaced is written to the output buffer.

A run with F folds of R rows and per-tile entry counts ``e_nt`` issues
``R * m_tiles * sum(e_nt)`` entries, and its last write comes ``READ_CYCLES + unit.latency`` (= 2 buffer
reads + the unit's latency, :attr:`hw.accelerator.Accelerator.outlier_pass_latency`) cycles
after the last issue cycle's start, i.e. the run takes
``R * m_tiles * sum(e_nt) + PASS_LATENCY`` cycles more than the array alone
(:func:`models.cycles.gemm_cycles`).
"""

import numpy as np
from amaranth.hdl import Cat, Mux, Signal

from .gobo_outlier import FP16_WIDTH, GoboOutlierUnit
from .fp32_add import FP32_WIDTH

HOST_OUTLIER = 4
#: buffer reads between an entry's issue and its unit op: the outlier buffer's, then the
#: activation and output buffers' (one cycle each); the pass latency adds the unit's latency
READ_CYCLES = 2
FLAGS = ("has_entry", "col_first", "col_last", "tile_last")


def _bits(count):
    return max(1, (count - 1).bit_length())


def default_outlier_depth(weight_depth):
    """The outlier buffer's words unless given: as many as the weight buffer's (one entry per
    weight word: C outliers per C weights in a word at most, on average)."""
    return weight_depth


def entry_fields(act_depth, cols):
    """``(name, lsb, width)`` of an outlier-buffer entry word for a design whose activation
    buffer holds ``act_depth`` words and whose array has ``cols`` columns."""
    fields, pos = [], 0
    for name, width in (("value", FP16_WIDTH), ("k", _bits(act_depth)), ("col", _bits(cols))) + tuple(
            (f, 1) for f in FLAGS):
        fields.append((name, pos, width))
        pos += width
    return tuple(fields)


def entry_width(act_depth, cols):
    return sum(w for _, _, w in entry_fields(act_depth, cols))


def tile_entry_counts(cols, n, outlier_columns):
    """Outlier-buffer entries per n tile (``max(1, E)``) of an N-column GEMM on ``cols`` columns,
    ``outlier_columns`` the column index n of each outlier."""
    n_tiles = -(-n // cols)
    per_tile = np.bincount(np.asarray(list(outlier_columns), dtype=np.int64) // cols, minlength=n_tiles)
    return [max(1, int(e)) for e in per_tile[:n_tiles]]


def outlier_entry_words(layout, outliers, act_depth):
    """The outlier buffer's words for a GEMM of ``layout`` (:class:`hw.layout.GemmLayout`, os):
    ``outliers`` ``(k, n, value)`` triples sorted by ``(n, k)`` (a
    :class:`models.gobo_format.GoboDictionary`'s ``outliers``). ValueError for an outlier outside
    the GEMM."""
    if layout.dataflow != "os":
        raise ValueError("GOBO's outlier pass runs output-stationary")
    C = layout.cols
    fields = {name: (lsb, width) for name, lsb, width in entry_fields(act_depth, C)}
    tiles = [[] for _ in range(layout.n_tiles)]
    for k, n, value in outliers:
        if not (0 <= k < layout.k and 0 <= n < layout.n):
            raise ValueError(f"outlier at (k, n) = {(k, n)} is outside the {layout.k} x {layout.n} weights")
        tiles[n // C].append((n % C, k, value))
    words = []
    for entries in tiles:
        entries = sorted(entries) or [None]
        for i, e in enumerate(entries):
            if e is None:                     # a tile without outliers: one pass-through entry
                f = dict(value=0, k=0, col=0, has_entry=0, col_first=1, col_last=1, tile_last=1)
            else:
                col, k, value = e
                prev = entries[i - 1] if i else None
                nxt = entries[i + 1] if i + 1 < len(entries) else None
                f = dict(value=value, k=k, col=col, has_entry=1,
                         col_first=int(prev is None or prev[0] != col),
                         col_last=int(nxt is None or nxt[0] != col), tile_last=int(nxt is None))
            words.append(sum(int(v) << fields[name][0] for name, v in f.items()))
    return words


def elaborate_outlier_pass(m, acc, unit, mems, start):
    """Build the pass into ``m`` (the accelerator's module): ``acc`` the
    :class:`hw.accelerator.Accelerator`, ``unit`` its one-lane :class:`GoboOutlierUnit`, ``mems``
    its buffers (``act``, ``out``, ``outlier``), ``start`` a one-cycle pulse the cycle after the
    array's last write. Returns the signal high in the cycle of the pass's last output write."""
    R, C = acc.rows, acc.cols
    E = FP16_WIDTH
    m.submodules.outlier_unit = unit
    f = {name: (lsb, w) for name, lsb, w in entry_fields(acc.act_depth, C)}
    ob_rp = mems["outlier"].read_port()
    act_rp = mems["act"].read_port()
    out_rp = mems["out"].read_port()
    out_wp = mems["out"].write_port()
    field = lambda name: ob_rp.data[f[name][0]:f[name][0] + f[name][1]]

    # --- stage 1: the entry read last cycle is visible; its position in the pass
    S, outer, inner = acc.cfg_stream_len, acc.cfg_fold_outer, acc.cfg_fold_inner
    s1_valid, row_first = Signal(name="op_s1_valid"), Signal(name="op_row_first")
    s1_addr, base, nxt = (Signal.like(ob_rp.addr, name=n) for n in ("op_s1_addr", "op_base", "op_next"))
    row = Signal(range(max(R, 2)), name="op_row")
    nt, mt = Signal.like(inner, name="op_nt"), Signal.like(outer, name="op_mt")
    out_addr = Signal.like(out_wp.addr, name="op_out_addr")
    act_base = Signal.like(act_rp.addr, name="op_act_base")
    tile_last = field("tile_last")
    run_last = Signal(name="op_run_last")
    m.d.comb += run_last.eq(tile_last & (row == R - 1) & (nt == inner - 1) & (mt == outer - 1))
    with m.If(start):
        m.d.comb += nxt.eq(0)
        m.d.sync += [s1_valid.eq(1), row_first.eq(1), row.eq(0), nt.eq(0), mt.eq(0), base.eq(0),
                     out_addr.eq(0), act_base.eq(0)]
    with m.Elif(s1_valid):
        with m.If(tile_last):
            # the row is done: the next row restarts the tile's entries, or the next fold's tile
            m.d.sync += [out_addr.eq(out_addr + 1), row_first.eq(1)]
            with m.If(row == R - 1):
                m.d.sync += row.eq(0)
                with m.If(nt == inner - 1):
                    m.d.comb += nxt.eq(0)
                    m.d.sync += [nt.eq(0), base.eq(0), mt.eq(mt + 1), act_base.eq(act_base + S)]
                    with m.If(mt == outer - 1):
                        m.d.sync += s1_valid.eq(0)
                with m.Else():
                    m.d.comb += nxt.eq(s1_addr + 1)
                    m.d.sync += [nt.eq(nt + 1), base.eq(s1_addr + 1)]
            with m.Else():
                m.d.comb += nxt.eq(base)
                m.d.sync += row.eq(row + 1)
        with m.Else():
            m.d.comb += nxt.eq(s1_addr + 1)
            m.d.sync += row_first.eq(0)
    m.d.sync += s1_addr.eq(nxt)
    # an activation word is read for an outlier only, an output word once per row (the cost
    # model counts these reads: models.cost)
    m.d.comb += [ob_rp.addr.eq(nxt), ob_rp.en.eq(1),
                 act_rp.addr.eq(act_base + field("k")), act_rp.en.eq(s1_valid & field("has_entry")),
                 out_rp.addr.eq(out_addr), out_rp.en.eq(s1_valid & row_first)]

    # --- stage 2: the unit's op
    tags = {"valid": (s1_valid, 1), "row_first": (row_first, 1), "row": (row, len(row)),
            "out_addr": (out_addr, len(out_addr)), "run_last": (run_last, 1),
            "value": (field("value"), E), "col": (field("col"), f["col"][1]),
            **{name: (field(name), 1) for name in FLAGS}}
    s2 = {name: Signal(w, name=f"op_s2_{name}") for name, (_, w) in tags.items()}
    m.d.sync += [s2[name].eq(value) for name, (value, _) in tags.items()]
    hold = Signal(C * FP32_WIDTH, name="op_hold")
    # lane selects as shifts (word_select), not Arrays: a row / column count below a power of
    # two would leave an incomplete case, which Verilator's lint refuses
    col = s2["col"]
    m.d.comb += [
        unit.in_valid.eq(s2["valid"]), unit.first.eq(s2["col_first"]), unit.last.eq(s2["col_last"]),
        unit.has_entry.eq(s2["has_entry"]), unit.value.eq(s2["value"]),
        unit.act.eq(act_rp.data.word_select(s2["row"], E)),
        unit.word.eq(Mux(s2["row_first"], out_rp.data.word_select(col, FP32_WIDTH),
                         hold.word_select(col, FP32_WIDTH))),
    ]

    # --- stage 3: the column's result back into the holding word; a finished row written
    s3 = {name: Signal(len(s2[name]), name=f"op_s3_{name}") for name in ("valid", "col", "tile_last",
                                                                          "out_addr", "run_last")}
    m.d.sync += [s3[name].eq(s2[name]) for name in s3]
    merged = Cat(*[Mux(s3["col"] == c, unit.out, hold[c * FP32_WIDTH:(c + 1) * FP32_WIDTH])
                   for c in range(C)])
    with m.If(s2["valid"] & s2["row_first"]):
        m.d.sync += hold.eq(out_rp.data)
    with m.Elif(unit.out_valid):
        m.d.sync += hold.eq(merged)
    row_done = s3["valid"] & s3["tile_last"]
    finished = Signal(name="op_finished")
    m.d.comb += [out_wp.addr.eq(s3["out_addr"]), out_wp.data.eq(merged), out_wp.en.eq(row_done),
                 finished.eq(row_done & s3["run_last"])]
    return finished
