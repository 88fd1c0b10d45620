"""Per-part activity factors of a PE: each inventory part at the measured activity of what drives it.

A PE's ports are measured on the real-tensor operand streams (:func:`models.activity.unit_activity`:
the RTL simulated in a weight-stationary column, MiniLM-L6 L0 FFN1 through the kind's own
quantisers, or its random codes), as toggles per cycle of every port bit. From them,
:class:`PartActivity` keeps, per port, the mean toggles per cycle over the port's bits and the bit
count (``act``, ``weight``, ``acc_in``, ``valid`` in, ``acc_out`` observed out) and the port's mean
duty (fraction of cycles its bits are 1), and
:meth:`PartActivity.item_activity` gives each inventory part (a
:func:`models.inventory.unit_items` tuple) the toggle rate per step of the signals that drive it,
by the primitive's role (no factor fitted on any design). Where a family's input groups are
measured (:mod:`models.primitive_groups`: ``mac``, ``mult``, ``smult``, ``reg_en``) each group
takes its own signal and the part's activity is the groups' share-weighted mean; otherwise the
driving bits' width-weighted mean:

* a part the inventory says is fed by a port field (:class:`models.port_field.Field`: ANT's and
  OVP's element integers into the multipliers, exponents into the exponent adds), on the sim basis
  (:data:`FIELD_BASES`): that field's bits at their own measured toggles and duty
  (:mod:`models.field_activity`, the same run kept per bit), not the port's mean over bits that
  feed other parts (a MiniLM int4 element's exponent never moves, its integer does);
* a multiplier (``mult``, ``smult``: a, b) or fused multiply-accumulate (``mac``: a, b, c): a at
  ``act``, b at ``weight``, c at ``acc_in`` (the inventories' operand order), each group's toggles
  times the measured effect of the other groups' mean duties (:mod:`models.duty`: a partial
  product ``a_i & b_j`` switches only while ``b_j`` is 1, so a weight of mostly-0 bits leaves the
  array cold however much the activation toggles);
* a register (``reg``, ``reg_en``): its D bits load the PE's state, whose switching is observed
  at the result register ``acc_out`` (``acc`` path); a ``reg_en``'s enable is the control path
  (``valid``, toggles per cycle: it is sampled every cycle). Its clock is paid every cycle
  regardless (the idle energy of :func:`models.cost_primitives.sta_energy`);
* every other (combinational) part: what drives it when the inventory names it
  (:func:`models.inventory.driven`: e.g. a shifter or exponent add after a multiplier is
  driven by ``act`` and ``weight`` only), else all of ``act``, ``weight`` and ``acc_in``. A
  driver that is another part counts at that part's output toggles (:meth:`PartActivity.part_output`:
  its own input toggles times the primitive's output gain measured with OpenSTA,
  :mod:`models.primitive_outputs`), weighted by its output bits: OpenSTA propagates densities
  through the whole PE, so a part after a mux (whose select toggles add to its data's) switches
  more than the PE's ports, a part after an XOR-heavy adder or multiplier less.
  In a weight-stationary PE the weight port changes only when a new weight is loaded, so its bits
  count (nearly) zero: a stationary operand does not switch the datapath;
* a part that works every cycle of a multi-cycle step (event ``step_cycle``: a bit-plane or term
  select, the running partial sum) sees a new selection every cycle as the sequencing (restarted
  by ``valid``) moves: at least ``valid``'s toggles per cycle (the one measured sequencing signal).
  On the simulated-toggle basis, in a PE whose inventory names its sequencing (the bit-serial
  PEs' term index, :class:`models.inventory.TermIndex`), such a part sees its inputs per cycle
  instead (:meth:`PartActivity.cycle_view`): the held operands at their toggles per cycle, the
  term select at the term index's (:meth:`PartActivity.index_toggles`), no floor.

On the sim basis a product (``mult``, ``smult``, ``usmult``, ``bmult``, ``mac``), a shifter whose
amount toggles less than its word (a constant or slowly-changing shift), a selection whose select
toggles less than its data and is a PE port (``mux``, ``scneg``: the LUT PE's entry select by its
stationary weight)
and an adder summing such parts' outputs, each acting once per step (:meth:`PartActivity.once_per_step`),
hand the parts they feed their primitive's simulated output toggles at each
input group's own rate (:meth:`PartActivity.hands_on`, :mod:`models.part_outputs_sim`: each group
measured alone, the others held), not their inputs' mean: a weight-stationary product's bits move
with every activation change through the whole held weight, a carry flips a run of sum bits.

On the sim basis a part the inventory names as the driver of an internal word
(:func:`models.inventory.reads_word`: the MX / FP8 alignment words) hands the parts it feeds that
word's toggles computed from the golden lane arithmetic on the same stream
(:meth:`PartActivity.word_output`, :mod:`models.internal_activity`), not the ports' rates: a
product shifted into a wide word moves only the bits near its leading one.

On the sim basis BitFusion's step sum (a ``csa`` whose addends, its drivers' outputs, Yosys's
``maccmap`` sign-extends to the sum's width) takes its activity from that structure's measured
curve (:meth:`PartActivity.extended_sum`, :mod:`models.extended_csa_sim`), not the random-bit
table point's linear interpolation at its drivers' toggles.

Per step = per cycle x the initiation interval (the operands change once per step), at most 1.

Measured factors are cached (per design, source and data hash) in the repository table
``models/data/part_activity.json`` (every setting of :func:`table_settings`: the registered
variants, the defaults, each integer option over 1..8; both sources; with provenance:
source, real-tensor spec, data hash, date; regenerate with ``python -m models.part_activity``)
and, for other option settings, under ``~/.cache/pearray/activity`` (``$PEARRAY_ACTIVITY_DIR``).
A table entry is used only while the data hash of its run matches what
:func:`models.activity.unit_activity` would feed now (checked by the tests, not at lookup: a
lookup must stay fast).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import os
from dataclasses import dataclass
from pathlib import Path

from .activity import REAL_SPEC, SOURCES, array_pe_ports, port_activity, unit_activity
from .duty import idle_factor, weighted
from .extended_csa_sim import addend_structure, effective_activity as extended_csa_activity
from .field_activity import PORTS as FIELD_PORTS, bit_means, field_means
from .gated_sum_sim import effective_activity as gated_sum_activity, gated_rows
from .group_saturation_sim import effective_activity as saturating_activity
from .internal_activity import internal_toggles, lane_words
from .inventory import TermIndex, names_sequencing, unit_items
from .part_outputs_sim import output_toggles
from .port_field import Field
from .primitive_groups import effective_activity
from .primitive_outputs import output_gains
from .registry import PE_KINDS, full_options, get_kind
from .stored_table import table_key, table_or_measured, write_entries
from .synth import option_settings

TABLE_PATH = Path(__file__).resolve().parent / "data" / "part_activity.json"
#: 2: each port's mean duty too (:attr:`PartActivity.duties`)
GENERATOR = 2
PORTS = ("act", "weight", "acc_in", "valid", "acc_out")
#: the PE input ports that carry data into its combinational datapath
DATA_PORTS = ("act", "weight", "acc_in")
REGISTERS = ("reg", "reg_en")
#: the signal behind each measured primitive input group (:meth:`PartActivity.group_activities`:
#: a multiplier's or MAC's a, b, c; a register's data, observed at ``acc_out``, and enable)
GROUP_PORTS = {"a": "act", "b": "weight", "c": "acc_in", "d": "acc_out", "en": "valid"}
#: how a driving part's output toggles follow its inputs' (:meth:`PartActivity.part_output`):
#: "ports": as its inputs toggle (the ports' rates pass down a chain unchanged), or "gains": its
#: primitive's OpenSTA output gains (:mod:`models.primitive_outputs`). "ports" is the model's rule:
#: with "gains" applied to every kind the model falls to 6/37 PEs within 15 % of whole-PE OpenSTA
#: against 10/37 (chains attenuate: an adder tree's sum toggles far less than its ports; gains
#: measured with every input toggling are the same, bench/bench_joint_gains.py;
#: docs/cost-model.md "What moved it")
PROPAGATION = "ports"
#: the grouped families whose input groups, fed by the ports, take the ports' own signals
#: (:meth:`PartActivity.input_groups`)
PORT_GROUPED = ("mac", "mult", "smult", "bmult")
#: on the sim basis, the families whose outputs hand on their simulated toggles
#: (:mod:`models.part_outputs_sim`, each input group at its own rate) rather than their inputs'
#: mean, each with its data group: the products (one operand held for the step in a
#: weight-stationary PE) and the shifters while their amount (:data:`SLOW_GROUPS`)
#: toggles less than the data they move (a constant or slowly-changing shift: the output moves
#: with the data; a shift that moves the word every step re-places a sparse word, whose toggles
#: the random-word curves over-count: :mod:`models.internal_activity` measures those words)
#: Not BitFusion's fused brick multiplier (``bmult``): on BitFusion W4A4's MiniLM stream its
#: outputs toggle 0.024 per bit (its own netlist simulated on the values it sees,
#: bench/bench_energy_parts.py), the held-operand curves give 0.040 (+71 %: they hold the weight
#: at duty 0.5, where its 4-bit bricks are mostly zero) and the "ports" rule 0.017 (-29 %), so it
#: keeps the closer "ports" rule (tests/test_extended_csa_sim.py checks the csa it feeds)
#: The selections (``mux``, ``scneg``) while their select toggles less than their data (a select
#: by the stationary weight, the LUT PE's entry index and sign): the output is the selected data,
#: toggling as it does; the "ports" rule hands on the OpenSTA shares' mean, on LUT W1A8's MiniLM
#: stream 0.14 toggles per bit where its entry mux's output simulated on the values it sees moves
#: 0.46 (bench/bench_energy_parts.py). Only a selection by a PE port (the weight): one whose
#: select is computed inside the PE (the MX / FP16 alignment swaps, selected by a compare) keeps
#: the "ports" rule, not checked against its real values (handing on, MXFP8-E4M3 moved from -0 %
#: to +10 % of its sim@STA reference, bench/bench_energy_vs_sim_power.py --sim-basis)
HANDS_ON = ("mult", "smult", "usmult", "mac", "shiftn", "shift", "mux", "scneg")
#: the data group of every family in :data:`HANDS_ON` and :data:`SUMS` (a multiplier's activation,
#: a shifter's word, an adder's first operand; a selection's data, :data:`SELECTION_DATA`)
DATA_GROUP = "a"
#: the data group of the selections in :data:`HANDS_ON` (a mux's data words, a negation's word)
SELECTION_DATA = {"mux": "d", "scneg": "x"}
#: the adders that hand on their simulated toggles when they sum the outputs of a part that does
#: (:meth:`PartActivity.hands_on`): a sum of products (a carry flips a run of sum bits as the
#: terms change); not an add of port fields (an exponent sum feeding a shift amount or select)
SUMS = ("add",)
#: the control groups (shift amounts, selects, signs) that must move slower than their part's
#: data group
SLOW_GROUPS = ("sh", "sel", "s")
#: the bases on which a part driven by a port field (:class:`models.port_field.Field`: ANT's and
#: OVP's element integers and exponents) sees that field's measured bits
#: (:meth:`PartActivity.field_toggles`) rather than the port's mean over every bit. The sim basis
#: only: its reference simulates every bit of the stream, while the OpenSTA reference is handed one
#: activity per port (``set_power_activity -input_ports``), so OpenSTA's integer bits toggle at the
#: port's mean too
FIELD_BASES = ("sim",)


@dataclass(frozen=True)
class PartActivity:
    """Measured port activity of one PE on one operand source. ``ports``: ((port, mean toggles
    per cycle over its bits, bits), ...) for :data:`PORTS` present; ``ii``: the PE's initiation
    interval; provenance: ``source`` ("minilm" / "random"), ``data_hash`` of the operand codes,
    ``date`` of the measurement (ISO); ``duties``: ((port, mean fraction of cycles its bits are
    1), ...) (empty: not measured, every port at the characterisation's 0.5); ``basis``: the
    energy basis whose group shares and duty factors compose the parts ("sta" / "sim",
    :data:`models.cost_primitives.BASES`; not stored: a property of the model, not the run);
    ``per_cycle``: 0, or the step's cycles when this is its :meth:`cycle_view` (``ii`` 1: the
    ports' rates per cycle; not stored). A PE measured in an array (:func:`array_activities`)
    carries its own run's figures that are otherwise looked up for the column run: ``bits``
    (((port, ((toggles per cycle, duty), ...) per bit), ...), what its port fields toggle at) and
    ``words`` (((word, toggles per bit per step, bits), ...), its internal words); empty / None:
    the column run's tables (:mod:`models.field_activity`, :mod:`models.internal_activity`)."""
    pe: str
    pe_options: tuple
    source: str
    ii: int
    ports: tuple
    data_hash: str
    date: str
    duties: tuple = ()
    basis: str = "sta"
    per_cycle: int = 0
    bits: tuple = ()
    words: tuple | None = None

    def duty(self, port):
        """Mean duty of ``port``'s bits (0.5, the characterisation's, when not measured; 0 for
        a port the PE lacks: its operand is absent)."""
        if not self.duties:
            return 0.5
        return next((d for p, d in self.duties if p == port), 0.0)

    def rate(self, port):
        """Mean toggles per cycle of ``port``'s bits (0 for a port the PE lacks)."""
        return next((r for p, r, _ in self.ports if p == port), 0.0)

    def per_step(self, ports, extra=()):
        """Width-weighted mean toggles per step (at most 1) over ``ports``' bits plus ``extra``
        ((toggles per step, bits), ...) inputs."""
        terms = [(min(1.0, r * self.ii), n) for p, r, n in self.ports if p in ports] + list(extra)
        bits = sum(n for _, n in terms)
        return sum(r * n for r, n in terms) / bits if bits else 0.0

    def group_activities(self):
        """{signal path: toggles per step}: ``act``, ``weight``, ``acc_in`` (data ports), ``acc``
        (the result register ``acc_out``), ``ctrl`` (``valid``, toggles per cycle: sampled
        every cycle)."""
        step = {p: min(1.0, self.rate(p) * self.ii) for p in ("act", "weight", "acc_in")}
        return {**step, "acc": min(1.0, self.rate("acc_out") * self.ii),
                "ctrl": min(1.0, self.rate("valid"))}

    def group_duties(self):
        """{primitive input group: mean duty of the signal that drives it} (:data:`GROUP_PORTS`)."""
        return {g: self.duty(p) for g, p in GROUP_PORTS.items()}

    def idle_factor(self, prim, widths, drivers=()):
        """Factor on the table's idle energy of one inventory part (its constant inputs at the
        duties of their signals, :func:`models.duty.idle_factor`): a register whose enable
        (``valid``) is always 1 holds no feedback state. 1 for a part whose inputs are other
        parts, a family without measured duties, or duties not measured (the table's figure)."""
        if not self.duties or any(not isinstance(d, str) for d in drivers):
            return 1.0
        return idle_factor(prim, widths, {**self.group_duties(), **self.field_groups(drivers)[1]}, self.basis)

    def item_activity(self, prim, widths, event="step", drivers=(), inputs=(), composed=True):
        """Effective toggles of the inputs of one inventory part (``event`` "step" or
        "step_cycle"; ``drivers``: the data ports and parts that drive it, ``inputs``: the
        primitive input ports among them named singly, as the inventory states them,
        :func:`models.inventory.driven`), per step (see the module docstring). ``composed``
        False: a grouped part's groups by the shares' linear mean even on the sim basis (the
        toggles :meth:`part_output` hands on, not the energy-equivalent activity of
        :meth:`group_activity`)."""
        view = self.for_event(event)
        if view is not self:
            return view.item_activity(prim, widths, "step", drivers, inputs, composed)
        paths = self.group_activities()
        fed = [d for d in drivers if not isinstance(d, str)]
        driven = {"mac": {"a": paths["act"], "b": paths["weight"], "c": paths["acc_in"]},
                  "mult": {"a": paths["act"], "b": paths["weight"]},
                  "smult": {"a": paths["act"], "b": paths["weight"]},
                  # BitFusion's fused multiplier and the FP16-activation significand multiplier:
                  # groups on the sim basis only (no OpenSTA shares)
                  "bmult": {"a": paths["act"], "b": paths["weight"]},
                  "usmult": {"a": paths["act"], "b": paths["weight"]},
                  "reg_en": {"d": paths["acc"], "en": paths["ctrl"]}}.get(prim)
        if driven and not fed:
            # a group fed by a port field toggles at the field's bits (FIELD_BASES); an AND-array's
            # group switches with the other operands' bits that are 1, a register's data with its
            # enable's (models/duty.py)
            toggles, duties = self.field_groups(drivers)
            driven = {g: toggles.get(g, a) for g, a in driven.items()}
            driven = weighted(prim, widths, driven, {**self.group_duties(), **duties}, self.basis)
        # the port groups hold only while the part's inputs are the ports themselves
        a = self.group_activity(prim, widths, driven, composed) if driven and not fed else None
        if a is None:
            if prim in REGISTERS:
                enable = ((paths["ctrl"], 1),) if prim == "reg_en" else ()
                a = self.per_step((), ((paths["acc"], widths[0]),) + enable)
            elif inputs:
                toggles = self.port_toggles(prim, widths, drivers, inputs)
                # on the sim basis a part with measured group curves (a shifter's word and
                # amount) composes them as the grouped parts do: its word alone costs more than
                # its share
                a = saturating_activity(prim, widths, toggles) if self.basis == "sim" and composed else None
                if a is None:
                    shares = dict(output_gains(prim, tuple(widths))[2])
                    a = sum(share * toggles[p] for p, share in shares.items())
            else:
                a = self.shared_toggles(drivers)
                if prim == "csa" and self.basis == "sim" and composed:
                    a = self.extended_sum(widths, drivers, a)
        # (in the cycle view the sequencing enters through the named select only)
        return max(a, paths["ctrl"]) if event == "step_cycle" and not self.per_cycle else a

    @property
    def sequenced(self):
        """Whether the PE's inventory names its step sequencing (:func:`models.inventory.names_sequencing`:
        the bit-serial PEs' term index selecting the term)."""
        return _names_sequencing(self.pe, self.pe_options)

    def for_event(self, event):
        """The activity a part acting on ``event`` sees: :meth:`cycle_view` for a ``step_cycle``
        part on the simulated-toggle basis of a PE whose inventory names its sequencing
        (:attr:`sequenced`), else this one (per step, with ``valid``'s toggles as the floor of a
        per-cycle part: the OpenSTA basis, whose reference propagates ``valid``'s density through
        the whole netlist, and the PEs that do not name their sequencing, the LUT's bit planes)."""
        if event == "step_cycle" and self.basis == "sim" and self.sequenced and not self.per_cycle:
            return self.cycle_view()
        return self

    def cycle_view(self):
        """This activity seen one cycle at a time (``ii`` 1: each port at its measured toggles per
        cycle). A port holds its operand for the whole step (it changes at most once a step,
        :mod:`models.activity`), so a part reading it every cycle of the step sees its toggles
        per step spread over the step's cycles, not all of them in every cycle (the old rule
        charged a bit-serial PE's datapath ``ii`` times the operands' per-step toggles); the
        running sum changes at ``acc_out``'s measured toggles per cycle; the sequencing reaches
        a part only through what the inventory names, the term index as a select
        (:meth:`port_toggles`), not as a floor of ``valid``'s toggles on every input bit."""
        return dataclasses.replace(self, ii=1, per_cycle=self.ii)

    def index_toggles(self):
        """Toggles per cycle of each bit of a step's term index (:class:`hw.bitserial_terms.TermSteps`:
        0 on ``valid``, then one term per cycle up to the step's last): the steps per cycle
        (``valid`` is high in a step's first cycle only, so half its measured toggles per cycle)
        times the bit changes of one pass of a counter through the step's cycles
        (:func:`counter_toggles`)."""
        steps = self.rate("valid") / 2
        return steps * self.per_cycle * counter_toggles(self.per_cycle)

    def group_activity(self, prim, widths, driven, composed=True):
        """The activity of a grouped part whose groups toggle ``driven`` ({group: toggles per
        step}): on the OpenSTA basis the shares' weighted mean (its propagation is linear); on the
        sim basis the groups' measured curves composed as saturating disturbances
        (:mod:`models.group_saturation_sim`: a group alone costs more than its share, and less
        than linearly more as it toggles more), the shares' mean where no curves are measured.
        ``composed`` False: the shares' mean on either basis (an energy rule, not the toggles the
        part's outputs hand on)."""
        if self.basis == "sim" and composed:
            a = saturating_activity(prim, widths, driven)
            if a is not None:
                return a
        return effective_activity(prim, widths, driven, self.basis)

    def extended_sum(self, widths, drivers, toggles):
        """On the sim basis, the activity of a ``csa`` whose addends are its drivers' outputs
        sign-extended to the sum's width (BitFusion's step ``$macc``; a step sum Yosys merges,
        :mod:`models.merged_sums`), ``toggles`` per addend bit: its measured curve on that
        structure (:mod:`models.extended_csa_sim`, :func:`models.extended_csa_sim.addend_structure`:
        a full-width shifter's word as its input shifted; AND-gated rows of one operand, MixPE's,
        on that structure's own curve, :mod:`models.gated_sum_sim`), ``toggles`` itself for a
        point not measured."""
        gated = gated_rows(drivers)
        if gated is not None:
            a = gated_sum_activity(tuple(widths), *gated, toggles)
            if a is not None:
                return a
        addends = []
        for d in drivers:
            if isinstance(d, str):
                addends.append(("port", (), self.source_output(d)[1]))
            else:
                found = output_gains(d[0], tuple(d[1]))
                addends += [(d[0], tuple(d[1]), found[0] if found else d[1][0])] * d[2]
        narrow, shift = addend_structure(widths[1], addends)
        a = extended_csa_activity(tuple(widths), narrow, toggles, shift)
        return toggles if a is None else a

    def shared_toggles(self, drivers):
        """Width-weighted mean toggles per step of ``drivers`` (ports, port fields and parts; none
        named: every data port)."""
        fields = tuple(d for d in drivers if self.reads_field(d))
        ports = tuple(d for d in drivers if isinstance(d, str) and d not in fields)
        extra = tuple(self.source_output(d) for d in drivers if not isinstance(d, str) or d in fields)
        return self.per_step(ports if drivers else DATA_PORTS, extra)

    def reads_field(self, driver):
        """Whether ``driver`` counts at its own bits' toggles: a port field on a basis of
        :data:`FIELD_BASES`. (A :class:`Field` is also its port's name: identity, not equality,
        tells it from a plain port.)"""
        return isinstance(driver, Field) and self.basis in FIELD_BASES

    def field_toggles(self, field):
        """(toggles per step, mean duty) of a port field's bits (:func:`models.field_activity.field_means`,
        measured on the same stream as the port figures)."""
        if self.bits:
            toggles, duty = bit_means(dict(self.bits), field, self.pe)
        else:
            toggles, duty = field_means(self.pe, self.pe_options, self.source, field)
        return min(1.0, toggles * self.ii), duty

    def field_groups(self, drivers):
        """({primitive input group: toggles per step}, {group: duty}) of the groups fed by a port
        field among ``drivers`` (:data:`GROUP_PORTS`: a multiplier's ``a`` by an ``act`` field, ``b``
        by a ``weight`` field); empty off :data:`FIELD_BASES`."""
        toggles, duties = {}, {}
        for d in drivers:
            if self.reads_field(d):
                for g, port in GROUP_PORTS.items():
                    if port == d.port:
                        toggles[g], duties[g] = self.field_toggles(d)
        return toggles, duties

    def port_toggles(self, prim, widths, drivers, inputs):
        """{primitive input port: toggles per step}: a port named in ``inputs`` at its driver's
        (:meth:`source_output`), the others at the other drivers' mean (:meth:`shared_toggles`;
        ``driven`` lists the named inputs' drivers last)."""
        named = dict(inputs)
        shared = self.shared_toggles(drivers[:len(drivers) - len(named)])
        toggles = {p: self.source_output(named[p])[0] if p in named else shared
                   for p, _ in output_gains(prim, tuple(widths))[1]}
        if self.per_cycle:
            # a select by the term index reads the index itself (its register holds the next
            # one), which moves with the sequencing: the counter's toggles, not a register's data
            index = self.index_toggles()
            toggles = {p: index if isinstance(named.get(p), TermIndex) else t for p, t in toggles.items()}
        return toggles

    def source_output(self, source):
        """(toggles per step, bits) of one driver: a PE data port (its measured rate) or a part
        (:meth:`part_output`)."""
        if self.reads_field(source):
            return self.field_toggles(source)[0], len(source.bits)
        if isinstance(source, str):
            return min(1.0, self.rate(source) * self.ii), next((n for p, _, n in self.ports if p == source), 0)
        return self.part_output(source)

    def part_output(self, part):
        """(toggles per step, bits) of the outputs of ``part`` (an inventory part driving
        another): the sum over its primitive's input ports of each port's OpenSTA output gain
        (:func:`models.primitive_outputs.output_gains`) times that port's toggles
        (:meth:`port_toggles`; a step-cycle part's unnamed ones at least the sequencing's), over its
        instances' output bits. Not capped at 1: OpenSTA's densities are not, and the energies
        are linear in them."""
        prim, widths, n, event = part
        drivers, inputs = getattr(part, "drivers", ()), getattr(part, "inputs", ())
        measured = self.word_output(part)
        if measured is not None:
            return measured
        found = output_gains(prim, tuple(widths))
        if self.basis == "sim" and self.once_per_step(event) and self.hands_on(part):
            # each input group at its own toggles through the primitive's simulated output curves
            # (a held operand held: a weight-stationary product's outputs move with every
            # activation change through the whole weight, which the inputs' mean under-counts)
            out = output_toggles(prim, widths, self.input_groups(prim, widths, drivers, inputs))
            if out is not None:
                return out, n * found[0]
        if found is None or prim in REGISTERS:
            # a register's output follows its data and enable as item_activity counts them
            a = self.item_activity(prim, widths, event, drivers, inputs, composed=False)
            gain = sum(g for _, g in found[1]) if found else 1.0
            return gain * a, n * (found[0] if found else widths[0])
        if PROPAGATION == "ports":
            return self.item_activity(prim, widths, event, drivers, inputs, composed=False), n * found[0]
        bits, gains, _ = found
        toggles = self.port_toggles(prim, widths, drivers, inputs)
        if event == "step_cycle":   # the unnamed inputs move with the sequencing, as item_activity's
            named, floor = dict(inputs), self.group_activities()["ctrl"]
            toggles = {p: t if p in named else max(t, floor) for p, t in toggles.items()}
        return sum(g * toggles[p] for p, g in gains), n * bits

    def hands_on(self, part):
        """Whether an inventory part (a driver of another) hands on its simulated output toggles
        (:data:`HANDS_ON`, its shift amount moving slower than its data, :data:`SLOW_GROUPS`;
        an adder, :data:`SUMS`, only when it sums such a part's outputs): on the sim basis, a
        part acting once per step (:meth:`once_per_step`)."""
        prim, widths, _, event = part
        drivers, inputs = getattr(part, "drivers", ()), getattr(part, "inputs", ())
        if self.basis != "sim" or not self.once_per_step(event):
            return False
        if prim in SUMS:
            return any(not isinstance(d, str) and self.hands_on(d) for d in drivers)
        if prim not in HANDS_ON or output_gains(prim, tuple(widths)) is None:
            return False
        if prim in SELECTION_DATA and not all(isinstance(d, str) for g, d in inputs if g in SLOW_GROUPS):
            return False
        groups = self.input_groups(prim, widths, drivers, inputs)
        data = groups.get(SELECTION_DATA.get(prim, DATA_GROUP), 0.0)
        return all(groups.get(g, 0.0) < data for g in SLOW_GROUPS)

    def once_per_step(self, event):
        """Whether a part acting on ``event`` acts once per step: a "step" part, or a
        "step_cycle" one of a PE whose step is one cycle (the PE's initiation interval 1, LUT
        W1A8's: its one bit-plane's select holds the whole step, as a "step" part's inputs do)."""
        return event == "step" or (self.per_cycle or self.ii) == 1

    def input_groups(self, prim, widths, drivers=(), inputs=()):
        """{primitive input group: toggles per step} of one part: a grouped family's groups fed by
        the ports (:data:`PORT_GROUPED`) at their signals (:data:`GROUP_PORTS`, a port field's at
        its own bits, :meth:`field_groups`), not weighted by the other groups' duties (the output
        curves hold them at the measured 0.5); every other part's input ports as
        :meth:`port_toggles` hands them (a named input at its driver's output, the rest at the
        other drivers' mean)."""
        if prim in PORT_GROUPED and all(isinstance(d, str) for d in drivers):
            paths = self.group_activities()
            toggles = {g: paths[GROUP_PORTS[g]] for g, _ in output_gains(prim, tuple(widths))[1]}
            return {**toggles, **self.field_groups(drivers)[0]}
        return self.port_toggles(prim, widths, drivers, inputs)

    def word_output(self, part):
        """On the sim basis, (toggles per step, bits) of the outputs of a part the inventory names
        as the driver of an internal word (:func:`models.inventory.reads_word`): the word's
        per-bit toggles computed from the golden lane arithmetic on this stream
        (:func:`models.internal_activity.internal_toggles`), over its instances' bits; else None
        (the OpenSTA basis keeps its rule: OpenSTA propagates densities, not the stream's
        values)."""
        word = getattr(part, "word", None)
        if self.basis != "sim" or word is None:
            return None
        words = (internal_toggles(self.pe, self.pe_options, self.source) if self.words is None
                 else {w: (t, b) for w, t, b in self.words})
        found = words.get(word)
        return None if found is None else (found[0], part[2] * found[1])

    @property
    def data_activity(self):
        """Toggles per step over every data input bit (the single figure of the old model)."""
        return self.per_step(DATA_PORTS)

    def to_dict(self):
        return {"pe": self.pe, "pe_options": [list(kv) for kv in self.pe_options],
                "source": self.source, "spec": REAL_SPEC if self.source == "minilm" else "random codes, seed 0",
                "ii": self.ii, "ports": [list(p) for p in self.ports], "data_hash": self.data_hash,
                "date": self.date, "duties": [list(p) for p in self.duties]}

    @classmethod
    def from_dict(cls, d):
        return cls(d["pe"], tuple(tuple(kv) for kv in d["pe_options"]), d["source"], d["ii"],
                   tuple((p, float(r), int(n)) for p, r, n in d["ports"]), d["data_hash"], d["date"],
                   tuple((p, float(v)) for p, v in d.get("duties", ())))


def counter_toggles(states):
    """Mean toggles per bit per state of a counter through ``states`` states, 0 .. states - 1 and
    back to 0 (one pass): its bits' value changes over the pass over its bits and states (2: 1.0,
    3: 2/3, 4: 0.75)."""
    bits = max(1, (states - 1).bit_length())
    return sum(bin(i ^ (i + 1) % states).count("1") for i in range(states)) / (states * bits)


@functools.lru_cache(maxsize=None)
def _names_sequencing(pe, pe_options):
    return names_sequencing(unit_items(get_kind(pe).prototype(**dict(pe_options))))


def table_settings(kind):
    """The option settings the repository table holds for a kind: :func:`models.synth.option_settings`
    (defaults, variants, each integer option over 1..8) and, for a grouped kind, its defaults
    without groups (``group_size`` None)."""
    settings = list(option_settings(kind))
    defaults = dict(kind.options)
    if "group_size" in defaults and defaults["group_size"] is not None:
        settings.append(tuple(sorted({**defaults, "group_size": None}.items())))
    return settings


def measure(pe, pe_options=(), source="minilm"):
    """:class:`PartActivity` measured now (simulates the PE: about a second)."""
    pe_options = full_options(pe, pe_options)
    return of_ports(unit_activity(pe, "pe", pe_options, source))


def of_ports(act, **measured):
    """:class:`PartActivity` of a PE's measured :class:`models.activity.PortActivity` (``measured``:
    its run's ``bits`` / ``words``, :class:`PartActivity`)."""
    counts = {}
    for name, _, _ in act.bits + act.outputs:
        port = name.split("[")[0]
        counts[port] = counts.get(port, 0) + 1
    means = act.port_means()
    ports = tuple((p, round(means[p][0], 6), counts[p]) for p in PORTS if p in means)
    duties = tuple((p, round(means[p][1], 6)) for p in PORTS if p in means)
    ii = get_kind(act.pe).prototype(**dict(act.pe_options)).initiation_interval
    return PartActivity(act.pe, act.pe_options, act.source, ii, ports, act.data_hash,
                        datetime.date.today().isoformat(), duties, **measured)


def array_activities(run, warmup):
    """(:class:`PartActivity`, ...) of every PE of ``run``'s weight-stationary array
    (:class:`models.activity.ArrayRun`), row by row, each measured on what that PE sees on the
    array's own stream from cycle ``warmup`` on (:func:`models.activity.array_pe_ports`): its
    ports, its port fields' bits and its internal words, where :func:`part_activity` gives the
    bottom PE of a 4-row column on another stream (a 2-row array's top PE adds a constant 0, its
    sums are narrower)."""
    proto = get_kind(run.pe).prototype(**dict(run.pe_options))
    found = []
    for ports, lanes in array_pe_ports(run, warmup):
        act = port_activity(run.pe, run.pe_options, "pe", run.source, ports, run.data_hash)
        bits = {}
        for name, toggles, duty in act.bits:
            port, _, index = name.partition("[")
            if port in FIELD_PORTS:
                bits.setdefault(port, []).append((toggles, duty))   # LSB first (port order)
        words = tuple((w, t, b) for w, (t, b) in lane_words(proto, lanes).items())
        found.append(of_ports(act, bits=tuple((p, tuple(b)) for p, b in bits.items()), words=words))
    return tuple(found)


def _cache_dir():
    return Path(os.environ.get("PEARRAY_ACTIVITY_DIR") or Path.home() / ".cache" / "pearray" / "activity")


@functools.lru_cache(maxsize=512)
def part_activity(pe, pe_options=(), source="minilm"):
    """The cached :class:`PartActivity` of a PE (the repository table, then the user cache, else
    measured and cached, keyed by :data:`GENERATOR`); ValueError for an unknown source."""
    if source not in SOURCES:
        raise ValueError(f"activity source must be one of {', '.join(SOURCES)}, not {source!r}")
    pe_options = full_options(pe, pe_options)
    return table_or_measured(TABLE_PATH, table_key(pe, pe_options, source), _cache_dir(), f"g{GENERATOR}",
                             lambda: measure(pe, pe_options, source), PartActivity.from_dict)


def write_table(path=TABLE_PATH):
    """Measure every registered variant's PE on both sources and write the repository table."""
    entries = {}
    for name, kind in PE_KINDS.items():
        for options in table_settings(kind):
            for source in SOURCES:
                pa = measure(name, options, source)
                entries[table_key(pa.pe, pa.pe_options, source)] = pa.to_dict()
    write_entries(path, entries, generator=GENERATOR, spec=REAL_SPEC,
                  what="models.part_activity.measure of the PE of every setting of "
                       "models.part_activity.table_settings (models.activity.unit_activity, defaults)",
                  regenerate="python -m models.part_activity")
    part_activity.cache_clear()
    return len(entries)


if __name__ == "__main__":
    print(f"{write_table()} entries -> {TABLE_PATH}")
