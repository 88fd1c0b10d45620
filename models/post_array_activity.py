"""Switching activity of a grouped design's post-array unit on the words the array delivers to it.

The post-array unit (:class:`hw.group_dequant.GroupDequant`: MixPE / shift-add with groups;
:class:`hw.scale_dequant.BitSerialScaleDequant`: BitMoD bit-serial and wfp16 with groups) is
synthesised for :data:`models.synth.POST_ARRAY_COLS` columns; here it is fed, cycle by cycle, the
input words of a ``rows`` x that many columns weight-stationary accelerator
(:mod:`hw.accelerator`'s group writer) running a GEMM on the same operands as
:func:`models.activity.unit_activity` (MiniLM L0 FFN1 through the kind's own quantisers, or the
kind's random codes, seed 0), and its input port bits measured as a toggle rate and a duty
(:class:`models.activity.PortActivity`; :func:`models.synth.unit_port_activity` dispatches
``unit="post_array"`` here: this module builds on :mod:`models.activity`, so that module cannot
name it without an import cycle).

The words come from the GOLDEN model, never from an RTL run of the design: a fold's array word of
token ``mi`` is the kind's raw GEMM (the prototype with ``group_size=None``, its own golden
function) over the group's K elements up to the end of the fold, i.e. the group's sum so far
(the accelerator's ``gacc`` read-modify-write registers it before the unit); ``asum`` the same
K slice's activation sum (the array's row-sum lane, GroupDequant only); ``params`` the parameter
buffer's word of the (n tile, group) as :meth:`hw.layout.GemmLayout.dequant_param_lanes` places it.

Schedule (the group writer's, ws): n tiles one after another, in each the K folds in order
(``group_folds = G / (rows * k_per_step)`` folds per group), folds
:func:`models.cycles.fold_interval` cycles apart, token ``mi``'s word ``mi * II`` cycles after the
fold start. ``raw`` / ``asum`` change with each word (partial group sums included: the RTL's
``s1_data`` register follows the group sum every word, so the unit's inputs switch with it) and
hold between words; ``in_valid`` is high in the cycle of a group's last-fold word; ``params``
holds the group's word. The dequantised ``y`` arrives ``latency`` cycles later; ``total`` is the
running total of the n tile's groups so far (the first group's ``y`` alone), held until the next
``y``; ``rq_valid`` is high with the n tile's last group's ``y``; ``rq_params`` holds the n tile's
requantisation word. Simplifications (stated, not hidden): between words the ports hold (the RTL's
``s1_data`` shows ``gacc[next] + word`` there when II > 1, and its ``total`` follows the unit's
every-cycle ``y``); the array's pipeline offset before the first word is left out.

The run also measures what the cost model prices the unit's parts at
(:mod:`models.post_array_rates`): per input port the toggles per array word (``raw``, ``asum``,
``params``, and for GroupDequant its golden internal words ``x``, ``p``, ``y``,
:data:`INTERNAL_WORDS`) and per dequantised word (those ports as ``in_valid`` samples them,
``total`` / ``rq_params`` as they are set with the ``y``).

:func:`post_array_run` simulates the unit (the RTL, Amaranth's simulator) on that stream and checks
every ``y`` word equals the golden dequantised value of its (n tile, group, token, column): the
kind's golden GEMM of the one group with that group's parameters alone; and every ``out`` word the
kind's golden output of the whole GEMM. A wrong stream fails there.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from amaranth.sim import Simulator

from hw.array import SystolicArray
from hw.group_dequant import MULT_BITS, SHIFT_BITS, SHIFT_USED_BITS, ZP_BITS, DequantParams
from hw.layout import GemmLayout
from hw.pe import facts_only
from hw.scale_dequant import ScaleCodes

from .activity import SOURCES, _concat, _operands, bit_activity, codes_hash, port_activity
from .cycles import fold_interval
from .golden import wrap_signed
from .registry import get_kind

UNIT = "post_array"
#: the columns of the synthesised unit (:mod:`models.synth` synthesises it for these: its inventory
#: is per column plus shared parts, so two columns show both)
COLS = 2
#: input ports of every post-array unit (:func:`hw.group_dequant.post_array_ports`), in port order
INPUT_PORTS = ("in_valid", "raw", "asum", "params", "rq_valid", "total", "rq_params")


#: the input ports whose values a unit's once-per-dequantised-word ("group") parts see
#: (:func:`models.inventory.post_array_parts`), by unit class name: GroupDequant's requantisation
#: pipeline reads ``total`` and ``rq_params`` (hw/group_dequant.py); BitSerialScaleDequant's
#: registers load ``raw`` and ``params`` under ``in_valid`` (hw/scale_dequant.py)
GROUP_PORTS = {"GroupDequant": ("total", "rq_params"), "BitSerialScaleDequant": ("raw", "params")}


class PostArrayMismatch(AssertionError):
    """The unit's output on the stream differs from the golden model's."""


@dataclasses.dataclass(frozen=True)
class PostArrayRun:
    """One simulated run: ``ports`` {input port: (values per cycle, width)}; ``words`` the
    dequantised words checked (``y`` lanes), ``outputs`` the output words checked (``out`` lanes);
    ``data_hash`` of the operand codes; ``cycles_per_word``: cycles of the run per dequantised
    word (one per (n tile, group, token))."""
    pe: str
    pe_options: tuple
    source: str
    ports: dict
    words: int
    outputs: int
    data_hash: str
    cycles_per_word: float
    # mean over the data input bits the unit reads (raw, asum if it uses it, params) of toggles
    # between consecutive array words (every fold's, partial group sums included): the activity
    # of its "word" parts (models.inventory.post_array_parts)
    word_activity: float
    group_folds: int      # array words per dequantised word (k folds per group)
    # mean over the bits of the ports its "group" parts read (GROUP_PORTS) of toggles between
    # consecutive dequantised words' values: the activity of its "group" parts
    group_activity: float = 0.0
    # per input port: mean toggles of its bits per array word (raw, asum, params, and the unit's
    # golden internal words, INTERNAL_WORDS) and per dequantised word (raw, asum, params, total,
    # rq_params): ((port or word, rate), ...)
    word_rates: tuple = ()
    group_rates: tuple = ()


def _single_group(extra, g):
    """The kind's extra operand restricted to group ``g`` (no requantisation)."""
    if isinstance(extra, DequantParams):
        return DequantParams(extra.group_size, extra.zero_point[g:g + 1], extra.mult[g:g + 1],
                             extra.shift[g:g + 1])
    if isinstance(extra, ScaleCodes):
        return ScaleCodes(extra.group_size, extra.codes[g:g + 1])
    raise ValueError(f"no post-array operand type {type(extra).__name__}")


def _lanes_of(value, count, width):
    """Two's complement lanes of a vector port value (Python ints)."""
    mask, half = (1 << width) - 1, 1 << (width - 1)
    return [((int(value) >> (i * width)) & mask ^ half) - half for i in range(count)]


def golden_words(pe, pe_options, source, *, m, k, n, rows):
    """The golden model's words of the run (see the module docstring): (operands, partial raw
    sums [n tile][group][fold] -> (m, C) arrays, partial activation sums [group][fold] -> (m,),
    dequantised y [n tile][group] -> (m, C), the final output M x N)."""
    kind = get_kind(pe)
    proto = kind.prototype(**dict(pe_options))
    raw_proto = kind.prototype(**{**dict(pe_options), "group_size": None})
    ops, _ = _operands(pe, pe_options, source, m, k, n)
    acts, weights, extra = ops.acts, ops.weights, ops.extra
    G, A, C = proto.group_size, proto.acc_width, COLS
    per_fold = rows * proto.k_per_step
    groups, folds = k // G, G // per_fold
    raws, asums, ys = [], [], []
    for g in range(groups):
        ends = [g * G + (f + 1) * per_fold for f in range(folds)]
        asums.append([wrap_signed(acts[:, g * G:e].sum(axis=1), A) for e in ends])
    for nt in range(n // C):
        cs = slice(nt * C, (nt + 1) * C)
        raws.append([[kind.golden_gemm(acts[:, g * G:e], weights[g * G:e, cs], raw_proto)
                      for e in (g * G + (f + 1) * per_fold for f in range(folds))] for g in range(groups)])
        ys.append([kind.golden_gemm(acts[:, g * G:(g + 1) * G], weights[g * G:(g + 1) * G, cs], proto,
                                    _single_group(_column_slice(extra, cs), g)) for g in range(groups)])
    return ops, raws, asums, ys, kind.golden(ops, proto)


def _column_slice(extra, cs):
    if isinstance(extra, DequantParams):
        kw = {}
        if extra.requant:
            kw = {"out_mult": extra.out_mult[cs], "out_shift": extra.out_shift[cs]}
        return DequantParams(extra.group_size, extra.zero_point[:, cs], extra.mult[:, cs],
                             extra.shift[:, cs], **kw)
    return ScaleCodes(extra.group_size, extra.codes[:, cs])


def _stream(kind, pe_options, proto, unit, ops, raws, asums, ys, rows, m, k, n):
    """Per-cycle input port values {port: [value per cycle]} (module docstring's schedule), the
    cycles of the dequantised words (``in_valid``) and of every array word."""
    C, A, G = COLS, proto.acc_width, proto.group_size
    ii = proto.initiation_interval
    groups, folds = k // G, G // (rows * proto.k_per_step)
    array = facts_only(SystolicArray(kind.pe_factory(**dict(pe_options)), rows=rows, cols=C, dataflow="ws"))
    fold_cycles = fold_interval(m, ii, array.min_fold_interval)
    layout = GemmLayout(rows, C, "ws", proto.k_per_step, m, k, n)
    lanes = np.asarray(ops.extra.param_lanes(layout), dtype=object)     # (param_depth, C)
    lw = unit.param_lane_width
    D = unit.latency
    # room for the last word's y and its requantisation after it
    end = (n // C) * groups * folds * fold_cycles + D + unit.requant_latency + 1
    ports = {p: [0] * end for p in INPUT_PORTS}
    word_cycles, array_cycles = [], []
    events = {}                       # cycle -> port values set from then on (held after)
    t = 0
    for nt in range(n // C):
        running = np.zeros((m, C), dtype=object)
        for g in range(groups):
            params = _concat(lanes[nt * (groups + 1) + g], lw)
            rq_params = _concat(lanes[nt * (groups + 1) + groups], lw)
            for f in range(folds):
                last = f == folds - 1
                for mi in range(m):
                    c = t + mi * ii
                    array_cycles.append(c)
                    ev = events.setdefault(c, {})
                    ev.update(raw=_concat(raws[nt][g][f][mi], A),
                              asum=int(asums[g][f][mi]) & ((1 << A) - 1) if unit.uses_asum else 0,
                              params=params, in_valid=int(last))
                    if last:
                        word_cycles.append(c)
                        running[mi] = ys[nt][g][mi] if g == 0 else wrap_signed(
                            np.asarray(running[mi], dtype=object) + ys[nt][g][mi], A)
                        events.setdefault(c + D, {}).update(
                            total=_concat(running[mi], A), rq_valid=int(g == groups - 1),
                            rq_params=rq_params)
                t += fold_cycles
    held = dict.fromkeys(INPUT_PORTS, 0)
    for cycle in range(end):
        held["in_valid"] = held["rq_valid"] = 0        # strobes: one cycle each
        held.update(events.get(cycle, {}))
        for p in INPUT_PORTS:
            ports[p][cycle] = held[p]
    return ports, word_cycles, array_cycles


def _simulate(unit, ports, cycles):
    """Run ``unit`` on ``ports`` (per-cycle input values); the (y lanes, out lanes) words in the
    order their valids rose."""
    C, A = COLS, unit.acc_width
    ys, outs = [], []

    async def testbench(ctx):
        for cycle in range(cycles):
            for name in INPUT_PORTS:
                ctx.set(getattr(unit, name), ports[name][cycle])
            if ctx.get(unit.y_valid):
                ys.append(_lanes_of(ctx.get(unit.y), C, A))
            if ctx.get(unit.out_valid):
                outs.append(_lanes_of(ctx.get(unit.out), C, A))
            await ctx.tick()

    sim = Simulator(unit)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return ys, outs


def _mean_toggles(samples):
    """Mean over the bits of ``samples`` ((values, width), ...) of toggles between consecutive
    values."""
    return float(np.mean([t for values, width in samples for t in bit_activity(values, width)[0]]))


#: the ports set with the dequantised word ``y``, ``latency`` cycles after ``in_valid``
LATE_PORTS = ("total", "rq_params")


def _samples(unit, ports, cycles, widths, names, late=False):
    """{port: (values in ``cycles``, width)} of ``names``; ``late``: :data:`LATE_PORTS` taken
    ``latency`` cycles later (when they are set with the ``y`` of the word in that cycle)."""
    return {n: ([ports[n][c + (unit.latency if late and n in LATE_PORTS else 0)] for c in cycles], widths[n])
            for n in names}


def group_dequant_words(unit, values):
    """The internal words of :class:`hw.group_dequant.GroupDequant` on input port ``values``
    ({port: value}, one cycle), by the module's documented arithmetic: per column
    ``x = wrap(raw - z * asum)`` (A bits), ``p = x * b`` (A + MULT_BITS significant bits) and
    ``y = wrap((p + 2**(c - 1)) >> c)``; {word: lanes concatenated (two's complement)}."""
    C, A = unit.cols, unit.acc_width
    P = A + MULT_BITS
    asum = _lanes_of(values["asum"], 1, A)[0]
    xs, ps, ys = [], [], []
    for c, raw in enumerate(_lanes_of(values["raw"], C, A)):
        lane = (values["params"] >> (c * unit.param_lane_width)) & ((1 << unit.param_lane_width) - 1)
        b, sh = lane & ((1 << MULT_BITS) - 1), (lane >> MULT_BITS) & ((1 << SHIFT_USED_BITS) - 1)
        z = (lane >> (MULT_BITS + SHIFT_BITS)) & ((1 << ZP_BITS) - 1)
        x = int(wrap_signed(raw - z * asum, A))
        p = x * b
        xs.append(x)
        ps.append(p)
        ys.append(int(wrap_signed((p + ((1 << sh) >> 1)) >> sh, A)))
    return {"x": (_concat(xs, A), C * A), "p": (_concat(ps, P), C * P), "y": (_concat(ys, A), C * A)}


#: the golden internal words of a unit class (:func:`group_dequant_words`), whose toggles per
#: array word its "word" parts behind a pipeline stage see (models.inventory.group_dequant_items)
INTERNAL_WORDS = {"GroupDequant": group_dequant_words}


def _internal_samples(unit, ports, cycles):
    """{word: (values in ``cycles``, width)} of the unit's :data:`INTERNAL_WORDS` ({} for none)."""
    words = INTERNAL_WORDS.get(type(unit).__name__)
    if words is None:
        return {}
    per_cycle = [words(unit, {p: ports[p][c] for p in ("raw", "asum", "params")}) for c in cycles]
    return {w: ([v[w][0] for v in per_cycle], per_cycle[0][w][1]) for w in per_cycle[0]} if per_cycle else {}


def _port_rates(samples):
    """((port, mean toggles of its bits between consecutive samples), ...)."""
    return tuple((n, _mean_toggles([v])) for n, v in samples.items())


def word_ports(unit):
    """The data input ports a post-array unit's "word" parts read: ``raw``, ``asum`` (only if the
    unit uses it: a constant 0 otherwise), ``params``."""
    return ("raw",) + (("asum",) if unit.uses_asum else ()) + ("params",)


@functools.lru_cache(maxsize=16)
def post_array_run(pe, pe_options=(), source="minilm", *, m=32, k=256, n=4, rows=4):
    """:class:`PostArrayRun` of the post-array unit of PE kind ``pe`` on ``source`` operands
    (M = ``m``, K = ``k`` (whole groups), N = ``n`` (whole :data:`COLS`-column tiles), a ``rows``-row
    array): the stream, simulated and checked against the golden model (module docstring);
    :class:`PostArrayMismatch` if a word differs. ValueError for a kind or option setting
    without a post-array unit, a bad source or shape."""
    if source not in SOURCES:
        raise ValueError(f"activity source must be one of {', '.join(SOURCES)}, not {source!r}")
    pe_options = tuple(sorted(dict(pe_options).items()))
    kind = get_kind(pe)
    proto = kind.prototype(**dict(pe_options))
    unit = proto.post_array_unit(COLS)
    if unit is None:
        raise ValueError(f"PE kind {pe!r} with options {dict(pe_options)} has no post-array unit")
    G = proto.group_size
    if k % G or n % COLS or G % (rows * proto.k_per_step):
        raise ValueError(f"K = {k} must be whole groups of {G}, N = {n} whole tiles of {COLS} columns, "
                         f"and a group whole folds of {rows} x {proto.k_per_step}")
    ops, raws, asums, ys, final = golden_words(pe, pe_options, source, m=m, k=k, n=n, rows=rows)
    ports, word_cycles, array_cycles = _stream(kind, pe_options, proto, unit, ops, raws, asums, ys, rows, m, k, n)
    cycles = len(ports["raw"])
    got_y, got_out = _simulate(unit, ports, cycles)
    want_y = [list(map(int, ys[nt][g][mi])) for nt in range(n // COLS) for g in range(k // G)
              for mi in range(m)]
    want_out = [list(map(int, final[mi, nt * COLS:(nt + 1) * COLS])) for nt in range(n // COLS)
                for mi in range(m)]
    for what, got, want in (("y", got_y, want_y), ("out", got_out, want_out)):
        if got != want:
            bad = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            raise PostArrayMismatch(f"{pe} post-array unit on {source}: {what} word {bad} of "
                                    f"{len(want)} differs from the golden model (or the count: "
                                    f"{len(got)} words)")
    widths = _widths(unit)
    word_samples = _samples(unit, ports, array_cycles, widths, word_ports(unit))
    group_samples = _samples(unit, ports, word_cycles, widths, word_ports(unit) + LATE_PORTS, late=True)
    return PostArrayRun(pe, pe_options, source, {p: (ports[p], widths[p]) for p in INPUT_PORTS},
                        len(got_y), len(got_out), codes_hash(ops.acts, ops.weights),
                        cycles / len(word_cycles), _mean_toggles(word_samples.values()),
                        len(array_cycles) // len(word_cycles),
                        _mean_toggles([group_samples[n] for n in GROUP_PORTS[type(unit).__name__]]),
                        _port_rates({**word_samples, **_internal_samples(unit, ports, array_cycles)}),
                        _port_rates(group_samples))


def _widths(unit):
    return {p: len(getattr(unit, p)) for p in INPUT_PORTS}


@functools.lru_cache(maxsize=16)
def post_array_activity(pe, pe_options=(), source="minilm", **shape):
    """Measured :class:`models.activity.PortActivity` (``unit="post_array"``) of the post-array
    unit's input port bits on :func:`post_array_run`'s stream."""
    run = post_array_run(pe, tuple(sorted(dict(pe_options).items())), source, **shape)
    return port_activity(pe, run.pe_options, UNIT, source, run.ports, run.data_hash)
