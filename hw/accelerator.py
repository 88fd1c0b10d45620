"""Accelerator top: buffers, a tiled-GEMM sequencer and a systolic array, driven by start/done.

A testbench loads the buffers through the host port, sets the three configuration inputs from
:class:`hw.layout.GemmLayout`, pulses ``start`` and waits for ``done``; it never has to act per cycle.

Ports (unsigned vectors):

* ``start`` In(1): sampled while not ``busy``; starts a run with the current configuration.
* ``busy`` Out(1), ``done`` Out(1): ``busy`` from the cycle after ``start`` until the final output
  write; ``done`` rises with the end of ``busy`` and stays high until the next ``start``.
* ``cycles`` Out(``CYCLE_COUNTER_WIDTH`` = 64): busy cycles of the last run (counts while busy,
  holds afterwards; wraps modulo ``2**64``, which no run reaches: :func:`models.cycles.check_countable`
  refuses a GEMM whose model count the counter cannot hold). 64 bits because 32 wrap after 4.3e9
  cycles, e.g. an int8 8x8 ws 6500^3 GEMM.
* ``cfg_stream_len``, ``cfg_fold_outer``, ``cfg_fold_inner``: tokens per fold and the two fold loop
  counts (see :class:`hw.layout.GemmLayout`); must be >= 1 and stay stable while busy.
* Host port: ``host_sel`` (0 activation, 1 weight, 2 output buffer, 3 parameter buffer of a
  grouped design, or the table register of a PE kind with a table, :mod:`hw.pe`: entry i at
  ``host_addr`` i, from the low ``table_entry_bits`` of ``host_wdata``; write-only, reads 0;
  4 the outlier buffer of a PE kind with an outlier unit, GOBO, whose ``host_sel`` is 3 bits),
  ``host_addr``, ``host_wdata``, ``host_we``: writes the activation, weight or parameter buffer
  (ignored while busy; the output buffer is not host-writable). ``host_rdata`` is the selected
  buffer's word at the ``host_addr`` of the previous cycle (one cycle read latency); lanes sit at
  the LSB end.

Schedule (cycle 0 = first busy cycle; F folds, I = fold interval, S = stream length, II = PE
initiation interval, R x C array; ``models.cycles`` derives the total from the same facts):

* fold interval ``I = max(S * II, F)``, F = the array's ``min_fold_interval`` (R for ws with a
  one-cycle PE, R - 1 + (R - 1)(L - 1) when the rows' skew is longer,
  max(R, 2R - 2) for os untiled; the array derives it from its broadcast tiles): a fold's
  tokens, or R weight rows (ws) / R drained output rows (os), whichever takes longer.
* ws: weight row r of fold f is read at ``f*I + r`` into bank ``f % 2``; activation token t of
  fold f is read at ``R + f*I + t*II``, one fold interval behind its weights. Outputs are
  accumulated in the output buffer (read-modify-write; the first k tile overwrites).
* os: token t of fold f (activation and weight words) is read at ``f*I + t*II``; the array drains
  each fold's R rows while the next fold computes.

Outlier pass (a PE with an ``outlier_unit_class``: GOBO, os): a fold behind the array (each fold
once the array has written its last output row) the accelerator's outlier sequencer walks the
host-loaded outlier buffer (``outlier_depth`` words, default
:func:`hw.gobo_outlier_pass.default_outlier_depth`) and its :class:`hw.gobo_outlier.GoboOutlierUnit`
(one lane per row) adds each output's outlier products into the output buffer, a fold at a time
through a tile register; ``done`` rises with the pass's last write (:mod:`hw.gobo_outlier_pass`
states the schedule, ``outlier_fold_cycles`` its per-fold overhead). The array never waits for the
pass; a fold the pass has not reached waits in the output buffer.

Group dequantisation (``group_size`` G, ws only; MixPE, :mod:`hw.group_dequant`): the array gets
its row-sum lane (each output word also carries the token's activation sum) and the writer becomes:

* a group is ``G/R'`` consecutive k folds (``R' = rows * k_per_step``; G must be a multiple of R').
  Its raw words (C sums + the activation sum) accumulate in the group buffer ``gacc[m]``
  (read-modify-write, the group's first fold overwrites; no buffer when a group is one fold);
* the group's last fold (or the n tile's last k fold: a zero-padded partial group) sends each word
  through :class:`hw.group_dequant.GroupDequant` with the (group, column) parameters (buffer
  word read with the word), and the result is added to the running total ``total[m]`` (another
  read-modify-write buffer of M words; the n tile's first group overwrites);
* the n tile's last group sends the total through the requantisation pipeline and writes the
  output word once, at ``out[nt*M + m]``.

The unit is the PE kind's own (``pe.post_array_unit(cols)``, when it names one) or
:class:`~hw.group_dequant.GroupDequant`; BitMoD's :class:`hw.scale_dequant.BitSerialScaleDequant`
multiplies by the group's 8-bit scale code digit-serially over II cycles, needs no row-sum lane
and has no requantisation. Each stage takes one word per cycle (the digit-serial unit one per II
cycles, the rate words leave the array), so the fold schedule is unchanged; the last output word is
written ``post_array_latency`` (= the unit's two pipeline latencies) cycles later than without
the unit. Buffers: parameter ``param_depth`` words (default ``2 * ceil(weight_depth / rows)``,
which always holds ``n_tiles * (groups + 1)``), ``gacc`` and ``total`` ``min(act_depth,
out_depth)`` words each (>= M for any GEMM the act and out buffers hold).
"""

from amaranth.hdl import Module, Signal, Cat, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .array import SystolicArray, check_tile
from .buffer import buffer_memory
from .gobo_outlier_pass import HOST_OUTLIER, READ_CYCLES, default_outlier_depth, elaborate_outlier_pass, \
    entry_width, outlier_entry_words
from .group_dequant import GroupDequant
from .layout import lane_words
from .pe import OptionError, check_positive_int, facts_only

HOST_ACT, HOST_WEIGHT, HOST_OUT, HOST_PARAM = 0, 1, 2, 3
CYCLE_COUNTER_WIDTH = 64
GROUP_FROM_PE = "pe"


class IncompatibleOptions(OptionError):
    """Design options that each are valid but cannot go together (an :class:`hw.pe.OptionError`)."""


def group_buffer_depths(rows, act_depth, weight_depth, out_depth, param_depth=None):
    """A grouped design's extra buffer depths ``(param_depth, group_buffer_depth)``: parameter words
    (default ``2 * ceil(weight_depth / rows)``, at least 2) and the words of each of the group
    accumulator and running-total buffers (``min(act_depth, out_depth)``). One function for
    :class:`Accelerator` and the cost model's batch evaluation, which sizes buffers without
    building an accelerator per buffer size."""
    if param_depth is None:
        param_depth = max(2, 2 * -(-weight_depth // rows))
    return param_depth, min(act_depth, out_depth)


class Accelerator(wiring.Component):
    """A ``rows`` x ``cols`` array of ``pe_factory`` PEs with on-chip buffers and a sequencer.

    Keyword-only options: ``rows``, ``cols``, ``dataflow`` ("ws" or "os"), and the buffer depths in
    words ``act_depth``, ``weight_depth``, ``out_depth`` (each >= 1; a one-word buffer, e.g. for an
    M = 1 GEMV, is a register: :mod:`hw.buffer`). ``group_size``: None (no
    post-array unit), an int G (per-group dequantisation, see the module docstring), or the default
    ``"pe"``: the PE's ``group_size`` property if it has one (how a PE kind asks for the unit),
    else None. ``param_depth``: parameter-buffer words of a grouped design (default derived).
    ``tile``: the array's broadcast tiles ``(tile_rows, tile_cols)`` (:class:`hw.array.SystolicArray`;
    default (1, 1), no broadcast); the schedule reads the array's timing facts, so it is the same.
    """

    def __init__(self, pe_factory, *, rows, cols, dataflow="ws", act_depth, weight_depth, out_depth,
                 group_size=GROUP_FROM_PE, param_depth=None, tile=(1, 1), outlier_depth=None):
        check_positive_int("rows", rows)
        check_positive_int("cols", cols)
        # checked here, so a bad tile is not reported as a group dequantisation error below
        tile = check_tile(tile, rows, cols, dataflow)
        pe = facts_only(pe_factory())
        if dataflow == "ws" and not pe.integer_accumulator:
            raise IncompatibleOptions(f"{type(pe).__name__} has a float-like accumulator: an output "
                                      f"must be summed in one PE, so dataflow 'os' only, not 'ws'")
        if group_size == GROUP_FROM_PE:
            group_size = pe.group_size
        if group_size is not None:
            check_positive_int("group_size", group_size)
            if dataflow != "ws":
                raise IncompatibleOptions(f"group dequantisation (group_size {group_size}) is "
                                          f"weight-stationary only, not dataflow {dataflow!r}")
            per_fold = rows * pe.k_per_step
            if group_size % per_fold:
                raise IncompatibleOptions(
                    f"group_size {group_size} must be a multiple of the K elements one fold maps "
                    f"(rows * k_per_step = {per_fold}), so that a group is whole k folds")
        self._group_size = group_size
        self._post_unit = None
        if group_size is not None:
            # the PE kind's own unit if it names one, else the MixPE dequantiser
            self._post_unit = facts_only(pe.post_array_unit(cols) or GroupDequant(
                cols=cols, acc_width=pe.acc_width))
        try:
            self.array = SystolicArray(pe_factory, rows=rows, cols=cols, dataflow=dataflow, tile=tile,
                                       row_sum=self._post_unit is not None and self._post_unit.uses_asum)
        except TypeError as e:
            if group_size is None:
                raise
            raise IncompatibleOptions(f"group dequantisation: {e}") from None
        self._depths = {
            "act": check_positive_int("act_depth", act_depth),
            "weight": check_positive_int("weight_depth", weight_depth),
            "out": check_positive_int("out_depth", out_depth),
        }
        pe = self.array.pe
        self._word_widths = {
            "act": rows * pe.act_code_width,
            "weight": cols * pe.weight_code_width,
            "out": cols * pe.acc_width,
        }
        if group_size is not None:
            param_depth, self._group_depth = group_buffer_depths(rows, act_depth, weight_depth,
                                                                 out_depth, param_depth)
            self._depths["param"] = check_positive_int("param_depth", param_depth)
            self._word_widths["param"] = cols * self._post_unit.param_lane_width
        elif param_depth is not None:
            raise IncompatibleOptions("param_depth is for designs with group dequantisation")
        # a PE kind whose weights leave outliers to a post-array unit (GOBO): its outlier buffer
        # and unit (one lane per row), run as a pass after the array (hw.gobo_outlier_pass)
        unit_class = getattr(pe, "outlier_unit_class", None)
        self._outlier_unit = None if unit_class is None else facts_only(unit_class(lanes=rows))
        if self._outlier_unit is not None:
            self._depths["outlier"] = check_positive_int(
                "outlier_depth", default_outlier_depth(weight_depth, cols) if outlier_depth is None else outlier_depth)
            self._word_widths["outlier"] = entry_width(act_depth, cols)
        elif outlier_depth is not None:
            raise IncompatibleOptions("outlier_depth is for designs with an outlier unit (GOBO)")
        count = range(max(self._depths.values()) + 1)
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "cycles": Out(CYCLE_COUNTER_WIDTH),
            "cfg_stream_len": In(count),
            "cfg_fold_outer": In(count),
            "cfg_fold_inner": In(count),
            "host_sel": In(3 if self._outlier_unit is not None else 2),
            "host_addr": In(range(max(max(self._depths.values()), 2, self.table_entries))),
            "host_wdata": In(max(self._word_widths.values())),
            "host_we": In(1),
            "host_rdata": Out(max(self._word_widths.values())),
        })

    pe = property(lambda self: self.array.pe)
    rows = property(lambda self: self.array.rows)
    cols = property(lambda self: self.array.cols)
    dataflow = property(lambda self: self.array.dataflow)
    tile = property(lambda self: self.array.tile)
    act_depth = property(lambda self: self._depths["act"])
    weight_depth = property(lambda self: self._depths["weight"])
    out_depth = property(lambda self: self._depths["out"])
    param_depth = property(lambda self: self._depths.get("param", 0))
    outlier_depth = property(lambda self: self._depths.get("outlier", 0))
    outlier_unit = property(lambda self: self._outlier_unit, doc="the outlier unit (None without)")

    @property
    def outlier_fold_cycles(self):
        """Cycles the outlier pass spends per fold beyond its entries (one each) and its R
        load / store cycles (None without the unit): the outlier-buffer and activation reads of
        the last entry, then the unit's latency (:mod:`hw.gobo_outlier_pass`)."""
        if self._outlier_unit is None:
            return None
        return READ_CYCLES + self._outlier_unit.latency
    cycle_counter_width = property(lambda self: len(self.cycles), doc="bits of the ``cycles`` port")
    word_widths = property(lambda self: dict(self._word_widths))
    group_size = property(lambda self: self._group_size)
    post_array_unit = property(lambda self: self._post_unit, doc="the group unit (None without)")

    @property
    def group_buffer_depth(self):
        """Words of the group accumulator and running-total buffers (0 without groups)."""
        return self._group_depth if self._group_size is not None else 0

    @property
    def group_folds(self):
        """k folds per dequantisation group (None without the unit)."""
        if self._group_size is None:
            return None
        return self._group_size // (self.rows * self.pe.k_per_step)

    @property
    def output_latency(self):
        """Cycles from reading a run's last token to the array's last word reaching the writer's
        write stage: one cycle of buffer read, the array, then one read-modify-write stage (ws) or
        the rest of the last fold's drain (os). A grouped design writes ``post_array_latency``
        cycles later."""
        if self.dataflow == "ws":
            return 1 + self.array.latency + 1
        return 1 + self.array.latency + self.array.drain_cycles - 1

    @property
    def post_array_latency(self):
        """Extra cycles of the group dequantisation pipelines before the last output write (0
        without the unit): the dequantisation, then the total's read-modify-write in the same
        cycle the result arrives, then the requantisation."""
        if self._group_size is None:
            return 0
        return self._post_unit.latency + self._post_unit.requant_latency

    @property
    def table_entries(self):
        """Entries of the PE kind's table register (0 for a kind without a table)."""
        return self.pe.table_width // self.pe.table_entry_bits if self.pe.table_width else 0

    def extra_buffer_words(self, layout, extra):
        """The buffers beyond act/weight a GEMM needs, as ``((host_sel, words), ...)``: for a
        grouped design the parameter buffer packed from ``extra`` (a
        :class:`hw.group_dequant.DequantParams`, or the operand type of the PE kind's own unit,
        e.g. :class:`hw.scale_dequant.ScaleCodes`); for a PE kind with a table, its entries
        (``extra.table_entries``, one per address); ``()`` for other designs (``extra`` must be None)."""
        if self.table_entries:
            entries = tuple(getattr(extra, "table_entries", ()))
            if len(entries) != self.table_entries:
                raise ValueError(f"this design's PE reads a table of {self.table_entries} entries: "
                                 f"the extra operand must give them (table_entries), not {extra!r}")
            if self._outlier_unit is None:
                return ((HOST_PARAM, entries),)
            words = outlier_entry_words(layout, extra.outliers, self.act_depth)
            if len(words) > self.outlier_depth:
                raise ValueError(f"GEMM {layout.m}x{layout.k}x{layout.n} with {len(extra.outliers)} "
                                 f"outliers needs {len(words)} outlier buffer words, the design has "
                                 f"{self.outlier_depth}")
            return ((HOST_PARAM, entries), (HOST_OUTLIER, tuple(words)))
        if self._group_size is None:
            if extra is not None:
                raise ValueError("this design has no post-array unit and takes no extra operand")
            return ()
        wanted = self._post_unit.operand_type
        if not isinstance(extra, wanted):
            raise ValueError(f"this grouped design needs {wanted.__name__}, not {type(extra).__name__}")
        if extra.group_size != self._group_size:
            raise ValueError(f"parameters are for group size {extra.group_size}, the design "
                             f"dequantises groups of {self._group_size}")
        depth = layout.param_depth(self._group_size)
        if depth > self.param_depth:
            raise ValueError(f"GEMM {layout.m}x{layout.k}x{layout.n} needs {depth} param buffer "
                             f"words, the design has {self.param_depth}")
        return ((HOST_PARAM, lane_words(extra.param_lanes(layout), self._post_unit.param_lane_width)),)

    def outlier_words(self, layout, extra):
        """Outlier-buffer words a GEMM of ``layout`` with ``extra``'s outlier list needs (0 for a
        design without an outlier unit)."""
        if self._outlier_unit is None:
            return 0
        return len(outlier_entry_words(layout, getattr(extra, "outliers", ()), self.act_depth))

    @property
    def weight_preload_cycles(self):
        """ws: cycles the first fold's weight rows are read ahead of its first token."""
        return self.rows if self.dataflow == "ws" else 0

    def elaborate(self, platform):
        m = Module()
        m.submodules.array = array = self.array
        R, ii = self.rows, self.pe.initiation_interval
        min_interval = array.min_fold_interval
        ws = self.dataflow == "ws"

        mems = {}
        for name, depth in self._depths.items():
            mems[name] = buffer_memory(self._word_widths[name], depth)
            m.submodules[f"{name}_buf"] = mems[name]

        busy, done = self.busy, self.done
        starting = self.start & ~busy
        S, outer, inner = self.cfg_stream_len, self.cfg_fold_outer, self.cfg_fold_inner
        interval = Signal(range(max(self._depths.values()) * ii + min_interval + 1))
        m.d.comb += interval.eq(Mux(S * ii > min_interval, S * ii, min_interval))

        with m.If(starting):
            m.d.sync += [busy.eq(1), done.eq(0), self.cycles.eq(0)]
        with m.Elif(busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)

        # Host port: writes only while idle; reads from any buffer, one cycle latency.
        host_reads = {}
        buffers = ((HOST_ACT, "act"), (HOST_WEIGHT, "weight"), (HOST_OUT, "out"))
        if "param" in mems:
            buffers += ((HOST_PARAM, "param"),)
        if "outlier" in mems:
            buffers += ((HOST_OUTLIER, "outlier"),)
        for sel, name in buffers:
            rp = mems[name].read_port()
            m.d.comb += rp.addr.eq(self.host_addr)
            host_reads[sel] = rp.data
            if name != "out":
                wp = mems[name].write_port()
                m.d.comb += [
                    wp.addr.eq(self.host_addr),
                    wp.data.eq(self.host_wdata),
                    wp.en.eq(self.host_we & (self.host_sel == sel) & ~busy),
                ]
        if self.table_entries:
            # the PE kind's table (hw.pe): host-written entries, broadcast to every PE; stable
            # while busy because the host writes only while idle
            table = Signal(self.pe.table_width)
            e = self.pe.table_entry_bits
            for i in range(self.table_entries):
                with m.If(self.host_we & (self.host_sel == HOST_PARAM) & (self.host_addr == i) & ~busy):
                    m.d.sync += table[i * e:(i + 1) * e].eq(self.host_wdata[:e])
            m.d.comb += array.table.eq(table)
        host_sel_q = Signal.like(self.host_sel)
        m.d.sync += host_sel_q.eq(self.host_sel)
        with m.Switch(host_sel_q):
            for sel, data in host_reads.items():
                with m.Case(sel):
                    m.d.comb += self.host_rdata.eq(data)
            with m.Default():
                m.d.comb += self.host_rdata.eq(0)

        act_rp = mems["act"].read_port()
        weight_rp = mems["weight"].read_port()

        # --- token issuer: one token every II cycles, S per fold, a fold every `interval` cycles
        tok = _FoldWalker(m, "tok", S, outer, inner, interval, ii)
        preload = Signal(range(R + 1))
        tok_active = Signal()
        with m.If(starting):
            m.d.sync += [preload.eq(self.weight_preload_cycles), tok_active.eq(not ws)]
        with m.Elif(busy & ~tok_active & (preload != 0)):
            m.d.sync += preload.eq(preload - 1)
            with m.If(preload == 1):
                m.d.sync += tok_active.eq(1)
        tok.run(starting, tok_active)
        with m.If(tok.last_cycle_of_run & tok_active):
            m.d.sync += tok_active.eq(0)

        act_addr = Signal.like(act_rp.addr)
        issue_q = Signal()
        flags_q = Signal(2)
        m.d.sync += issue_q.eq(tok.issue & tok_active)
        m.d.comb += [act_rp.addr.eq(act_addr), act_rp.en.eq(tok.issue & tok_active)]
        if ws:
            # act word kt*M + m: one count per token, restarting with each n tile
            with m.If(starting | (tok.fold_end & tok.inner_last & tok_active)):
                m.d.sync += act_addr.eq(0)
            with m.Elif(tok.issue & tok_active):
                m.d.sync += act_addr.eq(act_addr + 1)
            with m.If(tok.issue & tok_active):
                m.d.sync += flags_q.eq(tok.parity)
        else:
            # act word mt*S + s restarts at the m tile base for every n tile;
            # weight word nt*S + s counts on across the n tiles of one m tile
            act_base = Signal.like(act_rp.addr)
            weight_addr = Signal.like(weight_rp.addr)
            with m.If(starting):
                m.d.sync += [act_addr.eq(0), act_base.eq(0), weight_addr.eq(0)]
            with m.Elif(tok.issue & tok_active):
                m.d.sync += [act_addr.eq(act_addr + 1), weight_addr.eq(weight_addr + 1)]
            with m.If(tok.fold_end & tok_active & ~starting):
                with m.If(tok.inner_last):
                    m.d.sync += [act_base.eq(act_base + S), act_addr.eq(act_base + S),
                                 weight_addr.eq(0)]
                with m.Else():
                    m.d.sync += act_addr.eq(act_base)
            m.d.comb += [weight_rp.addr.eq(weight_addr), weight_rp.en.eq(tok.issue & tok_active)]
            with m.If(tok.issue & tok_active):
                m.d.sync += flags_q.eq(Cat(tok.token == 0, tok.token == S - 1))

        m.d.comb += [array.act.eq(act_rp.data), array.act_valid.eq(issue_q),
                     array.weight.eq(weight_rp.data)]
        if ws:
            m.d.comb += array.act_bank.eq(flags_q[0])
            self._weight_loader(m, starting, interval, weight_rp)
        else:
            m.d.comb += [array.act_first.eq(flags_q[0]), array.act_last.eq(flags_q[1])]

        # --- output writer
        out_wp = mems["out"].write_port()
        finished, fold_written = Signal(), Signal()
        if ws and self._group_size is not None:
            self._writer_ws_groups(m, starting, mems, out_wp, finished)
        elif ws:
            self._writer_ws(m, starting, mems["out"], out_wp, finished)
        else:
            self._writer_os(m, starting, out_wp, finished, fold_written)
        if self._outlier_unit is not None:
            # the outlier pass follows the array a fold behind (each fold once its last output
            # row is written); the run ends with the pass's last write, never the array's
            finished = elaborate_outlier_pass(m, self, self._outlier_unit, mems, starting, fold_written)
        with m.If(finished):
            m.d.sync += [busy.eq(0), done.eq(1)]
        return m

    def _weight_loader(self, m, starting, interval, weight_rp):
        """ws: read fold f's R weight rows at the start of its interval slot, into bank f % 2."""
        array, R = self.array, self.rows
        walker = _FoldWalker(m, "wld", R, self.cfg_fold_outer, self.cfg_fold_inner, interval, 1)
        active = Signal()
        with m.If(starting):
            m.d.sync += active.eq(1)
        with m.Elif(walker.last_cycle_of_run & active):
            m.d.sync += active.eq(0)
        walker.run(starting, active)
        addr = Signal.like(weight_rp.addr)
        with m.If(starting):
            m.d.sync += addr.eq(0)
        with m.Elif(walker.issue & active):
            m.d.sync += addr.eq(addr + 1)
        we_q = Signal()
        row_q = Signal.like(array.weight_row)
        bank_q = Signal()
        m.d.sync += we_q.eq(walker.issue & active)
        with m.If(walker.issue & active):
            m.d.sync += [row_q.eq(walker.token), bank_q.eq(walker.parity)]
        m.d.comb += [
            weight_rp.addr.eq(addr), weight_rp.en.eq(walker.issue & active),
            array.weight_we.eq(we_q), array.weight_row.eq(row_q), array.weight_bank.eq(bank_q),
        ]

    def _ws_output_cursor(self, m, starting, out_wp):
        """ws output words arrive in (n tile, k tile, m) order: a counter over them and the n
        tile's base address ``nt * M`` in the output buffer."""
        array = self.array
        cnt = _OutputCounter(m, "owr", self.cfg_stream_len, self.cfg_fold_outer, self.cfg_fold_inner)
        base = Signal.like(out_wp.addr)
        with m.If(starting):
            m.d.sync += base.eq(0)
        with m.Elif(array.out_valid & cnt.item_last & cnt.inner_last):
            m.d.sync += base.eq(base + self.cfg_stream_len)
        return cnt, base

    def _writer_ws(self, m, starting, out_mem, out_wp, finished):
        """Accumulate each output word into out[nt*M + m]; the first k tile overwrites. The read
        port is transparent to the write port so back-to-back updates of one word see each other."""
        array, C, acc_w = self.array, self.cols, self.pe.acc_width
        rmw_rp = out_mem.read_port(transparent_for=(out_wp,))
        cnt, base = self._ws_output_cursor(m, starting, out_wp)
        cnt.run(starting, array.out_valid)
        s1_valid, s1_acc, s1_last = Signal(), Signal(), Signal()
        s1_addr = Signal.like(out_wp.addr)
        s1_data = Signal.like(array.out)
        m.d.comb += [rmw_rp.addr.eq(base + cnt.item), rmw_rp.en.eq(1)]
        m.d.sync += [
            s1_valid.eq(array.out_valid),
            s1_acc.eq(cnt.inner != 0),
            s1_last.eq(array.out_valid & cnt.run_last),
            s1_addr.eq(base + cnt.item),
            s1_data.eq(array.out),
        ]
        summed = Cat(*[(rmw_rp.data[c * acc_w:(c + 1) * acc_w] + s1_data[c * acc_w:(c + 1) * acc_w])[:acc_w]
                       for c in range(C)])
        m.d.comb += [
            out_wp.addr.eq(s1_addr),
            out_wp.data.eq(Mux(s1_acc, summed, s1_data)),
            out_wp.en.eq(s1_valid),
            finished.eq(s1_valid & s1_last),
        ]

    def _writer_ws_groups(self, m, starting, mems, out_wp, finished):
        """Group accumulation, dequantisation, running total and requantisation (module docstring).

        Pipeline, one word per cycle (s0 = the array's output cycle):
        s-1 read gacc[m] (at the output counter's next item);
        s0  read the group's parameter word; word + gacc (or the word alone in the group's first
            fold) -> gacc[m] and the s1 register (registered: no add in front of the dequantiser);
        s1  in the group's last fold, the s1 register -> GroupDequant (``latency`` cycles);
        e   y arrives; total[m] (read the cycle before) + y -> total[m] (the n tile's first group:
            y alone) and, in the n tile's last group, -> requantisation with the n tile's
            requantisation word (read the cycle before);
        e + requant_latency: out[nt*M + m] written.
        """
        array, C, acc_w = self.array, self.cols, self.pe.acc_width
        gR = self.group_folds
        m.submodules.dequant = dq = self._post_unit
        D, Dq = dq.latency, dq.requant_latency

        cnt, base = self._ws_output_cursor(m, starting, out_wp)

        # where the current fold sits: fold in group, first group of the n tile, param word
        param_mem = mems["param"]
        gfold = Signal(range(max(gR, 2)))
        tile_first = Signal()
        pa = Signal(range(self.param_depth + 2))
        g_first, g_last = Signal(), Signal()
        m.d.comb += [g_first.eq(gfold == 0), g_last.eq((gfold == gR - 1) | cnt.inner_last)]
        with m.If(starting):
            m.d.sync += [gfold.eq(0), tile_first.eq(1), pa.eq(0)]
        with m.Elif(array.out_valid & cnt.item_last):
            with m.If(g_last):
                # the next group; after the n tile's last group skip its requantisation word
                m.d.sync += [gfold.eq(0), tile_first.eq(cnt.inner_last),
                             pa.eq(pa + 1 + cnt.inner_last)]
            with m.Else():
                m.d.sync += gfold.eq(gfold + 1)
        cnt.run(starting, array.out_valid)

        # s0 -> s1
        word = Cat(array.out, array.out_asum) if dq.uses_asum else array.out
        lane_w = [acc_w] * (C + 1 if dq.uses_asum else C)
        pa_rp = param_mem.read_port()
        m.d.comb += [pa_rp.addr.eq(pa), pa_rp.en.eq(1)]
        item_w = len(cnt.item)
        s1_valid, s1_last, s1_tile_first, s1_tile_last, s1_run_last = (
            Signal(name=f"gs1_{n}") for n in ("valid", "last", "tile_first", "tile_last", "run_last"))
        s1_item = Signal(item_w)
        s1_addr = Signal.like(out_wp.addr)
        s1_pa1 = Signal.like(pa)
        # s1's data: the word (a group of one fold) or the group's sum so far with it, registered
        group_sum = Signal(len(word), name="s1_data")
        m.d.sync += [
            s1_valid.eq(array.out_valid), s1_last.eq(g_last),
            s1_tile_first.eq(tile_first), s1_tile_last.eq(cnt.inner_last),
            s1_run_last.eq(array.out_valid & cnt.run_last), s1_item.eq(cnt.item),
            s1_addr.eq(base + cnt.item), s1_pa1.eq(pa + 1),
        ]
        if gR > 1:
            # the group sum is formed in s0 and registered, so the dequantiser's first stage
            # starts at a flop: an add in front of it was the W4A16 g128 top's critical path.
            # gacc[m] is read a cycle ahead, at the output counter's next item; a write of the
            # same word in that cycle (M = 1, one word a cycle) reaches it through the port's
            # transparency, as before
            gacc = buffer_memory(len(word), self._group_depth)
            m.submodules.gacc_buf = gacc
            gacc_wp = gacc.write_port()
            gacc_rp = gacc.read_port(transparent_for=(gacc_wp,))
            # the output counter's rule (_OutputCounter.run: restart, then wrap, then count)
            item_next = Mux(starting | (array.out_valid & cnt.item_last), 0,
                            Mux(array.out_valid, cnt.item + 1, cnt.item))
            m.d.comb += [gacc_rp.addr.eq(item_next), gacc_rp.en.eq(1)]
            summed = Cat(*[(gacc_rp.data[i * w:(i + 1) * w] + word[i * w:(i + 1) * w])[:w]
                           for i, w in enumerate(lane_w)])
            s0_sum = Signal(len(word))
            m.d.comb += [
                s0_sum.eq(Mux(g_first, word, summed)),
                gacc_wp.addr.eq(cnt.item), gacc_wp.data.eq(s0_sum),
                gacc_wp.en.eq(array.out_valid & ~g_last),
            ]
            m.d.sync += group_sum.eq(s0_sum)
        else:
            m.d.sync += group_sum.eq(word)
        m.d.comb += [
            dq.in_valid.eq(s1_valid & s1_last),
            dq.raw.eq(group_sum[:C * acc_w]),
            dq.asum.eq(group_sum[C * acc_w:] if dq.uses_asum else 0),
            dq.params.eq(pa_rp.data),
        ]

        # tags travel beside the dequantisation pipeline; the stage before e issues the reads
        tag_in = Signal(3 + item_w + len(s1_addr) + len(s1_pa1))
        m.d.comb += tag_in.eq(Cat(s1_tile_first, s1_tile_last, s1_run_last, s1_item, s1_addr, s1_pa1))
        tag_pre = _delay_sig(m, tag_in, D - 1, "dqtag")
        tag_e = _delay_sig(m, tag_pre, 1, "dqtag_e")

        def fields(tag):
            pos, out = 0, []
            for w in (1, 1, 1, item_w, len(s1_addr), len(s1_pa1)):
                out.append(tag[pos:pos + w])
                pos += w
            return out

        _, _, _, pre_item, _, pre_pa1 = fields(tag_pre)
        e_tile_first, e_tile_last, e_run_last, e_item, e_addr, _ = fields(tag_e)

        total_mem = buffer_memory(C * acc_w, self._group_depth)
        m.submodules.total_buf = total_mem
        total_wp = total_mem.write_port()
        total_rp = total_mem.read_port(transparent_for=(total_wp,))
        rq_rp = param_mem.read_port()
        m.d.comb += [total_rp.addr.eq(pre_item), total_rp.en.eq(1),
                     rq_rp.addr.eq(pre_pa1), rq_rp.en.eq(1)]
        added = Cat(*[(total_rp.data[c * acc_w:(c + 1) * acc_w] + dq.y[c * acc_w:(c + 1) * acc_w])[:acc_w]
                      for c in range(C)])
        total = Signal(C * acc_w)
        m.d.comb += [
            total.eq(Mux(e_tile_first, dq.y, added)),
            total_wp.addr.eq(e_item), total_wp.data.eq(total), total_wp.en.eq(dq.y_valid),
            dq.rq_valid.eq(dq.y_valid & e_tile_last), dq.total.eq(total), dq.rq_params.eq(rq_rp.data),
        ]

        # requantisation -> the output word
        out_tag = _delay_sig(m, Cat(e_addr, e_run_last), Dq, "rqtag")
        m.d.comb += [
            out_wp.addr.eq(out_tag[:len(out_wp.addr)]),
            out_wp.data.eq(dq.out),
            out_wp.en.eq(dq.out_valid),
            finished.eq(dq.out_valid & out_tag[-1]),
        ]

    def _writer_os(self, m, starting, out_wp, finished, fold_written):
        """Write each drained row to out[fold*R + row]; a fold drains rows R-1 down to 0.
        ``fold_written`` is high in the cycle of each fold's last row write."""
        array, R = self.array, self.rows
        cnt = _OutputCounter(m, "owr", R, self.cfg_fold_outer, self.cfg_fold_inner)
        base = Signal.like(out_wp.addr)
        with m.If(starting):
            m.d.sync += base.eq(0)
        with m.Elif(array.out_valid & cnt.item_last):
            m.d.sync += base.eq(base + R)
        cnt.run(starting, array.out_valid)
        m.d.comb += [
            out_wp.addr.eq(base + (R - 1) - cnt.item),
            out_wp.data.eq(array.out),
            out_wp.en.eq(array.out_valid),
            finished.eq(array.out_valid & cnt.run_last),
            fold_written.eq(array.out_valid & cnt.item_last),
        ]


def _delay_sig(m, value, cycles, name):
    """``value`` (any Value) delayed by ``cycles`` flops that shift every cycle."""
    for i in range(cycles):
        nxt = Signal(len(value), name=f"{name}_d{i}")
        m.d.sync += nxt.eq(value)
        value = nxt
    return value


class _FoldWalker:
    """Walks folds (outer x inner) of ``interval`` cycles each, issuing ``count`` tokens per fold,
    one every ``ii`` cycles from the fold's first cycle. Exposes ``issue``, ``token`` (index in
    the fold), ``parity`` (fold index mod 2), ``fold_end``, ``inner_last`` and
    ``last_cycle_of_run``."""

    def __init__(self, m, name, count, outer, inner, interval, ii):
        self.m, self.count, self.outer, self.inner, self.interval, self.ii = (
            m, count, outer, inner, interval, ii)
        self.cycle = Signal.like(interval, name=f"{name}_cycle")
        self.token = Signal(range(max(2, 1 << len(interval))), name=f"{name}_token")
        self.phase = Signal(range(max(ii, 2)), name=f"{name}_phase")
        self.outer_i = Signal.like(outer, name=f"{name}_outer")
        self.inner_i = Signal.like(inner, name=f"{name}_inner")
        self.parity = Signal(name=f"{name}_parity")
        self.issue = Signal(name=f"{name}_issue")
        self.fold_end = Signal(name=f"{name}_fold_end")
        self.inner_last = Signal(name=f"{name}_inner_last")
        self.last_cycle_of_run = Signal(name=f"{name}_run_end")

    def run(self, restart, enable):
        m = self.m
        m.d.comb += [
            self.issue.eq((self.token < self.count) & (self.phase == 0)),
            self.fold_end.eq(self.cycle == self.interval - 1),
            self.inner_last.eq(self.inner_i == self.inner - 1),
            self.last_cycle_of_run.eq(self.fold_end & self.inner_last &
                                      (self.outer_i == self.outer - 1)),
        ]
        with m.If(restart):
            m.d.sync += [self.cycle.eq(0), self.token.eq(0), self.phase.eq(0),
                         self.outer_i.eq(0), self.inner_i.eq(0), self.parity.eq(0)]
        with m.Elif(enable):
            with m.If(self.fold_end):
                m.d.sync += [self.cycle.eq(0), self.token.eq(0), self.phase.eq(0),
                             self.parity.eq(~self.parity)]
                with m.If(self.inner_last):
                    m.d.sync += [self.inner_i.eq(0), self.outer_i.eq(self.outer_i + 1)]
                with m.Else():
                    m.d.sync += self.inner_i.eq(self.inner_i + 1)
            with m.Else():
                m.d.sync += self.cycle.eq(self.cycle + 1)
                if self.ii > 1:
                    with m.If(self.phase == self.ii - 1):
                        m.d.sync += self.phase.eq(0)
                    with m.Else():
                        m.d.sync += self.phase.eq(self.phase + 1)
                # a token's II-cycle window ends: move on to the next token of the fold
                with m.If((self.phase == self.ii - 1) & (self.token < self.count)):
                    m.d.sync += self.token.eq(self.token + 1)


class _OutputCounter:
    """Counts output words: ``item`` within a fold (``per_fold`` of them: a configuration signal
    as wide as ``outer``, or a constant), then the inner and outer fold indices; ``run_last`` marks
    the run's final word."""

    def __init__(self, m, name, per_fold, outer, inner):
        self.m, self.per_fold, self.outer, self.inner_n = m, per_fold, outer, inner
        # as wide as the fold counts, or wider when a constant per_fold (os: R rows) needs it
        # (buffers shallower than R: such a design holds no GEMM, but it builds)
        width = len(outer)
        if isinstance(per_fold, int):
            width = max(width, (per_fold - 1).bit_length())
        self.item = Signal(width, name=f"{name}_item")
        self.inner = Signal.like(inner, name=f"{name}_inner")
        self.outer_i = Signal.like(outer, name=f"{name}_outer")
        self.item_last = Signal(name=f"{name}_item_last")
        self.inner_last = Signal(name=f"{name}_inner_last")
        self.run_last = Signal(name=f"{name}_run_last")

    def run(self, restart, advance):
        m = self.m
        m.d.comb += [
            self.item_last.eq(self.item == self.per_fold - 1),
            self.inner_last.eq(self.inner == self.inner_n - 1),
            self.run_last.eq(self.item_last & self.inner_last & (self.outer_i == self.outer - 1)),
        ]
        with m.If(restart):
            m.d.sync += [self.item.eq(0), self.inner.eq(0), self.outer_i.eq(0)]
        with m.Elif(advance):
            with m.If(self.item_last):
                m.d.sync += self.item.eq(0)
                with m.If(self.inner_last):
                    m.d.sync += [self.inner.eq(0), self.outer_i.eq(self.outer_i + 1)]
                with m.Else():
                    m.d.sync += self.inner.eq(self.inner + 1)
            with m.Else():
                m.d.sync += self.item.eq(self.item + 1)
