"""Analytical cycle model of the accelerator: exact cycle counts, next to SCALE-Sim's.

The model is a pure function of the design's timing facts (read from the hardware classes'
properties, never retyped here) and the GEMM shape. Derivation (cycle 0 = first busy cycle):

* F folds (:class:`hw.layout.GemmLayout`), each with S tokens one every II cycles.
* Fold interval ``I = max(S * II, F)``, ``F`` the array's ``min_fold_interval`` (R for ws with a
  one-cycle PE, R - 1 + (R - 1)(L - 1) when the rows' skew is longer,
  max(R, 2R - 2) for os: the previous fold's drain must end before the next fold's captures;
  with broadcast tiles the array derives it from its tile counts, :class:`hw.array.SystolicArray`): the
  next fold's R weight rows (ws) or the previous fold's
  R drained output rows (os) each need R cycles; both overlap the current fold's tokens.
* The last token is read at ``P + (F - 1) * I + (S - 1) * II``, P = weight preload (R for ws:
  the first fold's weights go in one row per cycle before its first token; 0 for os).
* Its last output word is written ``output_latency`` cycles later (buffer read, the array's
  ``latency``, which counts tiles when the array has broadcast tiles, and the
  read-modify-write stage (ws) or the rest of the drain (os)), plus ``post_array_latency`` for a
  design with per-group dequantisation (ws, :mod:`hw.group_dequant`: the dequantisation pipeline,
  whose result meets the running total in the cycle it arrives, then the requantisation pipeline;
  0 otherwise); the cycle counter counts that cycle too.

  cycles = P + (F - 1) * I + (S - 1) * II + output_latency + post_array_latency + 1

* A design with GOBO's outlier pass (:mod:`hw.gobo_outlier_pass`) processes each fold f once the
  array has written it: the fold's last output row is written in cycle ``A_f - 1``, with
  ``A_f = cycles_array - (F - 1 - f) * I`` (``cycles_array`` the count above). The pass loads the
  fold's R output rows into its tile register (R cycles, overlapping the previous fold's R
  stores), applies the fold's n-tile entries to all R rows (``e_nt`` = ``max(1, E_nt)``
  entries, one per cycle, :func:`hw.gobo_outlier_pass.tile_entry_counts`) and drains
  (``outlier_fold_cycles``): ``w_f = R + e_nt + outlier_fold_cycles`` cycles. It starts fold f at
  ``L_f = max(A_f, L_{f-1} + w_{f-1})`` (``L_0 = A_0``: it waits for the array, or the array's
  later folds wait in the output buffer for it, the array never stalls), and finally stores the
  last fold (R cycles):

  cycles = L_{F-1} + w_{F-1} + R

  When every fold's pass is shorter than the fold interval (``w_f <= I``) this is
  ``cycles_array + w_{F-1} + R``: only the last fold's pass is exposed; when the pass is the
  bottleneck the sum of the ``w_f`` (from the first fold's ``A_0``) is.

SCALE-Sim (spec section 0) counts ``folds * T - 1`` compute cycles with, for ws,
``T = 2*Sr + Sc + M - 2`` (weight load, fill and drain paid in every fold) and, for os,
``T = K + Sr + Sc - 2``. SCALE-Sim's PE takes one K element per cycle; applied to a PE that takes
``k_per_step`` K elements per step and a step every II cycles, the same model runs on the PE's
steps: K counts ``ceil(K / k_per_step)`` steps (so the folds are this layout's folds) and the
stream of S tokens (M for ws, the K steps for os) takes ``S * II`` cycles, while the weight load,
fill and drain stay one cycle per PE hop:
``T = 2*Sr + Sc - 2 + M * II`` (ws), ``T = K_steps * II + Sr + Sc - 2`` (os). With
``k_per_step = II = 1`` these are SCALE-Sim's own formulas. This RTL pays fill and drain once per
run because the next fold's weights (ws, double-buffered banks) or the previous fold's outputs
(os, per-PE output registers) move while the current fold computes; a fold costs
``max(S*II, R)`` cycles. SCALE-Sim also counts only compute, not the buffer read/write cycles or
the post-array (dequantisation) pipelines this counter includes.
"""

from dataclasses import dataclass

import numpy as np

from hw.gobo_outlier_pass import tile_entry_counts
from hw.layout import GemmLayout


@dataclass(frozen=True)
class ArrayTiming:
    """The timing facts of one built design, as its hardware classes state them."""
    rows: int
    cols: int
    dataflow: str
    k_per_step: int
    initiation_interval: int
    macs_per_step: int
    preload_cycles: int
    output_latency: int
    min_fold_interval: int          # fewest cycles between fold starts (the array's fact)
    post_array_latency: int = 0     # group dequantisation pipelines (0 without the unit)
    cycle_counter_width: int = None  # bits of the RTL's cycle counter (None: no counter to check)
    outlier_fold_cycles: int = None  # GOBO's outlier pass per fold beyond entries and rows (None: no pass)

    @classmethod
    def of(cls, accelerator):
        """Read the facts from an :class:`hw.accelerator.Accelerator` and its array."""
        pe = accelerator.pe
        return cls(rows=accelerator.rows, cols=accelerator.cols, dataflow=accelerator.dataflow,
                   k_per_step=pe.k_per_step, initiation_interval=pe.initiation_interval,
                   macs_per_step=pe.macs_per_step,
                   preload_cycles=accelerator.weight_preload_cycles,
                   output_latency=accelerator.output_latency,
                   min_fold_interval=accelerator.array.min_fold_interval,
                   post_array_latency=getattr(accelerator, "post_array_latency", 0),
                   cycle_counter_width=getattr(accelerator, "cycle_counter_width", None),
                   outlier_fold_cycles=getattr(accelerator, "outlier_fold_cycles", None))


@dataclass(frozen=True)
class CycleEstimate:
    cycles: int
    folds: int
    fold_interval: int
    macs: int
    utilisation: float        # MACs / (PE-slots * peak MACs per PE-cycle * cycles)
    macs_per_cycle: float
    scalesim_cycles: int      # SCALE-Sim's compute-cycle formula on the same array, GEMM and PE steps


def scalesim_cycles(rows, cols, dataflow, m, k, n, k_per_step=1, initiation_interval=1):
    """SCALE-Sim v3's compute cycles (spec section 0), for comparison only, on the PE's steps:
    ``k_per_step`` K elements per step, one step every ``initiation_interval`` cycles (module
    docstring); the defaults are SCALE-Sim's one-element-per-cycle PE."""
    layout = GemmLayout(rows, cols, dataflow, k_per_step, m, k, n)
    ii = initiation_interval
    if dataflow == "ws":
        t = 2 * rows + cols - 2 + m * ii
    elif dataflow == "os":
        t = layout.k_steps * ii + rows + cols - 2
    else:
        raise ValueError(f"dataflow must be 'ws' or 'os', not {dataflow!r}")
    return layout.folds * t - 1


def outlier_columns(extra):
    """The column n of each outlier a run's extra operand lists (GOBO's
    :class:`models.gobo_format.GoboDictionary`); none for every other operand."""
    return [n for _, n, _ in getattr(extra, "outliers", ())]


def outlier_pass_cycles(timing, m, k, n, outlier_columns=()):
    """Cycles the outlier pass adds after the array's last output write (module docstring; 0
    for a design without one): ``outlier_columns`` the column index n of each of the GEMM's
    outliers."""
    if timing.outlier_fold_cycles is None:
        return 0
    layout = GemmLayout(timing.rows, timing.cols, timing.dataflow, timing.k_per_step, m, k, n)
    F, R = layout.folds, timing.rows
    array = _array_cycles(timing, layout)
    ready = array - (F - 1 - np.arange(F, dtype=np.int64)) * _fold_interval(timing, layout)
    # folds run m tile outer, n tile inner: fold f's entries are its n tile's
    entries = np.tile(np.asarray(tile_entry_counts(timing.cols, n, outlier_columns), dtype=np.int64),
                      layout.m_tiles)
    work = R + entries + timing.outlier_fold_cycles
    before = np.concatenate(([0], np.cumsum(work)[:-1]))
    # L_f = max over j <= f of (A_j + the passes of folds j..f-1)
    start = np.maximum.accumulate(ready - before) + before
    return int(start[-1] + work[-1] + R) - array


def fold_interval(stream_len, initiation_interval, min_fold_interval):
    """Cycles between fold starts, ``I = max(S * II, F)`` (module docstring): S tokens one every
    II cycles, but never fewer than the array's ``min_fold_interval`` F."""
    return max(stream_len * initiation_interval, min_fold_interval)


def _fold_interval(timing, layout):
    return fold_interval(layout.stream_len, timing.initiation_interval, timing.min_fold_interval)


def _array_cycles(timing, layout):
    """The cycles up to and including the array's (or post-array unit's) last output write."""
    ii = timing.initiation_interval
    return (timing.preload_cycles + (layout.folds - 1) * _fold_interval(timing, layout)
            + (layout.stream_len - 1) * ii + timing.output_latency + timing.post_array_latency + 1)


def gemm_cycles(timing, m, k, n, outlier_columns=()):
    """Exact RTL cycle count (and derived rates) of one (M x K) @ (K x N) GEMM; a design with
    an outlier pass also takes ``outlier_columns`` (the column of each outlier; none by default)."""
    layout = GemmLayout(timing.rows, timing.cols, timing.dataflow, timing.k_per_step, m, k, n)
    ii = timing.initiation_interval
    interval = _fold_interval(timing, layout)
    cycles = _array_cycles(timing, layout) + outlier_pass_cycles(timing, m, k, n, outlier_columns)
    macs = m * k * n
    peak = timing.rows * timing.cols * timing.macs_per_step / ii
    return CycleEstimate(
        cycles=cycles, folds=layout.folds, fold_interval=interval, macs=macs,
        utilisation=macs / (peak * cycles), macs_per_cycle=macs / cycles,
        scalesim_cycles=scalesim_cycles(timing.rows, timing.cols, timing.dataflow, m, k, n,
                                        timing.k_per_step, ii))


def check_countable(timing, m, k, n, outlier_columns=()):
    """:func:`gemm_cycles` of a run the RTL is to count: ValueError, with the limit, when the
    model's count does not fit the design's ``cycle_counter_width``-bit counter (it would wrap, and
    the run would end, after all its cycles, as a false cycle mismatch)."""
    est = gemm_cycles(timing, m, k, n, outlier_columns)
    width = timing.cycle_counter_width
    if width is not None and est.cycles >= 1 << width:
        raise ValueError(f"GEMM {m}x{k}x{n} takes {est.cycles:.3e} cycles; the design's {width}-bit "
                         f"cycle counter counts at most 2**{width} - 1 = {(1 << width) - 1:,}")
    return est
