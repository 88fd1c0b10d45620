"""The cost model of :mod:`models.cost`, evaluated for many design points at once (numpy).

:func:`evaluate_batch` gives, for every design point of a list and every GEMM of a workload,
exactly the numbers :func:`models.cost.evaluate` gives for that point alone (tests/test_cost_batch.py
compares them on every registered variant): it performs the same floating-point operations in
the same order, element-wise over the points, so results are equal to the last bit. Integers
are int64; a point whose cycle count reaches 2**53 (where numpy's int / int division, which
converts both to float64 first, could round differently from Python's) or a workload whose MACs
do is evaluated by the scalar model instead (then in Python ints, object arrays if needed), and
so is a design with GOBO's outlier pass.

Why it is fast: the scalar model builds an Amaranth accelerator (two, with its probe) for every
point to read its facts. Here the facts that do not depend on buffer depths (the inventory, widths,
timing: :class:`models.cost.Hardware`) are read once per distinct hardware configuration (PE kind
and options, shape, dataflow; then per node and activity), the buffer depths of each point come
from :func:`models.cost.buffer_depths` and :func:`hw.accelerator.group_buffer_depths` (the
functions the accelerator uses), and :func:`models.cost.assemble` (the scalar model's own) turns
them into the point's model. Those facts are also kept on disk across processes
(:mod:`models.hardware_cache`, keyed by the configuration and the code's hash), so a cold process
builds probes only for configurations no earlier run of the same code met. The GEMM-dependent part (layout, cycles, traffic, energy) is then
numpy arithmetic over all points, one GEMM at a time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from hw.accelerator import group_buffer_depths
from hw.gobo_outlier_pass import default_outlier_depth, entry_width
from .cost import (AREA_GROUPS, BUFFERS, ENERGY_GROUPS, _as_gemms, assemble, buffer_depths,
                   evaluate, hardware)
from .design import DesignConfig
from .hardware_cache import HARDWARE

# counts at or above this could wrap in int64: such points use the scalar model
_INT_LIMIT = 2 ** 62
# ``macs / cycles`` is an int / int division: Python's is exact-then-rounded, numpy's converts
# both to float64 first; they agree while both are below 2**53
_EXACT_DIVISION = 2 ** 53


@functools.lru_cache(maxsize=4096)
def _probe(pe, rows, cols, dataflow, pe_options, tile=(1, 1)):
    # facts only: an accelerator object holds its ports, not its R x C PEs (made at elaboration)
    return DesignConfig(pe, rows, cols, dataflow, 1, 1, 1, pe_options, tile).facts


def _probe_hardware(pe, rows, cols, dataflow, pe_options, node, activity, tile=(1, 1)):
    # on disk (models.hardware_cache): building the probe is most of a cold point's time
    return HARDWARE.get((pe, rows, cols, dataflow, pe_options, node, activity, tile),
                        lambda: hardware(_probe(pe, rows, cols, dataflow, pe_options, tile), node, activity))


def point_model(config):
    """The ``models.cost._Model`` of ``config`` without building its accelerator at its buffer
    depths (equal to the scalar model's: tests/test_cost_batch.py)."""
    hw = _probe_hardware(config.pe, config.rows, config.cols, config.dataflow, config.pe_options,
                         config.node, config.activity_factors(), config.tile)
    depths = buffer_depths(hw.word_bits, config.act_kib, config.weight_kib, config.out_kib)
    if "outlier" in hw.word_bits:
        # the accelerator's default outlier buffer; its entry's k field addresses the act buffer
        depths["outlier"] = default_outlier_depth(depths["weight"], config.cols)
        hw = hw._replace(word_bits={**hw.word_bits, "outlier": entry_width(depths["act"], config.cols)})
    param_depth = group_depth = 0
    if hw.group_word_bits:
        param_depth, group_depth = group_buffer_depths(config.rows, depths["act"], depths["weight"],
                                                       depths["out"])
    return assemble(config, hw, depths, param_depth, group_depth)


@dataclass(frozen=True)
class BatchResult:
    """Cost of P design points on a workload of L GEMMs. ``errors[i]``: the exception point i
    raised (its rows of every array are then meaningless), else None. Per point (shape (P,)):
    the fields of :class:`models.cost.CostResult` of the same names; ``area_um2`` and
    ``energy_pj`` are dicts of (P,) arrays by group. Per layer (shape (P, L), one instance of each
    GEMM, as :class:`models.cost.LayerCost`): the ``layer_*`` fields; ``gemms``: the L GEMMs."""
    configs: tuple
    gemms: tuple
    errors: tuple
    area_um2: dict
    area_total_um2: np.ndarray
    cycles: np.ndarray
    macs: np.ndarray
    energy_pj: dict
    energy_total_pj: np.ndarray
    utilisation: np.ndarray
    macs_per_cycle: np.ndarray
    tops: np.ndarray
    tops_per_w: np.ndarray
    tops_per_mm2: np.ndarray
    latency_s: np.ndarray
    tops_roofline: np.ndarray
    tops_roofline_per_mm2: np.ndarray
    layer_cycles: np.ndarray
    layer_folds: np.ndarray
    layer_utilisation: np.ndarray
    layer_energy_pj: dict
    layer_energy_total_pj: np.ndarray
    layer_dram_bytes: dict
    layer_compute_s: np.ndarray
    layer_dram_s: np.ndarray
    layer_memory_bound: np.ndarray
    layer_tops: np.ndarray
    layer_tops_per_w: np.ndarray

    def memory_bound_layers(self, i):
        """Names of point i's memory-bound GEMMs, in workload order (as the scalar result's)."""
        return tuple(g.name for g, bound in zip(self.gemms, self.layer_memory_bound[i]) if bound)


def _column(models, get, dtype):
    return np.array([get(m) for m in models], dtype=dtype)


def _ceil_div(a, b):
    return -(-a // b)


def _layer(m, k, n, p):
    """One GEMM on every point: the arithmetic of :func:`models.cost.evaluate_gemm`,
    :func:`models.cycles.gemm_cycles` and ``models.cost._traffic``, element-wise."""
    R, C, ws = p["rows"], p["cols"], p["ws"]
    ii = p["ii"]
    k_steps = _ceil_div(k, p["k_per_step"])
    k_tiles, m_tiles, n_tiles = _ceil_div(k_steps, R), _ceil_div(m, R), _ceil_div(n, C)
    stream = np.where(ws, m, k_steps)
    folds = np.where(ws, n_tiles * k_tiles, m_tiles * n_tiles)
    interval = np.maximum(stream * ii, p["min_fold_interval"])
    cycles = (p["preload"] + (folds - 1) * interval + (stream - 1) * ii + p["output_latency"]
              + p["post_array_latency"] + 1)
    macs = m * k * n
    # the same count in floating point: a count near 2**63 would wrap in int64
    big = (p["preload"] + (folds - 1.0) * interval + (stream - 1.0) * ii + 1.0) >= _INT_LIMIT
    utilisation = macs / (p["peak"] * cycles)

    tokens = folds * stream
    a_bytes = m * k * p["act_elem_bits"] / 8
    w_bytes = k * n * p["weight_elem_bits"] / 8
    o_bytes = m * n * p["acc_width"] / 8
    act_depth = np.where(ws, k_tiles * m, m_tiles * k_steps)
    spill = ws & (m > p["depth_out"])
    out_dram = np.where(spill, o_bytes * k_tiles, o_bytes)
    out_spill_read = np.where(spill, o_bytes * (k_tiles - 1), 0.0)
    act_fits = np.where(ws, act_depth <= p["depth_act"], k_steps <= p["depth_act"])
    act_fetches = np.where(act_fits, 1, n_tiles)
    weight_fetches = np.where(ws | (n_tiles * k_steps <= p["depth_weight"]), 1, m_tiles)
    weight_reads = np.where(ws, folds * R, tokens)
    out_writes = np.where(ws, tokens, folds * R)
    out_reads = np.where(ws, tokens, 0)
    dram = {"act": a_bytes * act_fetches, "weight": w_bytes * weight_fetches,
            "out": out_dram + out_spill_read}
    wb = p["word_bits"]
    words = {"act": tokens + dram["act"] * 8 / wb["act"],
             "weight": weight_reads + dram["weight"] * 8 / wb["weight"],
             "out": (out_reads + out_dram * 8 / wb["out"]) + (out_writes + out_spill_read * 8 / wb["out"])}
    steps = tokens * R * C
    events = {"step": steps, "step_cycle": steps * ii, "token": tokens, "row_token": tokens * R,
              "weight_word": weight_reads, "col_weight": weight_reads * C,
              "out_word": np.where(ws, tokens, folds * R), "fold": folds}
    # models.cost.dequantised_words: stream x n tiles x groups (groups = k tiles over the folds
    # of a group, rounded up); 0 without a post-array unit (group size 0 here)
    G = p["group_size"]
    grouped = G > 0
    group_folds = np.where(grouped, G // np.maximum(1, R * p["k_per_step"]), 1)
    events["post_word"] = events["out_word"]
    events["post_group"] = np.where(grouped, stream * n_tiles * _ceil_div(k_tiles, group_folds), 0)
    return cycles, big, folds, utilisation, events, words, dram


def _signature(model):
    return tuple((event, tuple(group for group, _ in terms)) for event, terms in model.coef.items())


def evaluate_batch(configs, workload):
    """:class:`BatchResult` of every :class:`models.cost.CostConfig` of ``configs`` on ``workload``
    (as :func:`models.cost.evaluate` takes it)."""
    configs = tuple(configs)
    gemms = _as_gemms(workload)
    models, errors = [], []
    for config in configs:
        try:
            models.append(point_model(config))
            errors.append(None)
        except Exception as e:   # the point's own result (e.g. options its accelerator refuses)
            models.append(None)
            errors.append(e)
    ok = [i for i, m in enumerate(models) if m is not None]
    P, L = len(configs), len(gemms)
    out = _empty(P, L)
    # a design with GOBO's outlier pass is evaluated by the scalar model (its pass's cycles and
    # traffic depend on the outlier list, which this batch arithmetic does not carry)
    batch = [i for i in ok if models[i].timing.outlier_fold_cycles is None]
    if batch and sum(g.macs for g in gemms) < _EXACT_DIVISION:   # else every point by the scalar model
        _evaluate_into(out, [configs[i] for i in batch], [models[i] for i in batch], gemms, np.array(batch))
    for i in ok:
        if out["cycles"][i] < 0:
            _fill_from_scalar(out, evaluate(configs[i], gemms), i)
    HARDWARE.flush()
    return BatchResult(configs=configs, gemms=gemms, errors=tuple(errors), **out)


def _store(arrays, key, i, value):
    """``arrays[key][i] = value``; an int array that cannot hold ``value`` becomes an object
    array (Python ints, as the scalar model's)."""
    array = arrays[key]
    if isinstance(value, int) and array.dtype == np.int64 and not -2 ** 63 <= value < 2 ** 63:
        array = arrays[key] = array.astype(object)
    array[i] = value


def _fill_from_scalar(out, r, i):
    """Row i of ``out`` from the scalar result ``r`` (a point whose counts may not be exact in
    int64 or whose int / int divisions may round differently in numpy)."""
    for name in ("area_total_um2", "cycles", "macs", "energy_total_pj", "utilisation",
                 "macs_per_cycle", "tops", "tops_per_w", "tops_per_mm2", "latency_s", "tops_roofline",
                 "tops_roofline_per_mm2"):
        _store(out, name, i, getattr(r, name))
    for g in AREA_GROUPS:
        out["area_um2"][g][i] = r.area_um2[g]
    for g in ENERGY_GROUPS:
        out["energy_pj"][g][i] = r.energy_pj[g]
    for li, layer in enumerate(r.layers):
        for name in ("cycles", "folds", "utilisation", "energy_total_pj", "compute_s", "dram_s",
                     "memory_bound", "tops", "tops_per_w"):
            _store(out, f"layer_{name}", (i, li), getattr(layer, name))
        for g in ENERGY_GROUPS:
            out["layer_energy_pj"][g][i, li] = layer.energy_pj[g]
        for b in BUFFERS:
            out["layer_dram_bytes"][b][i, li] = layer.dram_bytes[b]


def _empty(P, L):
    f = lambda *shape: np.full(shape or (P,), np.nan)   # noqa: E731
    return dict(
        area_um2={g: f() for g in AREA_GROUPS}, area_total_um2=f(), cycles=np.full(P, -1, np.int64),
        macs=np.zeros(P, np.int64), energy_pj={g: f() for g in ENERGY_GROUPS}, energy_total_pj=f(),
        utilisation=f(), macs_per_cycle=f(), tops=f(), tops_per_w=f(), tops_per_mm2=f(),
        latency_s=f(), tops_roofline=f(), tops_roofline_per_mm2=f(),
        layer_cycles=np.zeros((P, L), np.int64), layer_folds=np.zeros((P, L), np.int64),
        layer_utilisation=f(P, L), layer_energy_pj={g: f(P, L) for g in ENERGY_GROUPS},
        layer_energy_total_pj=f(P, L), layer_dram_bytes={b: f(P, L) for b in BUFFERS},
        layer_compute_s=f(P, L), layer_dram_s=f(P, L), layer_memory_bound=np.zeros((P, L), bool),
        layer_tops=f(P, L), layer_tops_per_w=f(P, L))


def _evaluate_into(out, configs, models, gemms, index):
    """Fill ``out``'s rows ``index`` with the cost of ``configs`` (their ``models``)."""
    t = [m.timing for m in models]
    p = {"rows": _column(t, lambda x: x.rows, np.int64), "cols": _column(t, lambda x: x.cols, np.int64),
         "ws": _column(t, lambda x: x.dataflow == "ws", bool),
         "k_per_step": _column(t, lambda x: x.k_per_step, np.int64),
         "ii": _column(t, lambda x: x.initiation_interval, np.int64),
         "preload": _column(t, lambda x: x.preload_cycles, np.int64),
         "output_latency": _column(t, lambda x: x.output_latency, np.int64),
         "post_array_latency": _column(t, lambda x: x.post_array_latency, np.int64),
         "min_fold_interval": _column(t, lambda x: x.min_fold_interval, np.int64),
         "group_size": _column(models, lambda m: m.group_size or 0, np.int64),
         "act_elem_bits": _column(models, lambda m: m.act_elem_bits, np.int64),
         "weight_elem_bits": _column(models, lambda m: m.weight_elem_bits, np.int64),
         "acc_width": _column(models, lambda m: m.acc_width, np.int64),
         "word_bits": {b: _column(models, lambda m: m.word_bits[b], np.int64) for b in BUFFERS},
         **{f"depth_{b}": _column(models, lambda m: m.depths[b], np.int64) for b in BUFFERS}}
    macs_per_step = _column(t, lambda x: x.macs_per_step, np.int64)
    # gemm_cycles' peak: (R * C * macs_per_step) / II, an int product then a true division
    p["peak"] = p["rows"] * p["cols"] * macs_per_step / p["ii"]
    sram_pj = {b: _column(models, lambda m: m.sram_pj[b], float) for b in BUFFERS}
    dram_pj = _column(models, lambda m: m.dram_pj_per_bit, float)
    clock_pj = _column(models, lambda m: m.clock_pj_per_cycle, float)
    bandwidth = _column(models, lambda m: m.bandwidth_bps, float)
    clock_hz = _column(configs, lambda c: c.clock_mhz * 1e6, float)
    area_total = _column(models, lambda m: m.area_total, float)
    # points whose energy terms (event, groups) come in the same order add them in that order
    groups = {}
    for j, model in enumerate(models):
        groups.setdefault(_signature(model), []).append(j)
    coef = [(np.array(js), [(event, [(g, _column([models[j] for j in js], lambda m, e=event, i=gi:
                                                m.coef[e][i][1], float))
                                     for gi, (g, _) in enumerate(models[js[0]].coef[event])])
                            for event in models[js[0]].coef])
            for js in groups.values()]

    P, L = len(models), len(gemms)
    counts = [g.count for g in gemms]
    layer = {key: np.zeros((P, L), np.int64) for key in ("cycles", "folds")}
    layer.update({key: np.zeros((P, L)) for key in ("utilisation", "total", "compute_s", "dram_s",
                                                    "tops", "tops_per_w")})
    layer_energy = {g: np.zeros((P, L)) for g in ENERGY_GROUPS}
    layer_dram = {b: np.zeros((P, L)) for b in BUFFERS}
    layer_big = np.zeros(P, bool)
    for li, gemm in enumerate(gemms):
        cycles, big, folds, utilisation, events, words, dram = _layer(gemm.m, gemm.k, gemm.n, p)
        layer_big |= big
        energy = {g: np.zeros(P) for g in ENERGY_GROUPS}
        for js, terms in coef:
            for event, by_group in terms:
                count = events[event][js]
                for group, pj in by_group:
                    energy[group][js] += pj * count
        energy["clock"] = clock_pj * cycles
        for b in BUFFERS:
            energy[f"sram_{b}"] = words[b] * sram_pj[b]
            energy[f"dram_{b}"] = dram[b] * 8 * dram_pj
        total = energy[ENERGY_GROUPS[0]]
        for g in ENERGY_GROUPS[1:]:
            total = total + energy[g]
        compute_s = cycles / clock_hz
        dram_s = (dram["act"] + dram["weight"] + dram["out"]) / bandwidth
        ops = 2 * gemm.macs_each
        layer["cycles"][:, li], layer["folds"][:, li] = cycles, folds
        layer["utilisation"][:, li], layer["total"][:, li] = utilisation, total
        layer["compute_s"][:, li], layer["dram_s"][:, li] = compute_s, dram_s
        layer["tops"][:, li], layer["tops_per_w"][:, li] = ops / compute_s / 1e12, ops / total
        for g in ENERGY_GROUPS:
            layer_energy[g][:, li] = energy[g]
        for b in BUFFERS:
            layer_dram[b][:, li] = dram[b]

    # evaluate's totals: sums over the layers in workload order, each weighted by its count
    cycles = np.zeros(P, np.int64)
    exact = ~layer_big & np.all(layer["cycles"] < _EXACT_DIVISION, axis=1)
    for li, c in enumerate(counts):
        exact &= layer["cycles"][:, li] < _INT_LIMIT // c // L
        cycles += layer["cycles"][:, li] * c
    macs = sum(g.macs_each * g.count for g in gemms)
    energy = {g: np.zeros(P) for g in ENERGY_GROUPS}
    latency = np.zeros(P)
    for li, c in enumerate(counts):
        for g in ENERGY_GROUPS:
            energy[g] += layer_energy[g][:, li] * c
        latency += np.maximum(layer["compute_s"][:, li], layer["dram_s"][:, li]) * c
    total = energy[ENERGY_GROUPS[0]]
    for g in ENERGY_GROUPS[1:]:
        total = total + energy[g]
    seconds = cycles / clock_hz
    tops = 2 * macs / seconds / 1e12
    exact &= cycles < _EXACT_DIVISION

    rows = index
    out["cycles"][rows] = np.where(exact, cycles, -1)   # -1: the scalar model fills the point in
    out["macs"][rows] = macs
    out["area_total_um2"][rows] = area_total
    for g in AREA_GROUPS:
        out["area_um2"][g][rows] = _column(models, lambda m: m.area[g], float)
    for g in ENERGY_GROUPS:
        out["energy_pj"][g][rows] = energy[g]
        out["layer_energy_pj"][g][rows] = layer_energy[g]
    for b in BUFFERS:
        out["layer_dram_bytes"][b][rows] = layer_dram[b]
    out["energy_total_pj"][rows] = total
    out["utilisation"][rows] = macs / (p["peak"] * cycles)
    out["macs_per_cycle"][rows] = macs / cycles
    out["tops"][rows] = tops
    out["tops_per_w"][rows] = 2 * macs / total
    out["tops_per_mm2"][rows] = tops / (area_total * 1e-6)
    out["latency_s"][rows] = latency
    out["tops_roofline"][rows] = 2 * macs / latency / 1e12
    out["tops_roofline_per_mm2"][rows] = 2 * macs / latency / 1e12 / (area_total * 1e-6)
    out["layer_cycles"][rows] = layer["cycles"]
    out["layer_folds"][rows] = layer["folds"]
    out["layer_utilisation"][rows] = layer["utilisation"]
    out["layer_energy_total_pj"][rows] = layer["total"]
    out["layer_compute_s"][rows] = layer["compute_s"]
    out["layer_dram_s"][rows] = layer["dram_s"]
    out["layer_memory_bound"][rows] = layer["dram_s"] > layer["compute_s"]
    out["layer_tops"][rows] = layer["tops"]
    out["layer_tops_per_w"][rows] = layer["tops_per_w"]
