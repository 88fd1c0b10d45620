"""The PE contract (:mod:`hw.pe`), checked once for every registered kind x option setting.

One suite bound to every implementation (in the manner of PyMTL3's test suites, written once and
run against each design that claims an interface): the settings are read from the registry (each
kind's default options and every variant), so a new kind is covered by its registry entry alone.
Each PE is simulated with its border units (:class:`sim.pe_driver.BorderedPE`) from random
element codes of the kind, and compared with the kind's golden GEMM over the same codes. The
kinds' own test files keep only their arithmetic references against the spec.

Checked per setting:

* ``acc_out`` equals the golden result exactly ``latency`` cycles after ``valid``, steps back to
  back at the initiation interval, partial sums fed back as ``acc_in`` where the timing allows,
  and it is not already there a cycle earlier for every step (the latency is not overstated);
* ``acc_in`` is sampled only with ``valid`` and the operands only for ``initiation_interval``
  cycles (the driver drives poison outside those cycles);
* ``acc_out`` holds without ``valid`` (idle cycles between steps and after the last);
* integer accumulators wrap at ``acc_width`` (two's complement), not saturate;
* a kind that declares ``multiplier_free`` has no ``$mul`` cell in the RTLIL of its PE and border
  units, and a kind that does not declare it has one (the declaration is true both ways);
* output-stationary kinds have ``latency <= initiation_interval`` (the feedback needs it).
"""

import re

import numpy as np
import pytest
from amaranth.back import rtlil

from models.golden import wrap_signed
from models.registry import PE_KINDS
from sim.pe_driver import BorderedPE, code_step, run_steps


def _settings():
    """(kind, options) for every kind: its defaults and each variant, without duplicates."""
    out = []
    for kind in PE_KINDS.values():
        for variant in ((), *(opts for _, opts in kind.variants)):
            options = {**dict(kind.options), **dict(variant)}
            if (kind, options) not in out:
                out.append((kind, options))
    return out


SETTINGS = [pytest.param(kind, options, id="-".join([kind.name, *(f"{k}{v}" for k, v in options.items())]))
            for kind, options in _settings()]


def _reference_pe(kind, options):
    """The prototype whose golden GEMM is the PE's own arithmetic. A kind with per-group
    dequantisation (``group_size`` set) adds it after the array, outside the PE; such kinds take
    ``group_size=None`` for the raw integer GEMM, which is what the PE computes."""
    pe = kind.prototype(**options)
    if pe.group_size is None:
        return pe
    return kind.prototype(**{**options, "group_size": None})


def _jobs(kind, options, rng, count, max_steps, feedback):
    """Random dot products of 1..max_steps steps on one accumulator: (steps, expected outputs).

    The first step of a job starts from a random ``acc_in`` (integer accumulators: the contract
    is ``acc_in + dot`` wrapped) or from 0 (a float-like accumulator: the golden model starts
    there); later steps take the previous result, fed back (``acc_in`` None) or given.
    """
    pe, ref = kind.prototype(**options), _reference_pe(kind, options)
    kps, width = pe.k_per_step, pe.acc_width
    mask = (1 << width) - 1
    steps, want = [], []
    for _ in range(count):
        n = int(rng.integers(1, max_steps + 1))
        acts, weights = kind.random_operands(rng, 1, n * kps, 1, ref)
        extra = _extra(kind, ref, acts, weights)
        # any width (an exact fixed-point accumulator may be wider than int64)
        acc0 = (int.from_bytes(rng.bytes(-(-width // 8)), "little") % (1 << width) - (1 << (width - 1))
                if pe.integer_accumulator else 0)
        for i in range(n):
            golden = int(kind.golden_gemm(acts[:, :(i + 1) * kps], weights[:(i + 1) * kps], ref, *extra)[0, 0])
            result = int(wrap_signed(acc0 + golden, width)) if pe.integer_accumulator else golden
            acc_in = acc0 if i == 0 else (None if feedback else want[-1])
            steps.append(code_step(pe, acts[0, i * kps:(i + 1) * kps], weights[i * kps:(i + 1) * kps, 0],
                                   acc_in))
            want.append(result & mask)
    return steps, want


def _extra(kind, ref, acts, weights):
    """The kind's extra operand for codes given without metadata, as golden_gemm's extra
    arguments: () without one (a grouped kind's raw GEMM), (a table kind's default table,)."""
    extra = kind.extra_operand(acts, weights, ref, None, None) if kind.extra_operand else None
    return () if extra is None else (extra,)


def _table(kind, options):
    """The ``table`` port value a table kind's PE runs with (its default table for codes), else
    None."""
    pe = kind.prototype(**options)
    if not pe.table_width:
        return None
    acts, weights = kind.random_operands(np.random.default_rng(0), 1, pe.k_per_step, 1, pe)
    return pe.table_value(kind.extra_operand(acts, weights, pe, None, None).table_entries)


@pytest.mark.parametrize("kind, options", SETTINGS)
def test_results_exactly_latency_cycles_after_valid_back_to_back(kind, options):
    dut = BorderedPE(kind.pe_class(**options))
    feedback = dut.latency <= dut.initiation_interval
    steps, want = _jobs(kind, options, np.random.default_rng(1), 60, 3, feedback)
    run = run_steps(dut, steps, table=_table(kind, options))
    assert list(run.outputs) == want
    early = [run.trace[t + run.latency - 1] for t in run.valid_cycles]
    assert early != want, "every result is already there a cycle early: the latency is overstated"
    assert run.valid_cycles[1] == dut.initiation_interval     # back to back


@pytest.mark.parametrize("kind, options", SETTINGS)
def test_acc_out_holds_without_valid(kind, options):
    dut = BorderedPE(kind.pe_class(**options))
    gap, tail = 3, 4
    steps, want = _jobs(kind, options, np.random.default_rng(2), 20, 2, feedback=True)
    run = run_steps(dut, steps, gap=gap, tail=tail, table=_table(kind, options))
    assert list(run.outputs) == want
    ends = [*run.valid_cycles[1:], len(run.trace) - 1]
    for t, end, out in zip(run.valid_cycles, ends, want):
        # from the result until the next valid has taken effect (the cycle after it)
        assert set(run.trace[t + run.latency:end + 1]) == {out}


INTEGER_SETTINGS = [p for p in SETTINGS if p.values[0].prototype(**p.values[1]).integer_accumulator]


@pytest.mark.parametrize("kind, options", INTEGER_SETTINGS)
def test_integer_accumulator_wraps_at_acc_width(kind, options):
    """acc_in at the extreme in the direction of a nonzero dot product: the sum wraps around."""
    pe, ref = kind.prototype(**options), _reference_pe(kind, options)
    kps, width = pe.k_per_step, pe.acc_width
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    rng = np.random.default_rng(3)
    steps, want = [], []
    while len(steps) < 12:
        acts, weights = kind.random_operands(rng, 1, kps, 1, ref)
        dot = int(kind.golden_gemm(acts, weights, ref)[0, 0])
        if dot == 0:
            continue
        acc_in = hi - int(rng.integers(0, min(dot, 4))) if dot > 0 else lo + int(rng.integers(0, min(-dot, 4)))
        result = int(wrap_signed(acc_in + dot, width))
        assert result != acc_in + dot                                   # it does wrap
        steps.append(code_step(pe, acts[0], weights[:, 0], acc_in))
        want.append(result & ((1 << width) - 1))
    dut = BorderedPE(kind.pe_class(**options))
    assert list(run_steps(dut, steps).outputs) == want


CONSTANT = re.compile(r"-?\d+'[01xz]+")


def _multipliers(component):
    """``$mul`` cells of the component's RTLIL whose operands are both signals. A multiply by a
    constant is wiring and adds, not a multiplier (Amaranth emits one for a variable
    ``word_select`` offset, e.g. the LUT PE's bit-plane index times 4; Yosys folds it to a shift)."""
    cells = re.findall(r"cell \$mul \S+\n(.*?)\n\s*end\n", rtlil.convert(component), re.S)
    ports = [dict(re.findall(r"connect \\([AB]) (\S+)", body)) for body in cells]
    return [p for p in ports if not (CONSTANT.fullmatch(p["A"]) or CONSTANT.fullmatch(p["B"]))]


@pytest.mark.parametrize("kind, options", SETTINGS)
def test_no_multiplier_where_the_kind_says_so(kind, options):
    pe = kind.pe_class(**options)
    assert bool(_multipliers(pe)) == (not pe.multiplier_free)
    if pe.multiplier_free:
        for border in (pe.act_border(), pe.weight_border()):
            if border is not None:
                assert not _multipliers(border)


@pytest.mark.parametrize("kind, options", SETTINGS)
def test_timing_facts_fit_the_dataflows(kind, options):
    pe = kind.prototype(**options)
    assert pe.initiation_interval >= 1 and pe.latency >= 1 and pe.k_per_step >= 1
    assert pe.act_code_width == pe.k_per_step * pe.act_element_bits
    assert pe.weight_code_width == pe.k_per_step * pe.weight_element_bits
    if "os" in kind.dataflows:
        assert pe.latency <= pe.initiation_interval
    if not pe.integer_accumulator:
        assert kind.dataflows == ("os",)
