"""Toggles of a PE's internal words on the measured operand stream, from the golden lane arithmetic.

The sim basis hands a part the toggles of what drives it (:meth:`models.part_activity.PartActivity.part_output`).
For a chain fed by the ports that rate is the ports' own, but an alignment word is far sparser
than the ports that make it: an FP8 / MX product shifted by its exponent sum into a wide word
moves only the few bits near its leading one, and on MiniLM most products are small. So for the
words an inventory names (:func:`models.inventory.reads_word`) this module computes, step by step
on the bottom PE's operands of :func:`models.activity.bottom_lanes` (the stream the port
activities are measured on), each word's value from the golden model's element arithmetic and its
per-bit toggles per step (value changes between consecutive steps, mean over its bits and
instances). No RTL is simulated and nothing is fitted:

* MX / NVFP4 (:class:`hw.pe_mx.MxPE`): per element pair ``p = a * w`` of the golden integers
  (:func:`models.mx_gemm.element_integers`, value x 2**L: the significand shifted by ``q``, so
  the PE's shifted significand product is ``|p|``): ``aligned`` = ``|p|`` on
  ``2 magnitude_bits`` bits, ``term`` = ``p`` in two's complement on ``2 magnitude_bits + 1``,
  ``tree<l>`` = the balanced adder tree's level-``l`` sums (pairs in lane order, an odd last term
  carried, as ``MxPE._sub_block_sum``) on ``2 magnitude_bits + 2 + l`` bits; with more than
  one step per block, ``block_sum`` = ``partial`` + the sub-block sum on ``sum_bits`` bits
  (``partial`` cleared after a lane that ends its block);
* FP8 (:class:`hw.pe_fp8.Fp8PE`): ``aligned`` = ``|a * w|`` of :func:`models.fp8_gemm.aligned_operand`
  (the mantissa product shifted by the exponent sum) on ``product_bits`` bits;
* MixPE (:class:`hw.pe_shiftadd.ShiftAddPE`): ``rows`` = each weight bit's gated activation
  (``w[i] ? a : 0``) on ``act_width`` bits: a held weight passes only the activation bits its 1s
  gate, so the rows move at about half the activation's rate, not at the ports' mean.

Stored in ``models/data/internal_activity.json`` for every setting of
:func:`models.synth.option_settings` of the kinds with word functions, both sources, with
the data hash of the run (regenerate: ``python -m models.internal_activity``; a few seconds);
other settings are computed on first use (numpy, milliseconds).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from hw.pe_fp8 import Fp8PE
from hw.pe_mx import CONTINUE_CODE, SCALE_BITS, MxPE
from hw.pe_shiftadd import ShiftAddPE

from .activity import REAL_SPEC, SOURCES, bottom_lanes
from .fp8_gemm import aligned_operand
from .mx_gemm import element_integers
from .registry import PE_KINDS, full_options
from .stored_table import load_entries, table_key, write_entries
from .synth import option_settings

TABLE_PATH = Path(__file__).resolve().parent / "data" / "internal_activity.json"


def _fields(lanes, width, count):
    """(steps,) lane ints -> (steps, count) int64 fields of ``width`` bits, lowest first."""
    mask = (1 << width) - 1
    return np.array([[(lane >> (j * width)) & mask for j in range(count)] for lane in lanes],
                    dtype=np.int64)


def mx_words(pe, act_lanes, weight_lanes):
    """{word: (steps, instances) values} of an :class:`hw.pe_mx.MxPE` (module docstring)."""
    f = pe.mx_format
    # Python ints: an E5M2 product needs 65 bits
    a = element_integers(_fields(act_lanes, f.bits, pe.sub_block), f, "activation").astype(object)
    w = element_integers(_fields(weight_lanes, f.bits, pe.sub_block), f, "weight").astype(object)
    width = 2 * f.magnitude_bits + 1
    terms = a * w
    words = {"aligned": (np.abs(terms), width - 1), "term": (terms, width)}
    level, sums = 0, [terms[:, j] for j in range(pe.sub_block)]
    while len(sums) > 1:
        pairs = [x + y for x, y in zip(sums[0::2], sums[1::2])]
        words[f"tree{level}"] = (np.stack(pairs, axis=1), width + 1 + level)
        sums = pairs + sums[len(sums) & ~1:]
        level += 1
    if pe.partial_bits:
        # the running block sum partial + sub-block sum; partial clears after a lane whose
        # scale slot code is not the continue code (the block ends)
        ends = [(lane >> (pe.sub_block * f.bits)) & ((1 << SCALE_BITS) - 1) != CONTINUE_CODE
                for lane in act_lanes]
        running, partial = [], 0
        for s, end in zip(sums[0], ends):
            running.append(partial + s)
            partial = 0 if end else partial + s
        words["block_sum"] = (np.array(running, dtype=object)[:, None], f.sum_bits)
    return words


def fp8_words(pe, act_lanes, weight_lanes):
    """{word: ((steps, 1) values, bits)} of an :class:`hw.pe_fp8.Fp8PE` (module docstring)."""
    # Python ints: E5M2's aligned product is 64 bits
    a = aligned_operand(np.array(act_lanes, dtype=np.int64), pe.format).astype(object)
    w = aligned_operand(np.array(weight_lanes, dtype=np.int64), pe.format).astype(object)
    return {"aligned": (np.abs(a * w)[:, None], pe.product_bits)}


def shiftadd_words(pe, act_lanes, weight_lanes):
    """{word: ((steps, weight_bits) values, bits)} of a :class:`hw.pe_shiftadd.ShiftAddPE`: ``rows``
    = per weight bit i the activation gated by it (``w[i] ? a : 0``, the AND's ``act_width`` bits;
    its shift by i is wiring)."""
    a = np.array(act_lanes, dtype=np.int64)
    w = np.array(weight_lanes, dtype=np.int64)
    rows = np.stack([np.where((w >> i) & 1, a, 0) for i in range(pe.weight_bits)], axis=1)
    return {"rows": (rows, pe.act_width)}


#: the word function of each PE class (exactly: a subclass, e.g. L-Mul's, computes others)
WORD_FUNCTIONS = {MxPE: mx_words, Fp8PE: fp8_words, ShiftAddPE: shiftadd_words}


def word_toggles(values, bits):
    """(steps, instances) integer values -> mean toggles per bit per step of their ``bits``-bit
    two's-complement words (consecutive steps, over bits and instances)."""
    mask = (1 << bits) - 1
    v = [[int(x) & mask for x in row] for row in np.asarray(values, dtype=object)]
    count = sum((x ^ y).bit_count() for now, before in zip(v[1:], v) for x, y in zip(now, before))
    pairs = (len(v) - 1) * (len(v[0]) if v else 0)
    return count / (pairs * bits) if pairs else 0.0


def compute(pe, pe_options=(), source="minilm"):
    """(data hash, {word: (toggles per bit per step, bits)}) of the PE's named words on the
    measured stream; {} for a PE class without a word function."""
    proto, data_hash, lanes = bottom_lanes(pe, pe_options, source)
    return data_hash, lane_words(proto, lanes)


def lane_words(proto, lanes):
    """{word: (toggles per bit per step, bits)} of a PE (prototype ``proto``) fed ``lanes``
    ([(act lane, weight lane), ...], its tokens in order); {} for a PE class without a word
    function (:data:`WORD_FUNCTIONS`)."""
    words = WORD_FUNCTIONS.get(type(proto))
    if words is None or len(lanes) < 2:
        return {}
    act, weight = [a for a, _ in lanes], [w for _, w in lanes]
    return {name: (round(word_toggles(v, bits), 6), bits) for name, (v, bits) in words(proto, act, weight).items()}


@functools.lru_cache(maxsize=256)
def internal_toggles(pe, pe_options=(), source="minilm"):
    """{word: (toggles per bit per step, bits)} of the PE's named internal words (``pe_options``
    with the kind's defaults filled in, as :func:`models.part_activity.full_options`): the
    repository table, else computed now."""
    entry = load_entries(TABLE_PATH).get(table_key(pe, pe_options, source))
    if entry is not None:
        return {w: (float(t), int(b)) for w, (t, b) in entry["words"].items()}
    return compute(pe, pe_options, source)[1]


def write_table(path=TABLE_PATH):
    """Compute every setting of the kinds with word functions on both sources; write the table."""
    entries = {}
    for name, kind in PE_KINDS.items():
        if kind.pe_class not in WORD_FUNCTIONS:
            continue
        for options in option_settings(kind):
            options = full_options(name, options)
            for source in SOURCES:
                data_hash, words = compute(name, options, source)
                entries[table_key(name, options, source)] = {"data_hash": data_hash, "words": words}
    write_entries(path, entries, spec=REAL_SPEC,
                  what="models.internal_activity.compute (golden lane arithmetic on "
                       "models.activity.bottom_lanes) of every setting of "
                       "models.synth.option_settings of the kinds in WORD_FUNCTIONS",
                  regenerate="python -m models.internal_activity")
    internal_toggles.cache_clear()
    return len(entries)


if __name__ == "__main__":
    print(f"{write_table()} entries -> {TABLE_PATH}")
