"""Energy per cycle of a small systolic array on its real port stream: the cost model against the
array's mapped netlist simulated gate by gate (issue 14 item 4: "a small array").

The stream is :func:`models.activity.array_run`'s (what :func:`models.activity.array_activity`
measures: MiniLM L0 FFN1 codes through the kind's quantisers, the array driven on the
steady-state schedule of the module's docstring). The reference is the array synthesised with
the project's recipe (:func:`models.synth.synthesize` with ``rows`` / ``cols``, as ``pearray synth
--array``), simulated on that stream with zero delay (:func:`models.gate_toggles.simulate_trace`)
after a warm-up, its toggles priced by :func:`models.netlist_power.netlist_power` and read as
OpenSTA 2.0.17 prices them (:attr:`models.netlist_power.NetlistPower.as_opensta_2019`, "sim@STA",
the PE reference of ``bench/bench_energy_vs_sim_power.py``), brought to 45 nm 0.9 V
(:func:`models.energy_vs_sta.cycle_energy_pj`). An output-stationary array, mapped with one shared
PE module (:mod:`models.synth`), is simulated as its flattened mapped netlist
(:func:`models.flat_netlist.flat_netlist`). The same simulation reads the array's ``out`` words,
which :func:`output_mismatches` compares with the kind's golden GEMM (:func:`golden_words`): the
stream drives the netlist as the RTL runs are driven.

The model is :func:`models.cost.hardware` of the same array (``energy_basis`` "sim" or "sta",
activity measured on MiniLM) priced over the window's events (:func:`window_events`) by the
cost model's own :func:`models.cost.event_energy_pj`, in the array's groups only
(:data:`models.cost.ARRAY_GROUPS`: PEs, slot and edge registers, border units; no SRAM, DRAM or
post-array unit), plus those groups' idle energy (clock pins, leakage) every cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import activity, cell_owners, cost, gate_toggles, netlist_power, part_activity, synth
from .energy_vs_sta import cycle_energy_pj, step_energy_pj
from .flat_netlist import flat_netlist, pe_module
from .registry import get_kind

CLOCK_MHZ = 100.0
#: the model's groups inside the array (PEs, pass / bank / skew registers, border units)
PARTS = cost.ARRAY_GROUPS


@dataclass(frozen=True)
class ArrayEnergy:
    """One array's energy per cycle (45 nm pJ) over the counted window: the model's per part on
    each basis ({group: dynamic pJ per cycle}, ``"idle"`` the array groups' idle), the netlist's
    simulated toggles priced as OpenSTA 2.0.17 prices them and at the Liberty's own pricing, and
    the output check (words compared with :func:`golden_words`, lanes that differ), and the
    netlist's power by the owner of its cells (:func:`models.cell_owners.cell_owners`: ``"pe_0_1"``
    per PE, ``"top/<register>"`` the top's registers and the logic in front of them, ``"shared"``
    logic feeding a PE and another owner)."""
    pe: str
    pe_options: tuple
    rows: int
    cols: int
    cycles: int
    model: dict          # {basis: {part: pJ per cycle}}
    sim_sta_pj: float
    sim_pj: float
    power: netlist_power.NetlistPower
    checked: int
    mismatches: int
    owners: dict = None  # {owner: netlist_power.NetlistPower}

    def owner_pj(self, owner):
        """sim@STA pJ per cycle of ``owner``'s cells (:attr:`owners`)."""
        return sim_sta_pj(self.owners[owner])

    def model_pj(self, basis):
        return sum(self.model[basis].values())


def sim_sta_pj(power):
    """45 nm pJ per cycle of ``power`` (:class:`models.netlist_power.NetlistPower`) as OpenSTA
    2.0.17 prices its toggles (sim@STA)."""
    total = power.power.total
    return cycle_energy_pj(power) * power.as_opensta_2019.total / total if total else 0.0


def window_events(run, warmup):
    """{cost-model event: count} of ``run``'s stream (:class:`models.activity.ArrayRun`) over the
    cycles from ``warmup`` on, counted on the input ports as :func:`models.cost.evaluate_gemm`
    counts them: a token per ``act_valid`` cycle, every PE stepping on it, a weight word per
    ``weight_we`` cycle (ws) or per token (os), an output word per token (ws) or R per fold (os),
    a fold per fold start. (A token's steps trail it by up to the array's latency: over a window of
    whole folds in steady state, as many leave the window as enter it.)"""
    ports = run.ports
    R, C = run.rows, run.cols
    ii = get_kind(run.pe).prototype(**dict(run.pe_options)).initiation_interval
    valid = np.asarray(ports["act_valid"][0][warmup:])
    tokens = int(valid.sum())
    if run.dataflow == "ws":
        weight_words = int(np.asarray(ports["weight_we"][0][warmup:]).sum())
        folds = sum(1 for f in range(run.folds) if f * run.fold_cycles >= warmup)
        out_words = tokens
    else:
        weight_words = tokens
        folds = int((np.asarray(ports["act_first"][0][warmup:]) & valid).sum())
        out_words = folds * R
    return {"step": tokens * R * C, "step_cycle": tokens * R * C * ii, "token": tokens,
            "row_token": tokens * R, "weight_word": weight_words, "col_weight": weight_words * C,
            "out_word": out_words, "fold": folds}


def array_model_pj(hws, events, cycles):
    """{part: pJ} of the array's groups (:data:`PARTS`) over ``events`` ({event: count}), plus
    ``"idle"``: their idle energy over ``cycles`` cycles; the mean over ``hws`` (one
    :class:`models.cost.Hardware` per PE, each priced at that PE's activity: every event counts
    all the array's PEs, so the mean is the array's sum of each PE's share)."""
    parts = dict.fromkeys((*PARTS, "idle"), 0.0)
    for hw in hws:
        dynamic = cost.event_energy_pj(hw.coef, events)
        for g in PARTS:
            parts[g] += dynamic.get(g, 0.0) / len(hws)
        parts["idle"] += cycles * sum(hw.group_idle.get(g, 0.0) for g in PARTS) / len(hws)
    return parts


def _config(run, basis):
    """The cost model's point for ``run``'s array at 45 nm, :data:`CLOCK_MHZ`, on ``basis``."""
    return cost.CostConfig(run.pe, run.rows, run.cols, run.dataflow, clock_mhz=CLOCK_MHZ, node=45,
                           pe_options=run.pe_options, activity=run.source, energy_basis=basis)


def model_hardware(run, basis, warmup):
    """(:func:`models.cost.hardware`, ...) of ``run``'s array at 45 nm on ``basis``, one per PE
    (row by row), each at the activity that PE sees on ``run``'s own stream from cycle ``warmup``
    on (:func:`models.part_activity.array_activities`: the same stream the netlist is simulated
    on, not :func:`models.part_activity.part_activity`'s column run)."""
    config = _config(run, basis)
    facts = config.design().facts
    return tuple(cost.hardware(facts, config.node, replace(pa, basis=basis))
                 for pa in part_activity.array_activities(run, warmup))


def column_hardware(run, basis):
    """(:func:`models.cost.hardware`,) of ``run``'s array at 45 nm on ``basis`` with every PE at
    :func:`models.part_activity.part_activity`'s column run: what :mod:`models.cost` prices an
    array of any size at (the bottom PE of a 4-row column on another stream)."""
    config = _config(run, basis)
    return (cost.hardware(config.design().facts, config.node, config.activity_factors()),)


def activity_pricing_pj(pe, pe_options=(), rows=8, cols=8, *, basis="sim", source="minilm", m=32, folds=8,
                        warmup_folds=1, dataflow=None):
    """(own, column): the model's dynamic energy (45 nm pJ, the array's groups :data:`PARTS`, no
    idle) over the window of :func:`array_energy`'s stream of a ``rows`` x ``cols`` array, with
    each PE at the activity it sees on that stream (:func:`model_hardware`, what the array check
    prices) and with every PE at the column run's (:func:`column_hardware`, what
    :func:`models.cost.evaluate` prices). The two differ by where a PE sits (row 0 adds a constant
    0, sums narrow towards the top) and by the operands each array is fed; no netlist is needed."""
    pe_options = tuple(sorted(dict(pe_options).items()))
    dataflow = dataflow or get_kind(pe).dataflows[0]
    run = activity.array_run(pe, rows, cols, dataflow, pe_options, source, m=m, folds=folds)
    warmup = warmup_folds * run.cycles // folds
    events = window_events(run, warmup)
    return tuple(sum(array_model_pj(hws, events, 0)[g] for g in PARTS)
                 for hws in (model_hardware(run, basis, warmup), column_hardware(run, basis)))


def array_sums_prototype(kind, pe_options):
    """The prototype whose golden GEMM is an array's plain sums: the design's own, or for a
    grouped design (``group_size`` set: MixPE, BitMoD, W4A16 g128) the same PE without groups, whose
    golden is the raw GEMM (the groups' scales and zero points act after the array, in the
    post-array unit; the PEs are the same)."""
    options = dict(pe_options)
    if options.get("group_size") is not None:
        options["group_size"] = None
    return kind.prototype(**options)


def array_sums(run, acts, weights):
    """The golden GEMM (M x N integers) of ``acts`` @ ``weights`` as ``run``'s array outputs it
    (:func:`array_sums_prototype`'s golden). A kind whose PEs read a table (GOBO) gets the run's
    extra operand it came from; one with an outlier unit adds the outliers' products after the
    array (:mod:`models.gobo_gemm` step 5), so the array's own sums are the golden of the same
    operand without outliers."""
    kind = get_kind(run.pe)
    proto = array_sums_prototype(kind, run.pe_options)
    extra = ()
    if proto.table_width:
        table = run.extra
        if getattr(proto, "outlier_unit_class", None) is not None:
            table = replace(table, outliers=())
        extra = (table,)
    return np.asarray(kind.golden_gemm(acts, weights, proto, *extra))


def golden_words(run):
    """The array's expected ``out`` words of ``run``, in the order they leave, each C unsigned
    ``acc_width``-bit lanes from :func:`array_sums`. ws: per token, the fold's K block and
    column block, None for fold 0 (its bank was never written). os: per fold, its output tile's
    R rows, row R - 1 first (the drain's order), each over all of K."""
    proto = array_sums_prototype(get_kind(run.pe), run.pe_options)
    R, C, g = run.rows, run.cols, proto.k_per_step
    nblocks = run.weights.shape[1] // C
    mask = (1 << proto.acc_width) - 1
    words = []
    if run.dataflow == "os":
        out = array_sums(run, run.acts, run.weights)
        mblocks = run.acts.shape[0] // R
        for f in range(run.folds):
            mb, nb = activity.fold_tile(f, mblocks, nblocks)
            words += [tuple(int(v) & mask for v in out[mb * R + r, nb * C:(nb + 1) * C])
                      for r in reversed(range(R))]
        return words
    blocks = run.acts.shape[1] // (R * g)
    for f in range(run.folds):
        if f == 0:
            words += [None] * run.m
            continue
        b, nb = activity.fold_tile(f, blocks, nblocks)
        ks = slice(b * R * g, (b + 1) * R * g)
        out = array_sums(run, run.acts[:run.m, ks], run.weights[ks, nb * C:(nb + 1) * C])
        words += [tuple(int(v) & mask for v in row) for row in out]
    return words


def observed_words(traces, cols, acc_width):
    """The ``out`` words (C lanes of ``acc_width`` bits) in the cycles ``out_valid`` is high, from
    :func:`models.gate_toggles.simulate_trace`'s traces of ``out[i]`` and ``out_valid``."""
    words = []
    for c, valid in enumerate(traces["out_valid"]):
        if valid:
            lanes = [sum(traces[f"out[{lane * acc_width + i}]"][c] << i for i in range(acc_width))
                     for lane in range(cols)]
            words.append(tuple(lanes))
    return words


def output_mismatches(expected, observed):
    """(words compared, lanes that differ) of ``observed`` against ``expected`` (None entries
    skipped; the observed words may stop early: tokens whose results leave after the stream)."""
    checked = wrong = 0
    for want, got in zip(expected, observed):
        if want is None:
            continue
        checked += 1
        wrong += sum(a != b for a, b in zip(want, got))
    return checked, wrong


def array_energy(pe, pe_options=(), rows=2, cols=2, *, source="minilm", m=32, folds=8, warmup_folds=1,
                 bases=("sim", "sta"), dataflow=None):
    """:class:`ArrayEnergy` of a ``rows`` x ``cols`` array of kind ``pe`` in ``dataflow`` (None:
    the kind's first) on
    :func:`models.activity.array_run`'s stream of ``folds`` folds (ws: ``m`` tokens each; os: the
    K steps into an output tile, M = ``m``), the first ``warmup_folds`` folds a warm-up (the
    netlist's flops start at 0; a ws fold 0 reads an unwritten bank). An os array's netlist, mapped
    with one shared PE module, is simulated flattened (:func:`models.flat_netlist.flat_netlist`:
    the same mapped cells). Needs yosys (or the synthesis cache) and the osu018 liberty."""
    pe_options = tuple(sorted(dict(pe_options).items()))
    kind = get_kind(pe)
    proto = kind.prototype(**dict(pe_options))
    dataflow = dataflow or kind.dataflows[0]
    run = activity.array_run(pe, rows, cols, dataflow, pe_options, source, m=m, folds=folds)
    warmup = warmup_folds * run.cycles // folds
    netlist = flat_netlist(synth.synthesize(pe, rows=rows, cols=cols, dataflow=dataflow, pe_options=pe_options))
    stream = gate_toggles.port_stream(run.ports)
    watch = [f"out[{i}]" for i in range(cols * proto.acc_width)] + ["out_valid"]
    toggles, traces = gate_toggles.simulate_trace(netlist, stream, watch, warmup)
    toggles.update(netlist_power.port_toggles(stream, warmup))
    power = netlist_power.netlist_power(netlist, toggles, CLOCK_MHZ)
    owner = cell_owners.cell_owners(netlist)
    owners = netlist_power.grouped_power(netlist, toggles, CLOCK_MHZ, owner.__getitem__)
    sim = cycle_energy_pj(power)
    sim_sta = sim_sta_pj(power)
    expected = golden_words(run)
    checked, wrong = output_mismatches(expected, observed_words(traces, cols, proto.acc_width))
    window = run.cycles - warmup
    events = window_events(run, warmup)
    model = {basis: {part: pj / window for part, pj in
                     array_model_pj(model_hardware(run, basis, warmup), events, window).items()}
             for basis in bases}
    return ArrayEnergy(pe, pe_options, rows, cols, window, model, sim_sta, sim, power, checked, wrong, owners)


def pe_stream_energies(pe, pe_options=(), rows=2, cols=2, *, source="minilm", m=32, folds=8, warmup_folds=1,
                       array_module=False):
    """Per PE of the array (row by row), on what it sees of :func:`array_energy`'s stream after
    the warm-up (:func:`models.activity.array_pe_ports`): (the model's pJ per step of the whole PE,
    :func:`models.energy_vs_sta.step_energy_pj` on the sim basis at the PE's own activity,
    :func:`models.part_activity.array_activities`; the standalone PE netlist simulated on the
    same port stream, sim@STA pJ per step), 45 nm, and with ``array_module`` a third figure: the
    array's own mapped PE module (:func:`models.flat_netlist.pe_module`; None for an array mapped
    as one module) simulated alone on the same stream. A diagnosis of the array's error: the PE
    model on the array's real PE streams, apart from what the array's synthesis does to the PE
    (ws: row 0's constant ``acc_in``, the sums' narrowed widths; os: its own mapping of the PE)."""
    pe_options = tuple(sorted(dict(pe_options).items()))
    kind = get_kind(pe)
    proto = kind.prototype(**dict(pe_options))
    dataflow = kind.dataflows[0]
    run = activity.array_run(pe, rows, cols, dataflow, pe_options, source, m=m, folds=folds)
    warmup = warmup_folds * run.cycles // folds
    netlists = [synth.synthesize(pe, unit="pe", pe_options=pe_options).netlist()]
    if array_module:
        netlists.append(pe_module(synth.synthesize(pe, rows=rows, cols=cols, dataflow=dataflow,
                                                   pe_options=pe_options)))
    found = []
    for (ports, _), pa in zip(activity.array_pe_ports(run, warmup), part_activity.array_activities(run, warmup)):
        stream = gate_toggles.port_stream(ports, skip=activity.OUTPUT_PORTS)
        sims = [None if n is None else
                proto.initiation_interval * sim_sta_pj(netlist_power.simulated_power(n, stream, CLOCK_MHZ))
                for n in netlists]
        found.append((step_energy_pj(proto, pa, "sim"), *sims))
    return found
