"""GOBO's outlier pass: the accelerator's outlier buffer and the sequencer that feeds
:class:`hw.gobo_outlier.GoboOutlierUnit` (R lanes, one per array row) after the array, adding
each output's outlier products into the output buffer (step 5 of :mod:`models.gobo_gemm`).

**Outlier buffer** (host-loaded before ``start``, like the weights; ``host_sel``
:data:`HOST_OUTLIER`): GOBO's sparse outlier list, per n tile of the output-stationary layout
(folds ``(m tile, n tile)``, m tile outer) its entries in column-then-k order, the n tiles one
after another (:func:`outlier_entry_words` packs it). An entry word, LSB first:

* ``value`` (16): the outlier's FP16 pattern; ``k`` (:func:`entry_fields`' ``k_bits``): its
  activation step, read from activation word ``mt * S + k`` (R lanes: the m tile's rows);
  ``col`` (``col_bits``): its column in the n tile (the output words' lane);
* flags ``has_entry`` (0: the one placeholder entry of an n tile without outliers, a
  pass-through), ``col_first`` / ``col_last`` (the first / last entry of its column: the unit's
  ``first`` / ``last``), ``tile_last`` (the n tile's last entry).

An n tile holds ``e = max(1, E)`` entries, ``E`` its outliers (:func:`tile_entry_counts`).

**Pass** (overlapped with the array: fold f's pass starts the cycle after the array's write of
the fold's last output row, or when the pass has finished fold f - 1 if that is later; the array
never waits for it, the written folds wait in the output buffer, whose rows the pass reads and
writes through ports of its own at addresses the array has finished with). The fold's R output
words (rows) sit in a tile register (R words of C x 32 bits) while the fold's n-tile entries are
applied to all R rows at once:

* WAIT: a fold is to be loaded but the array has not yet written it (none of its own cycles).
* LS (R cycles): row i of the fold read from the output buffer into the tile (data one cycle
  later), and, in the same cycles, row i of the previous fold's tile written back (its row i is
  read before the new row i overwrites it). The first LS only loads, the last only stores.
* EN (``e + 1`` cycles): entry j read from the outlier buffer at cycle j (its address: the tile's
  base, then the previous entry's + 1, until an entry flagged ``tile_last`` is seen, one cycle
  later); in the cycle it is visible its activation word is read; the next cycle every lane r
  does one op (activation lane r times ``value``, added to the column's accumulator, whose first
  op starts from tile row r's lane ``col``); the unit's result (``latency`` later) is written back
  into lane ``col`` of every tile row.
* DRAIN (``READ_CYCLES - 1 + latency`` cycles): the last entry's activation read and op finish,
  so the next LS reads a complete tile.

Cycles: fold f's pass takes ``w_f = R + e_f + outlier_fold_cycles`` (``outlier_fold_cycles`` =
``READ_CYCLES + latency``, the accelerator's read-only
:attr:`hw.accelerator.Accelerator.outlier_fold_cycles`) from ``L_f = max(A_f, L_{f-1} + w_{f-1})``,
``A_f`` the cycle after the array's last write of fold f; the run ends R store cycles after the
last fold's pass (:func:`models.cycles.gemm_cycles`). With ``w_f`` no longer than the fold
interval only the last fold's ``w + R`` follows the array. Padding rows of the last m tile are
processed like the others (the pass does not know M; they are never read back).
"""

import numpy as np
from amaranth.hdl import Cat, Mux, Signal

from .gobo_outlier import FP16_WIDTH
from .fp32_add import FP32_WIDTH

HOST_OUTLIER = 4
#: buffer reads between an entry's issue and its unit op: the outlier buffer's, then the
#: activation buffer's (one cycle each)
READ_CYCLES = 2
FLAGS = ("has_entry", "col_first", "col_last", "tile_last")


def _bits(count):
    return max(1, (count - 1).bit_length())


#: the default outlier buffer holds one entry per this many weights of the weight buffer
WEIGHTS_PER_ENTRY = 64


def default_outlier_depth(weight_depth, cols):
    """The outlier buffer's words unless given: one per :data:`WEIGHTS_PER_ENTRY` weights the
    weight buffer holds (``weight_depth`` words of ``cols`` weights; at least 2): room for 1.6 %
    outliers, twice MiniLM-L6's measured 0.7 % under the GOBO quantiser
    (:data:`models.gobo_outlier_share.MINILM_OUTLIER_FRACTION`), plus the n tiles' entries."""
    return max(2, -(-weight_depth * cols // WEIGHTS_PER_ENTRY))


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


def elaborate_outlier_pass(m, acc, unit, mems, starting, fold_written):
    """Build the pass into ``m`` (the accelerator's module): ``acc`` the
    :class:`hw.accelerator.Accelerator`, ``unit`` its R-lane
    :class:`hw.gobo_outlier.GoboOutlierUnit`, ``mems`` its buffers (``act``, ``out``,
    ``outlier``), ``starting`` high in the cycle a run starts, ``fold_written`` high in the cycle
    of each fold's last output row write by the array (a fold's LS may follow in the next cycle).
    Returns the signal high in the cycle of the pass's last output write."""
    R, C, W, E = acc.rows, acc.cols, FP32_WIDTH, FP16_WIDTH
    m.submodules.outlier_unit = unit
    f = {name: (lsb, w) for name, lsb, w in entry_fields(acc.act_depth, C)}
    ob_rp = mems["outlier"].read_port()
    act_rp = mems["act"].read_port()
    out_rp = mems["out"].read_port()
    out_wp = mems["out"].write_port()
    field = lambda name: ob_rp.data[f[name][0]:f[name][0] + f[name][1]]
    S, outer, inner = acc.cfg_stream_len, acc.cfg_fold_outer, acc.cfg_fold_inner
    tile = [Signal(C * W, name=f"op_tile_{r}") for r in range(R)]

    phase = Signal(range(5), name="op_phase")            # IDLE, WAIT, LS, EN, DRAIN
    IDLE, WAIT, LS, EN, DRAIN = range(5)
    i = Signal(range(max(R, 2)), name="op_i")             # LS row / DRAIN count
    ld, st = Signal(name="op_ld"), Signal(name="op_st")   # this LS phase loads / stores a fold
    ld_base, st_base = Signal.like(out_wp.addr, name="op_ld_base"), Signal.like(out_wp.addr, name="op_st_base")
    finished = Signal(name="op_finished")

    # --- folds the array has written and the pass has not yet loaded: a loading LS waits for one
    pending = Signal(len(outer) + len(inner) + 1, name="op_pending")
    ready, take = Signal(name="op_ready"), Signal(name="op_take")
    m.d.comb += ready.eq(fold_written | (pending != 0))
    with m.If(starting):
        m.d.sync += pending.eq(0)
    with m.Else():
        m.d.sync += pending.eq(pending + fold_written - take)

    # --- LS: row i of the next fold read into the tile, row i of the finished fold written out
    ld_q, i_q = Signal(name="op_ld_q"), Signal.like(i, name="op_i_q")
    m.d.sync += [ld_q.eq((phase == LS) & ld), i_q.eq(i)]
    m.d.comb += [out_rp.addr.eq(ld_base + i), out_rp.en.eq((phase == LS) & ld),
                 out_wp.addr.eq(st_base + i), out_wp.data.eq(Cat(*tile).word_select(i, C * W)),
                 out_wp.en.eq((phase == LS) & st),
                 finished.eq((phase == LS) & st & ~ld & (i == R - 1))]
    for r in range(R):
        with m.If(ld_q & (i_q == r)):
            m.d.sync += tile[r].eq(out_rp.data)

    # --- EN: the fold's n-tile entries, one read per cycle; stage 1 sees the entry read last cycle
    s1_valid, en_first = Signal(name="op_s1_valid"), Signal(name="op_en_first")
    s1_addr, base, nxt = (Signal.like(ob_rp.addr, name=n) for n in ("op_s1_addr", "op_base", "op_next"))
    nt, mt = Signal.like(inner, name="op_nt"), Signal.like(outer, name="op_mt")
    act_base = Signal.like(act_rp.addr, name="op_act_base")
    tile_last = field("tile_last")
    issuing = Signal(name="op_issuing")
    m.d.comb += [issuing.eq((phase == EN) & (en_first | (s1_valid & ~tile_last))),
                 nxt.eq(Mux(en_first, base, s1_addr + 1))]
    m.d.sync += [s1_valid.eq(issuing), s1_addr.eq(nxt), en_first.eq(0)]
    with m.If(starting):
        m.d.sync += [phase.eq(WAIT), i.eq(0), ld.eq(1), st.eq(0), ld_base.eq(0), base.eq(0),
                     nt.eq(0), mt.eq(0), act_base.eq(0)]
    with m.Elif(phase == WAIT):
        with m.If(ready):
            m.d.comb += take.eq(1)
            m.d.sync += phase.eq(LS)
    with m.Elif(phase == LS):
        with m.If(i == R - 1):
            m.d.sync += [i.eq(0), st_base.eq(ld_base), ld_base.eq(ld_base + R),
                         phase.eq(Mux(ld, EN, IDLE)), en_first.eq(ld)]
        with m.Else():
            m.d.sync += i.eq(i + 1)
    with m.Elif((phase == EN) & s1_valid & tile_last):
        # the tile's last entry: its op and write-back drain, then the next LS
        m.d.sync += [phase.eq(DRAIN), i.eq(0), st.eq(1)]
        with m.If(nt == inner - 1):
            m.d.sync += [nt.eq(0), base.eq(0), mt.eq(mt + 1), act_base.eq(act_base + S)]
            with m.If(mt == outer - 1):
                m.d.sync += ld.eq(0)
        with m.Else():
            m.d.sync += [nt.eq(nt + 1), base.eq(s1_addr + 1)]
    with m.Elif(phase == DRAIN):
        with m.If(i == READ_CYCLES - 2 + unit.latency):
            # the last fold's tile is stored at once; any other loads the next fold once the
            # array has written it (a store of this tile rides along that LS)
            m.d.sync += i.eq(0)
            with m.If(~ld):
                m.d.sync += phase.eq(LS)
            with m.Elif(ready):
                m.d.comb += take.eq(1)
                m.d.sync += phase.eq(LS)
            with m.Else():
                m.d.sync += phase.eq(WAIT)
        with m.Else():
            m.d.sync += i.eq(i + 1)
    # an activation word is read for an outlier only (the cost model counts these reads)
    m.d.comb += [ob_rp.addr.eq(nxt), ob_rp.en.eq(issuing),
                 act_rp.addr.eq(act_base + field("k")), act_rp.en.eq(s1_valid & field("has_entry"))]

    # --- stage 2: one op on every lane (lane r = the fold's row r)
    tags = {"valid": (s1_valid, 1), "value": (field("value"), E), "col": (field("col"), f["col"][1]),
            **{name: (field(name), 1) for name in FLAGS}}
    s2 = {name: Signal(w, name=f"op_s2_{name}") for name, (_, w) in tags.items()}
    m.d.sync += [s2[name].eq(value) for name, (value, _) in tags.items()]
    # lane selects as shifts (word_select), not Arrays: a count below a power of two would leave
    # an incomplete case, which Verilator's lint refuses
    m.d.comb += [
        unit.in_valid.eq(s2["valid"].replicate(R)), unit.first.eq(s2["col_first"].replicate(R)),
        unit.last.eq(s2["col_last"].replicate(R)), unit.has_entry.eq(s2["has_entry"].replicate(R)),
        unit.value.eq(s2["value"].replicate(R)), unit.act.eq(act_rp.data[:R * E]),
        unit.word.eq(Cat(*[tile[r].word_select(s2["col"], W) for r in range(R)])),
    ]

    # --- stage 3: each lane's column result back into its tile row
    s3_col = Signal.like(s2["col"], name="op_s3_col")
    m.d.sync += s3_col.eq(s2["col"])
    for r in range(R):
        for c in range(C):
            with m.If(unit.out_valid[0] & (s3_col == c)):
                m.d.sync += tile[r][c * W:(c + 1) * W].eq(unit.out[r * W:(r + 1) * W])
    return finished
