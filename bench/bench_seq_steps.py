"""FP16 / GOBO step kernel speed: :func:`models.fast_seq.fp32_sums` on one SmolLM2 layer's linears.

Run: ``python bench/bench_seq_steps.py``. Times (CPU ms, best of 5 per shape, after a first call
that loads or compiles the kernel) the sequential float32 sums of 512 random FP16-valued
activation rows times random FP16-valued weights of each of a SmolLM2 layer's seven linear
shapes (q, k, v, o, gate, up, down: a --quick window's GEMMs, 30 such layers), and prints each
shape's and the layer's CPU ms and multiply-accumulates per CPU second. Compare code by running it
in two worktrees back to back (the machine's speed drifts).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.fast_seq import fp32_sums  # noqa: E402

M = 512
#: (name, K, N) of a SmolLM2 layer's linears
SHAPES = (("q", 576, 576), ("k", 576, 192), ("v", 576, 192), ("o", 576, 576),
          ("gate", 576, 1536), ("up", 576, 1536), ("down", 1536, 576))


def _fp16_values(rng, shape):
    return rng.standard_normal(shape).astype(np.float16).astype(np.float32)


def main():
    rng = np.random.default_rng(0)
    total, macs = 0.0, 0
    for name, k, n in SHAPES:
        a, w = _fp16_values(rng, (M, k)), _fp16_values(rng, (k, n))
        fp32_sums(a, w)                              # first call: numba load or compile
        best = np.inf
        for _ in range(5):
            t = time.process_time()
            fp32_sums(a, w)
            best = min(best, time.process_time() - t)
        total, macs = total + best, macs + M * k * n
        print(f"{name:5s} {M} x {k} x {n}: {1000 * best:6.1f} CPU ms, {M * k * n / best / 1e9:5.2f} G MAC per CPU s")
    print(f"layer: {1000 * total:.1f} CPU ms, {macs / total / 1e9:.2f} G MAC per CPU s")


if __name__ == "__main__":
    main()
