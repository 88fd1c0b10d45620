"""Golden twin of the GOBO PE (``hw/pe_gobo.py``): FP16 activations x GOBO weights (a per-tensor
dictionary of 8 FP16 centroids, 3-bit indices, outliers flagged), FP32 accumulation.

Every step, in order (the formats are :mod:`models.gobo_format`'s):

1. **Operands.** Activations: FP16 patterns (finite; :mod:`models.fp16_gemm`'s rules).
   Weights: 4-bit codes, bits 0-2 the index, bit 3 the outlier flag. Dictionary: 8 finite FP16
   patterns (a :class:`models.gobo_format.GoboDictionary`, loaded into the accelerator's table
   register before the run).
2. **Look-up: exact.** A flag-0 weight is ``table[index]``, an FP16 value.
3. **Product: exact** (an FP16 x FP16 product is an FP32 normal number or a signed zero, as in
   :mod:`models.fp16_gemm`).
4. **Array accumulation: one binary32 addition per step, RNE**, ``k = 0 .. K-1`` in order from
   ``+0``; a flag-1 step (an outlier) leaves the accumulator unchanged. The array's output is
   this FP32 word (:func:`gobo_gemm`): what the RTL must produce bit for bit.
5. **Outliers: GOBO's separate FP path, after the array** (:func:`add_outliers`; built as the
   post-array unit :class:`hw.gobo_outlier.GoboOutlierUnit`, sequenced by the accelerator's
   outlier pass, :mod:`hw.gobo_outlier_pass`, from the host-loaded outlier list): for each output
   column n, its outliers in increasing k, the exact product of the activation and the outlier's
   FP16 value is added to the FP32 result with one RNE addition each. So a GOBO GEMM rounds K
   times per output, like the FP16 PE, in the order "dictionary weights, then outliers".

Output (:func:`gobo_golden`, what the accelerator writes): FP32 patterns as signed int64, steps
1-5 (the outliers are the extra operand's ``outliers``, the quantiser's for float weights; an
outlier must sit at an outlier-flagged weight). Codes given without a dictionary (``--pe gobo``
with code files, the PE conformance suite) use :data:`DEFAULT_DICTIONARY`, which lists no
outliers: their flagged weights contribute nothing.
"""

import numpy as np

from hw.pe_gobo import CENTROIDS, OUTLIER_FLAG_BIT
from .fp16_gemm import decode_fp16, decode_fp32, encode_fp16, fp16_pe_items, random_fp16_operands
from .gobo_format import GoboDictionary, quantize_gobo
from .inventory import driven

#: the table for codes given without one: FP16 +0, the smallest subnormal (negative), the largest
#: subnormal, the smallest normal, 1.0, -1.5, the largest normal and -1/3 (every decode path)
DEFAULT_DICTIONARY = GoboDictionary((0x0000, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xBE00, 0x7BFF, 0xB555))


def weight_fields(weights):
    weights = np.asarray(weights, dtype=np.int64)
    return weights & (CENTROIDS - 1), (weights >> OUTLIER_FLAG_BIT) & 1 == 1


def gobo_gemm(acts, weights, dictionary):
    """acts M x K FP16 codes, weights K x N 4-bit codes and a :class:`GoboDictionary` -> M x N
    FP32 words of the array (steps 1-4 of the module docstring; outliers contribute nothing)."""
    a = decode_fp16(acts, "activation")
    index, outlier = weight_fields(weights)
    w = dictionary.values[index]
    acc = np.zeros((a.shape[0], w.shape[1]), dtype=np.float32)
    for k in range(a.shape[1]):
        product = (a[:, k, None] * w[None, k, :]).astype(np.float32)     # exact (step 3)
        acc = np.where(outlier[None, k, :], acc, acc + product)          # one RNE add (step 4)
    return acc.view(np.int32).astype(np.int64)


def add_outliers(raw, acts, outliers):
    """Step 5 on FP32 words: the array's words ``raw`` (M x N) plus the outlier products
    (``outliers``: ``{"k", "n", "value"}`` lists, FP16 value patterns) -> M x N FP32 words (int64)."""
    acc = decode_fp32(raw).astype(np.float32)
    a = decode_fp16(acts, "activation")
    ks, ns = np.asarray(outliers["k"], dtype=np.int64), np.asarray(outliers["n"], dtype=np.int64)
    values = decode_fp16(np.asarray(outliers["value"], dtype=np.int64), "outlier")
    order = np.lexsort((ks, ns))                        # per column, increasing k
    ks, ns, values = ks[order], ns[order], values[order]
    # round r adds every column's r-th outlier at once: the columns of one round are distinct,
    # so each column still gets its own additions one at a time in increasing k, as a loop over
    # the outliers would add them (the same float64 products rounded to float32, the same RNE
    # additions), in max-outliers-per-column vector steps instead of one per outlier
    first = np.r_[0, np.flatnonzero(np.diff(ns)) + 1] if ns.size else np.zeros(0, dtype=np.int64)
    rank = np.arange(ns.size) - np.repeat(first, np.diff(np.r_[first, ns.size]))
    for r in range(int(rank.max(initial=-1)) + 1):
        i = np.flatnonzero(rank == r)
        acc[:, ns[i]] = acc[:, ns[i]] + (a[:, ks[i]] * values[i]).astype(np.float32)
    return acc.view(np.int32).astype(np.int64)


def gobo_output(raw, acts, outliers):
    """Step 5 as floats: :func:`add_outliers` decoded to float64."""
    return decode_fp32(add_outliers(raw, acts, outliers))


def check_outliers_flagged(weights, dictionary):
    """ValueError unless every listed outlier is inside the weights and its weight code flagged."""
    weights = np.asarray(weights, dtype=np.int64)
    for k, n, _ in dictionary.outliers:
        if k >= weights.shape[0] or n >= weights.shape[1]:
            raise ValueError(f"outlier at (k, n) = {(k, n)} is outside the {weights.shape} weights")
        if not weights[k, n] >> OUTLIER_FLAG_BIT & 1:
            raise ValueError(f"outlier at (k, n) = {(k, n)}: its weight code {int(weights[k, n])} "
                             f"is not outlier-flagged (bit {OUTLIER_FLAG_BIT})")


def check_outlier_mask(outlier, dictionary):
    """ValueError exactly as ``check_outliers_flagged(outlier.astype(np.int64) << OUTLIER_FLAG_BIT,
    dictionary)`` raises (the first listed outlier outside the K x N bool mask ``outlier`` or at an
    unflagged weight, in the list's order; the message's weight code is that array's, 0), tested
    for all outliers at once instead of one Python step each."""
    outlier = np.asarray(outlier, dtype=bool)
    if not dictionary.outliers:
        return
    ks, ns = (np.asarray(x, dtype=np.int64) for x in zip(*((k, n) for k, n, _ in dictionary.outliers)))
    inside = (ks < outlier.shape[0]) & (ns < outlier.shape[1])
    flagged = np.zeros(len(ks), dtype=bool)
    flagged[inside] = outlier[ks[inside], ns[inside]]
    bad = np.flatnonzero(~flagged)
    if len(bad):
        i = bad[0]
        k, n = int(ks[i]), int(ns[i])
        if not inside[i]:
            raise ValueError(f"outlier at (k, n) = {(k, n)} is outside the {outlier.shape} weights")
        raise ValueError(f"outlier at (k, n) = {(k, n)}: its weight code 0 "
                         f"is not outlier-flagged (bit {OUTLIER_FLAG_BIT})")


# ---------------------------------------------------------------------------------------------
# registry functions


def gobo_golden(acts, weights, pe, dictionary=None):
    """Steps 1-5: the array's words plus the dictionary's outliers (the accelerator's output)."""
    dictionary = DEFAULT_DICTIONARY if dictionary is None else dictionary
    raw = gobo_gemm(acts, weights, dictionary)
    if not dictionary.outliers:
        return raw
    check_outliers_flagged(weights, dictionary)
    return add_outliers(raw, acts, dictionary.outlier_lists)


def gobo_extra_operand(acts, weights, pe, a_meta, w_meta):
    """The run's dictionary and outlier list: the quantiser's (float weights) or
    :data:`DEFAULT_DICTIONARY` (no outliers)."""
    return DEFAULT_DICTIONARY if w_meta is None else _dictionary_of_meta(w_meta)


#: the last metadata :func:`_dictionary_of_meta` built a dictionary of: (its centroids and
#: outlier lists as tuples, the dictionary)
_LAST_DICTIONARY = [None, None]


def _dictionary_of_meta(meta):
    """``GoboDictionary.of_meta(meta)``, the same object again while the metadata's centroids and
    outlier lists equal the last call's (an accuracy run builds the extra operand once per
    segment: MiniLM's sentences each call it with one linear's metadata). Equal lists give an
    equal dictionary (of_meta is a function of their values), so a reuse returns what a new
    build would equal; any other metadata is built (and checked) anew."""
    o = meta["outliers"]
    lists = (meta["centroids"], o["k"], o["n"], o["value"])
    key = tuple(tuple(x) for x in lists) if all(type(x) is list for x in lists) else None
    if key is not None and _LAST_DICTIONARY[0] == key:
        return _LAST_DICTIONARY[1]
    table = GoboDictionary.of_meta(meta)
    _LAST_DICTIONARY[:] = (key, table) if key is not None else (None, None)
    return table


def quantize_gobo_acts(x, pe):
    """M x K floats -> FP16 codes (RNE, no scale), as the FP16 baseline."""
    return encode_fp16(x, "activations"), {"format": "fp16", "granularity": "none", "scale": [1.0],
                                           "dequantise": "value = fp16(code)"}


def quantize_gobo_weights(w, pe):
    return quantize_gobo(w)


def gobo_dequantise(raw, acts, a_meta, w_meta, pe):
    """The accelerator's FP32 words (outliers already added, step 5) -> floats; a float array is
    taken as the words' values already (:func:`models.fast_golden.gobo_float`'s output)."""
    raw = np.asarray(raw)
    return raw.astype(np.float64) if raw.dtype.kind == "f" else decode_fp32(raw)


def random_gobo_operands(rng, m, k, n, pe):
    """FP16 activations over every finite exponent (a quarter special codes, both signs) and
    4-bit weight codes: uniform indices, a quarter of them outlier-flagged."""
    acts, _ = random_fp16_operands(rng, m, k, 1, pe)
    flags = (rng.random((k, n)) < 0.25).astype(np.int64) << OUTLIER_FLAG_BIT
    return acts, rng.integers(0, CENTROIDS, size=(k, n)) | flags


def random_dictionary(rng):
    """A random table: FP16 patterns over every finite exponent, a quarter special codes."""
    _, codes = random_fp16_operands(rng, 1, CENTROIDS, 1, None)
    return GoboDictionary(tuple(int(c) for c in codes[:, 0]))


def gobo_pe_items(pe):
    """Cost inventory of :class:`hw.pe_gobo.GoboPE`: the FP16 PE's (the same multiply-add,
    :func:`models.fp16_gemm.fp16_pe_items`) plus the centroid select (8:1 of 16 bits from the
    broadcast table) and the outlier pass-through select of the 32-bit result. The table register
    itself is one per accelerator (128 flops), not in the PE."""
    # what feeds what: the weight code's index selects the centroid from the broadcast table
    # (constant for a run), which is the FP16 multiply-add's weight; the flag selects acc_in
    # or the sum
    centroid = driven(("mux", (CENTROIDS, pe.table_entry_bits), 1, "step"), "table", sel="weight")
    fma = fp16_pe_items(pe, weight=centroid)
    return fma + [centroid, driven(("mux", (2, pe.acc_width), 1, "step"), fma[-2], "acc_in", sel="weight")]

