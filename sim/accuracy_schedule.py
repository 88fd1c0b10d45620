"""The order in which forked workers take the accuracy runs' designs: longest first.

:func:`sim.accuracy.run_many` scores each design (and each fp32 reference not cached) as one
task in a process pool; a worker takes the next task when it finishes one. In the given order
(the registry's) whether a core idles at the end depends on which designs happen to come last:
a long one started last runs alone while the other core waits (the per-design cost spread is
about 8x). Started longest first (the classic LPT rule), the tasks left at the end are the
shortest whatever the registry's order becomes. On the stored estimates the registry's order
happens to balance two workers within about 1 % as well: the order guards against a new or
reordered variant; the wall time the pool saves comes mostly from the fp32 references running
in it instead of alone before it.

The estimates are CPU seconds per design, measured by ``bench/bench_accuracy.py`` (the per-design
"cpu" column) on this project's 2-core machine. Only their order matters; a quick run's order
is close to a full run's, not equal (a design's fixed cost, its weights quantised once, weighs
more in a quick run). A design without an estimate (a new registry variant) goes
first: an unknown cost is safest started early.
"""

from __future__ import annotations

#: (model, design label) -> CPU seconds of one design's run: the "cpu" column of
#: ``bench/bench_accuracy.py --quick`` (SmolLM2: 1 window of 512 tokens; MiniLM: 20 documents) on
#: commit ae636ca, 2026-12-02, 2 cores shared with other jobs (load average 7 to 9: every figure
#: inflated, total 621 s against 349 s unloaded). "fp32" is the reference. The bitserial_fp16
#: rows: ``--pe bitserial_fp16 --workers 1`` on 2026-12-03, load average 10 to 12 (inflated too).
ESTIMATED_CPU_S = {
    ("smollm2", "fp32"): 4.8,
    ("smollm2", "INT8"): 5.1,
    ("smollm2", "LUT W4A8"): 6.7,
    ("smollm2", "LUT W2A8"): 6.1,
    ("smollm2", "LUT W1A8"): 6.2,
    ("smollm2", "OVP W4A4"): 16.1,
    ("smollm2", "OVP W4A4 flint4"): 22.4,
    ("smollm2", "OVP W8A8"): 18.2,
    ("smollm2", "W4A8 g128 (MixPE)"): 12.6,
    ("smollm2", "BitMoD mixed4 W4A8 g128"): 16.4,
    ("smollm2", "BitMoD mixed3 W3A8 g128"): 16.2,
    ("smollm2", "BitMoD INT8 Booth g128"): 9.0,
    ("smollm2", "FP16 (FP32 acc)"): 7.9,
    ("smollm2", "GOBO W3A16 (FP16 act, FP16 outliers)"): 24.2,
    ("smollm2", "FP8 E4M3"): 11.2,
    ("smollm2", "FP8 E5M2"): 16.8,
    ("smollm2", "L-Mul E4M3"): 20.2,
    ("smollm2", "L-Mul E5M2"): 19.2,
    ("smollm2", "ANT W4A4 int"): 9.3,
    ("smollm2", "ANT W4A4 flint"): 13.9,
    ("smollm2", "ANT W4A4 PoT"): 10.5,
    ("smollm2", "ANT W8A8 fused"): 15.4,
    ("smollm2", "W4A16 INT4 (FP16 act)"): 6.4,
    ("smollm2", "W4A16 INT4 g128 (FP16 act)"): 10.4,
    ("smollm2", "W8A16 INT8 (FP16 act)"): 7.4,
    ("smollm2", "W4A16 OVP4 (FP16 act)"): 14.0,
    ("smollm2", "MXFP8-E4M3"): 17.9,
    ("smollm2", "MXFP8-E5M2"): 16.1,
    ("smollm2", "MXFP6-E2M3"): 13.8,
    ("smollm2", "MXFP6-E3M2"): 12.7,
    ("smollm2", "MXFP4"): 13.3,
    ("smollm2", "MXINT8"): 9.8,
    ("smollm2", "NVFP4"): 14.4,
    ("smollm2", "BitFusion W8A8"): 3.1,
    ("smollm2", "BitFusion W4A8"): 3.0,
    ("smollm2", "BitFusion W4A4"): 3.1,
    ("smollm2", "BitFusion W2A2"): 3.5,
    ("smollm2", "BitMoD mixed4 W4A16 (FP16 act)"): 49.0,
    ("minilm", "fp32"): 1.6,
    ("minilm", "INT8"): 2.3,
    ("minilm", "LUT W4A8"): 2.6,
    ("minilm", "LUT W2A8"): 2.0,
    ("minilm", "LUT W1A8"): 1.9,
    ("minilm", "OVP W4A4"): 5.6,
    ("minilm", "OVP W4A4 flint4"): 6.5,
    ("minilm", "OVP W8A8"): 8.3,
    ("minilm", "W4A8 g128 (MixPE)"): 9.3,
    ("minilm", "BitMoD mixed4 W4A8 g128"): 3.1,
    ("minilm", "BitMoD mixed3 W3A8 g128"): 3.1,
    ("minilm", "BitMoD INT8 Booth g128"): 2.4,
    ("minilm", "FP16 (FP32 acc)"): 2.5,
    ("minilm", "GOBO W3A16 (FP16 act, FP16 outliers)"): 6.8,
    ("minilm", "FP8 E4M3"): 3.5,
    ("minilm", "FP8 E5M2"): 5.9,
    ("minilm", "L-Mul E4M3"): 7.9,
    ("minilm", "L-Mul E5M2"): 12.3,
    ("minilm", "ANT W4A4 int"): 3.9,
    ("minilm", "ANT W4A4 flint"): 3.3,
    ("minilm", "ANT W4A4 PoT"): 3.1,
    ("minilm", "ANT W8A8 fused"): 3.2,
    ("minilm", "W4A16 INT4 (FP16 act)"): 3.0,
    ("minilm", "W4A16 INT4 g128 (FP16 act)"): 3.4,
    ("minilm", "W8A16 INT8 (FP16 act)"): 3.0,
    ("minilm", "W4A16 OVP4 (FP16 act)"): 4.8,
    ("minilm", "MXFP8-E4M3"): 6.7,
    ("minilm", "MXFP8-E5M2"): 7.8,
    ("minilm", "MXFP6-E2M3"): 8.1,
    ("minilm", "MXFP6-E3M2"): 7.8,
    ("minilm", "MXFP4"): 7.9,
    ("minilm", "MXINT8"): 6.8,
    ("minilm", "NVFP4"): 8.8,
    ("minilm", "BitFusion W8A8"): 1.8,
    ("minilm", "BitFusion W4A8"): 2.0,
    ("minilm", "BitFusion W4A4"): 1.8,
    ("minilm", "BitFusion W2A2"): 1.8,
    ("minilm", "BitMoD mixed4 W4A16 (FP16 act)"): 17.6,
}


def estimate(model: str, label: str) -> float | None:
    """The stored CPU-second estimate of ``label``'s run on ``model``, None when there is none."""
    return ESTIMATED_CPU_S.get((model, label))


def longest_first(tasks) -> list[int]:
    """Indices into ``tasks`` ((model, design label) pairs, label "fp32" for the reference),
    longest estimated run first; tasks without an estimate before all others; ties keep their
    given order."""
    costs = [estimate(model, label) for model, label in tasks]
    return sorted(range(len(costs)), key=lambda i: (costs[i] is not None, -(costs[i] or 0.0)))
