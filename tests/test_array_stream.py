"""The array stream the activity and array-energy checks replay (:func:`models.activity.array_run`)
computes the golden GEMM on the array's RTL: run in Amaranth's simulator, every output word of
every fold after the first (whose bank was never written) equals the kind's golden sums. A schedule
that rewrote a bank while a skewed row still read it (the next fold's weights in the fold's first
cycles, as the stream once did) fails here on any PE slower than one cycle. Output-stationary:
every drained row of every fold equals the golden sums of its output tile."""

import pytest
from amaranth.sim import Simulator

from hw.array import SystolicArray
from hw.pe import facts_only
from models.activity import array_run
from models.array_energy import golden_words
from models.registry import get_kind

# (kind, options, rows, cols, tokens per fold): multi-cycle PEs (LUT W4 / W3 / W2: L = II = 4 / 3
# / 2), folds shorter than the array's minimum interval (idle cycles) and longer, and int8
CASES = [
    ("lut", (("weight_bits", 4),), 4, 2, 2),
    ("lut", (("weight_bits", 2),), 2, 2, 8),
    ("lut", (("weight_bits", 3),), 4, 1, 1),
    ("int8", (), 2, 2, 3),
    # grouped designs (the array's sums are the raw GEMM's: models.array_energy.array_sums_prototype)
    # and the float PEs
    ("shiftadd", (("group_size", 128), ("weight_bits", 4)), 2, 2, 3),
    ("bitserial", (("group_size", 128), ("weight_format", "mixed4")), 2, 2, 3),
    ("wfp16", (("group_size", 128), ("weight_format", "int4")), 2, 2, 3),
    ("fp8", (("format", "e4m3"),), 2, 2, 3),
    ("lmul", (("format", "e5m2"),), 2, 2, 3),
]


def simulate_stream(run):
    """The ``out`` words (tuples of C lanes) in ``out_valid`` cycles of ``run``'s array, its
    ports driven per cycle from ``run.ports`` in Amaranth's simulator."""
    kind = get_kind(run.pe)
    array = SystolicArray(kind.pe_factory(**dict(run.pe_options)), rows=run.rows, cols=run.cols,
                          dataflow=run.dataflow)
    width = array.pe.acc_width
    words = []

    async def testbench(ctx):
        # after the stream: the last token's word (ws) or the last fold's drain (os) leaves
        tail = array.latency + 1 + (array.drain_cycles if run.dataflow == "os" else 0)
        for cycle in range(run.cycles + tail):
            for name, (values, _) in run.ports.items():
                # after the stream no token and no write, the buses hold (a table register too:
                # the last tokens are still in the skew when the stream ends)
                idle = cycle >= run.cycles and name in ("act_valid", "weight_we")
                ctx.set(getattr(array, name), 0 if idle else values[min(cycle, run.cycles - 1)])
            await ctx.tick()
            if ctx.get(array.out_valid):
                out = ctx.get(array.out)
                words.append(tuple((out >> (c * width)) & ((1 << width) - 1) for c in range(run.cols)))

    sim = Simulator(array)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return words


@pytest.mark.parametrize("pe, options, rows, cols, m", CASES, ids=lambda v: str(v))
def test_the_array_stream_computes_the_golden_sums(pe, options, rows, cols, m):
    run = array_run(pe, rows, cols, "ws", options, m=m, folds=5)
    expected = golden_words(run)
    assert expected is not None
    observed = simulate_stream(run)
    assert len(observed) == len(expected)
    compared = [(want, got) for want, got in zip(expected, observed) if want is not None]
    assert len(compared) == (run.folds - 1) * m
    wrong = sum(want != got for want, got in compared)
    assert wrong == 0, f"{wrong} of {len(compared)} words differ from the golden sums"


def test_folds_start_the_arrays_fold_interval_apart():
    """Few tokens per fold on a multi-cycle PE: the stream idles to the array's own interval
    (read from the hardware, :attr:`hw.array.SystolicArray.min_fold_interval`)."""
    run = array_run("lut", 4, 2, "ws", (("weight_bits", 4),), m=2, folds=3)
    array = facts_only(SystolicArray(get_kind("lut").pe_factory(weight_bits=4), rows=4, cols=2))
    assert run.fold_cycles == array.min_fold_interval > 2 * array.pe.initiation_interval
    assert run.cycles == 3 * run.fold_cycles
    assert sum(run.ports["act_valid"][0]) == 3 * 2


# (kind, options, rows, cols, folds): every output-stationary design, 2x2, a few folds (M = 2
# tiles, so the folds walk both row blocks and a second column block); an FP16 fold of 8 K steps
# is shorter than the array's interval only for R > 4, so these stream their folds back to back
OS_CASES = [
    ("fp16", (), 2, 2, 3),
    ("gobo", (), 2, 2, 3),
    ("mx", (), 2, 2, 3),
    ("bitserial_fp16", (), 2, 2, 3),
]


@pytest.mark.parametrize("pe, options, rows, cols, folds", OS_CASES, ids=lambda v: str(v))
def test_the_os_array_stream_computes_the_golden_sums(pe, options, rows, cols, folds):
    """Every drained row of every fold (R per fold, row R - 1 first) equals the golden sums of
    its output tile over all of K (GOBO: the array's own sums, before the outlier unit)."""
    assert get_kind(pe).dataflows[0] == "os"
    run = array_run(pe, rows, cols, "os", options, m=rows * 2, folds=folds)
    expected = golden_words(run)
    assert len(expected) == folds * rows and None not in expected
    observed = simulate_stream(run)
    assert len(observed) == len(expected)
    wrong = sum(want != got for want, got in zip(expected, observed))
    assert wrong == 0, f"{wrong} of {len(expected)} words differ from the golden sums"
