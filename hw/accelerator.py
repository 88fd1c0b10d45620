"""Accelerator top: buffers, a tiled-GEMM sequencer and a systolic array, driven by start/done.

A testbench loads the buffers through the host port, sets the three configuration inputs from
:class:`hw.layout.GemmLayout`, pulses ``start`` and waits for ``done``; it never has to act per cycle.

Ports (unsigned vectors):

* ``start`` In(1): sampled while not ``busy``; starts a run with the current configuration.
* ``busy`` Out(1), ``done`` Out(1): ``busy`` from the cycle after ``start`` until the final output
  write; ``done`` rises with the end of ``busy`` and stays high until the next ``start``.
* ``cycles`` Out(32): busy cycles of the last run (counts while busy, holds afterwards).
* ``cfg_stream_len``, ``cfg_fold_outer``, ``cfg_fold_inner``: tokens per fold and the two fold loop
  counts (see :class:`hw.layout.GemmLayout`); must be >= 1 and stay stable while busy.
* Host port: ``host_sel`` (0 activation, 1 weight, 2 output buffer), ``host_addr``,
  ``host_wdata``, ``host_we``: writes the activation or weight buffer (ignored while busy; the
  output buffer is not host-writable). ``host_rdata`` is the selected buffer's word at the
  ``host_addr`` of the previous cycle (one cycle read latency); lanes sit at the LSB end.

Schedule (cycle 0 = first busy cycle; F folds, I = fold interval, S = stream length, II = PE
initiation interval, R x C array; ``models.cycles`` derives the total from the same facts):

* fold interval ``I = max(S * II, R)``: a fold's tokens, or R weight rows (ws) / R drained output
  rows (os), whichever takes longer.
* ws: weight row r of fold f is read at ``f*I + r`` into bank ``f % 2``; activation token t of
  fold f is read at ``R + f*I + t*II``, one fold interval behind its weights. Outputs are
  accumulated in the output buffer (read-modify-write; the first k tile overwrites).
* os: token t of fold f (activation and weight words) is read at ``f*I + t*II``; the array drains
  each fold's R rows while the next fold computes.
"""

from amaranth.hdl import Module, Signal, Cat, Mux
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .array import SystolicArray
from .pe import check_positive_int

HOST_ACT, HOST_WEIGHT, HOST_OUT = 0, 1, 2
CYCLE_COUNTER_WIDTH = 32


class Accelerator(wiring.Component):
    """A ``rows`` x ``cols`` array of ``pe_factory`` PEs with on-chip buffers and a sequencer.

    Keyword-only options: ``rows``, ``cols``, ``dataflow`` ("ws" or "os"), and the buffer depths in
    words ``act_depth``, ``weight_depth``, ``out_depth`` (each >= 1).
    """

    def __init__(self, pe_factory, *, rows, cols, dataflow="ws", act_depth, weight_depth, out_depth):
        self.array = SystolicArray(pe_factory, rows=rows, cols=cols, dataflow=dataflow)
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
        count = range(max(self._depths.values()) + 1)
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "cycles": Out(CYCLE_COUNTER_WIDTH),
            "cfg_stream_len": In(count),
            "cfg_fold_outer": In(count),
            "cfg_fold_inner": In(count),
            "host_sel": In(2),
            "host_addr": In(range(max(max(self._depths.values()), 2))),
            "host_wdata": In(max(self._word_widths.values())),
            "host_we": In(1),
            "host_rdata": Out(max(self._word_widths.values())),
        })

    pe = property(lambda self: self.array.pe)
    rows = property(lambda self: self.array.rows)
    cols = property(lambda self: self.array.cols)
    dataflow = property(lambda self: self.array.dataflow)
    act_depth = property(lambda self: self._depths["act"])
    weight_depth = property(lambda self: self._depths["weight"])
    out_depth = property(lambda self: self._depths["out"])
    word_widths = property(lambda self: dict(self._word_widths))

    @property
    def output_latency(self):
        """Cycles from reading a run's last token to writing its last output word: one cycle of
        buffer read, the array, then one read-modify-write stage (ws) or the rest of the last
        fold's drain (os)."""
        if self.dataflow == "ws":
            return 1 + self.array.latency + 1
        return 1 + self.array.latency + self.array.drain_cycles - 1

    @property
    def weight_preload_cycles(self):
        """ws: cycles the first fold's weight rows are read ahead of its first token."""
        return self.rows if self.dataflow == "ws" else 0

    def elaborate(self, platform):
        m = Module()
        m.submodules.array = array = self.array
        R, ii = self.rows, self.pe.initiation_interval
        ws = self.dataflow == "ws"

        mems = {}
        for name, depth in self._depths.items():
            mems[name] = Memory(shape=self._word_widths[name], depth=depth, init=[])
            m.submodules[f"{name}_buf"] = mems[name]

        busy, done = self.busy, self.done
        starting = self.start & ~busy
        S, outer, inner = self.cfg_stream_len, self.cfg_fold_outer, self.cfg_fold_inner
        interval = Signal(range(max(self._depths.values()) * ii + R + 1))
        m.d.comb += interval.eq(Mux(S * ii > R, S * ii, R))

        with m.If(starting):
            m.d.sync += [busy.eq(1), done.eq(0), self.cycles.eq(0)]
        with m.Elif(busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)

        # Host port: writes only while idle; reads from any buffer, one cycle latency.
        host_reads = {}
        for sel, name in ((HOST_ACT, "act"), (HOST_WEIGHT, "weight"), (HOST_OUT, "out")):
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
        finished = Signal()
        if ws:
            self._writer_ws(m, starting, mems["out"], out_wp, finished)
        else:
            self._writer_os(m, starting, out_wp, finished)
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

    def _writer_ws(self, m, starting, out_mem, out_wp, finished):
        """Accumulate each output word into out[nt*M + m]; the first k tile overwrites. The read
        port is transparent to the write port so back-to-back updates of one word see each other."""
        array, C, acc_w = self.array, self.cols, self.pe.acc_width
        rmw_rp = out_mem.read_port(transparent_for=(out_wp,))
        cnt = _OutputCounter(m, "owr", self.cfg_stream_len, self.cfg_fold_outer, self.cfg_fold_inner)
        base = Signal.like(out_wp.addr)
        with m.If(starting):
            m.d.sync += base.eq(0)
        with m.Elif(array.out_valid & cnt.item_last & cnt.inner_last):
            m.d.sync += base.eq(base + self.cfg_stream_len)
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

    def _writer_os(self, m, starting, out_wp, finished):
        """Write each drained row to out[fold*R + row]; a fold drains rows R-1 down to 0."""
        array, R = self.array, self.rows
        cnt = _OutputCounter(m, "owr", R, self.cfg_fold_outer, self.cfg_fold_inner)
        assert R < 2 ** len(cnt.item)
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
        ]


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
    """Counts output words: ``item`` within a fold (``per_fold`` of them), then the inner and outer
    fold indices; ``run_last`` marks the run's final word."""

    def __init__(self, m, name, per_fold, outer, inner):
        self.m, self.per_fold, self.outer, self.inner_n = m, per_fold, outer, inner
        self.item = Signal.like(outer, name=f"{name}_item")
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
