"""Switching activity of a unit's input ports on real or random operand streams.

What a unit's input ports see, cycle by cycle, when the accelerator runs a GEMM, measured per port
bit as a toggle rate (value changes per clock cycle, 0..1) and a duty (fraction of cycles at 1):
the figures :mod:`models.sta` hands OpenSTA (``set_power_activity -input_ports``).

Operands (``source``):

* ``"minilm"``: MiniLM-L6 layer 0 FFN1 (``models.realdata.real_gemm("minilm:L0.ffn1", m, k, n)``)
  through the kind's own quantisers (:meth:`models.registry.PEKind.operands`);
* ``"random"``: the kind's uniformly random codes (:meth:`models.registry.PEKind.random_operands`,
  seed 0), for contrast.

How the port values are obtained, per unit:

* ``pe``: simulated in Amaranth's simulator (the RTL itself, so exact): one column of ``rows`` PEs
  of the kind, weight-stationary as :class:`hw.array.SystolicArray` feeds it (output-stationary, one
  PE, for a kind without ws), with the kind's border units on the code lanes. Each row gets one
  activation token per ``initiation_interval`` cycles, held between tokens (the array's pass
  registers hold), row r skewed by ``r * latency``; ``valid`` is high in a token's first cycle;
  ``acc_in`` of row r is row r-1's ``acc_out`` (0 for row 0), partial sums between tokens
  included (a multi-cycle PE shows them). The weight operand is stationary per fold and changes with
  the fold's first token (the bank switch). Folds run over (K block, output column) pairs, each with
  ``m`` tokens. Ports are read at the bottom PE (row ``rows - 1``), which sees a real partial sum.
  ws: PE (r) of K block b holds ``W[b*R*g + r*g : ... + g, n]``; os: the PE accumulates one
  output over K (``acc_in`` = 0 on a fold's first token, else its own ``acc_out``). The bottom
  PE's ``acc_out`` (its result register) is observed too (:attr:`PortActivity.outputs`, for the
  cost model's per-part activity, :mod:`models.part_activity`; never handed to OpenSTA).
* ``act_border`` / ``weight_border``: their only input is ``code``, the code lane itself, so the
  values come from numpy directly (exact: the port is the lane). The row border sees the row's
  activation lanes, one token per ``initiation_interval`` cycles; the column border sees the
  column's weight lanes in load order (K along the column, one per write cycle, output columns one
  after another).

* an array (:func:`array_activity`): its input ports from numpy directly on a simplified
  steady-state schedule (exact for that schedule, not the accelerator's sequencer): ws: folds over
  (K block, column block) tiles of ``m`` tokens, one per ``initiation_interval`` cycles, lane r of
  ``act`` = row r's code lane, ``act_bank`` alternating per fold, folds the array's fold interval
  apart (``max(m * initiation_interval, min_fold_interval)``, idle cycles after the tokens); the
  next fold's ``rows`` weight rows written (``weight_we``, ``weight_row``, ``weight_bank``,
  ``weight`` = the row's C code lanes) in the fold's last ``rows`` cycles, as the accelerator's
  sequencer writes them, the bus holding otherwise. os: folds over (row block, column block) output
  tiles, K streamed, ``act_first`` / ``act_last`` on a fold's first / last token.

Bits are named as OpenSTA sees the mapped netlist's ports (``act[3]``; a 1-bit port by its name).
``clk`` is the clock and ``rst`` stays 0, so neither is listed.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Elaboratable, Module, Mux, Signal
from amaranth.sim import Simulator

from hw.array import SystolicArray
from hw.pe import facts_only

from .cycles import fold_interval
from .realdata import MINILM, real_gemm
from .registry import get_kind

SOURCES = ("minilm", "random")
REAL_SPEC = "minilm:L0.ffn1"
UNITS = ("pe", "act_border", "weight_border")


@dataclass(frozen=True)
class PortActivity:
    """Per input port bit: ``bits`` = ((name, toggles per cycle, duty), ...), in port order."""
    pe: str
    pe_options: tuple
    unit: str
    source: str
    cycles: int
    bits: tuple
    outputs: tuple = ()   # observed output port bits (a PE's ``acc_out``), same triples; not for STA
    data_hash: str = ""   # sha256 (16 hex) of the operand codes the run used (:func:`codes_hash`)

    def as_sta(self):
        """{bit name: (activity, duty)} for :func:`models.sta.run_sta`."""
        return {name: (act, duty) for name, act, duty in self.bits}

    def port_means(self):
        """{port: (mean toggle rate, mean duty)} over the port's bits (inputs and observed outputs)."""
        ports = {}
        for name, act, duty in self.bits + self.outputs:
            ports.setdefault(name.split("[")[0], []).append((act, duty))
        return {p: tuple(float(np.mean(v)) for v in zip(*vals)) for p, vals in ports.items()}

    @property
    def mean_toggle_rate(self):
        return float(np.mean([a for _, a, _ in self.bits])) if self.bits else 0.0


def bit_activity(values, width):
    """(cycles,) integer port values -> (toggle rate, duty) arrays of shape (width,): toggles per
    cycle between consecutive cycles and the fraction of cycles each bit is 1."""
    v = np.asarray([int(x) for x in values], dtype=object)
    bits = np.array([[(int(x) >> b) & 1 for b in range(width)] for x in v], dtype=np.int8)
    if len(bits) < 2:
        raise ValueError("need at least two cycles to measure a toggle rate")
    toggles = np.abs(np.diff(bits, axis=0)).sum(axis=0) / (len(bits) - 1)
    return toggles, bits.mean(axis=0)


def _named_bits(port, width, toggles, duty):
    if width == 1:
        return ((port, float(toggles[0]), float(duty[0])),)
    return tuple((f"{port}[{b}]", float(toggles[b]), float(duty[b])) for b in range(width))


# --------------------------------------------------------------------------------------------
# operand streams


@functools.lru_cache(maxsize=32)
def _operands(pe_name, pe_options, source, m, k, n):
    """(:class:`models.registry.GemmOperands`, ``table`` port value or None) of the source, via
    the kind's quantisers (a kind with a table, :mod:`hw.pe`: the run's table, constant)."""
    kind = get_kind(pe_name)
    proto = kind.prototype(**dict(pe_options))
    if source == "minilm":
        acts, weights = real_gemm(REAL_SPEC, m, k, n)
        ops = kind.operands(acts, weights, proto)
    elif source == "random":
        acts, weights = kind.random_operands(np.random.default_rng(0), m, k, n, proto)
        ops = kind.operands(acts, weights, proto)
    else:
        raise ValueError(f"activity source must be one of {', '.join(SOURCES)}, not {source!r}")
    table = proto.table_value(ops.extra.table_entries) if proto.table_width else None
    return ops, table


def _codes(pe_name, pe_options, source, m, k, n):
    """(acts codes M x K, weights codes K x N, ``table`` port value or None) of :func:`_operands`."""
    ops, table = _operands(pe_name, pe_options, source, m, k, n)
    return ops.acts, ops.weights, table


def _lanes(pe, codes, which):
    """(..., K) element codes -> (..., K // g) lane values (Python ints) of ``which`` operand."""
    g = pe.k_per_step
    grouped = np.asarray(codes).reshape(*codes.shape[:-1], codes.shape[-1] // g, g)
    lanes = pe.act_lanes(grouped) if which == "act" else pe.weight_lanes(grouped)
    return np.asarray(lanes, dtype=object)


# --------------------------------------------------------------------------------------------
# the simulated PE column


class _Column(Elaboratable):
    """``rows`` PEs chained through ``acc_in`` (ws) or one PE accumulating on itself (os), with
    the kind's border units on each row's code lanes."""

    def __init__(self, kind, options, rows, dataflow):
        proto = kind.prototype(**options)
        self.dataflow = dataflow
        self.pes = [kind.pe_class(**options) for _ in range(rows)]
        self.act_borders = [proto.act_border() for _ in range(rows)]
        self.weight_borders = [proto.weight_border() for _ in range(rows)]
        self.act_code = [Signal(proto.act_code_width, name=f"act_code{r}") for r in range(rows)]
        self.weight_code = [Signal(proto.weight_code_width, name=f"weight_code{r}") for r in range(rows)]
        self.valid = [Signal(name=f"valid{r}") for r in range(rows)]
        # os: per row, the row's token starts a new output (acc_in = 0); held between tokens as
        # the array's pass registers hold the token's flag
        self.first = [Signal(name=f"first{r}") for r in range(rows)]
        self.table = Signal(proto.table_width) if proto.table_width else None

    def elaborate(self, platform):
        m = Module()
        for r, pe in enumerate(self.pes):
            m.submodules[f"pe{r}"] = pe
            act, weight = self.act_code[r], self.weight_code[r]
            if self.act_borders[r] is not None:
                m.submodules[f"act_border{r}"] = border = self.act_borders[r]
                m.d.comb += border.code.eq(act)
                act = border.operand
            if self.weight_borders[r] is not None:
                m.submodules[f"weight_border{r}"] = border = self.weight_borders[r]
                m.d.comb += border.code.eq(weight)
                weight = border.operand
            m.d.comb += [pe.act.eq(act), pe.weight.eq(weight), pe.valid.eq(self.valid[r])]
            if self.table is not None:
                m.d.comb += pe.table.eq(self.table)
            if self.dataflow == "os":
                m.d.comb += pe.acc_in.eq(Mux(self.first[r], 0, pe.acc_out))
            else:
                m.d.comb += pe.acc_in.eq(self.pes[r - 1].acc_out if r else 0)
        return m


def _schedule(pe, acts, weights, rows, dataflow, m, folds):
    """Per row: list of (start cycle, act lane, weight lane, first) tokens."""
    ii = pe.initiation_interval
    act_lanes, weight_lanes = _lanes(pe, acts, "act"), _lanes(pe, weights.T, "weight")  # M x Kg, N x Kg
    kg = act_lanes.shape[1]
    tokens = [[] for _ in range(rows)]
    if dataflow == "os":
        # one PE, one output (mi, n) per fold, K groups streamed
        t = 0
        for f in range(folds):
            mi, n = fold_tile(f, acts.shape[0], weights.shape[1])
            for j in range(kg):
                tokens[0].append((t, act_lanes[mi, j], weight_lanes[n, j], j == 0))
                t += ii
        return tokens
    blocks = kg // rows
    t = 0
    for f in range(folds):
        b, n = fold_tile(f, blocks, weights.shape[1])
        for mi in range(m):
            for r in range(rows):
                tokens[r].append((t + r * pe.latency, act_lanes[mi, b * rows + r],
                                  weight_lanes[n, b * rows + r], False))
            t += ii
    return tokens


def _simulate_column(kind, options, rows, dataflow, tokens, table=None):
    """Run the column (``table``: the PEs' table port value, a kind with a table); per row, its
    PE's port values per cycle from cycle 0 ({port: (values, width)})."""
    dut = _Column(kind, dict(options), rows, dataflow)
    pe = dut.pes[-1]
    ii = pe.initiation_interval
    end = max(tok[-1][0] for tok in tokens if tok) + ii
    starts = [{tok[0]: tok for tok in row} for row in tokens]
    names = ("act", "weight", "valid", "acc_in", "acc_out") + (("table",) if table is not None else ())
    ports = [{name: [] for name in names} for _ in dut.pes]

    async def testbench(ctx):
        if table is not None:
            ctx.set(dut.table, table)
        for cycle in range(end):
            for r in range(rows):
                tok = starts[r].get(cycle)
                ctx.set(dut.valid[r], tok is not None)
                if tok is not None:
                    ctx.set(dut.act_code[r], int(tok[1]))
                    ctx.set(dut.weight_code[r], int(tok[2]))
                    if dataflow == "os":
                        ctx.set(dut.first[r], tok[3])
            for row, unit in zip(ports, dut.pes):
                for name in names:
                    row[name].append(ctx.get(getattr(unit, name)))
            await ctx.tick()

    return _run_pe_ports(Simulator(dut), testbench, pe, ports)


def _run_pe_ports(sim, testbench, pe, ports):
    """Run ``sim`` (a 10 ns clock) with ``testbench``, which fills ``ports`` (per PE {port:
    [value per cycle]}); per PE {port: (values, width)}, the widths ``pe``'s."""
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    widths = {"act": pe.act_width, "weight": pe.weight_width, "valid": 1, "acc_in": pe.acc_width,
              "acc_out": pe.acc_width, "table": pe.table_width}
    return [{name: (values, widths[name]) for name, values in row.items()} for row in ports]


def _simulate_pe(kind, options, rows, dataflow, tokens, table=None):
    """Run the column (:func:`_simulate_column`); the bottom PE's input port values per cycle."""
    bottom = _simulate_column(kind, options, rows, dataflow, tokens, table)[-1]
    end = max(tok[-1][0] for tok in tokens if tok) + kind.prototype(**dict(options)).initiation_interval
    # drop the warm-up before the bottom row's first token (its acc_in and operands are idle)
    first = min(tokens[-1][0][0], end - 2)
    return {name: (values[first:], width) for name, (values, width) in bottom.items()}


# --------------------------------------------------------------------------------------------
# entry points


def _concat(lanes, width):
    """One vector port value of ``lanes`` (Python ints, lane 0 lowest), each as its ``width``-bit
    two's complement pattern (a code lane as it is; a signed sum's negative lane wrapped)."""
    mask = (1 << width) - 1
    out = 0
    for i, lane in enumerate(lanes):
        out |= (int(lane) & mask) << (i * width)
    return out


def fold_tile(fold, blocks, col_blocks):
    """(block, column block) fold ``fold`` works on (:class:`ArrayRun`'s schedule): the ``blocks``
    first (ws: the K blocks of one column block; os: the output row blocks), then the
    ``col_blocks`` output column blocks, repeating."""
    return fold % blocks, (fold // blocks) % col_blocks


def _array_ports(pe, acts, weights, rows, cols, dataflow, m, folds, interval):
    """{port: (values per cycle, width)} of a ``rows`` x ``cols`` array's inputs; folds start
    ``interval`` cycles apart (>= the fold's tokens' cycles: ``m`` tokens (ws) or the K steps
    (os); the rest idle, the buses holding)."""
    ii = pe.initiation_interval
    a_lanes, w_lanes = _lanes(pe, acts, "act"), _lanes(pe, weights.T, "weight")   # M x Kg, N x Kg
    kg = a_lanes.shape[1]
    aw, ww = pe.act_code_width, pe.weight_code_width
    ports = {"act": [], "act_valid": [], "weight": []}
    if dataflow == "ws":
        ports.update({"act_bank": [], "weight_we": [], "weight_row": [], "weight_bank": []})
        blocks = kg // rows
        tiles = [fold_tile(f, blocks, weights.shape[1] // cols) for f in range(folds + 1)]
        state = {"weight": 0, "weight_row": 0, "weight_bank": 0, "act": 0}

        def weight_row(tile, r):
            b, nb = tile
            return _concat([w_lanes[nb * cols + c, b * rows + r] for c in range(cols)], ww)

        for f in range(folds):
            b, _ = tiles[f]
            # the sequencer's schedule (hw.accelerator): the next fold's row r is written in
            # cycle interval - rows + r of this fold, when the bank it overwrites (the previous
            # fold's) is free, which the array's min_fold_interval guarantees
            first_write = interval - rows
            for cycle in range(interval):
                token, phase = divmod(cycle, ii)
                valid = phase == 0 and token < m
                we = cycle >= first_write
                if we:
                    state["weight"] = weight_row(tiles[f + 1], cycle - first_write)
                    state["weight_row"] = cycle - first_write
                    state["weight_bank"] = (f + 1) % 2
                if valid:
                    state["act"] = _concat([a_lanes[token, b * rows + r] for r in range(rows)], aw)
                for name, value in (("act", state["act"]), ("act_valid", valid),
                                    ("act_bank", f % 2), ("weight", state["weight"]),
                                    ("weight_we", we), ("weight_row", state["weight_row"]),
                                    ("weight_bank", state["weight_bank"])):
                    ports[name].append(int(value))
        widths = {"act": rows * aw, "weight": cols * ww, "act_valid": 1, "act_bank": 1,
                  "weight_we": 1, "weight_row": max(1, (max(rows, 2) - 1).bit_length()),
                  "weight_bank": 1}
    else:
        ports.update({"act_first": [], "act_last": []})
        mblocks, nblocks = acts.shape[0] // rows, weights.shape[1] // cols
        act = weight = 0
        for f in range(folds):
            mb, nb = fold_tile(f, mblocks, nblocks)
            # the sequencer's schedule (hw.accelerator): token j of fold f at f * interval + j * ii
            for cycle in range(interval):
                j, phase = divmod(cycle, ii)
                valid = phase == 0 and j < kg
                if valid:
                    act = _concat([a_lanes[mb * rows + r, j] for r in range(rows)], aw)
                    weight = _concat([w_lanes[nb * cols + c, j] for c in range(cols)], ww)
                for name, value in (("act", act), ("weight", weight), ("act_valid", valid),
                                    ("act_first", valid and j == 0), ("act_last", valid and j == kg - 1)):
                    ports[name].append(int(value))
        widths = {"act": rows * aw, "weight": cols * ww, "act_valid": 1, "act_first": 1,
                  "act_last": 1}
    return {name: (values, widths[name]) for name, values in ports.items()}


#: observed output ports: measured (the PE's result register) but never handed to OpenSTA
OUTPUT_PORTS = ("acc_out",)


def codes_hash(acts, weights, table=None):
    """16 hex digits of sha256 over the operand codes (and table value) a run used: two runs with
    the same hash saw the same data."""
    h = hashlib.sha256()
    for codes in (acts, weights):
        h.update(repr(np.asarray(codes).shape).encode())
        h.update(np.ascontiguousarray(np.asarray(codes, dtype=np.int64)).tobytes())
    h.update(repr(table).encode())
    return h.hexdigest()[:16]


def port_activity(pe, pe_options, unit, source, ports, data_hash=""):
    """:class:`PortActivity` of ``ports`` ({port: (values per cycle, width)}; :data:`OUTPUT_PORTS`
    kept as observed outputs)."""
    bits, outputs = [], []
    for name, (values, width) in ports.items():
        toggles, duty = bit_activity(values, width)
        (outputs if name in OUTPUT_PORTS else bits).extend(_named_bits(name, width, toggles, duty))
    cycles = len(next(iter(ports.values()))[0])
    return PortActivity(pe, pe_options, unit, source, cycles, tuple(bits), tuple(outputs), data_hash)


@dataclass(frozen=True)
class ArrayRun:
    """The run :func:`array_activity` measures: the array's input ports per cycle (``ports``:
    {port: (values per cycle, width)}, the table port included for a kind with one), the
    operand codes it streams (``acts`` M x K, ``weights`` K x N) and the schedule's parameters
    (``m`` tokens per fold, ``folds``, ``fold_cycles`` between fold starts; ws fold f computes K
    block ``f % (K // (rows * g))`` of output column block ``(f // blocks) % (N // cols)`` with the
    weights written in fold f - 1, so fold 0 reads a bank never written; os fold f streams all of
    K, ``K // g`` tokens, into output tile ``(f % (M // rows), (f // (M // rows)) % (N // cols))``,
    rows x cols outputs). ``extra``: the kind's extra operand for these codes
    (:meth:`models.registry.PEKind.operands`, e.g. GOBO's dictionary), or None."""
    pe: str
    pe_options: tuple
    rows: int
    cols: int
    dataflow: str
    source: str
    m: int
    folds: int
    fold_cycles: int
    acts: np.ndarray
    weights: np.ndarray
    table: object
    ports: dict
    extra: object = None

    @property
    def cycles(self):
        return len(next(iter(self.ports.values()))[0])

    @property
    def data_hash(self):
        return codes_hash(self.acts, self.weights, self.table)


@functools.lru_cache(maxsize=16)
def array_run(pe, rows, cols, dataflow="ws", pe_options=(), source="minilm", *, m=32, folds=8):
    """:class:`ArrayRun` of a ``rows`` x ``cols`` array on ``source`` operands (see the module
    docstring): the per-cycle input port stream :func:`array_activity` measures, which
    :mod:`models.array_energy` replays on the array's mapped netlist."""
    if source not in SOURCES:
        raise ValueError(f"activity source must be one of {', '.join(SOURCES)}, not {source!r}")
    pe_options = tuple(sorted(dict(pe_options).items()))
    kind = get_kind(pe)
    proto = kind.prototype(**dict(pe_options))
    g = proto.k_per_step
    if dataflow == "ws":
        k = _round_up(max(128, rows * g * folds), rows * g)
        n, mm = cols, m
    else:
        k, n, mm = _round_up(128, g), cols * 2, _round_up(max(m, rows), rows)
    ops, table = _operands(pe, pe_options, source, mm, _round_up(k, 128), n)
    acts, weights = ops.acts, ops.weights
    ii = proto.initiation_interval
    array = facts_only(SystolicArray(kind.pe_factory(**dict(pe_options)), rows=rows, cols=cols,
                                     dataflow=dataflow))
    # a fold streams m tokens (ws) or the K steps (os), never faster than the array allows
    stream_len = m if dataflow == "ws" else acts.shape[1] // g
    fold_cycles = fold_interval(stream_len, ii, array.min_fold_interval)
    ports = _array_ports(proto, acts, weights, rows, cols, dataflow, m, folds, fold_cycles)
    if table is not None:      # the accelerator's table register: constant for the run
        cycles = len(next(iter(ports.values()))[0])
        ports["table"] = ([table] * cycles, proto.table_width)
    return ArrayRun(pe, pe_options, rows, cols, dataflow, source, m, folds, fold_cycles, acts, weights,
                    table, ports, ops.extra)


@functools.lru_cache(maxsize=16)
def array_activity(pe, rows, cols, dataflow="ws", pe_options=(), source="minilm", *, m=32, folds=8):
    """Measured :class:`PortActivity` of a ``rows`` x ``cols`` array's input ports (see the module
    docstring; the stream is :func:`array_run`'s); ``unit`` is named ``array_<dataflow>_<rows>x<cols>``."""
    run = array_run(pe, rows, cols, dataflow, pe_options, source, m=m, folds=folds)
    return port_activity(pe, run.pe_options, f"array_{dataflow}_{rows}x{cols}", source, run.ports)


def _simulate_array_pes(run):
    """Run ``run``'s whole array (:class:`hw.array.SystolicArray`, the RTL) in Amaranth's
    simulator on ``run.ports``; per PE, row by row, its port values per cycle
    ({port: (values, width)}, the names of :func:`_simulate_column`)."""
    kind = get_kind(run.pe)
    made = []

    def factory():     # the array makes its prototype first, then its PEs row by row
        made.append(kind.pe_class(**dict(run.pe_options)))
        return made[-1]

    array = SystolicArray(factory, rows=run.rows, cols=run.cols, dataflow=run.dataflow)
    sim = Simulator(array)          # elaborates the array: its R x C PEs exist from here
    pes = made[1:]
    pe = array.pe
    names = ("act", "weight", "valid", "acc_in", "acc_out") + (("table",) if pe.table_width else ())
    values = [{name: [] for name in names} for _ in pes]

    async def testbench(ctx):
        for cycle in range(run.cycles):
            for name, (stream, _) in run.ports.items():
                ctx.set(getattr(array, name), stream[cycle])
            for row, unit in zip(values, pes):
                for name in names:
                    row[name].append(ctx.get(getattr(unit, name)))
            await ctx.tick()

    return _run_pe_ports(sim, testbench, pe, values)


def _os_array_pe_ports(run, warmup):
    """:func:`array_pe_ports` of an output-stationary run: every PE's ports read from the whole
    array's RTL simulation (:func:`_simulate_array_pes`; its skew and pass registers, border units
    and drain as the netlist has them); PE (r, c) gets token j of fold f in cycle
    ``f * fold_cycles + j * II + r + c`` (row r's activation lane and column c's weight lane, each
    skewed by r + c)."""
    proto = get_kind(run.pe).prototype(**dict(run.pe_options))
    a_lanes, w_lanes = _lanes(proto, run.acts, "act"), _lanes(proto, run.weights.T, "weight")
    R, C, kg, ii = run.rows, run.cols, a_lanes.shape[1], proto.initiation_interval
    mblocks, nblocks = run.acts.shape[0] // R, run.weights.shape[1] // C
    found = []
    for i, values in enumerate(_simulate_array_pes(run)):
        r, c = divmod(i, C)
        ports = {name: (v[warmup:], width) for name, (v, width) in values.items()}
        tiles = [fold_tile(f, mblocks, nblocks) for f in range(run.folds)]
        lanes = [(int(a_lanes[mb * R + r, j]), int(w_lanes[nb * C + c, j]))
                 for f, (mb, nb) in enumerate(tiles) for j in range(kg)
                 if f * run.fold_cycles + j * ii + r + c >= warmup]
        found.append((ports, lanes))
    return found


def array_pe_ports(run, warmup):
    """Per PE of ``run``'s array (:class:`ArrayRun`), row by row:
    ({port: (values per cycle, width)}, [(act lane, weight lane), ...]): the port values PE (r, c)
    sees on the array's own stream from cycle ``warmup`` on and its tokens from that cycle on.
    ws: column c is simulated as the column :func:`unit_activity` runs (the RTL, the kind's border
    units, ``acc_in`` chained down the rows), fed the tokens the array's schedule gives it: fold f
    streams K block ``f % blocks`` of output column c (the run's N is its C columns), row r
    skewed by ``r * latency``. (The netlist's fold 0 reads an unwritten bank; here it reads its
    own weights: both lie in the warm-up.) os: the whole array's RTL on the run's ports
    (:func:`_os_array_pe_ports`)."""
    if run.dataflow == "os":
        return _os_array_pe_ports(run, warmup)
    kind = get_kind(run.pe)
    proto = kind.prototype(**dict(run.pe_options))
    if run.fold_cycles != run.m * proto.initiation_interval:
        # the column schedule below streams folds back to back
        raise ValueError(f"array_pe_ports: folds {run.fold_cycles} cycles apart with {run.m} tokens "
                         f"of {proto.initiation_interval} cycles (idle cycles) are not modelled")
    pes = []
    columns = []
    for c in range(run.cols):
        tokens = _schedule(proto, run.acts, run.weights[:, c:c + 1], run.rows, "ws", run.m, run.folds)
        columns.append((tokens, _simulate_column(kind, run.pe_options, run.rows, "ws", tokens, run.table)))
    for r in range(run.rows):
        for tokens, rows in columns:
            ports = {name: (values[warmup:run.cycles], width) for name, (values, width) in rows[r].items()}
            lanes = [(int(a), int(w)) for t, a, w, _ in tokens[r] if t >= warmup]
            pes.append((ports, lanes))
    return pes


def _round_up(value, step):
    return -(-value // step) * step


def operands(pe, pe_options=(), source="minilm", *, m=32, folds=16, rows=4):
    """(prototype, kind, dataflow, rows, acts, weights, table) of the run :func:`unit_activity`
    measures: the operand tensors M = ``m`` x K x N with K = one K block per fold (at least one
    group of 128) and N = the folds' output columns, ``rows`` PEs in the column (1 for an
    output-stationary kind)."""
    if source not in SOURCES:
        raise ValueError(f"activity source must be one of {', '.join(SOURCES)}, not {source!r}")
    pe_options = tuple(sorted(dict(pe_options).items()))
    kind = get_kind(pe)
    proto = kind.prototype(**dict(pe_options))
    dataflow = kind.dataflows[0]
    g = proto.k_per_step
    if dataflow == "os":
        rows = 1
    # K: whole groups of 128 (the grouped quantisers' default) covering every fold's K block
    block = rows * g
    k = _round_up(_round_up(max(128, block * folds), 128), block)
    # A wide step (e.g. BitFusion W2A2: 16 products per step) would ask for more K than the real
    # tensor has (ffn1's input is the hidden width): keep K within it and spread the folds over
    # more output columns instead
    whole = math.lcm(128, block)
    k = min(k, max(whole, MINILM.hidden // whole * whole))
    n = -(-folds // (k // block)) if dataflow == "ws" else folds
    acts, weights, table = _codes(pe, pe_options, source, m, k, n)
    return proto, kind, dataflow, rows, acts, weights, table


def bottom_lanes(pe, pe_options=(), source="minilm", *, m=32, folds=16, rows=4):
    """(prototype, operand data hash, [(act lane, weight lane), ...]): the bottom PE's tokens of
    the simulated column (:func:`operands`), in order: the operands :func:`unit_activity`
    measures its ports on, for models of the PE's internal words (:mod:`models.internal_activity`)."""
    pe_options = tuple(sorted(dict(pe_options).items()))
    proto, _, dataflow, rows, acts, weights, table = operands(pe, pe_options, source,
                                                              m=m, folds=folds, rows=rows)
    tokens = _schedule(proto, acts, weights, rows, dataflow, m, folds)[-1]
    return proto, codes_hash(acts, weights, table), [(int(a), int(w)) for _, a, w, _ in tokens]


def pe_ports(pe, pe_options=(), source="minilm", *, m=32, folds=16, rows=4):
    """({port: (value per cycle, width)}, operand data hash) of the bottom PE of the simulated
    column (:func:`operands`): the streams :func:`unit_activity` measures for ``unit="pe"`` (and
    :func:`models.gate_toggles.pe_stream` replays on the mapped netlist)."""
    pe_options = tuple(sorted(dict(pe_options).items()))
    proto, kind, dataflow, rows, acts, weights, table = operands(pe, pe_options, source,
                                                                 m=m, folds=folds, rows=rows)
    tokens = _schedule(proto, acts, weights, rows, dataflow, m, folds)
    ports = _simulate_pe(kind, pe_options, rows, dataflow, tokens, table)
    return ports, codes_hash(acts, weights, table)


@functools.lru_cache(maxsize=64)
def unit_activity(pe, unit="pe", pe_options=(), source="minilm", *, m=32, folds=16, rows=4):
    """Measured :class:`PortActivity` of one unit of PE kind ``pe`` (see the module docstring).

    ``m`` tokens per fold, ``folds`` folds, ``rows`` PEs in the simulated column (ws); the
    operands as :func:`operands` makes them."""
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}, not {unit!r}")
    pe_options = tuple(sorted(dict(pe_options).items()))
    if unit == "pe":
        ports, data_hash = pe_ports(pe, pe_options, source, m=m, folds=folds, rows=rows)
        return port_activity(pe, pe_options, unit, source, ports, data_hash)
    proto, _, _, _, acts, weights, table = operands(pe, pe_options, source, m=m, folds=folds, rows=rows)
    border = getattr(proto, unit)()
    if border is None:
        raise ValueError(f"PE kind {pe!r} has no {unit.replace('_', ' ')} unit")
    width = len(facts_only(border).code)   # read for its code width only
    if unit == "act_border":
        lanes = _lanes(proto, acts, "act").T.reshape(-1)        # one row's lanes over tokens
        values = [v for v in lanes for _ in range(proto.initiation_interval)]
    else:
        values = list(_lanes(proto, weights.T, "weight").reshape(-1))   # column by column
    ports = {"code": (values, width)}
    return port_activity(pe, pe_options, unit, source, ports, codes_hash(acts, weights, table))
