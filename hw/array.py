"""A parameterised systolic array of any PE kind, weight- or output-stationary.

The array owns the shared plumbing so a PE kind only supplies arithmetic (see :mod:`hw.pe`): input
skew, operand pass registers, the weight double buffers (weight-stationary), the accumulator drain
(output-stationary) and the output deskew. Operand pass registers load only when a valid token
arrives, so operands stay put between tokens (what an ``initiation_interval`` > 1 PE needs, and no
toggling on bubbles).

Weight-stationary (``dataflow="ws"``)
    PE (r, c) holds ``W[k0 + r, n0 + c]`` (``k_per_step`` elements per row). Activation tokens enter
    row r skewed by ``r * pe.latency`` and move right one column per cycle; partial sums move down one
    row per ``pe.latency`` cycles. Each token carries a bank bit that picks one of the slot's two
    weight registers, so the next fold's weights are written into the other bank while this fold
    computes. Weight writes arrive on a per-column bus (row address, bank, C lanes), column c delayed
    c cycles so the write chases the activation wavefront. An array output word is one activation
    row's dot products with all C columns, deskewed so all lanes leave together.

Output-stationary (``dataflow="os"``)
    PE (r, c) accumulates ``Out[m0 + r, n0 + c]``. Activation lane r is skewed by r and moves right;
    weight lane c is skewed by c and moves down. A token flagged ``first`` restarts the accumulator,
    one flagged ``last`` copies the final sum into the slot's output register; each column then shifts
    its R output registers down and out (bottom row first), overlapped with the next fold. Requires
    ``pe.latency <= pe.initiation_interval`` and a fold interval of at least R cycles.

Row-sum lane (``row_sum=True``, ws only; off by default, and then the array is unchanged)
    One more column of adders left of column 0: row r's cell adds the sum of its token's activation
    elements to the partial sum from the row above, with the PE latency, so it moves down exactly
    like the PE columns' partial sums and leaves on ``out_asum`` together with the output word
    (deskewed like column 0). The word then carries ``sum_r sum_j a[m, k0 + r*g + j]`` next to the C
    dot products: what a per-group zero point needs (``z * sum(a)``, :mod:`hw.group_dequant`).
    The cell reads the skewed token of column 0, so it needs activation codes that are plain
    integers (no row border unit); it wraps to ``pe.acc_width`` bits like the PEs.

Broadcast tiles (``tile=(tile_rows, tile_cols)``; default (1, 1), the array above, unchanged)
    The PEs are grouped in tiles of ``tile_rows`` x ``tile_cols``. Inside a tile an operand is
    broadcast: one wire drives every PE of the tile in the same cycle, and the pass registers
    (and skew stages) exist only at tile boundaries, so an operand moves one TILE per cycle and
    every skew, deskew and timing fact counts tiles instead of PEs (``row_tiles`` =
    rows / tile_rows, ``col_tiles`` = cols / tile_cols). ws: activation tokens move one tile of
    columns per cycle (a LUT PE's token is its row's precomputed table, so this is LUT Tensor
    Core's table broadcast across a tile's columns), the weight write bus chases them at the same
    pace, and partial sums still move down one row per ``pe.latency`` cycles: ws tiles are one row
    high (``tile_rows`` must be 1; a taller tile would need an adder tree down the tile, another
    PE contract). os (BitMoD's output-stationary tiles): activation lane r is skewed by
    ``r // tile_rows`` and moves right one tile of columns per cycle, weight lane c is skewed by
    ``c // tile_cols`` and moves down one tile of rows per cycle; the PEs of a tile capture in the
    same cycle, and the drain still shifts each column's R output registers out one per cycle.
    Each side must divide the array's side.

Constant and copied operand bits
    A border unit may name operand bits that no code changes (``constant_bits``, :mod:`hw.pe`:
    an ANT int4 element's exponent, say) and bits that always equal a lower one (``copied_bits``:
    an integer's sign-extension copies). The array never carries those: the lanes, skew and pass
    registers, weight banks and bank selects hold only the other bits, and the constants and
    copies are re-attached in front of each PE, so the PE's logic reads them as constants and
    sign extensions in the Verilog. (Carried through a register and a bank select, constants are
    constants for Yosys only after it has expanded the PE's multiply-adds into gates, and PEs of
    the same logic reached ABC as different netlists; copies in separate flops made its
    multipliers a bit wider than the values: issue 14.) Nothing visible changes: a register's
    constant or copied bit holds the same value once a token has loaded it, and a PE reads only
    loaded tokens and written banks.

Timing facts are read-only properties: ``latency`` (array input to aligned output, in cycles),
``min_fold_interval`` and, for ``os``, ``drain_cycles``, all derived from the tile counts;
:mod:`models.cycles` reads them.
"""

from functools import partial

from amaranth.hdl import Const, Module, Signal, Cat, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .pe import OptionError, check_positive_int, facts_only

DATAFLOWS = ("ws", "os")


def _delay(m, sig, cycles, name):
    """``sig`` delayed by ``cycles`` flops that shift every cycle."""
    for i in range(cycles):
        nxt = Signal.like(sig, name=f"{name}_d{i}")
        m.d.sync += nxt.eq(sig)
        sig = nxt
    return sig


def _skew(m, data, valid, cycles, name):
    """Delay a token by ``cycles``: ``valid`` shifts every cycle, ``data`` loads only with a valid
    token and holds otherwise. Returns ``(data, valid)``."""
    for i in range(cycles):
        nxt_data = Signal.like(data, name=f"{name}_data{i}")
        nxt_valid = Signal(name=f"{name}_valid{i}")
        m.d.sync += nxt_valid.eq(valid)
        with m.If(valid):
            m.d.sync += nxt_data.eq(data)
        data, valid = nxt_data, nxt_valid
    return data, valid


def check_tile(tile, rows, cols, dataflow):
    """``tile`` as a ``(tile_rows, tile_cols)`` tuple, or OptionError quoting the bad value: two
    positive integers dividing ``rows`` and ``cols``, one row high in weight-stationary."""
    if not isinstance(tile, (tuple, list)) or len(tile) != 2:
        raise OptionError(f"tile must be a (tile_rows, tile_cols) pair of positive integers, not {tile!r}")
    tile_rows = check_positive_int("tile_rows", tile[0])
    tile_cols = check_positive_int("tile_cols", tile[1])
    if rows % tile_rows:
        raise OptionError(f"tile_rows {tile_rows} must divide the array's rows {rows}")
    if cols % tile_cols:
        raise OptionError(f"tile_cols {tile_cols} must divide the array's cols {cols}")
    if dataflow == "ws" and tile_rows != 1:
        raise OptionError(f"weight-stationary tiles are one row high (partial sums move down row by "
                          f"row), not tile_rows {tile_rows}")
    return tile_rows, tile_cols


def _lanes(vector, width, count):
    return [vector[i * width:(i + 1) * width] for i in range(count)]


def _kept(operand, constants, copies):
    """The bits of ``operand`` that are in neither ``constants`` ({bit: value}) nor ``copies``
    ({bit: the lower bit it equals}), in order."""
    return Cat(*(operand[b] for b in range(len(operand)) if b not in constants and b not in copies))


def _attach(kept, width, constants, copies):
    """The ``width``-bit operand whose bits are ``constants``, ``copies`` of lower bits and, in
    order, ``kept`` (the inverse of :func:`_kept`)."""
    bits, k = [], 0
    for b in range(width):
        if b in constants:
            bits.append(Const(constants[b], 1))
        elif b in copies:
            bits.append(bits[copies[b]])
        else:
            bits.append(kept[k])
            k += 1
    return Cat(*bits)


class SystolicArray(wiring.Component):
    """``rows`` x ``cols`` PEs made by ``pe_factory`` in the given dataflow.

    Ports (all unsigned vectors; lane i of a vector is bits ``[i*w, (i+1)*w)``):

    * ``act`` In(rows * pe.act_code_width), ``act_valid`` In(1): one activation token per valid
      cycle, lane r for row r, unskewed; lane r passes row r's border unit if the PE has one.
    * ws: ``act_bank`` In(1) (weight bank the token uses); ``weight`` In(cols * pe.weight_code_width),
      ``weight_we`` In(1), ``weight_row`` In(range(rows)), ``weight_bank`` In(1): writes one row of a bank.
    * os: ``act_first`` In(1), ``act_last`` In(1) (fold boundaries); ``weight`` In(cols * pe.weight_code_width)
      is the weight token that goes with the activation token of the same cycle.
    * ``out`` Out(cols * pe.acc_width), ``out_valid`` Out(1): one output word per valid cycle, lane c =
      column c. ws: the token's dot products, in token order, ``latency`` cycles after the token
      entered. os: per fold, R words, tile rows R-1 down to 0, the first ``latency`` cycles after the
      fold's ``last`` token entered.
    * a PE kind with a table (``pe.table_width`` > 0, :mod:`hw.pe`) adds ``table``
      In(pe.table_width), wired to every PE's ``table``; it must stay stable while tokens run.
    * ``row_sum=True`` (ws only) adds ``out_asum`` Out(pe.acc_width): the sum of the token's
      activation elements, valid with ``out`` (see the module docstring).
    * ``tile=(tile_rows, tile_cols)``: broadcast tiles (module docstring); the ports are the same.
    """

    def __init__(self, pe_factory, *, rows, cols, dataflow="ws", row_sum=False, tile=(1, 1)):
        self._rows = check_positive_int("rows", rows)
        self._cols = check_positive_int("cols", cols)
        if dataflow not in DATAFLOWS:
            raise OptionError(f"dataflow must be one of {DATAFLOWS}, not {dataflow!r}")
        self._dataflow = dataflow
        self._tile = check_tile(tile, rows, cols, dataflow)
        self._pe_factory = pe_factory
        # A prototype the array reads its contract properties from; it is never elaborated.
        self.pe = facts_only(pe_factory())
        if dataflow == "os" and self.pe.latency > self.pe.initiation_interval:
            raise OptionError(f"output-stationary needs pe latency <= initiation interval, "
                            f"not {self.pe.latency} > {self.pe.initiation_interval}")
        pe = self.pe
        if not isinstance(row_sum, bool):
            raise OptionError(f"row_sum must be a bool, not {row_sum!r}")
        if row_sum and dataflow != "ws":
            raise OptionError(f"the row-sum lane is weight-stationary only, not dataflow {dataflow!r}")
        border = pe.act_border() if row_sum else None
        if border is not None:
            facts_only(border)
            raise OptionError("the row-sum lane needs activation codes that are the PE's operands "
                            "(a PE kind without a row border unit)")
        self._row_sum = row_sum
        ports = {
            "act": In(rows * pe.act_code_width),
            "act_valid": In(1),
            "weight": In(cols * pe.weight_code_width),
            "out": Out(cols * pe.acc_width),
            "out_valid": Out(1),
        }
        if dataflow == "ws":
            ports.update({
                "act_bank": In(1),
                "weight_we": In(1),
                "weight_row": In(range(max(rows, 2))),
                "weight_bank": In(1),
            })
            if row_sum:
                ports["out_asum"] = Out(pe.acc_width)
        else:
            ports.update({"act_first": In(1), "act_last": In(1)})
        if pe.table_width:
            ports["table"] = In(pe.table_width)
        super().__init__(ports)

    rows = property(lambda self: self._rows)
    cols = property(lambda self: self._cols)
    dataflow = property(lambda self: self._dataflow)
    row_sum = property(lambda self: self._row_sum)
    tile = property(lambda self: self._tile, doc="(tile_rows, tile_cols) of the broadcast tiles")
    row_tiles = property(lambda self: self._rows // self._tile[0], doc="tiles down a column")
    col_tiles = property(lambda self: self._cols // self._tile[1], doc="tiles across a row")

    @property
    def latency(self):
        """Cycles from a token at ``act`` to its output word (ws), or from a fold's ``last`` token
        to the fold's first output word (os)."""
        if self._dataflow == "ws":
            # row skew (rows-1)*L, plus L through the last row, plus col_tiles-1 across and back
            # (deskew)
            return self._rows * self.pe.latency + self.col_tiles - 1
        # row skew row_tiles-1, pe latency to the capture, one cycle into the output register
        # (first drain cycle), then col_tiles-1 across and back (deskew)
        return self.row_tiles + self.pe.latency + self.col_tiles - 1

    @property
    def drain_cycles(self):
        """os: cycles a fold's results take to leave (one word per tile row)."""
        return self._rows

    @property
    def min_fold_interval(self):
        """Fewest cycles between the starts of successive folds.

        ws: R cycles to write the next fold's R weight rows into the idle bank, and that bank must
        be free: fold f + 2 rewrites fold f's bank, row r at ``(f + 2) * I + r`` (the sequencer's
        schedule, :mod:`hw.accelerator`), while row r reads fold f's last token until ``R + f * I
        + S * II - 1 + r * L`` (tokens are skewed by ``r * L`` and a PE reads its weight for II
        cycles, :mod:`hw.pe`). With ``S * II <= I`` the bottom row needs ``I >= R - 1 + (R - 1)
        * (L - 1)``: R for a one-cycle PE, more when the rows' skew outgrows the weight write
        (found by LUT W4A8 GEMVs, L = 4, on a 4x2 array: 2 of 2 output words wrong at I = R).

        os must drain R output rows per fold, and the drain of one fold (R shift
        cycles after its bottom row's capture, the rows' captures one cycle apart) must be over
        before the next fold's captures, or its shifts move the new sums: 2R - 2 cycles (R for
        R <= 2). Found by a case with few K steps per fold (int8 4x1 os, K = 4: two wrong words).

        With tiles (os), row r captures ``r // tile_rows`` cycles after row 0, so the last fold's
        bottom tile captures ``row_tiles - 1`` cycles after the top one; a row r >= 1 must capture
        the next fold's sum no earlier than the R-th shift of this fold's drain (a later shift
        would move it), the tightest being row 1: ``R + row_tiles - 1 - (1 // tile_rows)``
        cycles, which is 2R - 2 untiled."""
        if self._dataflow == "ws":
            R, L = self._rows, self.pe.latency
            return max(R, R - 1 + (R - 1) * (L - 1))
        R, Tr, tile_rows = self._rows, self.row_tiles, self._tile[0]
        return max(R, R + Tr - 1 - (1 // tile_rows))

    def elaborate(self, platform):
        m = Module()
        if self._dataflow == "ws":
            self._elaborate_ws(m)
        else:
            self._elaborate_os(m)
        return m

    def _make_pes(self, m):
        pes = [[self._pe_factory() for _ in range(self._cols)] for _ in range(self._rows)]
        for r, row in enumerate(pes):
            for c, pe in enumerate(row):
                m.submodules[f"pe_{r}_{c}"] = pe
                if pe.table_width:
                    m.d.comb += pe.table.eq(self.table)     # a broadcast wire, no register
        return pes

    def _border_operands(self, m, vector, code_width, count, make_border, name):
        """Each code lane of ``vector``, through its own border unit if the PE has one (one unit
        per row or column, shared by every PE along it), without the unit's constant and copied
        bits; and the function that re-attaches them (kept bits -> the PE's operand)."""
        operands, attach = [], (lambda kept: kept)
        for i, code in enumerate(_lanes(vector, code_width, count)):
            border = make_border()
            if border is None:
                operands.append(code)
                continue
            m.submodules[f"{name}_{i}"] = border
            m.d.comb += border.code.eq(code)
            constants = getattr(border, "constant_bits", {})     # both optional (hw.pe)
            copies = getattr(border, "copied_bits", {})
            if not constants and not copies:
                operands.append(border.operand)     # the operand itself (the same Verilog)
                continue
            # the same unit on every lane, so the same bits
            attach = partial(_attach, width=len(border.operand), constants=constants, copies=copies)
            operands.append(_kept(border.operand, constants, copies))
        return operands, attach

    def _row_operands(self, m):
        return self._border_operands(m, self.act, self.pe.act_code_width, self._rows,
                                     self.pe.act_border, "act_border")

    def _column_operands(self, m):
        return self._border_operands(m, self.weight, self.pe.weight_code_width, self._cols,
                                     self.pe.weight_border, "weight_border")

    def _deskew_out(self, m, lanes, valid):
        """Column c (in column tile ``c // tile_cols``) leaves ``col_tiles-1-c//tile_cols`` cycles
        later than it arrives, so every lane leaves together; ``valid`` belongs to the last column."""
        out = []
        for c, lane in enumerate(lanes):
            out.append(_delay(m, lane, self.col_tiles - 1 - c // self._tile[1], f"deskew_c{c}"))
        m.d.comb += [self.out.eq(Cat(*out)), self.out_valid.eq(valid)]

    def _elaborate_ws(self, m):
        R, C, pe0 = self._rows, self._cols, self.pe
        L, tc = pe0.latency, self._tile[1]
        pes = self._make_pes(m)

        # Weight write bus: the control (we, row, bank) and lane c reach column c after c // tc
        # cycles, the pace of the activation wavefront, so a bank is rewritten only after its
        # last use.
        row_width = len(self.weight_row)
        w_lanes, weight_of = self._column_operands(m)
        ctrl = Cat(self.weight_we, self.weight_row, self.weight_bank)
        col_ctrl, col_data = [], []
        for c in range(C):
            if c and c % tc == 0:          # the first column of a tile
                ctrl = _delay(m, ctrl, 1, f"wbus_c{c}")
            col_ctrl.append(ctrl)
            col_data.append(_delay(m, w_lanes[c], c // tc, f"wlane_c{c}"))

        acts, act_of = self._row_operands(m)
        a_kept = len(acts[0])
        bottom_acc, bottom_valid = [], None
        row_sum = 0
        for r in range(R):
            token, valid = _skew(m, Cat(acts[r], self.act_bank), self.act_valid, r * L, f"skew_r{r}")
            if self._row_sum:
                row_sum = self._row_sum_cell(m, token, valid, row_sum, r)
            for c in range(C):
                pe = pes[r][c]
                banks = [Signal(len(w_lanes[c]), name=f"w{b}_{r}_{c}") for b in (0, 1)]
                we, row, wbank = col_ctrl[c][0], col_ctrl[c][1:1 + row_width], col_ctrl[c][-1]
                with m.If(we & (row == r)):
                    with m.If(wbank):
                        m.d.sync += banks[1].eq(col_data[c])
                    with m.Else():
                        m.d.sync += banks[0].eq(col_data[c])
                bank = token[-1]
                m.d.comb += [
                    pe.act.eq(act_of(token[:a_kept])),
                    # a mux, not word_select: a variable word_select multiplies the index by
                    # the width ($mul) unless the width is a power of two
                    pe.weight.eq(weight_of(Mux(bank, banks[1], banks[0]))),
                    pe.valid.eq(valid),
                    pe.acc_in.eq(pes[r - 1][c].acc_out if r else 0),
                ]
                if r == R - 1:
                    bottom_acc.append(pe.acc_out)
                    bottom_valid = _delay(m, valid, L, f"outv_c{c}")
                if c < C - 1 and (c + 1) % tc == 0:     # a pass register only between tiles
                    token, valid = _skew(m, token, valid, 1, f"pass_{r}_{c}")
        self._deskew_out(m, bottom_acc, bottom_valid)
        if self._row_sum:
            # it leaves the bottom row with column 0's partial sum; deskewed like column 0
            m.d.comb += self.out_asum.eq(_delay(m, row_sum, self.col_tiles - 1, "deskew_asum"))

    def _row_sum_cell(self, m, token, valid, acc_in, r):
        """Row r's adder of the row-sum lane: on a valid token, ``acc_in`` + the token's activation
        elements, registered and then delayed to the PE latency (so the row below samples it when
        its token arrives, as the PEs' partial sums are)."""
        pe0 = self.pe
        bits, count = pe0.act_element_bits, pe0.k_per_step
        total = acc_in
        for j in range(count):
            element = token[j * bits:(j + 1) * bits]
            total = total + (element.as_signed() if pe0.act_signed else element)
        acc = Signal(pe0.acc_width, name=f"rowsum_{r}")
        with m.If(valid):
            m.d.sync += acc.eq(total)
        return _delay(m, acc, pe0.latency - 1, f"rowsum_{r}_lat")

    def _elaborate_os(self, m):
        R, C, pe0 = self._rows, self._cols, self.pe
        L = pe0.latency
        tr, tc = self._tile
        pes = self._make_pes(m)
        acts, act_of = self._row_operands(m)
        a_kept = len(acts[0])
        w_lanes, weight_of = self._column_operands(m)

        # Column c's weight token enters skewed by its column tile, then moves down with the
        # activation token that meets it at each tile of rows.
        weights_in = [_skew(m, w_lanes[c], self.act_valid, c // tc, f"wskew_c{c}")[0] for c in range(C)]

        # Drain control: column 0 counts R shift cycles from its bottom capture; the shift enable
        # reaches column tile t t cycles later, as the captures do (a wire inside a tile).
        drain_left = Signal(range(R + 1))
        shift = [Signal(name=f"shift_c{c}") for c in range(C)]
        m.d.comb += shift[0].eq(drain_left != 0)
        for c in range(1, C):
            if c % tc == 0:
                m.d.sync += shift[c].eq(shift[c - 1])
            else:
                m.d.comb += shift[c].eq(shift[c - 1])

        out_regs = [[Signal(pe0.acc_width, name=f"out_{r}_{c}") for c in range(C)] for r in range(R)]
        captures = {}    # (row, column tile) -> the capture strobe, one per tile row and column tile
        for r in range(R):
            token, valid = _skew(m, Cat(acts[r], self.act_first, self.act_last),
                                 self.act_valid, r // tr, f"skew_r{r}")
            for c in range(C):
                pe = pes[r][c]
                first, last = token[-2], token[-1]
                m.d.comb += [
                    pe.act.eq(act_of(token[:a_kept])),
                    pe.weight.eq(weight_of(weights_in[c])),
                    pe.valid.eq(valid),
                    pe.acc_in.eq(Mux(first, 0, pe.acc_out)),
                ]
                # Capture the finished sum; it wins over the shift because, at the fold interval
                # of min_fold_interval, the register it overwrites has already been shifted out.
                if (r, c // tc) not in captures:
                    captures[r, c // tc] = _delay(m, valid & last, L, f"cap_{r}_{c}")
                capture = captures[r, c // tc]
                with m.If(capture):
                    m.d.sync += out_regs[r][c].eq(pe.acc_out)
                if r:
                    with m.Elif(shift[c]):
                        m.d.sync += out_regs[r][c].eq(out_regs[r - 1][c])
                if r == R - 1 and c == 0:
                    with m.If(capture):
                        m.d.sync += drain_left.eq(R)
                    with m.Elif(drain_left != 0):
                        m.d.sync += drain_left.eq(drain_left - 1)
                if r < R - 1 and (r + 1) % tr == 0:    # pass registers only between tiles
                    weights_in[c], _ = _skew(m, weights_in[c], valid, 1, f"wpass_{r}_{c}")
                if c < C - 1 and (c + 1) % tc == 0:
                    token, valid = _skew(m, token, valid, 1, f"pass_{r}_{c}")
        self._deskew_out(m, [out_regs[R - 1][c] for c in range(C)], shift[C - 1])
