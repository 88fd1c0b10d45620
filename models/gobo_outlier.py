"""GOBO's outlier unit (:mod:`hw.gobo_outlier`): a unit-level feeder, its cycles and its cost
inventory.

* :func:`outlier_ops`: an op stream for a ``lanes``-lane unit over one GEMM's words, each word
  to the lane that becomes free first (words in column-major order ``(n, m)``, ties: the lowest
  lane, a word's ops consecutive on its lane; ``max(1, c_n)`` ops per word, ``c_n`` the outliers
  of column ``n``, in increasing ``k``): the unit-level test's feeder. The arithmetic it feeds is
  step 5 of :mod:`models.gobo_gemm` (``gobo_output``, the golden the unit is tested against).
  The accelerator feeds the unit differently (:mod:`hw.gobo_outlier_pass`: one lane per array
  row, all rows of a fold on each entry; its cycles are :func:`models.cycles.gemm_cycles`').
* :func:`outlier_cycles`: that schedule's length (the cycle of the last ``out_valid``).
* :func:`gobo_outlier_items`: the unit's primitives, following ``elaborate``.
* :data:`MINILM_OUTLIER_FRACTION` (from :mod:`models.gobo_outlier_share`): the share of outlier
  weights the GOBO quantiser (:func:`models.gobo_format.quantize_gobo`) leaves in MiniLM-L6's 36
  linear layers (measured: 75335 of 10616832 weights; ``tests/test_gobo_outlier.py`` re-measures
  it, ``slow``): the cost model's outliers of a GEMM whose weights it does not see.
"""

import heapq

import numpy as np

from hw.fp32_add import FP32_WIDTH
from .fp16_gemm import fp16_pe_items
from .gobo_outlier_share import MINILM_OUTLIER_FRACTION  # noqa: F401 (documented here, measured by the tests)



def _columns(outliers, n):
    """Per output column, its outliers' ``(k, value)`` in increasing k."""
    cols = [[] for _ in range(n)]
    ks, ns, vs = (np.asarray(outliers[f], dtype=np.int64) for f in ("k", "n", "value"))
    for i in np.lexsort((ks, ns)):
        cols[int(ns[i])].append((int(ks[i]), int(vs[i])))
    return cols


def outlier_ops(raw, acts, outliers, lanes):
    """Schedule of one GEMM on a ``lanes``-lane unit (module docstring).

    ``raw`` M x N array words (FP32 patterns), ``acts`` M x K FP16 codes, ``outliers`` the
    quantiser's ``{"k", "n", "value"}``. Returns ``(lane_ops, words)``: ``lane_ops[l]`` a list of
    per-cycle ops (``None`` for an idle cycle, else a dict of the unit's port values
    ``first, last, has_entry, word, act, value``), ``words[l]`` the ``(m, n)`` of the words lane
    ``l`` finishes, in order."""
    raw = np.asarray(raw, dtype=np.int64) & 0xFFFFFFFF
    acts = np.asarray(acts, dtype=np.int64)
    M, N = raw.shape
    cols = _columns(outliers, N)
    lane_ops = [[] for _ in range(lanes)]
    words = [[] for _ in range(lanes)]
    free = [(0, lane) for lane in range(lanes)]           # (first free cycle, lane)
    for n in range(N):
        entries = cols[n]
        for m in range(M):
            start, lane = heapq.heappop(free)
            ops = lane_ops[lane]
            ops.extend([None] * (start - len(ops)))
            word = int(raw[m, n])
            if not entries:
                ops.append(dict(first=1, last=1, has_entry=0, word=word, act=0, value=0))
            for i, (k, value) in enumerate(entries):
                ops.append(dict(first=int(i == 0), last=int(i == len(entries) - 1), has_entry=1,
                                word=word, act=int(acts[m, k]), value=value))
            words[lane].append((m, n))
            heapq.heappush(free, (len(ops), lane))
    return lane_ops, words


def outlier_cycles(m, counts, lanes, latency=1):
    """Cycles of :func:`outlier_ops`'s schedule for ``m`` rows and per-column outlier ``counts``:
    the busiest lane's ops plus ``latency`` (the last word's ``out_valid`` cycle + 1)."""
    free = [0] * lanes
    for c in counts:
        for _ in range(m):
            heapq.heapreplace(free, free[0] + max(1, int(c)))
    return max(free) + latency


def gobo_outlier_items(unit):
    """Cost inventory of :class:`hw.gobo_outlier.GoboOutlierUnit` (L = lanes), per lane: the FP16
    PE's multiply-add datapath (:func:`models.fp16_gemm.fp16_pe_items`: decode, 11 x 11 product,
    normalise, FP32 adder; its 32-bit register is the lane's accumulator), the accumulator-input
    select (``first``) and the pass-through select (``has_entry``), both 32 bits, and the
    ``out_valid`` flop. Event ``"op"``: one lane op (one outlier, or one pass-through word)."""
    L = unit.lanes
    fma = [(prim, widths, n * L, "op") for prim, widths, n, _ in fp16_pe_items(_FmaFacts)]
    return fma + [("mux", (2, FP32_WIDTH), 2 * L, "op"), ("reg", (1,), L, "op")]


class _FmaFacts:
    """The facts :func:`fp16_pe_items` reads of the lane's datapath (its accumulator width)."""
    acc_width = FP32_WIDTH

