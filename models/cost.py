"""Analytical cost model: area, energy and throughput of a design point on a GEMM workload.

``evaluate(config, workload)`` is a pure function of a frozen :class:`CostConfig` (PE kind and
options, array shape, dataflow, clock, node, buffer sizes, DRAM type) and a workload (one
:class:`models.workloads.Gemm`, an ``(m, k, n)`` tuple, a list of Gemms, or a workload name).

Where the numbers come from
---------------------------
* Primitive costs (adders, multipliers, flip-flops, multiplexers, gates, SRAM):
  :mod:`models.cost_primitives`, from the technology constants of :mod:`models.tech` (each with
  its source). Everything on chip is computed at 45 nm, then scaled to the node (x area / energy
  factors of :func:`models.tech.area_scale` / ``energy_scale``); DRAM energy is off chip and not
  scaled.
* Inventories are derived, not typed: :mod:`models.inventory` counts the primitives of the
  design's hardware (``DesignConfig(...).facts``: the PE prototype, its border units, the array,
  the accelerator and its post-array unit), one function per hardware class, reading the widths
  from the hardware.
* Cycles: :func:`models.cycles.gemm_cycles`, the exact model the RTL tests check.
* Model vs Yosys synthesis: :mod:`models.cost_vs_synth`.

Energy model: per GEMM, each inventory item's energy per event times the event count:
``step`` (one PE processes one token: tokens x R x C; every PE of the array steps on every
token, padded lanes included), ``step_cycle`` (steps x II), ``token`` (array input tokens),
``row_token`` (tokens x R: act border evaluations), ``weight_word`` (weight buffer words read),
``col_weight`` (weight words x C: weight border evaluations), ``out_word`` (array output words),
``fold``, ``post_word`` (array words through a grouped design's post-array unit: ``out_word``)
and ``post_group`` (its dequantised words: tokens / k tiles x groups). Plus every primitive's idle energy for every cycle (group ``clock``: its flops' clock
and its cells' leakage, :func:`models.cost_primitives.primitive`'s ``idle_pj``; a PE part's at its
inputs' measured duties, :func:`item_idle_factor`), SRAM accesses and DRAM bits.

Energy basis (``CostConfig.energy_basis``, :data:`ENERGY_BASES`): which primitive table, group
shares and duty factors price the parts.

* ``"sta"`` (the default): OpenSTA's energies (:func:`models.cost_primitives.sta_energy`: each
  primitive synthesised alone and its power computed by OpenSTA with its inputs at a toggle rate):
  the figures ``bench/bench_energy_vs_sta.py`` checks per PE against OpenSTA on the PE's own
  netlist (:func:`models.energy_vs_sta.pe_step_energy_pj` reads them from :func:`hardware`'s
  primitives).
* ``"sim"``: the gate-simulated table (:func:`models.cost_primitives.sim_energy`, the sim basis's
  group shares, duty factors and activity rules, :class:`models.part_activity.PartActivity` with
  ``basis="sim"``), plus each PE part's pin load on the parts that drive it
  (:func:`models.part_energy.part_dynamic_pj`, the bench's rule): the PE energy per step
  ``bench/bench_energy_vs_sim_power.py --sim-basis`` checks against the PE's netlist simulated
  gate by gate (``energy_vs_sta.pe_step_energy_pj(..., basis="sim")``; :func:`hardware_pe_step_pj`
  gives the cost model's). It needs a measured activity (pin loads are measured toggles). Every
  part of the design (PEs, array registers, border units, post-array unit) is priced on the basis;
  SRAM and DRAM do not depend on it.

The basis is held in one place: the :class:`models.part_activity.PartActivity` that
:meth:`CostConfig.activity_factors` returns carries it, and :func:`hardware` reads it from there
(a fixed activity number is the OpenSTA basis).

Activity (``CostConfig.activity``): a primitive's energy per use is its OpenSTA dynamic energy
with its data inputs toggling that fraction of bits per use.

* ``"minilm"`` (the default) or ``"random"``: measured per part
  (:mod:`models.part_activity`): the PE's ports simulated on MiniLM-L6 L0 FFN1 operands through
  the kind's own quantisers (or its random codes), each PE inventory part at the activity of the
  signals that drive it (a stationary weight switches nothing, a register's enable toggles with
  ``valid``, a bit-serial or LUT PE's per-cycle parts with its sequencing); the post-array
  unit's parts at the unit's own toggles per array word / per dequantised word on its own
  stream on the same source (:mod:`models.post_array_rates`); the other parts outside the PE
  (array registers, border units) at the PE's data-port activity. The figures come from the
  repository tables ``models/data/part_activity.json`` and ``post_array_activity.json`` (every
  registered variant; deterministic) or, for other option settings, are measured once and cached.
* a number in 0..1: every part at that activity (0.5 = random bits; the model before measured
  activity); the dynamic energy is linear in it, the idle energy does not depend on it.

SRAM and DRAM traffic (from :class:`hw.layout.GemmLayout`, as the sequencer reads the buffers)
--------------------------------------------------------------------------------------------
* ws: act words read = folds x M (each n tile re-reads its k tiles), weight words = folds x R,
  output: one read-modify-write per array output word (folds x M reads and writes).
* os: act and weight words read = folds x K-steps, output words written = folds x R.
* DRAM: each operand is fetched once as a dense tensor (elements x element bits, no padding),
  except: ws re-fetches A once per n tile when A's layout does not fit the act buffer, and spills
  partial sums (write every k tile, read back all but the first) when one n tile's M output
  words do not fit the output buffer; os re-fetches A once per n tile when one m tile's K-steps do
  not fit the act buffer, and W once per m tile when W's layout does not fit the weight buffer.
  The output goes out once at ``acc_width`` bits per element. DRAM fills are SRAM writes and
  output drains SRAM reads. Roofline: a layer is memory-bound when its DRAM bytes / bandwidth
  exceed its compute time (RTL cycles / clock); ``latency_s`` assumes transfers overlap compute.
  The RTL has no DRAM port: this is the model's assumption about the system around it.
* GOBO's outlier pass (:mod:`hw.gobo_outlier_pass`): the cost model does not see the weights, so
  a GEMM gets MiniLM-L6's measured share of outliers, evenly over its columns
  (:func:`models.gobo_outlier_share.expected_outlier_columns`); its cycles are the cycle model's
  with that list, its parts act once per entry (``"outlier_entry"``), and its SRAM / DRAM traffic
  is ``_outlier_pass``'s. The outlier buffer's bits are weight-buffer area.
* Not modelled: the sequencer's counters (O(log depth) bits, independent of R and C),
  wires between PEs.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass, fields, replace
from typing import NamedTuple

import pandas as pd

from hw.array import DATAFLOWS, check_tile
from hw.gobo_outlier_pass import tile_entry_counts
from hw.layout import GemmLayout
from hw.pe import OptionError
from . import tech
from .cost_primitives import BASES, primitive, sram_bitcell_area, sram_energy_64b
from .cycles import ArrayTiming, gemm_cycles
from .gobo_outlier_share import expected_outlier_columns
from .design import DesignConfig
from .inventory import POST_ARRAY_EVENTS, design_items, unit_items
from .merged_sums import member_key, merged_sums
from .part_activity import SOURCES, PartActivity, part_activity
from .part_energy import part_dynamic_pj
from .post_array_rates import post_array_rates
from .tech import value as tv
from .workloads import Gemm, get_workload

EVENTS = ("step", "step_cycle", "token", "row_token", "weight_word", "col_weight", "out_word", "fold",
          "outlier_entry") + tuple(POST_ARRAY_EVENTS.values())
AREA_GROUPS = ("pes", "slot_regs", "edge_regs", "act_borders", "weight_borders", "out_accumulate",
               "buffer_act", "buffer_weight", "buffer_out")
ENERGY_GROUPS = ("pes", "slot_regs", "edge_regs", "act_borders", "weight_borders", "out_accumulate",
                 "clock", "sram_act", "sram_weight", "sram_out", "dram_act", "dram_weight", "dram_out")
ARRAY_GROUPS = ("pes", "slot_regs", "edge_regs", "act_borders", "weight_borders")
BUFFERS = ("act", "weight", "out")
ACTIVITY_SOURCES = SOURCES
#: ``CostConfig.energy_basis`` values: "sta" OpenSTA-characterised primitives (checked against
#: OpenSTA's power of the PE), "sim" gate-simulated ones (checked against the PE's simulated toggles)
ENERGY_BASES = BASES


# --------------------------------------------------------------------------------------------
# configuration and results


def _finite_positive(v):
    # inf would pass a plain ``> 0`` and turn every time into 0 and every rate into nan downstream
    return not isinstance(v, bool) and isinstance(v, numbers.Real) and math.isfinite(v) and v > 0


@dataclass(frozen=True)
class CostConfig:
    """A design point. ``pe_options``: (name, value) pairs passed to the PE class, e.g.
    ``(("weight_bits", 2),)``. Buffer sizes in KiB; ``dram_gbps`` None = the DRAM type's peak
    bandwidth from :mod:`models.tech`; ``activity``: "minilm" / "random" (per-part factors
    measured on that operand source, :mod:`models.part_activity`) or a number in 0..1 (every
    part toggles that fraction per use; 0.5 = random bits; see the module docstring); ``tile``:
    the array's broadcast tiles ``(tile_rows, tile_cols)`` (:class:`hw.array.SystolicArray`;
    (1, 1) = the plain systolic array), checked when the design is built; ``energy_basis``:
    :data:`ENERGY_BASES` ("sim" needs a measured ``activity``; see the module docstring)."""
    pe: str
    rows: int
    cols: int
    dataflow: str = "ws"
    clock_mhz: float = 500.0
    node: int = 45
    act_kib: float = 64.0
    weight_kib: float = 64.0
    out_kib: float = 64.0
    dram: str = "lpddr4"
    dram_gbps: float | None = None
    pe_options: tuple = ()
    activity: float | str = "minilm"
    tile: tuple = (1, 1)
    energy_basis: str = "sta"

    def __post_init__(self):
        for name in ("rows", "cols"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise OptionError(f"{name} must be a positive integer, not {v!r}")
        if self.dataflow not in DATAFLOWS:
            raise OptionError(f"dataflow must be one of {DATAFLOWS}, not {self.dataflow!r}")
        tech.check_node(self.node)
        tech.check_dram(self.dram)
        for name in ("clock_mhz", "act_kib", "weight_kib", "out_kib"):
            if not _finite_positive(getattr(self, name)):
                raise OptionError(f"{name} must be a finite number > 0, not {getattr(self, name)!r}")
        if self.dram_gbps is not None and not _finite_positive(self.dram_gbps):
            raise OptionError(f"dram_gbps must be a finite number > 0, not {self.dram_gbps!r}")
        a = self.activity
        if isinstance(a, str):
            if a not in ACTIVITY_SOURCES:
                raise OptionError(f"activity must be one of {', '.join(ACTIVITY_SOURCES)} or a number "
                                  f"in 0..1, not {a!r}")
        elif isinstance(a, bool) or not isinstance(a, (int, float)) or not 0 <= a <= 1:
            raise OptionError(f"activity must be in 0..1 or one of {', '.join(ACTIVITY_SOURCES)}, not {a!r}")
        if self.energy_basis not in ENERGY_BASES:
            raise OptionError(f"energy_basis must be one of {', '.join(ENERGY_BASES)}, not {self.energy_basis!r}")
        if self.energy_basis != "sta" and not isinstance(a, str):
            # its pin loads and activity rules are measured toggles: a fixed number has none
            raise OptionError(f"energy_basis {self.energy_basis!r} needs a measured activity "
                              f"({', '.join(ACTIVITY_SOURCES)}), not {a!r}")
        object.__setattr__(self, "pe_options", tuple(sorted(dict(self.pe_options).items())))
        check_tile(self.tile, self.rows, self.cols, self.dataflow)
        object.__setattr__(self, "tile", tuple(self.tile))

    def activity_factors(self):
        """The activity :func:`hardware` takes: the number, or the PE's measured
        :class:`models.part_activity.PartActivity` on the named source, on this point's
        ``energy_basis`` (the one place the basis is set)."""
        if isinstance(self.activity, str):
            return replace(part_activity(self.pe, self.pe_options, self.activity), basis=self.energy_basis)
        return float(self.activity)

    def activity_provenance(self):
        """Where the activity figures come from: {"source", "data_hash", "date"} (measured) or
        {"source": "fixed", "activity": a}."""
        factors = self.activity_factors()
        if isinstance(factors, float):
            return {"source": "fixed", "activity": factors}
        return {"source": factors.source, "data_hash": factors.data_hash, "date": factors.date}

    @property
    def bandwidth_gbps(self):
        return self.dram_gbps if self.dram_gbps is not None else tv(f"dram.{self.dram}.bandwidth")

    def design(self):
        """The :class:`models.design.DesignConfig` whose hardware this point describes (buffer depths
        = the buffer sizes divided by the accelerator's word widths)."""
        return _design_config(self.pe, self.rows, self.cols, self.dataflow, self.pe_options,
                              self.act_kib, self.weight_kib, self.out_kib, self.tile)


@functools.lru_cache(maxsize=256)
def _design_config(pe, rows, cols, dataflow, pe_options, act_kib, weight_kib, out_kib, tile=(1, 1)):
    probe = DesignConfig(pe, rows, cols, dataflow, 1, 1, 1, pe_options, tile)
    depths = buffer_depths(probe.facts.word_widths, act_kib, weight_kib, out_kib)
    return DesignConfig(pe, rows, cols, dataflow, depths["act"], depths["weight"], depths["out"],
                        pe_options, tile)


def buffer_depths(word_widths, act_kib, weight_kib, out_kib):
    """Buffer depths in words of buffers of the given sizes in KiB, for the accelerator's word
    widths (bits; rounded down, at least one word)."""
    return {b: max(1, int(kib * 8192) // word_widths[b])
            for b, kib in (("act", act_kib), ("weight", weight_kib), ("out", out_kib))}


def _fields(record):
    """A dataclass instance's fields as a dict (shallow: values as they are)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


@dataclass(frozen=True)
class LayerCost:
    name: str
    m: int
    k: int
    n: int
    count: int
    cycles: int
    folds: int
    macs: int
    utilisation: float
    macs_per_cycle: float
    energy_pj: dict            # per instance, by ENERGY_GROUPS
    energy_total_pj: float
    sram_words: dict           # per instance: {"act_read": ..., "act_write": ..., ...}
    sram_bytes: dict
    dram_bytes: dict           # per instance: act / weight / out
    compute_s: float
    dram_s: float
    memory_bound: bool
    tops: float                # compute-bound (RTL cycles at the clock)
    tops_per_w: float


@dataclass(frozen=True)
class CostResult:
    config: CostConfig
    area_um2: dict             # by AREA_GROUPS, at the node
    area_total_um2: float
    energy_per_action_pj: dict
    layers: tuple
    cycles: int                # sum over layers x count
    macs: int
    energy_pj: dict            # sum over layers x count, by ENERGY_GROUPS
    energy_total_pj: float
    utilisation: float
    macs_per_cycle: float
    tops: float                # compute-bound: RTL cycles at the clock, DRAM assumed fast enough
    tops_per_w: float
    tops_per_mm2: float        # compute-bound tops / area
    latency_s: float           # roofline: sum of max(compute, DRAM) per layer
    tops_roofline: float       # DRAM-roofline-bounded: ops / latency_s
    tops_roofline_per_mm2: float
    memory_bound_layers: tuple

    @property
    def area_total_mm2(self):
        return self.area_total_um2 * 1e-6

    def to_dict(self, layers=True):
        out = {k: v for k, v in _fields(self).items() if k not in ("config", "layers")}
        out["config"] = dict(_fields(self.config), pe_options=dict(self.config.pe_options))
        out["memory_bound_layers"] = list(self.memory_bound_layers)
        if layers:
            out["layers"] = [_fields(layer) for layer in self.layers]
        return out

    def layers_frame(self):
        rows = []
        for layer in self.layers:
            row = {k: v for k, v in _fields(layer).items() if not isinstance(v, dict)}
            row.update({f"e_{k}": v for k, v in layer.energy_pj.items()})
            row.update({f"dram_{k}": v for k, v in layer.dram_bytes.items()})
            rows.append(row)
        return pd.DataFrame(rows)


class _Model(NamedTuple):
    """Everything about a design point that does not depend on the GEMM (cached)."""
    timing: object
    k_per_step: int
    ii: int
    area: dict
    area_total: float
    coef: dict            # event -> tuple of (group, pJ per event) at the node
    clock_pj_per_cycle: float
    sram_pj: dict         # buffer -> pJ per word access at the node
    word_bits: dict
    depths: dict
    act_elem_bits: int
    weight_elem_bits: int
    acc_width: int
    dram_pj_per_bit: float
    bandwidth_bps: float
    per_action: dict
    macs_per_step: int
    group_size: int = None    # K elements per dequantisation group (None without the post-array unit)


class Hardware(NamedTuple):
    """What a design's cost depends on besides its buffer depths, clock and DRAM, at one node and
    activity: everything :mod:`models.inventory` counts (which reads widths, never buffer depths)
    and the timing facts (none of which depends on a buffer depth)."""
    timing: object
    k_per_step: int
    ii: int
    area: dict            # AREA_GROUPS without the buffers
    coef: dict            # event -> tuple of (group, pJ per event) at the node
    clock_pj_per_cycle: float
    per_action: dict      # without the SRAM and DRAM entries
    word_bits: dict
    act_elem_bits: int
    weight_elem_bits: int
    acc_width: int
    macs_per_step: int
    group_word_bits: int  # bits of one group accumulator + running-total word (0 without groups)
    group_idle: dict = None   # {group: idle pJ per cycle at the node}, summing to clock_pj_per_cycle
    group_size: int = None    # K elements per dequantisation group (None without the post-array unit)

    @property
    def pe_idle_pj(self):
        """One PE's idle energy per cycle at the node: the PEs' group's over the array's PEs (their mean)."""
        return self.group_idle.get("pes", 0.0) / (self.timing.rows * self.timing.cols)


def item_activity(activity, event=None, ports=()):
    """Activity of a design item outside the PEs, acting on ``event``, under ``activity`` (a
    number: every item's; a :class:`models.part_activity.PartActivity`: a post-array unit's part
    (``event`` "post_word" / "post_group", fed by the unit input ``ports``) the toggles per
    event of those ports measured on the unit's own stream on the same source
    (:func:`models.post_array_rates.post_array_rates`), any other item the PE's data-port
    activity). A PE part's own is :func:`models.part_energy.part_dynamic_pj`'s."""
    if not isinstance(activity, PartActivity):
        return activity
    if event in POST_ARRAY_EVENTS.values():
        return post_array_rates(activity.pe, activity.pe_options, activity.source).rate(event, ports)
    return activity.data_activity


def energy_basis(activity):
    """The energy basis of ``activity`` (:func:`hardware`'s): a
    :class:`models.part_activity.PartActivity`'s own, "sta" for a fixed number."""
    return activity.basis if isinstance(activity, PartActivity) else "sta"


def item_energy(item, activity, merged=None):
    """(:class:`models.cost_primitives.Prim`, dynamic pJ per event) of one design item at 45 nm
    on ``activity``'s basis (:func:`energy_basis`): a PE part's by
    :func:`models.part_energy.part_dynamic_pj` (the bench's rule: its primitive at its own
    activity, plus on the sim basis its pin load on its drivers, a width the pin table lacks at its
    nearest point's; ``merged``: the PE's :func:`models.merged_sums.merged_sums`, whose adders pay
    their share of the step sum Yosys builds), every other item's primitive at :func:`item_activity`."""
    if isinstance(activity, PartActivity) and item.group == "pes":
        event = "step_cycle" if item.event == "step_cycle" else "step"
        member = (merged or {}).get(member_key(item.prim, item.widths, item.event, item.drivers))
        return part_dynamic_pj(item.prim, item.widths, event, item.drivers, item.inputs, activity,
                               exact=False, merged=member)
    prim = primitive(item.prim, *item.widths, activity=item_activity(activity, item.event, item.drivers),
                     basis=energy_basis(activity))
    return prim, prim.energy_pj


def item_idle_factor(item, activity):
    """Factor on one design item's idle energy: a PE part's at its inputs' measured duties
    (:meth:`models.part_activity.PartActivity.idle_factor`), 1 otherwise (the table's)."""
    if isinstance(activity, PartActivity) and item.group == "pes":
        return activity.idle_factor(item.prim, item.widths, item.drivers)
    return 1.0


def hardware(acc, node, activity):
    """:class:`Hardware` of an accelerator (``DesignConfig.facts``) at ``node`` and ``activity``
    (a number or a :class:`models.part_activity.PartActivity`: :func:`item_activity`, on its
    energy basis: :func:`item_energy`)."""
    pe = acc.pe
    items = design_items(acc)
    merged = merged_sums(unit_items(pe))
    a_scale, e_scale = tech.area_scale(node), tech.energy_scale(node)
    area = dict.fromkeys(AREA_GROUPS, 0.0)
    coef = {}
    group_idle = {}
    for item in items:
        prim, dynamic = item_energy(item, activity, merged)
        area[item.group] += item.count * prim.area_um2 * a_scale
        item_idle = item.count * prim.idle_pj * item_idle_factor(item, activity)
        group_idle[item.group] = group_idle.get(item.group, 0.0) + item_idle
        key = (item.event, item.group)
        coef[key] = coef.get(key, 0.0) + item.per_event * dynamic * e_scale
    by_event = {}
    for (event, group), pj in coef.items():
        by_event.setdefault(event, []).append((group, pj))
    clock = sum(group_idle.values()) * e_scale
    pe_step = sum(pj for (event, group), pj in coef.items() if group == "pes" and event == "step")
    pe_step += pe.initiation_interval * sum(pj for (event, group), pj in coef.items()
                                            if group == "pes" and event == "step_cycle")
    per_action = {
        "pe_step": pe_step,
        "mac": pe_step / pe.macs_per_step,
        "array_clock_cycle": clock,
    }
    for event, group in (("row_token", "act_borders"), ("col_weight", "weight_borders")):
        total = sum(pj for g, pj in by_event.get(event, ()) if g == group)
        if total:
            per_action[f"{group[:-1]}_eval"] = total   # per_event counts one unit's contents
    group_word_bits = 0
    if acc.group_size is not None:
        lanes = acc.cols + (acc.cols + 1 if acc.group_folds > 1 else 0)   # total (+ gacc)
        group_word_bits = lanes * acc.pe.acc_width
    return Hardware(
        timing=ArrayTiming.of(acc), k_per_step=pe.k_per_step, ii=pe.initiation_interval,
        area={g: v for g, v in area.items() if not g.startswith("buffer_")},
        coef={e: tuple(v) for e, v in by_event.items()}, clock_pj_per_cycle=clock,
        per_action=per_action, word_bits=dict(acc.word_widths), act_elem_bits=pe.act_element_bits,
        weight_elem_bits=pe.weight_element_bits, acc_width=pe.acc_width,
        macs_per_step=pe.macs_per_step, group_word_bits=group_word_bits,
        group_idle={g: v * e_scale for g, v in group_idle.items()}, group_size=acc.group_size)


def hardware_pe_step_pj(hw):
    """One PE's energy per step at the node from its :class:`Hardware`: its parts' dynamic energy
    (``per_action["pe_step"]``) plus its idle energy over the step's cycles; on the sim basis at
    45 nm, :func:`models.energy_vs_sta.pe_step_energy_pj`'s figure (tests/test_cost.py)."""
    return hw.per_action["pe_step"] + hw.ii * hw.pe_idle_pj


def assemble(config, hw, depths, param_depth, group_buffer_depth):
    """The :class:`_Model` of ``config`` from its :class:`Hardware` and its buffer depths (words
    of act, weight, out; parameter words and group buffer words, 0 without groups)."""
    a_scale, e_scale = tech.area_scale(config.node), tech.energy_scale(config.node)
    word_bits = hw.word_bits
    area = dict(hw.area)
    # A grouped design's extra buffers (dequantisation parameters, group accumulator, running
    # total: hw.accelerator) are counted as output-side SRAM bit cells.
    extra_bits = param_depth * word_bits.get("param", 0)
    extra_bits += group_buffer_depth * hw.group_word_bits
    # GOBO's outlier buffer (hw.gobo_outlier_pass) holds weights: weight-side SRAM bit cells, a
    # word access priced as the weight buffer's per 64 bits
    outlier_bits = depths.get("outlier", 0) * word_bits.get("outlier", 0)
    sram_pj = {}
    for b in BUFFERS:
        bits = depths[b] * word_bits[b]
        bits += extra_bits if b == "out" else outlier_bits if b == "weight" else 0
        area[f"buffer_{b}"] = bits * sram_bitcell_area() * a_scale
        kib = getattr(config, f"{b}_kib")
        sram_pj[b] = math.ceil(word_bits[b] / 64) * sram_energy_64b(kib * 1024) * e_scale
    if outlier_bits:
        sram_pj["outlier"] = (math.ceil(word_bits["outlier"] / 64)
                              * sram_energy_64b(config.weight_kib * 1024) * e_scale)
    dram_bit = tv(f"dram.{config.dram}.energy")
    per_action = dict(hw.per_action)
    rest = {k: per_action.pop(k) for k in list(per_action) if k.endswith("_eval")}
    per_action.update({f"sram_{b}_word": sram_pj[b] for b in BUFFERS}, dram_bit=dram_bit, **rest)
    return _Model(
        timing=hw.timing, k_per_step=hw.k_per_step, ii=hw.ii,
        area=area, area_total=sum(area.values()),
        coef=hw.coef, clock_pj_per_cycle=hw.clock_pj_per_cycle,
        sram_pj=sram_pj, word_bits=dict(word_bits), depths=dict(depths),
        act_elem_bits=hw.act_elem_bits, weight_elem_bits=hw.weight_elem_bits,
        acc_width=hw.acc_width, dram_pj_per_bit=dram_bit,
        bandwidth_bps=config.bandwidth_gbps * 1e9, per_action=per_action,
        macs_per_step=hw.macs_per_step, group_size=hw.group_size)


@functools.lru_cache(maxsize=512)
def _model(config):
    design = config.design()
    acc = design.facts
    depths = {"act": acc.act_depth, "weight": acc.weight_depth, "out": acc.out_depth}
    if acc.outlier_depth:
        depths["outlier"] = acc.outlier_depth
    return assemble(config, hardware(acc, config.node, config.activity_factors()), depths, acc.param_depth,
                    acc.group_buffer_depth)


def area_um2(config):
    """Area by :data:`AREA_GROUPS` of the design point ``config`` at its node (GEMM-independent)."""
    return dict(_model(config).area)


# --------------------------------------------------------------------------------------------
# evaluation


def _as_gemms(workload):
    if isinstance(workload, str):
        return get_workload(workload)
    if isinstance(workload, Gemm):
        return (workload,)
    if isinstance(workload, tuple) and len(workload) == 3 and all(isinstance(v, int) for v in workload):
        m, k, n = workload
        return (Gemm(f"{m}x{k}x{n}", m, k, n),)
    gemms = tuple(workload)
    if not gemms or not all(isinstance(g, Gemm) for g in gemms):
        raise ValueError("workload must be a Gemm, an (m, k, n) tuple, a list of Gemm or a workload name")
    return gemms


def _traffic(model, layout):
    """SRAM word accesses and DRAM bytes of one GEMM (see the module docstring)."""
    R = layout.rows
    m, k, n = layout.m, layout.k, layout.n
    S, F = layout.stream_len, layout.folds
    tokens = F * S
    wb = model.word_bits
    depth = model.depths
    a_bytes = m * k * model.act_elem_bits / 8
    w_bytes = k * n * model.weight_elem_bits / 8
    o_bytes = m * n * model.acc_width / 8
    out_spill_read = 0.0
    if layout.dataflow == "ws":
        act_reads, weight_reads, out_rmw = tokens, F * R, tokens
        out_writes = tokens
        act_fetches = 1 if layout.act_depth <= depth["act"] else layout.n_tiles
        weight_fetches = 1
        if m <= depth["out"]:
            out_dram = o_bytes
        else:   # partial sums spill: every k tile writes, all but the first read back
            out_dram = o_bytes * layout.k_tiles
            out_spill_read = o_bytes * (layout.k_tiles - 1)
        out_reads = out_rmw
    else:
        act_reads, weight_reads, out_writes, out_reads = tokens, tokens, F * R, 0
        act_fetches = 1 if layout.k_steps <= depth["act"] else layout.n_tiles
        weight_fetches = 1 if layout.weight_depth <= depth["weight"] else layout.m_tiles
        out_dram = o_bytes
    dram = {"act": a_bytes * act_fetches, "weight": w_bytes * weight_fetches,
            "out": out_dram + out_spill_read}
    # DRAM fills are buffer writes, the output drain and spill reads are buffer reads
    words = {
        "act_read": act_reads, "act_write": dram["act"] * 8 / wb["act"],
        "weight_read": weight_reads, "weight_write": dram["weight"] * 8 / wb["weight"],
        "out_read": out_reads + out_dram * 8 / wb["out"],
        "out_write": out_writes + out_spill_read * 8 / wb["out"],
    }
    return tokens, words, dram


def _outlier_pass(model, layout, outlier_columns, dram):
    """GOBO's outlier pass on one GEMM (:mod:`hw.gobo_outlier_pass`; none without it): the
    entries it issues (the ``"outlier_entry"`` event: each n tile's entries once per m tile) and
    its SRAM energy by group: the outlier list written once (its words also come from DRAM:
    added to ``dram["weight"]`` in place) and its entries read, an activation word read per
    outlier and m tile, each output row read and written once. ``(0, {})`` without the pass."""
    if model.timing.outlier_fold_cycles is None:
        return 0, {}
    per_tile = tile_entry_counts(layout.cols, layout.n, outlier_columns)
    entries = layout.m_tiles * sum(per_tile)
    dram["weight"] += sum(per_tile) * model.word_bits["outlier"] / 8
    rows = layout.rows * layout.folds
    sram = model.sram_pj
    return entries, {"sram_weight": (sum(per_tile) + entries) * sram["outlier"],
                     "sram_act": layout.m_tiles * len(outlier_columns) * sram["act"],
                     "sram_out": 2 * rows * sram["out"]}


def event_energy_pj(coef, events):
    """{group: dynamic pJ} of per-event energies ``coef`` ({event: ((group, pJ per event), ...)},
    :attr:`Hardware.coef`) over ``events`` ({event: count}; an event not named counts 0)."""
    energy = {}
    for event, terms in coef.items():
        count = events.get(event, 0)
        for group, pj in terms:
            energy[group] = energy.get(group, 0.0) + pj * count
    return energy


def dequantised_words(layout, group_size):
    """Words a grouped design's post-array unit dequantises on a GEMM of ``layout`` (ws): one per
    token of the stream, n tile and group (``group_size`` None: 0). Its array words, every k
    fold's (``out_word``), pass the unit too."""
    if group_size is None:
        return 0
    return layout.stream_len * layout.n_tiles * layout.groups(group_size)


def evaluate_gemm(config, gemm, model=None):
    """:class:`LayerCost` of one :class:`~models.workloads.Gemm` instance on ``config``."""
    model = model or _model(config)
    t = model.timing
    outliers = [] if t.outlier_fold_cycles is None else expected_outlier_columns(gemm.k, gemm.n)
    est = gemm_cycles(t, gemm.m, gemm.k, gemm.n, outliers)
    layout = GemmLayout(t.rows, t.cols, t.dataflow, t.k_per_step, gemm.m, gemm.k, gemm.n)
    tokens, words, dram = _traffic(model, layout)
    entries, outlier_energy = _outlier_pass(model, layout, outliers, dram)
    R, C = t.rows, t.cols
    steps = tokens * R * C
    weight_words = words["weight_read"]
    out_words = tokens if t.dataflow == "ws" else layout.folds * R
    group_words = dequantised_words(layout, model.group_size)
    events = {"step": steps, "step_cycle": steps * model.ii, "token": tokens, "row_token": tokens * R,
              "weight_word": weight_words, "col_weight": weight_words * C, "out_word": out_words,
              "fold": layout.folds, "outlier_entry": entries, "post_word": out_words,
              "post_group": group_words}
    energy = dict.fromkeys(ENERGY_GROUPS, 0.0)
    energy.update(event_energy_pj(model.coef, events))
    energy["clock"] = model.clock_pj_per_cycle * est.cycles
    for b in BUFFERS:
        energy[f"sram_{b}"] = (words[f"{b}_read"] + words[f"{b}_write"]) * model.sram_pj[b]
        energy[f"dram_{b}"] = dram[b] * 8 * model.dram_pj_per_bit
    for group, pj in outlier_energy.items():
        energy[group] += pj
    total = sum(energy.values())
    clock_hz = config.clock_mhz * 1e6
    compute_s = est.cycles / clock_hz
    dram_s = sum(dram.values()) / model.bandwidth_bps
    ops = 2 * est.macs
    return LayerCost(
        name=gemm.name, m=gemm.m, k=gemm.k, n=gemm.n, count=gemm.count, cycles=est.cycles,
        folds=est.folds, macs=est.macs, utilisation=est.utilisation, macs_per_cycle=est.macs_per_cycle,
        energy_pj=energy, energy_total_pj=total,
        sram_words=words, sram_bytes={key: v * model.word_bits[key.split("_")[0]] / 8 for key, v in words.items()},
        dram_bytes=dram, compute_s=compute_s, dram_s=dram_s, memory_bound=dram_s > compute_s,
        tops=ops / compute_s / 1e12, tops_per_w=ops / total)


def evaluate(config, workload):
    """:class:`CostResult` of ``workload`` (Gemm, (m, k, n), list of Gemm, or a workload name) on
    the design point ``config``; layer totals are weighted by each Gemm's ``count``."""
    model = _model(config)
    layers = tuple(evaluate_gemm(config, g, model) for g in _as_gemms(workload))
    cycles = sum(layer.cycles * layer.count for layer in layers)
    macs = sum(layer.macs * layer.count for layer in layers)
    energy = dict.fromkeys(ENERGY_GROUPS, 0.0)
    for layer in layers:
        for key, v in layer.energy_pj.items():
            energy[key] += v * layer.count
    total = sum(energy.values())
    t = model.timing
    peak = t.rows * t.cols * t.macs_per_step / t.initiation_interval
    seconds = cycles / (config.clock_mhz * 1e6)
    latency = sum(max(layer.compute_s, layer.dram_s) * layer.count for layer in layers)
    tops = 2 * macs / seconds / 1e12
    return CostResult(
        config=config, area_um2=dict(model.area), area_total_um2=model.area_total,
        energy_per_action_pj=dict(model.per_action), layers=layers, cycles=cycles, macs=macs,
        energy_pj=energy, energy_total_pj=total, utilisation=macs / (peak * cycles),
        macs_per_cycle=macs / cycles, tops=tops, tops_per_w=2 * macs / total,
        tops_per_mm2=tops / (model.area_total * 1e-6), latency_s=latency,
        tops_roofline=2 * macs / latency / 1e12,
        tops_roofline_per_mm2=2 * macs / latency / 1e12 / (model.area_total * 1e-6),
        memory_bound_layers=tuple(layer.name for layer in layers if layer.memory_bound))
