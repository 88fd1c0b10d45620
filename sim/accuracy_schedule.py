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
#: commit 9c522c4, 2026-12-03, the 2 cores idle (total 369 CPU s, 189 s wall). "fp32" is the
#: reference.
ESTIMATED_CPU_S = {
    ("smollm2", "fp32"): 1.9,
    ("smollm2", "INT8"): 2.6,
    ("smollm2", "LUT W4A8"): 3.4,
    ("smollm2", "LUT W2A8"): 3.5,
    ("smollm2", "LUT W1A8"): 3.6,
    ("smollm2", "OVP W4A4"): 7.5,
    ("smollm2", "OVP W4A4 flint4"): 10.1,
    ("smollm2", "OVP W8A8"): 15.5,
    ("smollm2", "W4A8 g128 (MixPE)"): 3.8,
    ("smollm2", "BitMoD mixed4 W4A8 g128"): 8.2,
    ("smollm2", "BitMoD mixed3 W3A8 g128"): 7.6,
    ("smollm2", "BitMoD INT8 Booth g128"): 7.5,
    ("smollm2", "BitMoD mixed4 W4A16 (FP16 act)"): 26.1,
    ("smollm2", "FP16 (FP32 acc)"): 3.9,
    ("smollm2", "GOBO W3A16 (FP16 act, FP16 outliers)"): 20.4,
    ("smollm2", "FP8 E4M3"): 4.6,
    ("smollm2", "FP8 E5M2"): 5.6,
    ("smollm2", "L-Mul E4M3"): 6.5,
    ("smollm2", "L-Mul E5M2"): 6.8,
    ("smollm2", "ANT W4A4 int"): 9.4,
    ("smollm2", "ANT W4A4 flint"): 9.1,
    ("smollm2", "ANT W4A4 PoT"): 9.7,
    ("smollm2", "ANT W8A8 fused"): 10.6,
    ("smollm2", "W4A16 INT4 (FP16 act)"): 4.4,
    ("smollm2", "W4A16 INT4 g128 (FP16 act)"): 5.7,
    ("smollm2", "W8A16 INT8 (FP16 act)"): 4.2,
    ("smollm2", "W4A16 OVP4 (FP16 act)"): 6.9,
    ("smollm2", "MXFP8-E4M3"): 8.7,
    ("smollm2", "MXFP8-E5M2"): 6.5,
    ("smollm2", "MXFP6-E2M3"): 5.1,
    ("smollm2", "MXFP6-E3M2"): 4.8,
    ("smollm2", "MXFP4"): 5.1,
    ("smollm2", "MXINT8"): 5.7,
    ("smollm2", "NVFP4"): 6.2,
    ("smollm2", "BitFusion W8A8"): 2.8,
    ("smollm2", "BitFusion W4A8"): 2.6,
    ("smollm2", "BitFusion W4A4"): 2.7,
    ("smollm2", "BitFusion W2A2"): 2.7,
    ("minilm", "fp32"): 1.1,
    ("minilm", "INT8"): 1.4,
    ("minilm", "LUT W4A8"): 1.6,
    ("minilm", "LUT W2A8"): 1.6,
    ("minilm", "LUT W1A8"): 1.6,
    ("minilm", "OVP W4A4"): 3.2,
    ("minilm", "OVP W4A4 flint4"): 3.7,
    ("minilm", "OVP W8A8"): 4.6,
    ("minilm", "W4A8 g128 (MixPE)"): 1.9,
    ("minilm", "BitMoD mixed4 W4A8 g128"): 2.4,
    ("minilm", "BitMoD mixed3 W3A8 g128"): 2.3,
    ("minilm", "BitMoD INT8 Booth g128"): 2.1,
    ("minilm", "BitMoD mixed4 W4A16 (FP16 act)"): 7.4,
    ("minilm", "FP16 (FP32 acc)"): 1.7,
    ("minilm", "GOBO W3A16 (FP16 act, FP16 outliers)"): 2.9,
    ("minilm", "FP8 E4M3"): 2.1,
    ("minilm", "FP8 E5M2"): 3.3,
    ("minilm", "L-Mul E4M3"): 2.7,
    ("minilm", "L-Mul E5M2"): 3.7,
    ("minilm", "ANT W4A4 int"): 3.0,
    ("minilm", "ANT W4A4 flint"): 3.3,
    ("minilm", "ANT W4A4 PoT"): 3.6,
    ("minilm", "ANT W8A8 fused"): 3.8,
    ("minilm", "W4A16 INT4 (FP16 act)"): 2.1,
    ("minilm", "W4A16 INT4 g128 (FP16 act)"): 2.2,
    ("minilm", "W8A16 INT8 (FP16 act)"): 2.0,
    ("minilm", "W4A16 OVP4 (FP16 act)"): 2.3,
    ("minilm", "MXFP8-E4M3"): 3.9,
    ("minilm", "MXFP8-E5M2"): 3.2,
    ("minilm", "MXFP6-E2M3"): 3.3,
    ("minilm", "MXFP6-E3M2"): 2.4,
    ("minilm", "MXFP4"): 2.6,
    ("minilm", "MXINT8"): 2.3,
    ("minilm", "NVFP4"): 3.7,
    ("minilm", "BitFusion W8A8"): 1.4,
    ("minilm", "BitFusion W4A8"): 1.5,
    ("minilm", "BitFusion W4A4"): 1.3,
    ("minilm", "BitFusion W2A2"): 1.4,
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
